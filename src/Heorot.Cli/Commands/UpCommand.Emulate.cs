using System.Diagnostics;
using System.Globalization;
using System.Text;
using Heorot.Cli.Client;
using Heorot.Cli.Output;
using Heorot.Drivers.Hypervisor;
using Heorot.Drivers.Power;
using Heorot.Drivers.Power.Emulation;
using Heorot.Protocol;
using Heorot.Protocol.Unix;
using Heorot.Server;

namespace Heorot.Cli.Commands;

/// <summary>
/// <c>heorot up --emulate N [--elastic] [--console socket|sol]</c>: a server whose nodes are emulated physical
/// machines (docs/power.md, "Emulated physical nodes"): QEMU guests e1..eN booting the host's own software, each
/// behind its own ipmi_sim BMC, all off at start and powered through IPMI by the server's power file.
/// </summary>
internal static partial class UpCommand
{
    /// <summary>The demo's elastic settings: nodes idle 15 s power off; a slow TCG boot is never taken for a dead node.</summary>
    private const string ElasticSettings = "{ enabled: true, idle: 15, breakEven: 0, boot: 30, shutdown: 15, lead: 0, keepWarm: 0, bootTimeoutSlack: 240 }";

    private static readonly string[] NodeImageFiles = ["vmlinux", "node-initramfs.cpio.gz"];

    private static readonly (string Program, string Package)[] EmulationTools =
    [
        ("ipmi_sim", "openipmi"),
        ("ipmitool", "ipmitool"),
        ("socat", "socat"),
    ];

