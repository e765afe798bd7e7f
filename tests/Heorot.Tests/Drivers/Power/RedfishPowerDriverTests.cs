using System.Diagnostics;
using Heorot.Drivers.Power;
using Heorot.Server.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>The Redfish driver against the emulator when the BMC is busy, slow, hung, lying, picky or on HTTPS.</summary>
public sealed class RedfishPowerDriverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_ResetWhilePreviousTransitionRuns_RetriesTheConflictThenSucceeds()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { TransitionTime = TimeSpan.FromMilliseconds(400) });
        await using var driver = bmc.Driver(o => o with { Attempts = 3, FirstRetryDelay = TimeSpan.FromMilliseconds(300) });

        await driver.SetAsync(PowerAction.On, Ct);
        await driver.SetAsync(PowerAction.Off, Ct);

        await UntilAsync(() => !bmc.Machine.IsOn);
        var resets = bmc.Emulator.Requests.Where(r => r.Path.EndsWith("/Actions/ComputerSystem.Reset", StringComparison.Ordinal)).Select(r => r.Status).ToList();
        Assert.Equal(204, resets[0]);
        Assert.Contains(409, resets);
        Assert.Equal(204, resets[^1]);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_TransitionOutlastsTheRetries_FailsAsTransientConflict()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { TransitionTime = TimeSpan.FromMinutes(10) });
        await using var driver = bmc.Driver(o => o with { Attempts = 2, FirstRetryDelay = TimeSpan.FromMilliseconds(10) });
        await driver.SetAsync(PowerAction.On, Ct);

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.Off, Ct));

        Assert.Equal(PowerErrorCode.Conflict, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains("ResourceInUse", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, bmc.Emulator.Requests.Count(r => r.Status == 409));
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_BmcRefusesOnBecauseAlreadyOn_Succeeds()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { ConflictWhenAlreadyInState = true });
        await using var driver = bmc.Driver();
        await driver.SetAsync(PowerAction.On, Ct);
        await bmc.Emulator.WhenIdleAsync(Ct);

        await driver.SetAsync(PowerAction.On, Ct);

        Assert.Equal(1, bmc.Machine.Boots);
        Assert.Equal(409, bmc.Emulator.Requests.Last(r => r.Method == "POST" && r.Path.EndsWith("ComputerSystem.Reset", StringComparison.Ordinal)).Status);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_SlowAnswersWithinTheTimeout_Succeeds()
    {
        await using var bmc = await FakeBmc.StartAsync();
        bmc.Emulator.ResponseDelay = TimeSpan.FromMilliseconds(300);
        await using var driver = bmc.Driver(o => o with { RequestTimeout = TimeSpan.FromSeconds(5), Attempts = 1 });

        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_SlowAnswersBeyondTheTimeout_FailsAsUnreachableTransientInBoundedTime()
    {
        await using var bmc = await FakeBmc.StartAsync();
        bmc.Emulator.ResponseDelay = TimeSpan.FromSeconds(5);
        await using var driver = bmc.Driver(o => o with { RequestTimeout = TimeSpan.FromMilliseconds(300), Attempts = 2 });
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.Unreachable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains("no answer", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"gave up after {clock.Elapsed}");
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_BmcHangs_FailsAsUnreachableTransientInBoundedTime()
    {
        await using var bmc = await FakeBmc.StartAsync();
        bmc.Emulator.Hang = true;
        await using var driver = bmc.Driver(o => o with { RequestTimeout = TimeSpan.FromMilliseconds(300), Attempts = 2 });
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));

        Assert.Equal(PowerErrorCode.Unreachable, e.Code);
        Assert.True(e.IsTransient);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"gave up after {clock.Elapsed}");
        Assert.False(bmc.Machine.IsOn);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_ServiceUnavailableTwice_RetriesAndSucceeds()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver();
        bmc.Emulator.FailNext(2);

        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));

        Assert.Equal(2, bmc.Emulator.Requests.Count(r => r.Status == 503));
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_ServiceUnavailableBeyondTheRetries_FailsAsUnreachableTransient()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver(o => o with { Attempts = 3 });
        bmc.Emulator.FailNext(100);

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.Unreachable, e.Code);
        Assert.True(e.IsTransient);
        Assert.Contains("ServiceTemporarilyUnavailable", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, bmc.Emulator.Requests.Count(r => r.Status == 503));
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_BmcLiesThatTheMachineIsOn_ReportsWhatTheBmcSays()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver();
        bmc.Emulator.LiePowerState = "On";

        Assert.Equal(PowerState.On, await driver.GetStateAsync(Ct));
        Assert.False(bmc.Machine.IsOn);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_BmcLiesThatTheMachineIsOn_OnStillPowersItOn()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver();
        bmc.Emulator.LiePowerState = "On";

        await driver.SetAsync(PowerAction.On, Ct);

        await UntilAsync(() => bmc.Machine.IsOn);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_BmcLiesThatTheMachineIsOff_OffStillStopsIt()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver();
        await driver.SetAsync(PowerAction.On, Ct);
        await UntilAsync(() => bmc.Machine.IsOn);
        await bmc.Emulator.WhenIdleAsync(Ct);
        bmc.Emulator.LiePowerState = "Off";

        await driver.SetAsync(PowerAction.Off, Ct);

        await UntilAsync(() => !bmc.Machine.IsOn);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_NoCredentials_FailsAsAuthFailedNotTransient()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = new RedfishPowerDriver(bmc.Options() with { UserName = null, Password = null });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));

        Assert.Equal(PowerErrorCode.AuthFailed, e.Code);
        Assert.False(e.IsTransient);
        Assert.Contains("NoValidSession", e.Message, StringComparison.Ordinal);
        Assert.Single(bmc.Emulator.Requests, r => r.Status == 401);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_Sessions_LogsInOnceSendsTheTokenAndLogsOutAtDispose()
    {
        await using var bmc = await FakeBmc.StartAsync();
        var driver = bmc.Driver();

        for (var i = 0; i < 3; i++)
        {
            await driver.GetStateAsync(Ct);
        }

        Assert.Single(bmc.Emulator.Requests, r => r.Method == "POST" && r.Path.EndsWith("/Sessions", StringComparison.Ordinal) && r.Status == 201);
        Assert.All(bmc.Emulator.Requests.Where(r => r.Path.Contains("/Systems", StringComparison.Ordinal)), r => Assert.Equal("session", r.Auth));
        Assert.Equal(1, bmc.Emulator.SessionCount);

        await driver.DisposeAsync();

        Assert.Equal(0, bmc.Emulator.SessionCount);
        Assert.Equal(("DELETE", 204), (bmc.Emulator.Requests[^1].Method, bmc.Emulator.Requests[^1].Status));
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_BmcWithoutSessions_FallsBackToBasic()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { SessionsEnabled = false });
        await using var driver = bmc.Driver();

        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));
        await driver.GetStateAsync(Ct);

        Assert.All(bmc.Emulator.Requests.Where(r => r.Path.Contains("/Systems", StringComparison.Ordinal)), r => Assert.Equal("basic", r.Auth));
        Assert.Single(bmc.Emulator.Requests, r => r.Method == "POST");
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_SessionExpired_LogsInAgainOnce()
    {
        var clock = new ManualClock();
        await using var bmc = await FakeBmc.StartAsync(o => o with { Time = clock, SessionTimeout = TimeSpan.FromMinutes(30) });
        await using var driver = bmc.Driver();
        await driver.GetStateAsync(Ct);

        clock.Advance(TimeSpan.FromMinutes(31));
        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));

        Assert.Equal(2, bmc.Emulator.Requests.Count(r => r.Method == "POST" && r.Status == 201));
        Assert.Single(bmc.Emulator.Requests, r => r.Status == 401);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_CycleOnBmcWithoutPowerCycleOrRestart_PowersOffThenOn()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { ResetTypes = ["On", "ForceOff", "GracefulShutdown"] });
        await using var driver = bmc.Driver();
        await driver.SetAsync(PowerAction.On, Ct);
        await UntilAsync(() => bmc.Machine.IsOn);
        var offs = 0;
        bmc.Machine.PowerChanged += on => offs += on ? 0 : 1;

        await driver.SetAsync(PowerAction.Cycle, Ct);

        await UntilAsync(() => bmc.Machine.Boots == 2 && bmc.Machine.IsOn);
        Assert.Equal(1, offs);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_SoftOffOnBmcWithoutGracefulShutdown_FailsAsUnsupported()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { ResetTypes = ["On", "ForceOff"] });
        await using var driver = bmc.Driver();

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.SoftOff, Ct));

        Assert.Equal(PowerErrorCode.Unsupported, e.Code);
        Assert.False(e.IsTransient);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetNextBootAsync_Once_TheNextBootSpendsIt()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver();

        await driver.SetNextBootAsync(BootDevice.Pxe, cancellationToken: Ct);
        Assert.Equal(("Pxe", "Once"), Override(bmc));
        await driver.SetAsync(PowerAction.On, Ct);
        await bmc.Emulator.WhenIdleAsync(Ct);
        Assert.Equal(("None", "Disabled"), Override(bmc));
        await driver.SetAsync(PowerAction.Cycle, Ct);

        await UntilAsync(() => bmc.Machine.Boots == 2);
        Assert.Equal(BootDevice.Default, bmc.Machine.LastBootDevice);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetNextBootAsync_Continuous_EveryBootUsesIt()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver();

        await driver.SetNextBootAsync(BootDevice.Disk, persistent: true, Ct);
        await driver.SetAsync(PowerAction.On, Ct);
        await UntilAsync(() => bmc.Machine.IsOn);
        await bmc.Emulator.WhenIdleAsync(Ct);
        await driver.SetAsync(PowerAction.Reset, Ct);

        await UntilAsync(() => bmc.Machine.Boots == 2);
        Assert.Equal(BootDevice.Disk, bmc.Machine.LastBootDevice);
        Assert.Equal(("Hdd", "Continuous"), Override(bmc));
    }

    [Fact(Timeout = 60_000)]
    public async Task SetNextBootAsync_Default_ClearsTheOverride()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver();
        await driver.SetNextBootAsync(BootDevice.Pxe, persistent: true, Ct);

        await driver.SetNextBootAsync(BootDevice.Default, cancellationToken: Ct);
        await driver.SetAsync(PowerAction.On, Ct);

        await UntilAsync(() => bmc.Machine.IsOn);
        Assert.Equal(BootDevice.Default, bmc.Machine.LastBootDevice);
        Assert.Equal(("None", "Disabled"), Override(bmc));
    }

    [Fact(Timeout = 60_000)]
    public async Task SetNextBootAsync_DeviceTheBmcDoesNotOffer_FailsAsUnsupported()
    {
        await using var bmc = await FakeBmc.StartAsync(bootTargets: ["None", "Pxe", "Hdd"]);
        await using var driver = bmc.Driver();

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetNextBootAsync(BootDevice.Cdrom, cancellationToken: Ct));

        Assert.Equal(PowerErrorCode.Unsupported, e.Code);
        Assert.False(e.IsTransient);
        Assert.DoesNotContain(bmc.Emulator.Requests, r => r.Method == "PATCH");
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_SeveralSystemsWithoutSystemId_FailsAsInvalidConfigNamingThem()
    {
        await using var bmc = await FakeBmc.StartAsync(systemIds: ["node1", "node2"]);
        await using var driver = bmc.Driver();

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.InvalidConfig, e.Code);
        Assert.Contains("node1, node2", e.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_SystemIdGiven_DrivesThatSystemOnly()
    {
        await using var bmc = await FakeBmc.StartAsync(systemIds: ["node1", "node2"]);
        await using var driver = bmc.Driver(o => o with { SystemId = "node2" });

        await driver.SetAsync(PowerAction.On, Ct);

        await UntilAsync(() => bmc.Machines["node2"].IsOn);
        Assert.False(bmc.Machines["node1"].IsOn);
        Assert.Equal(PowerState.On, await driver.GetStateAsync(Ct));
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_UnknownSystemId_FailsAsInvalidConfig()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver(o => o with { SystemId = "node9" });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.InvalidConfig, e.Code);
        Assert.Contains("node9", e.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_HttpsWithThePinnedCertificate_Succeeds()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { Certificate = RedfishBmcEmulator.CreateSelfSignedCertificate() });
        await using var driver = bmc.Driver();

        Assert.Equal("https", bmc.Emulator.BaseAddress.Scheme);
        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_HttpsUntrustedCertificate_FailsNotTransient()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { Certificate = RedfishBmcEmulator.CreateSelfSignedCertificate() });
        await using var driver = bmc.Driver(o => o with { PinnedCertificateSha256 = null });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.BmcError, e.Code);
        Assert.False(e.IsTransient);
        Assert.Contains("certificate", e.Message, StringComparison.Ordinal);
        Assert.Empty(bmc.Emulator.Requests);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_HttpsAnotherCertificatePinned_FailsNotTransient()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { Certificate = RedfishBmcEmulator.CreateSelfSignedCertificate() });
        using var other = RedfishBmcEmulator.CreateSelfSignedCertificate();
        await using var driver = bmc.Driver(o => o with { PinnedCertificateSha256 = other.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256) });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.BmcError, e.Code);
        Assert.False(e.IsTransient);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetStateAsync_HttpsVerificationSkippedForALabBmc_Succeeds()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { Certificate = RedfishBmcEmulator.CreateSelfSignedCertificate() });
        await using var driver = bmc.Driver(o => o with { PinnedCertificateSha256 = null, SkipCertificateVerification = true });

        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));
    }

    [Fact]
    public void Validate_PlainHttpToARemoteBmcWithCredentials_IsRefused()
    {
        using var driver = new RedfishPowerDriver(new RedfishPowerOptions { BaseUrl = new Uri("http://10.0.0.5"), UserName = "admin", Password = "x" });

        var validation = driver.Validate();

        Assert.False(validation.IsValid);
        Assert.Contains(validation.Problems, p => p.Contains("in clear", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_MalformedPinAndPathInBaseUrl_AreRefused()
    {
        using var driver = new RedfishPowerDriver(new RedfishPowerOptions
        {
            BaseUrl = new Uri("https://10.0.0.5/redfish/v1/"),
            UserName = "admin",
            Password = "x",
            PinnedCertificateSha256 = "not-hex",
        });

        var problems = driver.Validate().Problems;

        Assert.Contains(problems, p => p.Contains("SHA-256", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("service root", StringComparison.Ordinal));
    }

    [Fact(Timeout = 60_000)]
    public async Task SetAsync_InvalidConfiguration_FailsAsInvalidConfigWithoutContactingTheBmc()
    {
        await using var bmc = await FakeBmc.StartAsync();
        await using var driver = bmc.Driver(o => o with { Password = null });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));

        Assert.Equal(PowerErrorCode.InvalidConfig, e.Code);
        Assert.Empty(bmc.Emulator.Requests);
    }

    [Fact]
    public void ToString_Options_HidesThePassword()
    {
        var options = new RedfishPowerOptions { BaseUrl = new Uri("https://10.0.0.5"), UserName = "admin", Password = "hunter2-secret" };

        Assert.DoesNotContain("hunter2-secret", options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", $"{options with { SystemId = "1" }}", StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task FromSettings_PowerFileEntry_DrivesTheNodeThroughTheEmulator()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { Certificate = RedfishBmcEmulator.CreateSelfSignedCertificate() }, systemIds: ["node1", "node2"]);
        var config = PowerConfig.Parse(
            $$"""
            nodes:
              n2: { driver: redfish, url: "{{bmc.Emulator.BaseAddress}}", username: admin, password: {{FakeBmc.Password}}, system: node2, auth: session, timeout: 5, retries: 2, fingerprint: "{{bmc.Emulator.CertificateSha256}}" }
            """,
            "power.yaml");

        var driver = Assert.IsType<RedfishPowerDriver>(config.CreateDrivers()["n2"]);
        await driver.SetAsync(PowerAction.On, Ct);

        await UntilAsync(() => bmc.Machines["node2"].IsOn);
        await driver.DisposeAsync();
    }

    [Theory]
    [InlineData("{ driver: redfish, url: https://10.0.0.5, colour: red }", "nodes.n1.colour: unknown setting")]
    [InlineData("{ driver: redfish, url: https://10.0.0.5, auth: kerberos }", "nodes.n1.auth: expected auto, session or basic")]
    [InlineData("{ driver: redfish, username: admin, password: hunter2-secret }", "'url' is required")]
    [InlineData("{ driver: redfish, url: http://10.0.0.5, username: admin, password: hunter2-secret }", "in clear")]
    public void FromSettings_BadEntry_SaysWhereWithoutTheSecret(string entry, string expected)
    {
        var config = PowerConfig.Parse("nodes:\n  n1: " + entry + "\n", "power.yaml");

        var e = Assert.Throws<PowerConfigException>(() => config.CreateDrivers());

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains("power.yaml:", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", e.Message, StringComparison.Ordinal);
    }

    private static (string Target, string Enabled) Override(FakeBmc bmc)
    {
        var snapshot = bmc.Emulator.Snapshot("node1");
        return (snapshot.BootSourceOverrideTarget, snapshot.BootSourceOverrideEnabled);
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "timed out waiting for the machine");
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>A clock the test moves: the emulator's sessions expire on it (its timers stay real).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => now;

        public void Advance(TimeSpan by) => now += by;
    }
}
