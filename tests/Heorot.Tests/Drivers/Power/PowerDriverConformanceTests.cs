using System.Diagnostics;
using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// What the conformance suite needs of one driver under test: the driver, a way to look at the machine behind
/// it without going through the driver (its process, the emulator's state), and drivers aimed at the same BMC
/// with wrong credentials and at no BMC at all. Each rig starts with its machine powered off.
/// </summary>
public sealed class PowerRig : IAsyncDisposable
{
    public required IPowerDriver Driver { get; init; }

    /// <summary>Whether the machine really runs (observed directly, not through the driver).</summary>
    public required Func<CancellationToken, Task<bool>> IsOnAsync { get; init; }

    /// <summary>How many times the machine has started since the rig was made (observed directly).</summary>
    public required Func<CancellationToken, Task<int>> BootsAsync { get; init; }

    /// <summary>The device the machine's last boot used, observed directly; null when the rig cannot see it.</summary>
    public Func<CancellationToken, Task<BootDevice>>? LastBootDeviceAsync { get; init; }

    /// <summary>The same BMC with a wrong password; null when the driver has no credentials.</summary>
    public IPowerDriver? WrongCredentials { get; init; }

    /// <summary>The same driver aimed at an address where nothing answers.</summary>
    public required IPowerDriver Unreachable { get; init; }

    /// <summary>A secret of the rig's configuration that must appear in no message.</summary>
    public string? Secret { get; init; }

    /// <summary>How long the machine may take to change state after the BMC accepted an action.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(60);

    public Func<ValueTask>? OnDispose { get; init; }

    public ValueTask DisposeAsync() => OnDispose?.Invoke() ?? ValueTask.CompletedTask;
}

/// <summary>
/// The one contract every <see cref="IPowerDriver"/> keeps (validation, idempotence, "already in that state" is
/// success, restarts, boot device, typed errors, no secret in a message), run against every driver: the fake,
/// IPMI against a real ipmi_sim, the Redfish emulator, QEMU.
/// </summary>
public abstract class PowerDriverConformanceTests : IAsyncLifetime
{
    private PowerRig? rig;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected PowerRig Rig => rig ?? throw new InvalidOperationException("no rig");

    protected IPowerDriver Driver => Rig.Driver;

    /// <summary>A fresh rig whose machine is off.</summary>
    protected abstract Task<PowerRig> CreateRigAsync(CancellationToken cancellationToken);

    public async ValueTask InitializeAsync() => rig = await CreateRigAsync(Ct);