    private static async Task<int> RunEmulatedAsync(string dataDirectory, int count, int port, bool elastic, EmulatedConsole console, bool otherMode, CancellationToken ct)
    {
        if (count is < 1 or > 16)
        {
            return Terminal.Fail("--emulate: between 1 and 16 nodes (each is a QEMU guest of 768 MiB; --elastic needs --emulate)");
        }

        if (otherMode)
        {
            return Terminal.Fail("--emulate replaces the local agents: it takes neither --agents, --netns nor --demo (scripts/demo-elastic is its demo)");
        }

        var self = Path.Combine(AppContext.BaseDirectory, "heorot");
        var dll = Path.Combine(AppContext.BaseDirectory, "heorot.dll");
        if (!File.Exists(self) || !File.Exists(dll))
        {
            return Terminal.Fail($"cannot find the heorot executable and heorot.dll in {AppContext.BaseDirectory}");
        }

        var root = UnixAccounts.CurrentUid() == 0;
        var guest = Environment.GetEnvironmentVariable("HEOROT_GUEST_DIR") is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "heorot", "guest");
        var nodes = new List<EmulatedNode>();
        var powerFile = Path.Combine(dataDirectory, "power.yaml");
        Process? server = null;
        try
        {
            await InstallEmulationToolsAsync(root, ct);
            await EnsureNodeImageAsync(guest, ct);
            Directory.CreateDirectory(dataDirectory);

            // The secret the server will read: written first, because the nodes' state directories carry a copy.
            var secret = AgentSecret.ReadOrCreate(Path.Combine(dataDirectory, "agent.secret"));
            var starts = Enumerable.Range(1, count).Select(i => EmulatedNode.StartAsync(
                new EmulatedNodeOptions
                {
                    Name = $"e{i}",
                    Directory = Path.Combine(dataDirectory, "emulated", $"e{i}"),
                    Kernel = Path.Combine(guest, "vmlinux"),
                    Initrd = Path.Combine(guest, "node-initramfs.cpio.gz"),
                    HeorotDll = dll,
                    ServerPort = port,
                    AgentSecret = secret,
                    Console = console,
                },
                ct)).ToList();
            try
            {
                await Task.WhenAll(starts);
            }
            finally
            {
                // Those that did start are torn down below, even when another failed.
                nodes.AddRange(starts.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }

            WritePowerFile(powerFile, nodes, elastic, count);
            var logs = Path.Combine(dataDirectory, "up-logs");
            Directory.CreateDirectory(logs);
            List<string> serverArgs = ["server", "--data", dataDirectory, "--listen", $"http://127.0.0.1:{port}", "--power", powerFile, "--grace", "5"];
            if (!root)
            {
                // Root is always an operator; without root, whoever started these nodes powers them.
                serverArgs.AddRange(["--operator", UnixAccounts.CurrentUserName()]);
            }

            server = Spawn(self, serverArgs, Path.Combine(logs, "server.log"), null);
            var socket = Path.Combine(dataDirectory, "heorot.sock");
            using var client = new HeorotClient("unix:" + socket);
            await WaitAsync(async () => (await client.GetAsync<WhoAmIResponse>("v1/whoami", ct)) != null, TimeSpan.FromSeconds(60), "the server to answer", server, ct);
            var views = (await client.GetAsync<List<NodeView>>("v1/nodes", ct)).ToDictionary(n => n.Name, StringComparer.Ordinal);

            var accelerator = new QemuHypervisor().Accelerator();
            Terminal.Out.WriteLine(count == 1
                ? $"heorot up: server at http://127.0.0.1:{port} (and unix:{socket}); 1 emulated physical node (a QEMU guest, {accelerator}, 2 CPUs and 768 MiB, running this host's heorot agent) behind its own IPMI BMC (ipmi_sim):"
                : $"heorot up: server at http://127.0.0.1:{port} (and unix:{socket}); {count} emulated physical nodes (QEMU guests, {accelerator}, 2 CPUs and 768 MiB each, running this host's heorot agent), each behind its own IPMI BMC (ipmi_sim):");
            foreach (var node in nodes)
            {
                var view = views.GetValueOrDefault(node.Name);
                var bmc = node.DriverOptions;
                Terminal.Out.WriteLine(
                    $"  {node.Name,-4} power {view?.Power ?? "?",-4} {view?.Cores ?? 0} cores {view?.MemoryMb ?? 0} MiB   BMC {bmc.Host}:{bmc.Port} (IPMI lanplus, user {bmc.Username})   console {node.ConsoleTarget}");
            }

            Terminal.Out.WriteLine(elastic
                ? "  elastic manager on: queued jobs power nodes on through their BMCs; nodes idle for 15 s power off"
                : "  elastic manager off: power nodes with heorot power on|off|soft NODESET");
            Terminal.Out.WriteLine($"  power file {powerFile} (0600: it holds the BMC passwords); node directories in {Path.Combine(dataDirectory, "emulated")}; logs in {logs}");
            Terminal.Out.WriteLine($"  talk to it with: export HEOROT_SERVER=unix:{socket}");
            Terminal.Out.WriteLine("  press Ctrl-C to stop");
            try
            {
                await server.WaitForExitAsync(ct);
                return Terminal.Fail($"the server exited with status {server.ExitCode} (see {Path.Combine(logs, "server.log")})", 1);
            }
            catch (OperationCanceledException)
            {
            }

            return 0;
        }
        catch (ClientException e)
        {
            return Terminal.Fail(e.Message);
        }
        catch (PowerException e)
        {
            return Terminal.Fail(e.Message);
        }
        finally
        {
            // Server and nodes at once: the whole teardown must fit in the CLI's grace after SIGTERM or Ctrl-C.
            var stopServer = Task.Run(() => StopAll(server == null ? [] : [server]), CancellationToken.None);
            await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()).Append(stopServer));
            File.Delete(powerFile);
            try
            {
                Directory.Delete(Path.Combine(dataDirectory, "emulated"));
            }
            catch (IOException)
            {
                // Not empty (a node kept for a post-mortem, a file of the operator's) or never made.
            }

