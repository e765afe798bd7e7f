using Heorot.Drivers.Hypervisor;

namespace Heorot.Drivers.Power;

/// <summary>The QEMU VM that stands in for one physical node, and how its "power supply" behaves.</summary>
public sealed record QemuPowerOptions
{
    /// <summary>
    /// The node as it boots by default (<see cref="BootDevice.Default"/>): a kernel, a boot disk, or a network boot.
    /// Its run directory identifies the node: the driver finds a running VM there again after a restart.
    /// </summary>
    public required VmSpec Spec { get; init; }

    public QemuOptions Qemu { get; init; } = new();

    /// <summary>Bounded retry of transient failures (the monitor not answering).</summary>
    public PowerRetry Retry { get; init; } = PowerRetry.Default;
}

/// <summary>
/// A QEMU VM acting as a physical node, its power driven through the hypervisor driver and QMP: On starts the VM
/// from its spec (the next boot device picks kernel, disk or network boot), Off quits QEMU (then kills it), SoftOff
/// presses the ACPI power button, Reset is QMP <c>system_reset</c> (or a fresh start when the next boot device
/// differs from the one QEMU was started for: its command line cannot change), Cycle is Off then On. A reboot inside
/// the guest resets the VM instead of ending QEMU (<see cref="VmSpec.NoReboot"/> off), as a real machine reboots. The state is
/// the process plus QMP <c>query-status</c>: no process is Off, a live QEMU whose monitor answers is On, one whose
/// monitor does not is an unreachable BMC. The boot override lives in the driver instance (a new instance boots the
/// default device), the VM in its run directory (a new instance finds it again).
/// </summary>
public sealed class QemuPowerDriver : IPowerDriver, IDisposable
{
    private readonly QemuPowerOptions options;
    private readonly QemuHypervisor hypervisor;
    private readonly SemaphoreSlim gate = new(1, 1);
    private BootDevice nextBoot = BootDevice.Default;
    private bool persistentBoot;

    // What the running QEMU was started for (its command line cannot change); null: not started by this instance.
    private BootDevice? runningDevice;

    public QemuPowerDriver(QemuPowerOptions options, TimeProvider? timeProvider = null)
    {
        this.options = options;
        hypervisor = new QemuHypervisor(options.Qemu, timeProvider);
    }

    public string Kind => "qemu";

    /// <summary>Releases the driver; the VM, like a machine, keeps running.</summary>
    public void Dispose() => gate.Dispose();

    public PowerCapabilities Capabilities => PowerCapabilities.All;

    public string RunDirectory => Path.GetFullPath(options.Spec.RunDirectory);

    public QemuPowerOptions Options => options;

