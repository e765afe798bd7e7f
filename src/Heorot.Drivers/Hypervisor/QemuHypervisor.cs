using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Heorot.Drivers.Hypervisor;

public sealed record QemuOptions
{
    public string QemuBinary { get; init; } = "qemu-system-x86_64";

    /// <summary>Minimal firmware for direct kernel boot (PVH); disk boots use QEMU's default BIOS.</summary>
    public string QbootPath { get; init; } = "/usr/share/qemu/qboot.rom";

    /// <summary>Use TCG even when /dev/kvm exists.</summary>
    public bool ForceTcg { get; init; }

    /// <summary>TCG translation cache; 32 MiB keeps a small guest near 140 MiB of host memory.</summary>
    public int TcgTranslationBlockMiB { get; init; } = 32;

    /// <summary>How long <see cref="QemuHypervisor.QuitAsync"/> waits before it kills.</summary>
    public TimeSpan QuitTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan KillTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan MonitorTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// QEMU driver: a daemonized qemu-system-x86_64 per VM with its pid file, QMP socket, serial console socket
/// (with a log file), the guest agent's virtio-serial socket and the login console's socket in the run directory. KVM when /dev/kvm is
/// usable, otherwise TCG; direct kernel boot uses qboot and PVH (an uncompressed vmlinux boots fastest).
/// </summary>
public sealed partial class QemuHypervisor(QemuOptions? options = null, TimeProvider? timeProvider = null) : IHypervisor
{
    public const string QmpSocketName = "qmp.sock";
    public const string SerialSocketName = "serial.sock";
    public const string AgentSocketName = "agent.sock";
    public const string ShellSocketName = "shell.sock";
    public const string PidFileName = "qemu.pid";
    public const string StateFileName = "vm.json";
    public const string ConsoleLogName = "console.log";
    public const string AgentPortName = "org.heorot.agent";
    public const string ShellPortName = "org.heorot.shell";
    public const string DefaultKernelCommandLine = "console=ttyS0 quiet panic=-1 no_timer_check";

    // Unix socket paths hold at most 107 bytes plus the terminating NUL.
    private const int MaxSocketPath = 107;
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> StartGates = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, bool> KvmProbes = new(StringComparer.Ordinal);

    private readonly QemuOptions options = options ?? new QemuOptions();
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    public HypervisorValidation Validate()
    {
        var problems = new List<string>();
        if (ProcessRunner.Which(options.QemuBinary) == null)
        {
            problems.Add($"{options.QemuBinary} not found (Debian: apt-get install qemu-system-x86)");
        }

        if (!File.Exists(options.QbootPath))
        {
            problems.Add($"{options.QbootPath} not found: direct kernel boot needs qboot (Debian: qemu-system-data)");
        }

        return new HypervisorValidation(problems.Count == 0, Accelerator(), problems);
    }

    /// <summary>
    /// "kvm" when KVM really works here, else "tcg". A /dev/kvm node alone proves nothing: in a microVM
    /// without nested virtualisation it opens fine and QEMU then aborts ("failed to set MSR"). So the CPU
    /// must advertise vmx/svm and one probe QEMU must get through machine set-up (once per process).
    /// </summary>
    public string Accelerator() =>
        !options.ForceTcg && KvmProbes.GetOrAdd(options.QemuBinary, static binary => ProbeKvm(binary)) ? "kvm" : "tcg";