            if (nodes.Count > 0)
            {
                Terminal.Out.WriteLine(nodes.Count == 1 ? "heorot up: stopped the server, the emulated node and its BMC" : $"heorot up: stopped the server, {nodes.Count} emulated nodes and their BMCs");
            }
        }
    }

    /// <summary>The power file the server reads: the nodes behind their BMCs, and the elastic manager's settings.</summary>
    private static void WritePowerFile(string path, IReadOnlyList<EmulatedNode> nodes, bool elastic, int count)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# Written by heorot up --emulate {count}{(elastic ? " --elastic" : string.Empty)}: emulated physical nodes (QEMU guests), each\n");
        text.Append("# behind its own ipmi_sim BMC; removed when heorot up stops. See docs/power.md.\n");
        text.Append(CultureInfo.InvariantCulture, $"elastic: {(elastic ? ElasticSettings : "{ enabled: false }")}\n");
        text.Append("nodes:\n");
        foreach (var node in nodes)
        {
            text.Append("  ").Append(node.PowerFileEntry()).Append('\n');
        }

        File.Delete(path);
        using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
        using var writer = new StreamWriter(stream, new UTF8Encoding(false));
        writer.Write(text.ToString());
    }

    /// <summary>ipmi_sim (the BMCs), ipmitool (the server's IPMI driver) and socat (the BMC's hook): installed as root, else named.</summary>
    private static async Task InstallEmulationToolsAsync(bool root, CancellationToken ct)
    {
        var missing = EmulationTools.Where(t => Which(t.Program) == null).Select(t => t.Package).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count == 0)
        {
            return;
        }

        if (!root)
        {
            throw new ClientException($"the emulated nodes need {string.Join(", ", missing)} (Debian packages): apt-get install -y {string.Join(' ', missing)} as root, or run heorot up --emulate as root, which installs them");
        }

        Terminal.Err.WriteLine($"heorot up: installing {string.Join(' ', missing)}");
        string[] install = ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", .. missing];
        var (status, output) = await RunToolAsync("apt-get", install, ct);
        if (status != 0)
        {
            await RunToolAsync("apt-get", ["update"], ct);
            (status, output) = await RunToolAsync("apt-get", install, ct);
        }

        if (status != 0)
        {
            throw new ClientException($"apt-get install {string.Join(' ', missing)} failed (exit {status}): {output.Trim()}");
        }
    }

    /// <summary>
    /// Runs scripts/guest/build.sh (idempotent: about a second when up to date; it installs QEMU when missing) when
    /// this heorot runs from a checkout; otherwise the image must already be there.
    /// </summary>
    private static async Task EnsureNodeImageAsync(string guest, CancellationToken ct)
    {
        var script = FindUpwards(AppContext.BaseDirectory, Path.Combine("scripts", "guest", "build.sh"));
        var files = NodeImageFiles.Select(f => Path.Combine(guest, f)).ToList();
        if (script == null)
        {
            if (files.All(File.Exists))
            {
                return;
            }

            throw new ClientException($"the node image ({string.Join(", ", files)}) is missing, and scripts/guest/build.sh, which builds it, is not beside this heorot: run it from a checkout");
        }

        Terminal.Err.WriteLine($"heorot up: node image in {guest} (scripts/guest/build.sh; a few minutes the first time)");
        var (status, output) = await RunToolAsync("/bin/bash", [script, guest], ct);
        if (status != 0)
        {
            throw new ClientException($"scripts/guest/build.sh failed (exit {status}):\n{output}".TrimEnd());
        }
    }

    /// <summary>Runs a tool to its end: its exit status and what it printed (both streams).</summary>
    private static async Task<(int Status, string Output)> RunToolAsync(string file, IEnumerable<string> args, CancellationToken ct)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var process = Process.Start(start) ?? throw new ClientException($"cannot run {file}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return (process.ExitCode, await stdout + await stderr);
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    private static string? FindUpwards(string start, string relative)
    {
        for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