    /// <summary>
    /// <c>driver: qemu</c> (docs/power.md): the node is a QEMU VM, built as <c>heorot up --emulate</c> builds one
    /// (<see cref="Emulation.EmulatedNode.QemuArguments"/>): the node's name, a serial console logged to
    /// <c>RUN/console.log</c> (and served on <c>RUN/serial.sock</c>, or on loopback port <c>serial</c>), no job-VM
    /// channels. Settings: <c>run</c> (required), <c>kernel</c>, <c>initrd</c>, <c>cmdline</c>, <c>disk</c>,
    /// <c>diskFormat</c>, <c>cpus</c>, <c>ram</c> (MiB), <c>network</c>, <c>mac</c>, <c>tftp</c>, <c>bootfile</c>,
    /// <c>shares</c>, <c>serial</c>, <c>qemu</c>. Paths are absolute. <c>memory:</c> and <c>cores:</c> stay what
    /// they are for every node (the resources declared to the plan), hence <c>ram</c> and <c>cpus</c> for the VM.
    /// Missing files, a missing QEMU and a bad spec are reported by <see cref="Validate"/>.
    /// </summary>
    public static QemuPowerDriver FromSettings(PowerSettings settings)
    {
        settings.RejectUnknown(["run", "kernel", "initrd", "cmdline", "disk", "diskFormat", "cpus", "ram", "network", "mac", "tftp", "bootfile", "shares", "serial", "qemu"]);
        string? AbsolutePath(string key) =>
            settings.String(key) is not { } path ? null
            : Path.IsPathFullyQualified(path) ? path
            : throw settings.Invalid(key, "expected an absolute path");

        var run = settings.Required("run");
        _ = AbsolutePath("run");
        var format = settings.String("diskFormat") ?? "qcow2";
        if (format is not ("qcow2" or "raw"))
        {
            throw settings.Invalid("diskFormat", "expected qcow2 or raw");
        }

        if (settings.Has("diskFormat") && !settings.Has("disk"))
        {
            throw settings.Invalid("diskFormat", "there is no 'disk' to describe");
        }

        var mac = settings.String("mac");
        var network = settings.String("network") switch
        {
            null or "user" => VmNetwork.User() with { MacAddress = mac },
            "none" => VmNetwork.None(),
            { Length: > 4 } tap when tap.StartsWith("tap:", StringComparison.Ordinal) => VmNetwork.Tap(tap[4..], mac),
            { Length: > 10 } group when group.StartsWith("multicast:", StringComparison.Ordinal) => VmNetwork.Multicast(group[10..], mac),
            _ => throw settings.Invalid("network", "expected user, none, tap:DEVICE or multicast:ADDRESS:PORT"),
        };
        if (network.Mode != VmNetworkMode.User && (settings.Has("tftp") || settings.Has("bootfile")))
        {
            throw settings.Invalid(settings.Has("tftp") ? "tftp" : "bootfile", "QEMU's TFTP server and boot file are options of user networking (network: user)");
        }

        if (network.Mode == VmNetworkMode.None && mac != null)
        {
            throw settings.Invalid("mac", "a node without a network has no MAC address");
        }

        network = network with { TftpRoot = AbsolutePath("tftp"), BootFile = settings.String("bootfile") };

        var shares = new List<VmShare>();
        foreach (var share in settings.List("shares") ?? [])
        {
            // TAG=PATH, read-only; TAG=PATH:rw read-write.
            var equals = share.IndexOf('=', StringComparison.Ordinal);
            var path = equals > 0 ? share[(equals + 1)..] : string.Empty;
            var writable = path.EndsWith(":rw", StringComparison.Ordinal);
            path = writable || path.EndsWith(":ro", StringComparison.Ordinal) ? path[..^3] : path;
            if (!Path.IsPathFullyQualified(path))
            {
                throw settings.Invalid("shares", $"expected TAG=/ABSOLUTE/PATH or TAG=/ABSOLUTE/PATH:rw for each share, not '{share}'");
            }

            shares.Add(new VmShare(share[..equals], path, ReadOnly: !writable));
        }

        var spec = new VmSpec
        {
            Name = settings.Node,
            RunDirectory = run,
            Kernel = AbsolutePath("kernel"),
            Initrd = AbsolutePath("initrd"),
            KernelCommandLine = settings.String("cmdline"),
            BootDisk = AbsolutePath("disk") is { } disk ? new VmDisk(disk, format) : null,
            Cores = settings.Int("cpus", 1, 64) ?? 1,
            MemoryMiB = settings.Int("ram", 96, 1_048_576) ?? 512,
            Network = network,
            Shares = shares,
            ConsoleLogPath = Path.Combine(run, QemuHypervisor.ConsoleLogName),
            AgentChannel = false,
            ShellConsole = false,
            NoReboot = false,
            SerialTcpPort = settings.Int("serial", 1, 65535),
        };
        if (spec.Initrd != null && spec.Kernel == null)
        {
            throw settings.Invalid("initrd", "an initrd needs a 'kernel'");
        }

        if (spec.KernelCommandLine != null && spec.Kernel == null)
        {
            throw settings.Invalid("cmdline", "a kernel command line needs a 'kernel'");
        }

        return new QemuPowerDriver(new QemuPowerOptions
        {
            Spec = spec,
            Qemu = new QemuOptions { QemuBinary = settings.String("qemu") ?? new QemuOptions().QemuBinary },
        });
    }

