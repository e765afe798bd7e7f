using Heorot.Drivers.Power;
using Heorot.Server.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// An emulated Redfish BMC on loopback with fake machines behind it, and drivers aimed at it: what the Redfish
/// tests share.
/// </summary>
public sealed class FakeBmc : IAsyncDisposable
{
    public const string Password = "redfish-bmc-s3cret";

    private FakeBmc(RedfishBmcEmulator emulator, IReadOnlyDictionary<string, FakeMachine> machines)
    {
        Emulator = emulator;
        Machines = machines;
    }

    public RedfishBmcEmulator Emulator { get; }

    public IReadOnlyDictionary<string, FakeMachine> Machines { get; }

    /// <summary>The machine of the first (or only) system.</summary>
    public FakeMachine Machine => Machines["node1"];

    public static async Task<FakeBmc> StartAsync(
        Func<RedfishBmcOptions, RedfishBmcOptions>? configure = null,
        IReadOnlyList<string>? bootTargets = null,
        params string[] systemIds)
    {
        systemIds = systemIds.Length == 0 ? ["node1"] : systemIds;
        var machines = systemIds.ToDictionary(id => id, _ => new FakeMachine(), StringComparer.Ordinal);
        var options = new RedfishBmcOptions { Password = Password };
        options = configure?.Invoke(options) ?? options;
        var emulator = await RedfishBmcEmulator.StartAsync(
            options,
            [.. systemIds.Select(id => new EmulatedSystem(id, new FakePowerDriver(machines[id]), bootTargets))],
            cancellationToken: TestContext.Current.CancellationToken);
        return new FakeBmc(emulator, machines);
    }

    /// <summary>Driver options aimed at this BMC, with short retries so that tests of failures stay quick.</summary>
    public RedfishPowerOptions Options(string? password = Password) => new()
    {
        BaseUrl = Emulator.BaseAddress,
        UserName = "admin",
        Password = password,
        Attempts = 3,
        FirstRetryDelay = TimeSpan.FromMilliseconds(50),
        RequestTimeout = TimeSpan.FromSeconds(10),
        PinnedCertificateSha256 = Emulator.CertificateSha256,
    };

    public RedfishPowerDriver Driver(Func<RedfishPowerOptions, RedfishPowerOptions>? configure = null)
    {
        var options = Options();
        return new RedfishPowerDriver(configure?.Invoke(options) ?? options);
    }

    public ValueTask DisposeAsync() => Emulator.DisposeAsync();
}

/// <summary>The Redfish driver against the emulator with a fake machine behind it: the whole contract, quickly.</summary>
public sealed class RedfishPowerDriverConformanceTests : CredentialedPowerDriverConformanceTests
{
    protected override async Task<PowerRig> CreateRigAsync(CancellationToken cancellationToken)
    {
        var bmc = await FakeBmc.StartAsync();
        var driver = bmc.Driver();
        var wrong = new RedfishPowerDriver(bmc.Options("not-" + FakeBmc.Password));

        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        var nowhere = new RedfishPowerDriver(bmc.Options() with { BaseUrl = new Uri("http://127.0.0.1:1"), PinnedCertificateSha256 = null });
        return new PowerRig
        {
            Driver = driver,
            WrongCredentials = wrong,
            Unreachable = nowhere,
            Secret = FakeBmc.Password,
            IsOnAsync = _ => Task.FromResult(bmc.Machine.IsOn),
            BootsAsync = _ => Task.FromResult(bmc.Machine.Boots),
            LastBootDeviceAsync = _ => Task.FromResult(bmc.Machine.LastBootDevice),
            Settle = TimeSpan.FromSeconds(10),
            OnDispose = async () =>
            {
                await driver.DisposeAsync();
                await wrong.DisposeAsync();
                await nowhere.DisposeAsync();
                await bmc.DisposeAsync();
            },
        };
    }
}
