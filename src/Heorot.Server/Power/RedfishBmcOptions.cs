using System.Security.Cryptography.X509Certificates;
using Heorot.Drivers.Power;

namespace Heorot.Server.Power;

/// <summary>How an emulated Redfish BMC listens, who may log in, and how its power transitions behave.</summary>
public sealed record RedfishBmcOptions
{
    /// <summary>The address to listen on; loopback by default.</summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>0: any free port (see <see cref="RedfishBmcEmulator.BaseAddress"/>).</summary>
    public int Port { get; init; }

    public string UserName { get; init; } = "admin";

    public required string Password { get; init; }

    /// <summary>Serve HTTPS with this certificate (it must hold its private key); null: plain HTTP.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Offer the SessionService (POST Sessions gives an X-Auth-Token); false: Basic only, as some BMCs.</summary>
    public bool SessionsEnabled { get; init; } = true;

    /// <summary>Accept HTTP Basic on every request (as most BMCs do beside sessions).</summary>
    public bool BasicAuthEnabled { get; init; } = true;

    /// <summary>A session unused this long is gone (SessionService.SessionTimeout).</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// The least time a power transition lasts (PowerState PoweringOn/PoweringOff) once a reset is accepted; the
    /// backend's own call may make it longer. Another reset meanwhile is refused with 409.
    /// </summary>
    public TimeSpan TransitionTime { get; init; }

    /// <summary>Refuse On to a system that is on, and ForceOff/GracefulShutdown to one that is off, with 409 (as some BMCs do).</summary>
    public bool ConflictWhenAlreadyInState { get; init; }

    /// <summary>ResetType@Redfish.AllowableValues of every system (PowerCycle left out makes a client fall back to Off+On).</summary>
    public IReadOnlyList<string> ResetTypes { get; init; } = ["On", "ForceOn", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle"];

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public override string ToString() => $"RedfishBmcOptions {{ Address = {Address}, Port = {Port}, UserName = {UserName}, Https = {Certificate != null} }}";
}

/// <summary>One emulated node: its member Id in the Systems collection and the machine behind it.</summary>
/// <param name="Id">Letters, digits, '.', '_' and '-'.</param>
/// <param name="Backend">Drives the machine: a <see cref="FakePowerDriver"/> for quick tests, a <see cref="QemuPowerDriver"/> for a real guest.</param>
/// <param name="BootTargets">BootSourceOverrideTarget@Redfish.AllowableValues; "None" clears an override.</param>
public sealed record EmulatedSystem(string Id, IPowerDriver Backend, IReadOnlyList<string>? BootTargets = null)
{
    public IReadOnlyList<string> AllowedBootTargets => BootTargets ?? ["None", "Pxe", "Hdd", "Cd", "BiosSetup"];
}
