using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Heorot.Drivers.Power.Emulation;

/// <summary>The machine an emulated BMC powers: what "on" starts.</summary>
public abstract record EmulatedMachine
{
    private protected EmulatedMachine()
    {
    }

    internal abstract string Kind { get; }

    internal abstract string Binary { get; }

    internal abstract IReadOnlyList<string> Argv { get; }
}

/// <summary>
/// A process started from <see cref="Command"/> (argv, no shell) in its own session: on starts it, off kills its
/// process group, soft off sends it SIGTERM, reset kills and starts it again. It sees <c>HEOROT_BOOT_DEVICE</c>
/// (default, disk, pxe, cdrom, bios) and <c>HEOROT_NODE</c>; an argument <c>{boot}</c> anywhere is replaced by the device.
/// </summary>
public sealed record ProcessMachine(IReadOnlyList<string> Command) : EmulatedMachine
{
    internal override string Kind => "process";

    internal override string Binary => Command.Count > 0 ? Command[0] : string.Empty;

    internal override IReadOnlyList<string> Argv => Command;
}

/// <summary>
/// A QEMU guest: <see cref="Arguments"/> is QEMU's command line without the binary; the BMC adds <c>-daemonize</c>, a
/// pid file and a QMP socket in its directory. On starts it; off is QMP <c>quit</c> (then SIGKILL); soft off is
/// <c>system_powerdown</c> (ACPI power button); reset is <c>system_reset</c>. <c>{boot}</c> in an argument (say in
/// <c>-append</c>) is replaced by the boot device of that start.
/// </summary>
public sealed record QemuMachine(IReadOnlyList<string> Arguments) : EmulatedMachine
{
    public string QemuBinary { get; init; } = "qemu-system-x86_64";

    /// <summary>
    /// A "physical" node booting a kernel and initrd directly (qboot, TCG unless <paramref name="accelerator"/> says
    /// otherwise), its serial console on a Unix socket beside <paramref name="consoleLog"/> and logged there. The
    /// kernel command line gets <c>guestname=NAME heorot.boot={boot}</c> (the boot device of each start).
    /// </summary>
    public static QemuMachine DirectKernelBoot(
        string name,
        string kernel,
        string initrd,
        string consoleLog,
        int memoryMiB = 256,
        string extraKernelArguments = "",
        string accelerator = "tcg,tb-size=32")
    {
        static string Option(string path) => path.Replace(",", ",,", StringComparison.Ordinal);
        var cmdline = $"console=ttyS0 quiet panic=-1 no_timer_check guestname={name} heorot.boot={{boot}} {extraKernelArguments}".TrimEnd();
        return new QemuMachine([
            "-name", name, "-accel", accelerator, "-M", "pc", "-m", memoryMiB.ToString(CultureInfo.InvariantCulture), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-bios", "/usr/share/qemu/qboot.rom", "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
            "-chardev", $"socket,id=s0,path={Option(consoleLog)}.sock,server=on,wait=off,logfile={Option(consoleLog)}", "-serial", "chardev:s0",
        ]);
    }

    internal override string Kind => "qemu";

    internal override string Binary => QemuBinary;

    internal override IReadOnlyList<string> Argv => Arguments;
}

/// <summary>One emulated node's BMC. <see cref="ToString"/> never shows the password.</summary>
public sealed record IpmiSimOptions
{
    /// <summary>The node's name: <c>[A-Za-z0-9._-]</c>, at most 64 characters.</summary>
    public required string Name { get; init; }

    /// <summary>
    /// The BMC's own directory (configuration, hook, logs, the machine's pid), created 0700; disposal deletes it
    /// unless <see cref="KeepFiles"/>.
    /// </summary>
    public required string Directory { get; init; }

    /// <summary>The IPv4 address the BMC listens on (UDP).</summary>
    public string Address { get; init; } = "127.0.0.1";

    public int Port { get; init; } = 623;

    public string Username { get; init; } = "admin";

    /// <summary>At most 20 printable ASCII characters without spaces or double quotes (ipmi_sim's configuration syntax).</summary>
    public required string Password { get; init; }