    public PowerValidation Validate()
    {
        var problems = new List<string>(hypervisor.Validate().Problems);
        var found = problems.Count;
        var spec = options.Spec;
        if (spec.Kernel == null && spec.BootDisk == null && !spec.NetworkBoot)
        {
            problems.Add("the node's VM needs a kernel, a boot disk or a network boot");
        }

        foreach (var file in new[] { spec.Kernel, spec.Initrd, spec.BootDisk?.Path })
        {
            if (file != null && !File.Exists(file))
            {
                problems.Add($"{file} does not exist");
            }
        }

        if (options.Retry.Attempts < 1)
        {
            problems.Add("Retry.Attempts must be at least 1");
        }

        // The checks QEMU's start would make (name, sizes, network, shares, socket path lengths), here rather than at the first power-on.
        // Only when the checks above found nothing wrong with the spec: they name the same problems (files, boot).
        try
        {
            if (problems.Count == found)
            {
                QemuHypervisor.CheckSpec(SpecFor(BootDevice.Default));
            }
        }
        catch (HypervisorException e)
        {
            problems.Add(e.Message);
        }

        return new PowerValidation(problems);
    }

    public Task<PowerState> GetStateAsync(CancellationToken cancellationToken = default) =>
        options.Retry.RunAsync(
            ct => GuardAsync(async () => await FindAsync(ct).ConfigureAwait(false) == null ? PowerState.Off : PowerState.On),
            cancellationToken);

    public Task SetAsync(PowerAction action, CancellationToken cancellationToken = default) =>
        options.Retry.RunAsync(ct => GuardAsync(() => SetOnceAsync(action, ct)), cancellationToken);

