using Heorot.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Hypervisor;

/// <summary>
/// The one contract every <see cref="IHypervisor"/> keeps, run against the fake and against real QEMU.
/// Every VM a test starts lives under this instance's temporary root and is cleaned up (killed) even when
/// the test fails.
/// </summary>
public abstract class HypervisorConformanceTests : IAsyncLifetime
{
    private readonly string root = Directory.CreateTempSubdirectory("hvc-").FullName;
    private readonly List<string> runDirectories = [];

    protected IHypervisor Hypervisor { get; private set; } = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A new driver instance; tests of re-attachment make a second one, as an agent restart would.</summary>
    protected abstract IHypervisor CreateHypervisor();

    protected abstract Task<VmSpec> SpecAsync(string name, string runDirectory);

    /// <summary>Whether the VM's process (or the fake's stand-in) still exists.</summary>
    protected abstract bool ProcessAlive(VmHandle vm);

    public ValueTask InitializeAsync()
    {
        Hypervisor = CreateHypervisor();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var run in runDirectories)
        {
            await Hypervisor.CleanupAsync(run, CancellationToken.None);
        }

        Directory.Delete(root, recursive: true);
        GC.SuppressFinalize(this);
    }

    protected async Task<VmSpec> NewSpecAsync(string name)
    {
        var run = Path.Combine(root, name);
        runDirectories.Add(run);
        return await SpecAsync(name, run);
    }

    [Fact]
    public void Validate_OnThisHost_IsUsable()
    {
        var validation = Hypervisor.Validate();

        Assert.True(validation.IsUsable, string.Join("; ", validation.Problems));
        Assert.NotEmpty(validation.Accelerator);
    }

    [Fact(Timeout = 120_000)]
    public async Task StartAsync_NewVm_RunsAndPrintsReadyLine()
    {
        var spec = await NewSpecAsync("vm-ready");

        var vm = await Hypervisor.StartAsync(spec, Ct);
        var ready = await GuestChannel.WaitReadyAsync(vm.ConsoleLogPath, TimeSpan.FromSeconds(90), () => ProcessAlive(vm), cancellationToken: Ct);

        Assert.Equal("vm-ready", vm.Name);
        Assert.Equal("vm-ready", ready.Hostname);
        Assert.Equal(Path.GetFullPath(spec.RunDirectory), vm.RunDirectory);
        Assert.Equal(Path.Combine(vm.RunDirectory, "shell.sock"), vm.ShellSocketPath);
        Assert.Equal(Path.Combine(vm.RunDirectory, "agent.sock"), vm.AgentSocketPath);
        Assert.Equal(VmState.Running, (await Hypervisor.StatusAsync(vm, Ct)).State);
        Assert.True(ProcessAlive(vm));
    }

    [Fact(Timeout = 120_000)]
    public async Task StartAsync_SameNameTwice_ReturnsTheRunningVm()
    {
        var spec = await NewSpecAsync("vm-twice");

        var first = await Hypervisor.StartAsync(spec, Ct);
        var second = await Hypervisor.StartAsync(spec, Ct);

        Assert.Equal(first, second);
        Assert.True(ProcessAlive(second));
    }

    [Fact(Timeout = 120_000)]
    public async Task StartAsync_OtherNameInRunningRunDirectory_ThrowsConflict()
    {
        var spec = await NewSpecAsync("vm-owner");
        await Hypervisor.StartAsync(spec, Ct);

        var e = await Assert.ThrowsAsync<HypervisorException>(() => Hypervisor.StartAsync(spec with { Name = "vm-intruder" }, Ct));

        Assert.Equal(HypervisorErrorCode.Conflict, e.Code);
    }

    [Fact]
    public async Task StartAsync_NoKernelNorDisk_ThrowsInvalidSpec()
    {
        var spec = await NewSpecAsync("vm-empty");

        var e = await Assert.ThrowsAsync<HypervisorException>(() => Hypervisor.StartAsync(spec with { Kernel = null, Initrd = null }, Ct));

        Assert.Equal(HypervisorErrorCode.InvalidSpec, e.Code);
    }

    [Fact(Timeout = 120_000)]
    public async Task PowerdownAsync_ReadyGuest_StopsGracefully()
    {
        var vm = await Hypervisor.StartAsync(await NewSpecAsync("vm-acpi"), Ct);
        await GuestChannel.WaitReadyAsync(vm.ConsoleLogPath, TimeSpan.FromSeconds(90), () => ProcessAlive(vm), cancellationToken: Ct);

        var stopped = await Hypervisor.PowerdownAsync(vm, TimeSpan.FromSeconds(45), Ct);

        Assert.True(stopped);
        Assert.False(ProcessAlive(vm));
        Assert.Equal(VmState.Stopped, (await Hypervisor.StatusAsync(vm, Ct)).State);
        Assert.True(await Hypervisor.PowerdownAsync(vm, TimeSpan.FromSeconds(1), Ct));
    }

    [Fact(Timeout = 120_000)]
    public async Task QuitAsync_RunningVm_StopsAndRepeatsHarmlessly()
    {
        var vm = await Hypervisor.StartAsync(await NewSpecAsync("vm-quit"), Ct);

        await Hypervisor.QuitAsync(vm, Ct);
        await Hypervisor.QuitAsync(vm, Ct);

        Assert.False(ProcessAlive(vm));
        Assert.Equal(VmState.Stopped, (await Hypervisor.StatusAsync(vm, Ct)).State);
    }

    [Fact(Timeout = 120_000)]
    public async Task KillAsync_RunningVm_StopsAndRepeatsHarmlessly()
    {
        var vm = await Hypervisor.StartAsync(await NewSpecAsync("vm-kill"), Ct);

        await Hypervisor.KillAsync(vm, Ct);
        await Hypervisor.KillAsync(vm, Ct);

        Assert.False(ProcessAlive(vm));
        Assert.Equal(VmState.Stopped, (await Hypervisor.StatusAsync(vm, Ct)).State);
    }

    [Fact(Timeout = 120_000)]
    public async Task AttachAsync_AfterDriverRestart_FindsTheRunningVm()
    {
        var spec = await NewSpecAsync("vm-attach");
        var vm = await Hypervisor.StartAsync(spec, Ct);

        var attached = await CreateHypervisor().AttachAsync(spec.RunDirectory, Ct);

        Assert.Equal(vm, attached);
        await CreateHypervisor().KillAsync(attached!, Ct);
        Assert.Null(await Hypervisor.AttachAsync(spec.RunDirectory, Ct));
    }

    [Fact]
    public async Task AttachAsync_DirectoryWithoutVm_ReturnsNull()
    {
        var spec = await NewSpecAsync("vm-none");
        Directory.CreateDirectory(spec.RunDirectory);

        Assert.Null(await Hypervisor.AttachAsync(spec.RunDirectory, Ct));
        Assert.Null(await Hypervisor.AttachAsync(spec.RunDirectory + "-missing", Ct));
    }

    [Fact(Timeout = 120_000)]
    public async Task CleanupAsync_RunningVm_LeavesNoProcessAndNoFiles()
    {
        var spec = await NewSpecAsync("vm-clean");
        var consoleLog = Path.Combine(root, "vm-clean-console.log");
        var vm = await Hypervisor.StartAsync(spec with { ConsoleLogPath = consoleLog }, Ct);
        Assert.True(File.Exists(consoleLog));

        await Hypervisor.CleanupAsync(spec.RunDirectory, Ct);
        await Hypervisor.CleanupAsync(spec.RunDirectory, Ct);

        Assert.False(ProcessAlive(vm));
        Assert.False(Directory.Exists(spec.RunDirectory));
        Assert.False(File.Exists(consoleLog));
        Assert.Equal(VmState.Stopped, (await Hypervisor.StatusAsync(vm, Ct)).State);
    }
}