    /// <summary>Serial over LAN: the TCP server (the machine's serial port) ipmi_sim connects to; null: no SOL.</summary>
    public IPEndPoint? SolTarget { get; init; }

    public required EmulatedMachine Machine { get; init; }

    /// <summary>Run the BMC (and so its hook and machine) inside this network namespace (<c>ip netns exec</c>).</summary>
    public string? NetworkNamespace { get; init; }

    public string IpmiSimPath { get; init; } = "ipmi_sim";

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Keep the directory when the BMC is disposed (logs for a post-mortem).</summary>
    public bool KeepFiles { get; init; }

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture, $"Name = {Name}, Directory = {Directory}, Address = {Address}, Port = {Port}, ");
        builder.Append(CultureInfo.InvariantCulture, $"Username = {Username}, Password = ***, Machine = {Machine.Kind}");
        return true;
    }
}

/// <summary>
/// An emulated BMC for one node: a real <c>ipmi_sim</c> (OpenIPMI) speaking IPMI 1.5/2.0 on UDP, whose chassis
/// requests run a generated <c>chassis_control</c> hook that powers a machine — a plain process for tests, a QEMU
/// guest for the demo's "physical" nodes. Any IPMI client (ipmitool, freeipmi, <see cref="IpmiPowerDriver"/>) drives
/// it. Disposal leaves no process behind: ipmi_sim does not kill what its hook started, so the machine is powered
/// off through the hook and every process still naming the directory is killed.
/// </summary>
public sealed partial class IpmiSimBmc : IAsyncDisposable
{
    public const string HookFileName = "chassis-control";
    public const string ConfigFileName = "lan.conf";
    public const string EmuFileName = "bmc.emu";
    public const string MachineIdFileName = "machine.id";
    public const string BootLogFileName = "boots.log";
    public const string QmpSocketName = "qmp.sock";

    private const int MaxOutput = 64 * 1024;

    private readonly Process process;
    private readonly StringBuilder output = new();
    private int disposed;

    private IpmiSimBmc(IpmiSimOptions options, string directory, Process process)
    {
        Options = options;
        Directory = directory;
        this.process = process;
    }

    public IpmiSimOptions Options { get; }

    /// <summary>The absolute state directory.</summary>
    public string Directory { get; }

    /// <summary>ipmi_sim's process id.</summary>
    public int ProcessId => process.Id;

    public string HookPath => Path.Combine(Directory, HookFileName);

    /// <summary>Options for an <see cref="IpmiPowerDriver"/> that controls this BMC.</summary>
    public IpmiOptions DriverOptions => new()
    {
        Host = Options.Address,
        Port = Options.Port,
        Username = Options.Username,
        Password = Options.Password,
    };

