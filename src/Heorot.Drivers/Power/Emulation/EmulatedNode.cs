using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Heorot.Drivers.Hypervisor;

namespace Heorot.Drivers.Power.Emulation;

/// <summary>How an emulated node's serial console is reached from the server.</summary>
public enum EmulatedConsole
{
    /// <summary>QEMU's serial port on a Unix socket in the node's directory (<c>console: unix:PATH</c>).</summary>
    Socket,

    /// <summary>
    /// Serial over LAN through the node's BMC (<c>console: sol</c>): QEMU serves its serial port on a loopback TCP
    /// port, which ipmi_sim connects to.
    /// </summary>
    Sol,
}

/// <summary>One emulated physical node. <see cref="ToString"/> shows neither the BMC password nor the agent secret.</summary>
public sealed record EmulatedNodeOptions
{
    /// <summary>The node's name: a letter or digit, then letters, digits, '.', '_' or '-' (at most 63).</summary>
    public required string Name { get; init; }

    /// <summary>
    /// The node's own directory (created 0700; deleted on disposal unless <see cref="KeepFiles"/>): its BMC, its
    /// state shared with the guest, its console. Made of <c>[A-Za-z0-9._/+-]</c>; keep it short (Unix sockets).
    /// </summary>
    public required string Directory { get; init; }

    /// <summary>The guest kernel (scripts/guest/build.sh: <c>vmlinux</c>).</summary>
    public required string Kernel { get; init; }

    /// <summary>The node initramfs (scripts/guest/build.sh: <c>node-initramfs.cpio.gz</c>).</summary>
    public required string Initrd { get; init; }

    /// <summary>The host's <c>heorot.dll</c>, which the guest runs as its agent (it sees the host's files read-only).</summary>
    public required string HeorotDll { get; init; }

    /// <summary>The server's TCP port on the host's loopback; the guest reaches it at 10.0.2.2 (QEMU user networking).</summary>
    public required int ServerPort { get; init; }

    /// <summary>The cluster secret agents present (the server's <c>DATA/agent.secret</c>); written 0600 for the guest.</summary>
    public required string AgentSecret { get; init; }

    /// <summary>The <c>dotnet</c> host the guest runs the agent with; null: the one on this host's PATH.</summary>
    public string? Dotnet { get; init; }

    /// <summary>More <c>heorot agent</c> options (one argument each).</summary>
    public IReadOnlyList<string> ExtraAgentArguments { get; init; } = [];

    /// <summary>Virtual CPUs; the agent offers as many cores.</summary>
    public int Cores { get; init; } = 2;

    /// <summary>The guest's memory.</summary>
    public int MemoryMiB { get; init; } = 768;

    /// <summary>The memory the agent offers to jobs (the rest is the guest's kernel, tmpfs and the agent itself).</summary>
    public int AgentMemoryMiB { get; init; } = 512;

    /// <summary>TCG's translation cache: the .NET runtime's code is large, and a small cache retranslates it again and again.</summary>
    public int TcgTranslationBlockMiB { get; init; } = 128;

    /// <summary>The BMC's loopback UDP port; 0: a free one.</summary>
    public int BmcPort { get; init; }

    public string BmcUsername { get; init; } = "admin";

    /// <summary>The BMC password; null: a random one.</summary>
    public string? BmcPassword { get; init; }

    public EmulatedConsole Console { get; init; } = EmulatedConsole.Socket;

    public string QemuBinary { get; init; } = "qemu-system-x86_64";

    /// <summary>Keep the directory on disposal (console, agent and BMC logs for a post-mortem).</summary>
    public bool KeepFiles { get; init; }

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture, $"Name = {Name}, Directory = {Directory}, ServerPort = {ServerPort}, Cores = {Cores}, MemoryMiB = {MemoryMiB}, ");
        builder.Append(CultureInfo.InvariantCulture, $"BmcPort = {BmcPort}, BmcUsername = {BmcUsername}, BmcPassword = ***, AgentSecret = ***, Console = {Console}");
        return true;
    }
}

/// <summary>
/// An emulated physical node for tests and <c>heorot up --emulate</c>: a QEMU guest booting the node initramfs
/// (the host's own root file system read-only over virtio-9p, its agent started from its state directory), behind
/// its own BMC, a real <see cref="IpmiSimBmc"/> on a loopback UDP port with generated credentials. The node starts
/// powered off: the server (or anyone with the credentials) powers it through IPMI. Disposal leaves no process and
/// no directory behind.
/// <code>
/// DIR/bmc/            the BMC (lan.conf, hook, ipmi_sim state, qemu.pid, qmp.sock, hook and machine logs)
/// DIR/state/          shared read-write with the guest (9p tag nodestate, /var/lib/heorot-node there):
///                     agent.args (one argument a line), agent.secret (0600), state/ (the agent's), agent.log
/// DIR/console.log     the current boot's serial output (QEMU's log); DIR/serial.sock the serial port (Socket)
/// </code>
/// </summary>
public sealed partial class EmulatedNode : IAsyncDisposable
{
    /// <summary>Where the guest mounts the node's state directory.</summary>
    public const string GuestStateDirectory = "/var/lib/heorot-node";