    private static bool ProbeKvm(string qemuBinary)
    {
        if (!File.Exists("/dev/kvm"))
        {
            return false;
        }

        try
        {
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? string.Empty;
            if (!flags.Split(' ').Any(f => f is "vmx" or "svm"))
            {
                return false;
            }

            using var kvm = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        var info = new ProcessStartInfo(qemuBinary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-accel", "kvm", "-M", "pc", "-m", "32", "-nodefaults", "-no-user-config", "-display", "none", "-S", "-qmp", "stdio" })
        {
            info.ArgumentList.Add(a);
        }

        try
        {
            using var probe = Process.Start(info)!;
            probe.StandardInput.Write("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n");
            probe.StandardInput.Close();
            _ = probe.StandardOutput.ReadToEndAsync();
            _ = probe.StandardError.ReadToEndAsync();
            if (!probe.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                probe.Kill();
                return false;
            }

            return probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    public async Task<VmHandle> StartAsync(VmSpec spec, CancellationToken cancellationToken = default)
    {
        CheckSpec(spec);
        var runDirectory = Path.GetFullPath(spec.RunDirectory);
        var gate = StartGates.GetOrAdd(runDirectory, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await AttachAsync(runDirectory, cancellationToken).ConfigureAwait(false) is { } running)
            {
                return running.Name == spec.Name
                    ? running
                    : throw new HypervisorException(HypervisorErrorCode.Conflict, $"run directory {runDirectory} holds running VM {running.Name}, not {spec.Name}");
            }

            var consoleLog = Path.GetFullPath(spec.ConsoleLogPath ?? Path.Combine(runDirectory, ConsoleLogName));
            Directory.CreateDirectory(runDirectory);
            foreach (var stale in new[] { QmpSocketName, SerialSocketName, AgentSocketName, ShellSocketName, PidFileName, StateFileName })
            {
                File.Delete(Path.Combine(runDirectory, stale));
            }

            // A log left from an earlier boot would hold an old readiness line.
            File.Delete(consoleLog);
            await File.WriteAllTextAsync(
                Path.Combine(runDirectory, StateFileName),
                JsonSerializer.Serialize(new RunState(spec.Name, consoleLog), StateJson.Default.RunState),
                cancellationToken).ConfigureAwait(false);

            var arguments = BuildArguments(spec with { RunDirectory = runDirectory, ConsoleLogPath = consoleLog }, Accelerator(), options);
            var result = await ProcessRunner.RunAsync(options.QemuBinary, arguments, cancellationToken).ConfigureAwait(false);
            var pid = ReadPid(runDirectory);
            if (result.ExitCode != 0 || pid == null)
            {
                throw new HypervisorException(
                    HypervisorErrorCode.StartFailed,
                    $"{options.QemuBinary} failed to start VM {spec.Name} (exit {result.ExitCode}): {result.Stderr.Trim()}");
            }

            return new VmHandle(spec.Name, runDirectory, pid.Value, consoleLog);
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<VmStatus> StatusAsync(VmHandle vm, CancellationToken cancellationToken = default)
    {
        if (!IsAlive(vm.Pid, vm.RunDirectory))
        {
            return new VmStatus(VmState.Stopped);
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.MonitorTimeout);
            await using var qmp = await QmpClient.ConnectAsync(vm.QmpSocketPath, timeout.Token).ConfigureAwait(false);
            var status = await qmp.ExecuteAsync("query-status", null, timeout.Token).ConfigureAwait(false);
            var state = status.GetProperty("status").GetString() ?? "unknown";
            return new VmStatus(state == "running" ? VmState.Running : VmState.Paused, state);
        }
        catch (Exception e) when (e is QmpException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return IsAlive(vm.Pid, vm.RunDirectory) ? new VmStatus(VmState.Unresponsive, e.Message) : new VmStatus(VmState.Stopped);
        }
    }

    public async Task<bool> PowerdownAsync(VmHandle vm, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (!IsAlive(vm.Pid, vm.RunDirectory))
        {
            return true;
        }

        try
        {
            await MonitorCommandAsync(vm, "system_powerdown", cancellationToken).ConfigureAwait(false);
        }
        catch (QmpException) when (!IsAlive(vm.Pid, vm.RunDirectory))
        {
            return true;
        }

        return await WaitGoneAsync(vm, timeout, cancellationToken).ConfigureAwait(false);
    }

    public async Task QuitAsync(VmHandle vm, CancellationToken cancellationToken = default)
    {
        if (!IsAlive(vm.Pid, vm.RunDirectory))
        {
            return;
        }

        try
        {
            await MonitorCommandAsync(vm, "quit", cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QmpException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // QEMU may close the monitor before replying; the wait below decides.
        }

        if (!await WaitGoneAsync(vm, options.QuitTimeout, cancellationToken).ConfigureAwait(false))
        {
            await KillAsync(vm, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task KillAsync(VmHandle vm, CancellationToken cancellationToken = default)
    {
        if (!IsAlive(vm.Pid, vm.RunDirectory))
        {
            return;
        }

        try
        {
            using var process = Process.GetProcessById(vm.Pid);
            process.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Gone already.
        }

        if (!await WaitGoneAsync(vm, options.KillTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new HypervisorException(HypervisorErrorCode.StopTimedOut, $"VM {vm.Name} (pid {vm.Pid}) survived SIGKILL for {options.KillTimeout}");
        }
    }

    public Task<VmHandle?> AttachAsync(string runDirectory, CancellationToken cancellationToken = default)
    {
        runDirectory = Path.GetFullPath(runDirectory);
        var pid = ReadPid(runDirectory);
        if (pid == null || !IsAlive(pid.Value, runDirectory))
        {
            return Task.FromResult<VmHandle?>(null);
        }

        var state = ReadState(runDirectory);
        var name = state?.Name ?? Path.GetFileName(runDirectory);
        var console = state?.ConsoleLog ?? Path.Combine(runDirectory, ConsoleLogName);
        return Task.FromResult<VmHandle?>(new VmHandle(name, runDirectory, pid.Value, console));
    }

    public async Task CleanupAsync(string runDirectory, CancellationToken cancellationToken = default)
    {
        runDirectory = Path.GetFullPath(runDirectory);
        if (await AttachAsync(runDirectory, cancellationToken).ConfigureAwait(false) is { } vm)
        {
            await KillAsync(vm, cancellationToken).ConfigureAwait(false);
        }

        if (ReadState(runDirectory)?.ConsoleLog is { } log)
        {
            File.Delete(log);
        }

        if (Directory.Exists(runDirectory))
        {
            Directory.Delete(runDirectory, recursive: true);
        }
    }

    /// <summary>The full qemu-system-x86_64 argument list for <paramref name="spec"/> (paths already absolute).</summary>
    public static IReadOnlyList<string> BuildArguments(VmSpec spec, string accelerator, QemuOptions options)
    {
        var run = spec.RunDirectory;
        var args = new List<string> { "-name", spec.Name };
        if (accelerator == "kvm")
        {
            args.AddRange(["-accel", "kvm", "-cpu", "host"]);
        }
        else
        {
            args.AddRange(["-accel", $"tcg,tb-size={options.TcgTranslationBlockMiB.ToString(CultureInfo.InvariantCulture)}"]);
        }

        args.AddRange([
            "-M", "pc", "-m", spec.MemoryMiB.ToString(CultureInfo.InvariantCulture), "-smp", spec.Cores.ToString(CultureInfo.InvariantCulture),
            "-nodefaults", "-no-user-config", "-display", "none",
        ]);
        if (spec.NoReboot)
        {
            args.Add("-no-reboot");
        }

        if (spec.NetworkBoot)
        {
            // SeaBIOS (QEMU's default firmware) runs the NIC's option ROM, which the NIC's bootindex puts first.
            if (spec.BootDisk != null)
            {
                args.AddRange(["-drive", Drive(spec.BootDisk)]);
            }
        }
        else if (spec.Kernel != null)
        {
            var cmdline = spec.KernelCommandLine ?? $"{DefaultKernelCommandLine} guestname={spec.Name}";
            if (accelerator != "kvm" && !cmdline.Split(' ').Contains("no_timer_check"))
            {
                // Slow TCG boots under load fail the IO-APIC timer check and panic without it.
                cmdline += " no_timer_check";
            }

            args.AddRange(["-bios", options.QbootPath, "-kernel", spec.Kernel]);
            if (spec.Initrd != null)
            {
                args.AddRange(["-initrd", spec.Initrd]);
            }

            args.AddRange(["-append", cmdline]);

            // The kernel's root file system (root=/dev/vda): the first virtio disk, before the others and the seed.
            if (spec.BootDisk != null)
            {
                args.AddRange(["-drive", Drive(spec.BootDisk)]);
            }
        }
        else if (spec.BootDisk != null)
        {
            args.AddRange(["-drive", Drive(spec.BootDisk)]);
        }

        foreach (var disk in spec.Disks)
        {
            args.AddRange(["-drive", Drive(disk)]);
        }

        if (spec.SeedPath != null)
        {
            args.AddRange(["-drive", Drive(new VmDisk(spec.SeedPath, "raw", ReadOnly: true))]);
        }

        foreach (var share in spec.Shares)
        {
            // multidevs=remap: a share spanning several host file systems keeps distinct inode numbers in the guest.
            args.AddRange(["-virtfs", $"local,path={Escape(Path.GetFullPath(share.HostPath))},mount_tag={share.Tag},security_model=none,multidevs=remap" + (share.ReadOnly ? ",readonly=on" : string.Empty)]);
        }

        // Without a network boot the NIC gets no option ROM: nothing to run, and one less thing to load.
        var mac = (spec.NetworkBoot ? ",bootindex=1" : ",romfile=") + (spec.Network.MacAddress != null ? ",mac=" + spec.Network.MacAddress : string.Empty);
        switch (spec.Network.Mode)
        {
            case VmNetworkMode.User:
                var user = new StringBuilder("user,id=n0");
                foreach (var f in spec.Network.Forwards)
                {
                    user.Append(CultureInfo.InvariantCulture, $",hostfwd={f.Protocol}:{f.HostAddress}:{f.HostPort}-:{f.GuestPort}");
                }

                if (spec.Network.TftpRoot != null)
                {
                    user.Append(",tftp=").Append(Escape(Path.GetFullPath(spec.Network.TftpRoot)));
                }

                if (spec.Network.BootFile != null)
                {
                    user.Append(",bootfile=").Append(Escape(spec.Network.BootFile));
                }

                args.AddRange(["-netdev", user.ToString(), "-device", "virtio-net-pci,netdev=n0" + mac]);
                break;
            case VmNetworkMode.Multicast:
                args.AddRange(["-netdev", "socket,id=n0,mcast=" + spec.Network.Target, "-device", "virtio-net-pci,netdev=n0" + mac]);
                break;
            case VmNetworkMode.Tap:
                args.AddRange(["-netdev", $"tap,id=n0,ifname={spec.Network.Target},script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0" + mac]);
                break;
            case VmNetworkMode.None:
                break;
        }

        if (spec.AgentChannel || spec.ShellConsole)
        {
            args.AddRange(["-device", "virtio-serial-pci,id=vser0"]);
        }

        if (spec.AgentChannel)
        {
            args.AddRange([
                "-chardev", $"socket,id=agent0,path={Escape(Path.Combine(run, AgentSocketName))},server=on,wait=off",
                "-device", $"virtserialport,chardev=agent0,name={AgentPortName}",
            ]);
        }

        if (spec.ShellConsole)
        {
            // A virtconsole port is a tty in the guest (/dev/hvc0, the only hvc there), where init keeps a login for the job's user.
            args.AddRange([
                "-chardev", $"socket,id=shell0,path={Escape(Path.Combine(run, ShellSocketName))},server=on,wait=off",
                "-device", $"virtconsole,chardev=shell0,name={ShellPortName}",
            ]);
        }

        var serial = spec.SerialTcpPort is { } port
            ? $"socket,id=s0,host=127.0.0.1,port={port.ToString(CultureInfo.InvariantCulture)}"
            : $"socket,id=s0,path={Escape(Path.Combine(run, SerialSocketName))}";
        args.AddRange([
            "-chardev", $"{serial},server=on,wait=off,logfile={Escape(spec.ConsoleLogPath ?? Path.Combine(run, ConsoleLogName))}",
            "-serial", "chardev:s0",
            "-qmp", $"unix:{Escape(Path.Combine(run, QmpSocketName))},server=on,wait=off",
            "-daemonize", "-pidfile", Path.Combine(run, PidFileName),
        ]);
        return args;
    }

    // QEMU option values separate properties with commas; a literal comma is doubled.
    private static string Escape(string value) => value.Replace(",", ",,", StringComparison.Ordinal);

    private static string Drive(VmDisk disk) =>
        $"file={Escape(Path.GetFullPath(disk.Path))},if=virtio,format={disk.Format}" + (disk.ReadOnly ? ",readonly=on" : string.Empty);

    /// <summary>Offline checks of a spec (files, names, sizes, socket path lengths); the first problem as <see cref="HypervisorErrorCode.InvalidSpec"/>.</summary>
    internal static void CheckSpec(VmSpec spec)
    {
        if (!NamePattern().IsMatch(spec.Name))
        {
            throw Invalid($"VM name '{spec.Name}' must be 1-63 letters, digits, '.', '_' or '-'");
        }

        if (spec.Kernel == null && spec.BootDisk == null && !spec.NetworkBoot)
        {
            throw Invalid("a VM needs a kernel, a boot disk or a network boot");
        }

        if (spec.NetworkBoot && spec.Network.Mode == VmNetworkMode.None)
        {
            throw Invalid("a network boot needs a network");
        }

        if ((spec.Network.TftpRoot != null || spec.Network.BootFile != null) && spec.Network.Mode != VmNetworkMode.User)
        {
            throw Invalid("a TFTP root and a boot file are options of user networking");
        }

        if (spec.Network.TftpRoot != null && !Directory.Exists(spec.Network.TftpRoot))
        {
            throw Invalid($"TFTP root {spec.Network.TftpRoot} does not exist");
        }

        if (spec.Network.BootFile is { } bootFile && !BootFilePattern().IsMatch(bootFile))
        {
            throw Invalid($"boot file name '{bootFile}' must be letters, digits, '.', '_', '-' or '/'");
        }

        foreach (var share in spec.Shares)
        {
            if (!TagPattern().IsMatch(share.Tag) || !Directory.Exists(share.HostPath))
            {
                throw Invalid($"share '{share.Tag}' of {share.HostPath}: the tag must be 1-31 letters, digits or '_', and the directory must exist");
            }
        }

        foreach (var file in new[] { spec.Kernel, spec.Initrd, spec.SeedPath, spec.BootDisk?.Path }.Concat(spec.Disks.Select(d => d.Path)))
        {
            if (file != null && !File.Exists(file))
            {
                throw Invalid($"{file} does not exist");
            }
        }

        if (spec.Cores < 1 || spec.MemoryMiB < 96)
        {
            throw Invalid("a VM needs at least 1 core and 96 MiB (smaller guests hang during boot)");
        }

        foreach (var format in spec.Disks.Select(d => d.Format).Append(spec.BootDisk?.Format ?? "qcow2"))
        {
            if (format is not ("qcow2" or "raw"))
            {
                throw Invalid($"disk format {format} is not qcow2 or raw");
            }
        }

        if (spec.Network.Mode is VmNetworkMode.Multicast or VmNetworkMode.Tap && !TargetPattern().IsMatch(spec.Network.Target ?? string.Empty))
        {
            throw Invalid($"network target '{spec.Network.Target}' is not a device name or address:port");
        }

        if (spec.Network.MacAddress != null && !MacPattern().IsMatch(spec.Network.MacAddress))
        {
            throw Invalid($"MAC address '{spec.Network.MacAddress}' is malformed");
        }

        foreach (var f in spec.Network.Forwards)
        {
            if (f.Protocol is not ("tcp" or "udp") || f.HostPort is < 0 or > 65535 || f.GuestPort is < 1 or > 65535 || !System.Net.IPAddress.TryParse(f.HostAddress, out _))
            {
                throw Invalid($"port forward {f} is malformed");
            }
        }

        var longest = Path.Combine(Path.GetFullPath(spec.RunDirectory), SerialSocketName);
        if (Encoding.UTF8.GetByteCount(longest) > MaxSocketPath)
        {
            throw Invalid($"run directory {spec.RunDirectory} is too long for Unix socket paths ({MaxSocketPath} bytes)");
        }
    }

    private static HypervisorException Invalid(string message) => new(HypervisorErrorCode.InvalidSpec, message);

    private static int? ReadPid(string runDirectory)
    {
        try
        {
            return int.TryParse(File.ReadAllText(Path.Combine(runDirectory, PidFileName)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static RunState? ReadState(string runDirectory)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(runDirectory, StateFileName)), StateJson.Default.RunState);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// True when <paramref name="pid"/> is a live (not zombie) QEMU started for this run directory: the pid
    /// file alone could name a recycled pid.
    /// </summary>
    public static bool IsAlive(int pid, string runDirectory)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var afterName = stat.LastIndexOf(')');
            if (afterName < 0 || afterName + 2 >= stat.Length || stat[afterName + 2] is 'Z' or 'X')
            {
                return false;
            }

            var cmdline = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline");
            return cmdline.Contains(Escape(Path.Combine(Path.GetFullPath(runDirectory), QmpSocketName)), StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private async Task MonitorCommandAsync(VmHandle vm, string command, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.MonitorTimeout);
        await using var qmp = await QmpClient.ConnectAsync(vm.QmpSocketPath, timeout.Token).ConfigureAwait(false);
        await qmp.ExecuteAsync(command, null, timeout.Token).ConfigureAwait(false);
    }

    private async Task<bool> WaitGoneAsync(VmHandle vm, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (IsAlive(vm.Pid, vm.RunDirectory))
        {
            if (time.GetElapsedTime(started) >= timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), time, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9_]{1,31}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_.:-]{1,64}$")]
    private static partial Regex TargetPattern();

    [GeneratedRegex("^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    private static partial Regex MacPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_.][A-Za-z0-9_./-]{0,127}$")]
    private static partial Regex BootFilePattern();

    internal sealed record RunState(string Name, string ConsoleLog);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(QemuHypervisor.RunState))]
internal sealed partial class StateJson : System.Text.Json.Serialization.JsonSerializerContext;