    public async Task SetNextBootAsync(BootDevice device, bool persistent = false, CancellationToken cancellationToken = default)
    {
        _ = SpecFor(device);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            nextBoot = device;
            persistentBoot = persistent;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The spec a boot from <paramref name="device"/> runs; <see cref="PowerErrorCode.Unsupported"/> when the node has no such device.</summary>
    public VmSpec SpecFor(BootDevice device)
    {
        // A job's VM ends when its guest reboots; a node's guest reboots (and resets) like a machine.
        var spec = options.Spec with { NoReboot = false };
        return device switch
        {
            BootDevice.Default => spec,
            BootDevice.Pxe when spec.Network.Mode != VmNetworkMode.None => spec with { NetworkBoot = true },
            BootDevice.Disk when spec.BootDisk != null => spec with { Kernel = null, Initrd = null, KernelCommandLine = null, NetworkBoot = false },
            _ => throw new PowerException(PowerErrorCode.Unsupported, $"qemu node {spec.Name}: no {device} boot (a network boot needs a network, a disk boot a boot disk)"),
        };
    }

    private async Task SetOnceAsync(PowerAction action, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Pulling the plug needs no monitor: a wedged QEMU is quit, then killed.
            if (action is PowerAction.Off or PowerAction.Cycle)
            {
                if (await hypervisor.AttachAsync(RunDirectory, cancellationToken).ConfigureAwait(false) is { } running)
                {
                    await hypervisor.QuitAsync(running, cancellationToken).ConfigureAwait(false);
                }

                runningDevice = null;

                if (action == PowerAction.Cycle)
                {
                    await StartAsync(cancellationToken).ConfigureAwait(false);
                }

                return;
            }

            var vm = await FindAsync(cancellationToken).ConfigureAwait(false);
            switch (action)
            {
                case PowerAction.On or PowerAction.Reset when vm == null:
                    await StartAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case PowerAction.On:
                case PowerAction.SoftOff when vm == null:
                    break;
                case PowerAction.SoftOff:
                    // Accepted once the button is pressed; the guest's OS takes its time to halt.
                    await hypervisor.PowerdownAsync(vm, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
                    break;
                case PowerAction.Reset when runningDevice == nextBoot || (runningDevice == null && nextBoot == BootDevice.Default):
                    await MonitorAsync(vm, "system_reset", cancellationToken).ConfigureAwait(false);
                    ConsumeBootOverride();
                    break;
                case PowerAction.Reset:
                    // A machine's firmware reads the boot override at reset; a QEMU's boot device is in its command
                    // line, so a reset to another device starts QEMU afresh.
                    await hypervisor.QuitAsync(vm, cancellationToken).ConfigureAwait(false);
                    await StartAsync(cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new PowerException(PowerErrorCode.Unsupported, $"qemu node {options.Spec.Name}: unknown action {action}");
            }
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var vm = await hypervisor.StartAsync(SpecFor(nextBoot), cancellationToken).ConfigureAwait(false);
        runningDevice = nextBoot;
        ConsumeBootOverride();

        // Accepted once the new QEMU's monitor answers, as a BMC's answer: a QEMU that cannot be managed is no success.
        var status = await hypervisor.StatusAsync(vm, cancellationToken).ConfigureAwait(false);
        if (status.State is VmState.Unresponsive or VmState.Stopped)
        {
            throw new PowerException(
                status.State == VmState.Stopped ? PowerErrorCode.BmcError : PowerErrorCode.Unreachable,
                $"qemu node {options.Spec.Name}: " + (status.State == VmState.Stopped ? "QEMU exited as soon as it started" : $"the monitor of the QEMU just started (pid {vm.Pid}) does not answer: {status.Detail}"),
                isTransient: status.State == VmState.Unresponsive);
        }
    }

    private void ConsumeBootOverride()
    {
        if (!persistentBoot)
        {
            nextBoot = BootDevice.Default;
        }
    }

    /// <summary>The running VM, null when none runs; a QEMU whose monitor does not answer is an unreachable BMC.</summary>
    private async Task<VmHandle?> FindAsync(CancellationToken cancellationToken)
    {
        var vm = await hypervisor.AttachAsync(RunDirectory, cancellationToken).ConfigureAwait(false);
        if (vm == null)
        {
            return null;
        }

        var status = await hypervisor.StatusAsync(vm, cancellationToken).ConfigureAwait(false);
        return status.State switch
        {
            VmState.Stopped => null,
            VmState.Unresponsive => throw new PowerException(
                PowerErrorCode.Unreachable,
                $"qemu node {options.Spec.Name}: QEMU runs (pid {vm.Pid}) but its monitor does not answer: {status.Detail}",
                isTransient: true),
            _ => vm,
        };
    }

    private async Task MonitorAsync(VmHandle vm, string command, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Qemu.MonitorTimeout);
        try
        {
            await using var qmp = await QmpClient.ConnectAsync(vm.QmpSocketPath, timeout.Token).ConfigureAwait(false);
            await qmp.ExecuteAsync(command, null, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PowerException(
                PowerErrorCode.Unreachable,
                $"qemu node {options.Spec.Name}: the monitor did not answer {command} within {options.Qemu.MonitorTimeout.TotalSeconds:0.#} s",
                isTransient: true,
                e);
        }
    }

    /// <summary>Hypervisor and monitor failures as power errors: a monitor that does not answer is an unreachable BMC.</summary>
    private async Task<T> GuardAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (QmpException e)
        {
            throw new PowerException(PowerErrorCode.Unreachable, $"qemu node {options.Spec.Name}: {e.Message}", isTransient: true, e);
        }
        catch (HypervisorException e)
        {
            var code = e.Code switch
            {
                HypervisorErrorCode.InvalidSpec => PowerErrorCode.InvalidConfig,
                HypervisorErrorCode.NotAvailable => PowerErrorCode.NotAvailable,
                HypervisorErrorCode.MonitorFailed => PowerErrorCode.Unreachable,
                _ => PowerErrorCode.BmcError,
            };
            throw new PowerException(code, $"qemu node {options.Spec.Name}: {e.Message}", e.IsTransient || code == PowerErrorCode.Unreachable, e);
        }
    }

    private Task<bool> GuardAsync(Func<Task> call) =>
        GuardAsync(async () =>
        {
            await call().ConfigureAwait(false);
            return true;
        });
}