    /// <summary>The host as the guest sees it (QEMU user networking forwards it to the host's loopback).</summary>
    public const string HostAddressInGuest = "10.0.2.2";

    /// <summary>What the node's init prints on its console once it starts the agent: <c>HEOROT-NODE-READY NAME ...</c>.</summary>
    public const string ReadyLine = "HEOROT-NODE-READY";

    private const int Attempts = 3;

    private int disposed;

    private EmulatedNode(EmulatedNodeOptions options, string directory, IpmiSimBmc bmc, int? serialPort)
    {
        Options = options;
        Directory = directory;
        Bmc = bmc;
        SerialTcpPort = serialPort;
    }

    public EmulatedNodeOptions Options { get; }

    public string Name => Options.Name;

    /// <summary>The node's absolute directory.</summary>
    public string Directory { get; }

    /// <summary>The node's BMC (its process, its machine's pid, its boot log).</summary>
    public IpmiSimBmc Bmc { get; }

    /// <summary>QEMU's serial port on loopback (SOL only).</summary>
    public int? SerialTcpPort { get; }

    /// <summary>The state directory the guest mounts at <see cref="GuestStateDirectory"/>.</summary>
    public string StateDirectory => Path.Combine(Directory, "state");

    /// <summary>The current boot's serial output, as QEMU logs it.</summary>
    public string ConsoleLogPath => Path.Combine(Directory, "console.log");

    /// <summary>What the guest's agent printed (its start-up errors, if any), across boots.</summary>
    public string AgentLogPath => Path.Combine(StateDirectory, "agent.log");

    /// <summary>The power file's <c>console:</c> for this node.</summary>
    public string ConsoleTarget => Options.Console == EmulatedConsole.Sol ? "sol" : "unix:" + Path.Combine(Directory, QemuHypervisor.SerialSocketName);

    /// <summary>Options for an <see cref="IpmiPowerDriver"/> that powers this node.</summary>
    public IpmiOptions DriverOptions => Bmc.DriverOptions;

    /// <summary>Whether the node's QEMU runs (read from its process, not through IPMI).</summary>
    public bool IsRunning => Bmc.IsMachineRunning();

    /// <summary>
    /// The node's entry in a power file, in order: the IPMI driver and its BMC, the console, and the resources the
    /// agent offers (so the plan can count on the node before it first boots).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> PowerFileSettings =>
    [
        new("driver", "ipmi"),
        new("host", Bmc.Options.Address),
        new("port", Bmc.Options.Port.ToString(CultureInfo.InvariantCulture)),
        new("username", Bmc.Options.Username),
        new("password", Bmc.Options.Password),
        new("console", ConsoleTarget),
        new("cores", Options.Cores.ToString(CultureInfo.InvariantCulture)),
        new("memory", Options.AgentMemoryMiB.ToString(CultureInfo.InvariantCulture)),
    ];

    /// <summary>The power file's line for this node: <c>NAME: { driver: "ipmi", host: "…", … }</c>.</summary>
    public string PowerFileEntry() => PowerFileEntry(Name, PowerFileSettings);