    public async ValueTask DisposeAsync()
    {
        if (rig != null)
        {
            await rig.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    [Fact]
    public void Validate_ConfiguredDriver_IsValid()
    {
        var validation = Driver.Validate();

        Assert.True(validation.IsValid, string.Join("; ", validation.Problems));
    }

    [Fact(Timeout = 120_000)]
    public async Task GetState_MachineOff_ReportsOff()
    {
        Assert.False(await Rig.IsOnAsync(Ct));
        Assert.Equal(Has(PowerCapabilities.ReadState) ? PowerState.Off : PowerState.Unknown, await Driver.GetStateAsync(Ct));
    }

    [Fact(Timeout = 180_000)]
    public async Task On_MachineOff_MachineRunsAndStateIsOn()
    {
        await Driver.SetAsync(PowerAction.On, Ct);

        await UntilAsync(() => Rig.IsOnAsync(Ct), "the machine to run");
        Assert.Equal(1, await Rig.BootsAsync(Ct));
        if (Has(PowerCapabilities.ReadState))
        {
            await UntilAsync(async () => await Driver.GetStateAsync(Ct) == PowerState.On, "the BMC to report On");
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task On_MachineAlreadyOn_SucceedsWithoutRestartingIt()
    {
        await PowerOnAsync();

        await Driver.SetAsync(PowerAction.On, Ct);
        await Driver.SetAsync(PowerAction.On, Ct);

        Assert.True(await Rig.IsOnAsync(Ct));
        Assert.Equal(1, await Rig.BootsAsync(Ct));
    }

    [Fact(Timeout = 180_000)]
    public async Task Off_MachineOn_MachineStops()
    {
        await PowerOnAsync();
        if (!Has(PowerCapabilities.PowerOff))
        {
            await AssertUnsupportedAsync(() => Driver.SetAsync(PowerAction.Off, Ct));
            return;
        }

        await Driver.SetAsync(PowerAction.Off, Ct);

        await UntilAsync(async () => !await Rig.IsOnAsync(Ct), "the machine to stop");
        if (Has(PowerCapabilities.ReadState))
        {
            await UntilAsync(async () => await Driver.GetStateAsync(Ct) == PowerState.Off, "the BMC to report Off");
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Off_MachineAlreadyOff_Succeeds()
    {
        if (!Has(PowerCapabilities.PowerOff))
        {
            await AssertUnsupportedAsync(() => Driver.SetAsync(PowerAction.Off, Ct));
            return;
        }

        await Driver.SetAsync(PowerAction.Off, Ct);
        await Driver.SetAsync(PowerAction.Off, Ct);

        Assert.False(await Rig.IsOnAsync(Ct));
        Assert.Equal(0, await Rig.BootsAsync(Ct));
    }

    [Fact(Timeout = 180_000)]
    public async Task SoftOff_MachineOn_MachineShutsDown()
    {
        await PowerOnAsync();
        if (!Has(PowerCapabilities.SoftOff))
        {
            await AssertUnsupportedAsync(() => Driver.SetAsync(PowerAction.SoftOff, Ct));
            return;
        }

        await Driver.SetAsync(PowerAction.SoftOff, Ct);

        await UntilAsync(async () => !await Rig.IsOnAsync(Ct), "the machine to shut down");
    }

    [Fact(Timeout = 120_000)]
    public async Task SoftOff_MachineAlreadyOff_Succeeds()
    {
        if (!Has(PowerCapabilities.SoftOff))
        {
            await AssertUnsupportedAsync(() => Driver.SetAsync(PowerAction.SoftOff, Ct));
            return;
        }

        await Driver.SetAsync(PowerAction.SoftOff, Ct);

        Assert.False(await Rig.IsOnAsync(Ct));
    }

    [Fact(Timeout = 240_000)]
    public async Task Cycle_MachineOn_RestartsIt()
    {
        await PowerOnAsync();
        if (!Has(PowerCapabilities.Cycle))
        {
            await AssertUnsupportedAsync(() => Driver.SetAsync(PowerAction.Cycle, Ct));
            return;
        }

        await Driver.SetAsync(PowerAction.Cycle, Ct);

        await UntilAsync(async () => await Rig.BootsAsync(Ct) == 2 && await Rig.IsOnAsync(Ct), "the machine to start a second time");
    }

    [Fact(Timeout = 180_000)]
    public async Task Cycle_MachineOff_PowersItOn()
    {
        if (!Has(PowerCapabilities.Cycle))
        {
            await AssertUnsupportedAsync(() => Driver.SetAsync(PowerAction.Cycle, Ct));
            return;
        }

        await Driver.SetAsync(PowerAction.Cycle, Ct);

        await UntilAsync(() => Rig.IsOnAsync(Ct), "the machine to run");
        Assert.Equal(1, await Rig.BootsAsync(Ct));
    }

    [Fact(Timeout = 240_000)]
    public async Task Reset_MachineOn_RestartsIt()
    {
        await PowerOnAsync();
        if (!Has(PowerCapabilities.Reset))
        {
            await AssertUnsupportedAsync(() => Driver.SetAsync(PowerAction.Reset, Ct));
            return;
        }

        await Driver.SetAsync(PowerAction.Reset, Ct);

        await UntilAsync(async () => await Rig.BootsAsync(Ct) == 2 && await Rig.IsOnAsync(Ct), "the machine to restart");
    }

    [Fact(Timeout = 180_000)]
    public async Task Reset_MachineOff_PowersItOn()
    {
        if (!Has(PowerCapabilities.Reset))
        {
            await AssertUnsupportedAsync(() => Driver.SetAsync(PowerAction.Reset, Ct));
            return;
        }

        await Driver.SetAsync(PowerAction.Reset, Ct);

        await UntilAsync(() => Rig.IsOnAsync(Ct), "the machine to run");
        Assert.Equal(1, await Rig.BootsAsync(Ct));
    }

    [Fact(Timeout = 180_000)]
    public async Task SetNextBoot_Pxe_NextBootUsesIt()
    {
        if (!Has(PowerCapabilities.BootDevice))
        {
            await AssertUnsupportedAsync(() => Driver.SetNextBootAsync(BootDevice.Pxe, cancellationToken: Ct));
            return;
        }

        Assert.True(Rig.LastBootDeviceAsync != null, "a rig for a driver that sets the boot device must observe it");
        await Driver.SetNextBootAsync(BootDevice.Pxe, cancellationToken: Ct);
        await PowerOnAsync();

        Assert.Equal(BootDevice.Pxe, await Rig.LastBootDeviceAsync!(Ct));
    }

    [Fact(Timeout = 120_000)]
    public async Task UnreachableBmc_FailsAsUnreachable_Transient_InBoundedTime()
    {
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<PowerException>(() => Rig.Unreachable.SetAsync(PowerAction.On, Ct));

        Assert.Equal(PowerErrorCode.Unreachable, e.Code);
        Assert.True(e.IsTransient);
        AssertNoSecret(e);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"gave up after {clock.Elapsed}");
    }

    protected bool Has(PowerCapabilities capability) => Driver.Capabilities.HasFlag(capability);

    protected async Task PowerOnAsync()
    {
        await Driver.SetAsync(PowerAction.On, Ct);
        await UntilAsync(() => Rig.IsOnAsync(Ct), "the machine to run");
    }

    protected async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < Rig.Settle, $"timed out after {Rig.Settle.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(100, Ct);
        }
    }

    protected void AssertNoSecret(Exception e)
    {
        if (!string.IsNullOrEmpty(Rig.Secret))
        {
            Assert.DoesNotContain(Rig.Secret, e.ToString(), StringComparison.Ordinal);
        }
    }

    private static async Task AssertUnsupportedAsync(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<PowerException>(call);
        Assert.Equal(PowerErrorCode.Unsupported, e.Code);
        Assert.False(e.IsTransient);
    }
}

/// <summary>The suite for drivers that log in to their BMC: wrong credentials are refused, never retried, never echoed.</summary>
public abstract class CredentialedPowerDriverConformanceTests : PowerDriverConformanceTests
{
    [Fact(Timeout = 120_000)]
    public async Task WrongCredentials_FailAsAuthFailed_NotTransient_WithoutTheSecret()
    {
        Assert.True(Rig.WrongCredentials != null, "a rig for a driver with credentials must give one with a wrong password");

        var e = await Assert.ThrowsAsync<PowerException>(() => Rig.WrongCredentials!.SetAsync(PowerAction.On, Ct));

        Assert.Equal(PowerErrorCode.AuthFailed, e.Code);
        Assert.False(e.IsTransient);
        AssertNoSecret(e);
        Assert.False(await Rig.IsOnAsync(Ct));
    }
}

/// <summary>The fake driver keeps the same contract as the real ones.</summary>
public sealed class FakePowerDriverConformanceTests : CredentialedPowerDriverConformanceTests
{
    protected override Task<PowerRig> CreateRigAsync(CancellationToken cancellationToken)
    {
        const string password = "fake-bmc-secret";
        var machine = new FakeMachine { Password = password };
        var dead = new FakeMachine();
        dead.FailNext(int.MaxValue);
        return Task.FromResult(new PowerRig
        {
            Driver = new RetryingFake(machine, password),
            WrongCredentials = new RetryingFake(machine, "not-" + password),
            Secret = password,
            IsOnAsync = _ => Task.FromResult(machine.IsOn),
            BootsAsync = _ => Task.FromResult(machine.Boots),
            LastBootDeviceAsync = _ => Task.FromResult(machine.LastBootDevice),
            Unreachable = new RetryingFake(dead, null),
            Settle = TimeSpan.FromSeconds(5),
        });
    }

    /// <summary>The fake wrapped in the same bounded retry the real drivers use.</summary>
    private sealed class RetryingFake(FakeMachine machine, string? password) : IPowerDriver
    {
        private readonly FakePowerDriver inner = new(machine, password);
        private readonly PowerRetry retry = new(3, TimeSpan.FromMilliseconds(10));

        public string Kind => inner.Kind;

        public PowerCapabilities Capabilities => inner.Capabilities;

        public PowerValidation Validate() => inner.Validate();

        public Task<PowerState> GetStateAsync(CancellationToken cancellationToken = default) => retry.RunAsync(inner.GetStateAsync, cancellationToken);

        public Task SetAsync(PowerAction action, CancellationToken cancellationToken = default) => retry.RunAsync(ct => inner.SetAsync(action, ct), cancellationToken);

        public Task SetNextBootAsync(BootDevice device, bool persistent = false, CancellationToken cancellationToken = default) =>
            retry.RunAsync(ct => inner.SetNextBootAsync(device, persistent, ct), cancellationToken);
    }
}
