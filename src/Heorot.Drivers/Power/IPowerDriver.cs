namespace Heorot.Drivers.Power;

/// <summary>
/// Controls one node's power through its baseboard management controller (or whatever stands in for one):
/// the power capability of Ironic's split of drivers. Contract, checked by one conformance suite for every driver:
/// <list type="bullet">
/// <item><see cref="Validate"/> is cheap and offline (configuration, binaries); it never touches the BMC.</item>
/// <item>Every operation is idempotent: asking for the state a node is already in succeeds at once
/// ("already on" from a BMC is success, not an error).</item>
/// <item>Failures are <see cref="PowerException"/>s with a stable code and whether a retry could succeed;
/// a driver retries transient failures itself a bounded number of times before giving up.</item>
/// <item>Credentials are never part of a message, an exception or a log line.</item>
/// </list>
/// </summary>
public interface IPowerDriver
{
    /// <summary>The driver's name in configuration: <c>ipmi</c>, <c>redfish</c>, <c>qemu</c>, <c>command</c>, <c>wol</c>, <c>fake</c>.</summary>
    string Kind { get; }

    /// <summary>What this driver can do (Wake-on-LAN, say, can only power on and cannot read the state).</summary>
    PowerCapabilities Capabilities { get; }

    /// <summary>Cheap, offline checks of the configuration; never contacts the BMC.</summary>
    PowerValidation Validate();

    /// <summary>The node's power as its BMC reports it (<see cref="PowerState.Unknown"/> if the driver cannot read it).</summary>
    Task<PowerState> GetStateAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Performs <paramref name="action"/>. Returns once the BMC accepted it, not once the node finished booting or
    /// halting (the caller watches the state, or the node's agent, for that). On/Off/SoftOff on a node already in
    /// the target state succeed without doing anything; Cycle and Reset on a node that is off power it on.
    /// </summary>
    Task SetAsync(PowerAction action, CancellationToken cancellationToken = default);

    /// <summary>Sets the device the node boots from at its next boot (<see cref="PowerCapabilities.BootDevice"/>).</summary>
    Task SetNextBootAsync(BootDevice device, bool persistent = false, CancellationToken cancellationToken = default);
}

public enum PowerState
{
    Off,
    On,

    /// <summary>The driver cannot read the state (Wake-on-LAN), or the BMC answered something unexpected.</summary>
    Unknown,
}

public enum PowerAction
{
    On,

    /// <summary>Hard off (pulls the power).</summary>
    Off,

    /// <summary>Graceful off: ACPI power button, the OS shuts down. Completes asynchronously.</summary>
    SoftOff,

    /// <summary>Off, then on again.</summary>
    Cycle,

    /// <summary>Hard reset (warm reboot) without cutting power.</summary>
    Reset,
}

public enum BootDevice
{
    /// <summary>Whatever the node's firmware boots by default (clears an override).</summary>
    Default,
    Disk,
    Pxe,
    Cdrom,
    Bios,
}

[Flags]
public enum PowerCapabilities
{
    None = 0,
    ReadState = 1,
    PowerOn = 2,
    PowerOff = 4,
    SoftOff = 8,
    Cycle = 16,
    Reset = 32,
    BootDevice = 64,
    All = ReadState | PowerOn | PowerOff | SoftOff | Cycle | Reset | BootDevice,
}

/// <summary>Outcome of <see cref="IPowerDriver.Validate"/>: usable or not, and every problem found.</summary>
public sealed record PowerValidation(IReadOnlyList<string> Problems)
{
    public static PowerValidation Ok { get; } = new([]);

    public bool IsValid => Problems.Count == 0;
}

/// <summary>Stable error codes of the power drivers.</summary>
public enum PowerErrorCode
{
    /// <summary>The configuration is wrong (missing address, bad port, unknown driver option).</summary>
    InvalidConfig,

    /// <summary>A tool the driver needs (ipmitool, ...) is missing.</summary>
    NotAvailable,

    /// <summary>The BMC did not answer (network, timeout); a retry may succeed.</summary>
    Unreachable,

    /// <summary>The BMC refused the credentials.</summary>
    AuthFailed,

    /// <summary>The driver or the BMC cannot do this (Wake-on-LAN cannot power off; no boot override).</summary>
    Unsupported,

    /// <summary>The BMC is busy with a conflicting request (Redfish 409); a retry may succeed.</summary>
    Conflict,

    /// <summary>The BMC answered out of protocol or with an error we do not understand.</summary>
    BmcError,
}

/// <summary>Every power-driver failure: a stable <see cref="Code"/> and whether a retry could succeed.</summary>
public class PowerException : Exception
{
    public PowerException(PowerErrorCode code, string message, bool isTransient = false, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        IsTransient = isTransient;
    }

    public PowerException()
        : this(PowerErrorCode.BmcError, "power driver error")
    {
    }

    public PowerException(string message)
        : this(PowerErrorCode.BmcError, message)
    {
    }

    public PowerException(string message, Exception innerException)
        : this(PowerErrorCode.BmcError, message, false, innerException)
    {
    }

    public PowerErrorCode Code { get; }

    public bool IsTransient { get; }
}