    /// <summary>A power file line: <c>NAME: { KEY: "VALUE", … }</c>, every value a double-quoted YAML scalar.</summary>
    public static string PowerFileEntry(string name, IEnumerable<KeyValuePair<string, string>> settings) =>
        $"{name}: {{ {string.Join(", ", settings.Select(s => $"{s.Key}: \"{s.Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\""))} }}";

    /// <summary>The same settings as the server reads them from a power file.</summary>
    public PowerSettings ToPowerSettings(string where = "emulated")
    {
        var settings = new PowerSettings(Name, where);
        foreach (var (key, value) in PowerFileSettings)
        {
            settings.Set(key, value, where);
        }

        return settings;
    }

    /// <summary>The guest's agent command line (written to <c>agent.args</c>).</summary>
    public static IReadOnlyList<string> AgentArguments(EmulatedNodeOptions options, string dotnet) =>
    [
        dotnet, options.HeorotDll, "agent",
        "--server", $"http://{HostAddressInGuest}:{options.ServerPort.ToString(CultureInfo.InvariantCulture)}",
        "--name", options.Name,
        "--secret-file", GuestStateDirectory + "/agent.secret",
        "--state", GuestStateDirectory + "/state",
        "--cores", options.Cores.ToString(CultureInfo.InvariantCulture),
        "--memory", options.AgentMemoryMiB.ToString(CultureInfo.InvariantCulture),
        .. options.ExtraAgentArguments,
    ];

    /// <summary>
    /// QEMU's command line for the node (without the monitor, pid file and <c>-daemonize</c>, which the BMC's hook
    /// adds): a PC that resets on reboot, the host's root and the node's state over virtio-9p, user networking,
    /// the serial console logged to <c>DIR/console.log</c> and served on <c>DIR/serial.sock</c> or a TCP port.
    /// </summary>
    public static IReadOnlyList<string> QemuArguments(EmulatedNodeOptions options, string directory, int? serialTcpPort, string accelerator)
    {
        var spec = new VmSpec
        {
            Name = options.Name,
            RunDirectory = directory,
            Kernel = options.Kernel,
            Initrd = options.Initrd,
            KernelCommandLine = $"{QemuHypervisor.DefaultKernelCommandLine} nodename={options.Name} heorot.boot={{boot}}",
            Cores = options.Cores,
            MemoryMiB = options.MemoryMiB,
            Shares = [new VmShare("hostroot", "/", ReadOnly: true), new VmShare("nodestate", Path.Combine(directory, "state"), ReadOnly: false)],
            Network = VmNetwork.User(),
            ConsoleLogPath = Path.Combine(directory, "console.log"),
            AgentChannel = false,
            ShellConsole = false,
            NoReboot = false,
            SerialTcpPort = serialTcpPort,
        };
        var args = QemuHypervisor.BuildArguments(spec, accelerator, new QemuOptions { QemuBinary = options.QemuBinary, TcgTranslationBlockMiB = options.TcgTranslationBlockMiB }).ToList();

        // The BMC's hook starts QEMU with its own monitor socket and pid file.
        RemoveOption(args, "-qmp", 1);
        RemoveOption(args, "-daemonize", 0);
        RemoveOption(args, "-pidfile", 1);
        return args;
    }

    /// <summary>Offline checks: the name, the directory, the files the guest needs, the settings.</summary>
    public static PowerValidation Validate(EmulatedNodeOptions options)
    {
        var problems = new List<string>();
        if (!NodeName().IsMatch(options.Name))
        {
            problems.Add($"emulated node: name '{options.Name}' must be a letter or digit, then up to 62 of [A-Za-z0-9._-]");
        }

        var directory = Path.GetFullPath(options.Directory);
        if (!SafePath().IsMatch(directory))
        {
            problems.Add($"emulated node {options.Name}: directory '{options.Directory}' must be made of [A-Za-z0-9._/+-] only");
        }

        // The longest socket path: the BMC's QMP socket (Unix socket paths hold at most 107 bytes).
        if (Encoding.UTF8.GetByteCount(Path.Combine(directory, "bmc", IpmiSimBmc.QmpSocketName)) > 107)
        {
            problems.Add($"emulated node {options.Name}: directory '{directory}' is too long for its Unix sockets (keep it under about 90 characters)");
        }

        foreach (var (what, path) in new[] { ("kernel", options.Kernel), ("initrd", options.Initrd), ("heorot.dll", options.HeorotDll) })
        {
            if (!File.Exists(path))
            {
                problems.Add($"emulated node {options.Name}: {what} {path} not found{(what == "heorot.dll" ? string.Empty : " (scripts/guest/build.sh builds it)")}");
            }
        }

        foreach (var hidden in new[] { "/run/", "/proc/", "/sys/", "/dev/" })
        {
            if (Path.GetFullPath(options.HeorotDll).StartsWith(hidden, StringComparison.Ordinal))
            {
                problems.Add($"emulated node {options.Name}: {options.HeorotDll} is under {hidden}, which the guest does not share with the host");
            }
        }

        if (options.ServerPort is < 1 or > 65535 || options.BmcPort is < 0 or > 65535)
        {
            problems.Add($"emulated node {options.Name}: a port is out of range");
        }

        if (options.Cores is < 1 or > 64 || options.MemoryMiB < 256 || options.AgentMemoryMiB < 1 || options.AgentMemoryMiB >= options.MemoryMiB)
        {
            problems.Add($"emulated node {options.Name}: 1-64 cores, at least 256 MiB of memory, and less of it offered to jobs than the guest has");
        }

        if (options.AgentSecret.Length == 0 || options.AgentSecret.Any(char.IsControl))
        {
            problems.Add($"emulated node {options.Name}: the agent secret is empty or holds control characters");
        }

        if (options.ExtraAgentArguments.Any(a => a.Any(c => c is '\n' or '\r' or '\0')))
        {
            // agent.args holds one argument a line.
            problems.Add($"emulated node {options.Name}: an agent argument holds a line break or a NUL character");
        }

        foreach (var tool in new[] { options.QemuBinary, "ipmi_sim", "socat" }.Where(t => PowerProcess.Which(t) == null))
        {
            problems.Add($"emulated node {options.Name}: {tool} not found (Debian: qemu-system-x86, openipmi, socat)");
        }

        return new PowerValidation(problems);
    }

    /// <summary>Writes the node's directory and starts its BMC; the node is powered off.</summary>
    public static async Task<EmulatedNode> StartAsync(EmulatedNodeOptions options, CancellationToken cancellationToken = default)
    {
        var validation = Validate(options);
        if (!validation.IsValid)
        {
            var missing = validation.Problems.Any(p => p.Contains("not found", StringComparison.Ordinal));
            throw new PowerException(missing ? PowerErrorCode.NotAvailable : PowerErrorCode.InvalidConfig, string.Join("; ", validation.Problems));
        }

        var dotnet = options.Dotnet ?? Dotnet()
            ?? throw new PowerException(PowerErrorCode.NotAvailable, $"emulated node {options.Name}: dotnet not found on PATH (the guest runs the host's .NET)");
        var directory = Path.GetFullPath(options.Directory);
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        System.IO.Directory.CreateDirectory(directory, Private);
        // The state directory is the guest's /var/lib/heorot-node: jobs' users traverse it to their scripts (the
        // agent makes its own state directory inside, as on any node); only the secret is the owner's alone.
        var state = Path.Combine(directory, "state");
        System.IO.Directory.CreateDirectory(state);
        File.SetUnixFileMode(state, Private | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        WriteFile(Path.Combine(state, "agent.secret"), options.AgentSecret + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteFile(Path.Combine(state, "agent.args"), string.Concat(AgentArguments(options, dotnet).Select(a => a + "\n")), UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var accelerator = new QemuHypervisor(new QemuOptions { QemuBinary = options.QemuBinary }).Accelerator();
        var password = options.BmcPassword ?? NewPassword();
        for (var attempt = 1; ; attempt++)
        {
            // A port found free may be taken before ipmi_sim (or QEMU) binds it: then try other ones.
            int? serialPort = options.Console == EmulatedConsole.Sol ? FreePort(SocketType.Stream) : null;
            var bmcOptions = new IpmiSimOptions
            {
                Name = options.Name,
                Directory = Path.Combine(directory, "bmc"),
                Port = options.BmcPort != 0 ? options.BmcPort : FreePort(SocketType.Dgram),
                Username = options.BmcUsername,
                Password = password,
                SolTarget = serialPort is { } p ? new IPEndPoint(IPAddress.Loopback, p) : null,
                Machine = new QemuMachine(QemuArguments(options, directory, serialPort, accelerator)) { QemuBinary = options.QemuBinary },
                KeepFiles = true,
            };
            try
            {
                var bmc = await IpmiSimBmc.StartAsync(bmcOptions, cancellationToken).ConfigureAwait(false);
                return new EmulatedNode(options, directory, bmc, serialPort);
            }
            catch (PowerException e) when (e.Code == PowerErrorCode.BmcError && options.BmcPort == 0 && attempt < Attempts)
            {
                // ipmi_sim exited before listening: most likely the port was taken meanwhile.
            }
            catch
            {
                if (!options.KeepFiles)
                {
                    DeleteDirectory(directory);
                }

                throw;
            }
        }
    }

    /// <summary>A random BMC password: 16 letters and digits (ipmi_sim takes at most 20).</summary>
    public static string NewPassword() => RandomNumberGenerator.GetString("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", 16);

    /// <summary>Whether the node's console log of the current boot holds its readiness line.</summary>
    public bool ConsoleShowsReady()
    {
        try
        {
            using var stream = new FileStream(ConsoleLogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd().Contains($"{ReadyLine} {Name}", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Powers the node off (its QEMU quits or is killed), stops its BMC, and deletes its directory unless kept.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await Bmc.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            if (!Options.KeepFiles)
            {
                DeleteDirectory(Directory);
            }
        }
    }

    /// <summary>The <c>dotnet</c> on PATH, its links resolved (the guest sees the same files).</summary>
    private static string? Dotnet()
    {
        var found = PowerProcess.Which("dotnet");
        if (found == null)
        {
            return null;
        }

        var target = new FileInfo(found).ResolveLinkTarget(returnFinalTarget: true);
        return target?.FullName ?? Path.GetFullPath(found);
    }

    private static void RemoveOption(List<string> args, string option, int values)
    {
        var at = args.IndexOf(option);
        if (at >= 0)
        {
            args.RemoveRange(at, Math.Min(1 + values, args.Count - at));
        }
    }

    private static int FreePort(SocketType type)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Dgram ? ProtocolType.Udp : ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

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

    private static void DeleteDirectory(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex NodeName();

    [GeneratedRegex("^[A-Za-z0-9._/+-]+$")]
    private static partial Regex SafePath();
}
