namespace Heorot.Drivers.Hypervisor;

/// <summary>Stable error codes of the hypervisor drivers.</summary>
public enum HypervisorErrorCode
{
    /// <summary>The spec cannot be run (bad name, missing kernel, path too long, ...).</summary>
    InvalidSpec,

    /// <summary>The hypervisor binary or firmware is missing.</summary>
    NotAvailable,

    /// <summary>The run directory belongs to another VM that still runs.</summary>
    Conflict,

    /// <summary>The hypervisor process refused to start.</summary>
    StartFailed,

    /// <summary>The monitor could not be reached or answered with an error; a retry may succeed.</summary>
    MonitorFailed,

    /// <summary>The VM did not stop within its deadline.</summary>
    StopTimedOut,

    /// <summary>A helper tool (qemu-img, mkfs.vfat, mcopy) failed.</summary>
    ToolFailed,

    /// <summary>The guest did not become ready in time.</summary>
    GuestNotReady,

    /// <summary>The guest command channel broke or answered out of protocol.</summary>
    ChannelFailed,
}

/// <summary>Every hypervisor-driver failure: a stable <see cref="Code"/> and whether a retry could succeed.</summary>
public class HypervisorException : Exception
{
    public HypervisorException(HypervisorErrorCode code, string message, bool isTransient = false, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        IsTransient = isTransient;
    }

    public HypervisorException()
        : this(HypervisorErrorCode.StartFailed, "hypervisor error")
    {
    }

    public HypervisorException(string message)
        : this(HypervisorErrorCode.StartFailed, message)
    {
    }

    public HypervisorException(string message, Exception innerException)
        : this(HypervisorErrorCode.StartFailed, message, false, innerException)
    {
    }

    public HypervisorErrorCode Code { get; }

    public bool IsTransient { get; }
}

/// <summary>The guest never printed its readiness line; carries the end of the console log.</summary>
public sealed class GuestNotReadyException : HypervisorException
{
    public GuestNotReadyException(string message, string consoleTail)
        : base(HypervisorErrorCode.GuestNotReady, message + "\n--- console tail ---\n" + consoleTail, isTransient: true)
    {
        ConsoleTail = consoleTail;
    }

    public GuestNotReadyException()
        : this("guest not ready", string.Empty)
    {
    }

    public GuestNotReadyException(string message)
        : this(message, string.Empty)
    {
    }

    public GuestNotReadyException(string message, Exception innerException)
        : base(HypervisorErrorCode.GuestNotReady, message, true, innerException)
    {
        ConsoleTail = string.Empty;
    }

    public string ConsoleTail { get; }
}