    /// <summary>Offline checks: names, paths and credentials fit the generated files; the tools exist.</summary>
    public static PowerValidation Validate(IpmiSimOptions options)
    {
        var problems = new List<string>();
        if (!SafeName().IsMatch(options.Name))
        {
            problems.Add($"emulated BMC: node name '{options.Name}' must be 1-64 of [A-Za-z0-9._-]");
        }

        if (!SafePath().IsMatch(Path.GetFullPath(options.Directory)))
        {
            // The path goes into ipmi_sim's configuration, a popen command line and QEMU options.
            problems.Add($"emulated BMC: directory '{options.Directory}' must be made of [A-Za-z0-9._/+-] only");
        }

        if (!IPAddress.TryParse(options.Address, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            problems.Add($"emulated BMC: address '{options.Address}' is not an IPv4 address");
        }

        if (options.Port is < 1 or > 65535)
        {
            problems.Add($"emulated BMC: port {options.Port} is out of range");
        }

        if (!SafeUser().IsMatch(options.Username))
        {
            problems.Add("emulated BMC: the user name must be 1-16 of [A-Za-z0-9._-]");
        }

        if (!SafePassword().IsMatch(options.Password))
        {
            problems.Add("emulated BMC: the password must be 1-20 printable ASCII characters without spaces or double quotes");
        }

        if (options.NetworkNamespace != null && !SafeName().IsMatch(options.NetworkNamespace))
        {
            problems.Add($"emulated BMC: network namespace '{options.NetworkNamespace}' must be 1-64 of [A-Za-z0-9._-]");
        }

        if (options.Machine.Argv.Count == 0 && options.Machine is ProcessMachine)
        {
            problems.Add("emulated BMC: the machine's command is empty");
        }

        if (options.Machine.Argv.Any(a => a.Contains('\0', StringComparison.Ordinal)))
        {
            problems.Add("emulated BMC: the machine's command holds a NUL character");
        }

        var tools = new List<string> { options.IpmiSimPath, "bash", "setsid", "flock", "timeout" };
        if (options.Machine is QemuMachine qemu)
        {
            tools.AddRange([qemu.QemuBinary, "socat"]);
        }
        else if (options.Machine.Binary.Length > 0)
        {
            tools.Add(options.Machine.Binary);
        }

        if (options.NetworkNamespace != null)
        {
            tools.Add("ip");
        }

        foreach (var tool in tools.Where(t => PowerProcess.Which(t) == null))
        {
            problems.Add($"emulated BMC: {tool} not found (Debian: openipmi for ipmi_sim, socat, util-linux, coreutils, qemu-system-x86, iproute2)");
        }

        return new PowerValidation(problems);
    }

    /// <summary>Writes the node's files, starts ipmi_sim and returns once it listens; its machine is off.</summary>
    public static async Task<IpmiSimBmc> StartAsync(IpmiSimOptions options, CancellationToken cancellationToken = default)
    {
        var validation = Validate(options);
        if (!validation.IsValid)
        {
            var missing = validation.Problems.Any(p => p.Contains("not found", StringComparison.Ordinal));
            throw new PowerException(missing ? PowerErrorCode.NotAvailable : PowerErrorCode.InvalidConfig, string.Join("; ", validation.Problems));
        }

        var directory = Path.GetFullPath(options.Directory);
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        // A machine left running by an earlier BMC in this directory (a crash) is powered off first.
        await StopLeftoversAsync(directory, cancellationToken).ConfigureAwait(false);
        var state = Path.Combine(directory, "ipmi_sim");
        if (System.IO.Directory.Exists(state))
        {
            // ipmi_sim's persisted users would override the configuration's password.
            System.IO.Directory.Delete(state, recursive: true);
        }

        System.IO.Directory.CreateDirectory(state);
        foreach (var stale in new[] { MachineIdFileName, BootLogFileName, "bootdev", "qemu.pid", QmpSocketName })
        {
            File.Delete(Path.Combine(directory, stale));
        }

        WriteFile(Path.Combine(directory, ConfigFileName), LanConf(options, directory), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteFile(Path.Combine(directory, EmuFileName), Emu, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteFile(Path.Combine(directory, HookFileName), Hook(options, directory), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var info = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var command = new List<string>();
        if (options.NetworkNamespace != null)
        {
            command.AddRange(["ip", "netns", "exec", options.NetworkNamespace]);
        }

        command.AddRange([
            options.IpmiSimPath, "-c", Path.Combine(directory, ConfigFileName), "-f", Path.Combine(directory, EmuFileName), "-s", state, "-n",
        ]);
        info.FileName = command[0];
        foreach (var argument in command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        var bmc = new IpmiSimBmc(options, directory, process);
        process.OutputDataReceived += (_, e) => bmc.Collect(e.Data);
        process.ErrorDataReceived += (_, e) => bmc.Collect(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw new PowerException(PowerErrorCode.NotAvailable, $"emulated BMC {options.Name}: cannot run {command[0]}: {e.Message}", false, e);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        try
        {
            await bmc.WaitListeningAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await bmc.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return bmc;
    }

    /// <summary>Whether the machine runs, read from its pid and start time (not through IPMI).</summary>
    public bool IsMachineRunning() => MachineProcessId() != null;

    /// <summary>The running machine's process id (QEMU's, or the process machine's); null when it is off.</summary>
    public int? MachineProcessId()
    {
        var path = Path.Combine(Directory, MachineIdFileName);
        string[] fields;
        try
        {
            fields = File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        return fields.Length == 2 && int.TryParse(fields[0], CultureInfo.InvariantCulture, out var pid) && LiveStartTime(pid) == fields[1] ? pid : null;
    }

    /// <summary>The hook's record of starts ("start DEVICE") and in-place resets ("reset"), oldest first.</summary>
    public IReadOnlyList<string> BootLog()
    {
        var path = Path.Combine(Directory, BootLogFileName);
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    /// <summary>What ipmi_sim printed (its start-up errors), bounded.</summary>
    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    /// <summary>Stops ipmi_sim, powers the machine off and kills every process left naming the directory; keeps the files.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        await StopLeftoversAsync(Directory, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            process.Dispose();
            if (!Options.KeepFiles)
            {
                try
                {
                    System.IO.Directory.Delete(Directory, recursive: true);
                }
                catch (DirectoryNotFoundException)
                {
                }
            }
        }
    }

    /// <summary>The generated lan.conf: one LAN channel, one admin user, SOL when asked, the hook as chassis control.</summary>
    internal static string LanConf(IpmiSimOptions options, string directory)
    {
        var guid = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(options.Name)).AsSpan(0, 16));
        var conf = new StringBuilder();
        conf.Append(CultureInfo.InvariantCulture, $"""
            # Heorot's emulated BMC for node {options.Name} (generated by IpmiSimBmc).
            name "{options.Name}"
            set_working_mc 0x20
              startlan 1
                addr {options.Address} {options.Port}
                priv_limit admin
                allowed_auths_callback md5
                allowed_auths_user md5
                allowed_auths_operator md5
                allowed_auths_admin md5
                guid {guid}
              endlan

            """);
        if (options.SolTarget != null)
        {
            conf.Append(CultureInfo.InvariantCulture, $"  sol \"tcp:{options.SolTarget.Address}:{options.SolTarget.Port}\" 115200\n");
        }

        conf.Append(CultureInfo.InvariantCulture, $"  chassis_control \"{Path.Combine(directory, HookFileName)}\"\n");
        conf.Append(CultureInfo.InvariantCulture, $"  user 2 true \"{options.Username}\" \"{options.Password}\" admin 10 md5\n");
        return conf.ToString();
    }

    /// <summary>The hook: a preamble of single-quoted assignments (no value is ever expanded by the shell) and the fixed body.</summary>
    internal static string Hook(IpmiSimOptions options, string directory)
    {
        var script = new StringBuilder();
        script.Append("#!/bin/bash\n");
        script.Append(CultureInfo.InvariantCulture, $"# chassis_control hook of Heorot's emulated BMC for node {options.Name} (generated by IpmiSimBmc).\n");
        script.Append(CultureInfo.InvariantCulture, $"D={Quote(directory)}\n");
        script.Append(CultureInfo.InvariantCulture, $"NODE={Quote(options.Name)}\n");
        script.Append(CultureInfo.InvariantCulture, $"KIND={Quote(options.Machine.Kind)}\n");
        script.Append(CultureInfo.InvariantCulture, $"QEMU={Quote(options.Machine is QemuMachine q ? q.QemuBinary : string.Empty)}\n");
        script.Append("MACHINE=(");
        script.Append(string.Join(' ', options.Machine.Argv.Select(Quote)));
        script.Append(")\n");
        script.Append("export HEOROT_BMC_DIR=\"$D\"\n");
        script.Append(HookBody.Value);
        return script.ToString();
    }

    /// <summary>Single-quotes a value for bash: nothing inside single quotes is special except the quote itself.</summary>
    internal static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static readonly Lazy<string> HookBody = new(() =>
    {
        using var stream = typeof(IpmiSimBmc).Assembly.GetManifestResourceStream("Heorot.Drivers.Power.Emulation.chassis-control.sh")
            ?? throw new InvalidOperationException("the chassis-control hook body is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    private const string Emu = """
        mc_setbmc 0x20
        mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
        sel_enable 0x20 1000 0x0a
        mc_enable 0x20

        """;

    private static void WriteFile(string path, string content, UnixFileMode mode)
    {
        var temporary = path + ".new";
        File.Delete(temporary);
        using (var stream = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode }))
        using (var writer = new StreamWriter(stream, new UTF8Encoding(false)))
        {
            writer.Write(content);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Powers off a machine the hook started (if the hook exists) and kills whatever still names the directory.</summary>
    private static async Task StopLeftoversAsync(string directory, CancellationToken cancellationToken)
    {
        var hook = Path.Combine(directory, HookFileName);
        if (File.Exists(hook))
        {
            try
            {
                await PowerProcess.RunAsync(hook, ["set", "power", "0"], null, TimeSpan.FromSeconds(10), TimeProvider.System, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (PowerException)
            {
                // Not runnable; the sweep below still kills what it can find.
            }
        }

        KillProcessesNaming(directory);
    }

    /// <summary>Kills every process whose command line or environment names the directory (the hook exports HEOROT_BMC_DIR).</summary>
    private static void KillProcessesNaming(string directory)
    {
        var inPath = Encoding.UTF8.GetBytes(directory.TrimEnd('/') + "/");
        var exact = Encoding.UTF8.GetBytes(directory.TrimEnd('/') + "\0");
        var variable = Encoding.UTF8.GetBytes("HEOROT_BMC_DIR=" + directory.TrimEnd('/') + "\0");
        foreach (var entry in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllBytes(Path.Combine(entry, "cmdline"));
                var environ = File.ReadAllBytes(Path.Combine(entry, "environ"));
                if (cmdline.AsSpan().IndexOf(inPath) >= 0 || cmdline.AsSpan().IndexOf(exact) >= 0 || environ.AsSpan().IndexOf(variable) >= 0)
                {
                    using var leftover = Process.GetProcessById(pid);
                    leftover.Kill();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException
                or System.ComponentModel.Win32Exception)
            {
                // Gone meanwhile, or not ours to read.
            }
        }
    }

    /// <summary>The start time (field 22 of /proc/PID/stat) of a live process; null for a dead or zombie one.</summary>
    private static string? LiveStartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[0] is "Z" or "X" or "x" ? null : fields[19];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private async Task WaitListeningAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!IsListening())
        {
            if (process.HasExited)
            {
                throw new PowerException(
                    PowerErrorCode.BmcError,
                    $"emulated BMC {Options.Name}: ipmi_sim exited ({process.ExitCode}) before listening on {Options.Address}:{Options.Port}: {Output.Trim()}");
            }

            if (clock.Elapsed > Options.StartTimeout)
            {
                throw new PowerException(
                    PowerErrorCode.Unreachable,
                    $"emulated BMC {Options.Name}: ipmi_sim did not listen on {Options.Address}:{Options.Port} within {Options.StartTimeout.TotalSeconds:0} s: {Output.Trim()}",
                    isTransient: true);
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether ipmi_sim itself (one of its sockets, not another process's) is bound to the UDP port.</summary>
    private bool IsListening()
    {
        try
        {
            var proc = $"/proc/{process.Id.ToString(CultureInfo.InvariantCulture)}";
            var inodes = new HashSet<string>(StringComparer.Ordinal);
            foreach (var fd in System.IO.Directory.EnumerateFileSystemEntries(Path.Combine(proc, "fd")))
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
                {
                    inodes.Add(target[8..^1]);
                }
            }

            var port = Options.Port.ToString("X4", CultureInfo.InvariantCulture);
            return File.ReadLines(Path.Combine(proc, "net", "udp")).Skip(1)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Any(f => f.Length > 9 && f[1].EndsWith(":" + port, StringComparison.Ordinal) && inodes.Contains(f[9]));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private void Collect(string? line)
    {
        if (line == null)
        {
            return;
        }

        lock (output)
        {
            if (output.Length < MaxOutput)
            {
                output.AppendLine(line);
            }
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex SafeName();

    [GeneratedRegex("^[A-Za-z0-9._/+-]+$")]
    private static partial Regex SafePath();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,16}$")]
    private static partial Regex SafeUser();

    [GeneratedRegex("^[!#-~]{1,20}$")]
    private static partial Regex SafePassword();
}