public sealed class FakeHypervisorConformanceTests : HypervisorConformanceTests
{
    protected override IHypervisor CreateHypervisor() => new FakeHypervisor();

    protected override Task<VmSpec> SpecAsync(string name, string runDirectory) =>
        Task.FromResult(new VmSpec { Name = name, RunDirectory = runDirectory, Kernel = "/fake/vmlinux", Initrd = "/fake/initrd" });

    protected override bool ProcessAlive(VmHandle vm) => FakeHypervisor.IsAlive(vm);

    [Fact]
    public async Task PowerdownAsync_GuestIgnoresButton_ReturnsFalseAndKeepsRunning()
    {
        var fake = new FakeHypervisor(new ImmediateTimeProvider()) { GuestIgnoresPowerdown = true };
        var spec = await NewSpecAsync("vm-deaf");
        var vm = await fake.StartAsync(spec, Ct);

        Assert.False(await fake.PowerdownAsync(vm, TimeSpan.FromSeconds(30), Ct));
        Assert.True(FakeHypervisor.IsAlive(vm));
        await fake.KillAsync(vm, Ct);
    }

    /// <summary>Lets timers fire at once, so a simulated 30 s timeout costs nothing.</summary>
    private sealed class ImmediateTimeProvider : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            System.CreateTimer(callback, state, TimeSpan.Zero, period);
    }
}

public sealed class QemuHypervisorConformanceTests : HypervisorConformanceTests
{
    protected override IHypervisor CreateHypervisor() => new QemuHypervisor();

    protected override async Task<VmSpec> SpecAsync(string name, string runDirectory)
    {
        var guest = await GuestImage.EnsureAsync();
        return new VmSpec { Name = name, RunDirectory = runDirectory, Kernel = guest.Kernel, Initrd = guest.Initrd };
    }

    protected override bool ProcessAlive(VmHandle vm) =>
        QemuHypervisor.IsAlive(vm.Pid, vm.RunDirectory) || Directory.GetDirectories("/proc").Any(p =>
            int.TryParse(Path.GetFileName(p), out _) && ReadCmdline(p).Contains(vm.RunDirectory, StringComparison.Ordinal) && !IsZombie(p));

    private static string ReadCmdline(string procDir)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDir, "cmdline"));
        }
        catch (IOException)
        {
            return string.Empty;
        }
        catch (UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    private static bool IsZombie(string procDir)
    {
        try
        {
            var stat = File.ReadAllText(Path.Combine(procDir, "stat"));
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}
