using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Heorot.Cli.Client;
using Heorot.Cli.Output;
using Heorot.Drivers.Power.Emulation;
using Heorot.Protocol;
using Heorot.Protocol.Unix;

namespace Heorot.Cli.Commands;

/// <summary>
/// <c>heorot up</c>: the embedded default. A server on SQLite and a few agents, all real processes; as root each
/// agent runs in its own network namespace with its own address on a bridge, otherwise all on loopback.
/// With <c>--demo</c> it also submits a job across every node, shows it run, and stops everything. With
/// <c>--emulate N</c> the nodes are emulated physical nodes instead (UpCommand.Emulate.cs).
/// </summary>
internal static partial class UpCommand
{
    private const string Bridge = "heorot-br0";
    private const string Subnet = "10.77.0";

    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Data directory (default: $HEOROT_DATA, /var/lib/heorot for root, ~/.local/share/heorot)." };
        var agents = new Option<int>("--agents") { Description = "How many local agents (nodes) to start.", DefaultValueFactory = _ => 3 };
        var port = new Option<int>("--port") { Description = "The server's TCP port.", DefaultValueFactory = _ => 6817 };
        var cores = new Option<int>("--cores") { Description = "Cores each agent offers.", DefaultValueFactory = _ => 4 };
        var netns = new Option<string>("--netns") { Description = "auto (namespaces when root), on or off.", DefaultValueFactory = _ => "auto" };
        var demo = new Option<bool>("--demo") { Description = "Submit a job on every node, show it running and its output, then stop." };
        var emulate = new Option<int>("--emulate")
        {
            Description = "Instead of local agents, N emulated physical nodes e1..eN (QEMU guests running the agent), each behind its own IPMI BMC (ipmi_sim), all powered off at start.",
        };
        var elastic = new Option<bool>("--elastic") { Description = "With --emulate: the elastic manager powers nodes on for queued jobs and off after 15 s idle." };
        var console = new Option<string>("--console")
        {
            Description = "With --emulate: the nodes' consoles through QEMU's serial socket (socket) or IPMI serial-over-LAN through their BMCs (sol).",
            DefaultValueFactory = _ => "socket",
        };
        console.AcceptOnlyFromAmong("socket", "sol");
        var command = new Command("up", "Start a server on SQLite and local agents as real processes (the embedded default).")
        {
            data, agents, port, cores, netns, demo, emulate, elastic, console,
        };
        command.SetAction((parse, ct) => parse.GetValue(emulate) != 0 || parse.GetValue(elastic)
            ? RunEmulatedAsync(
                parse.GetValue(data) ?? ClientConfig.DefaultDataDirectory(),
                parse.GetValue(emulate),
                parse.GetValue(port),
                parse.GetValue(elastic),
                parse.GetValue(console) == "sol" ? EmulatedConsole.Sol : EmulatedConsole.Socket,
                parse.GetResult(agents) is { Implicit: false } || parse.GetResult(netns) is { Implicit: false } || parse.GetValue(demo),
                ct)
            : RunAsync(
            parse.GetValue(data) ?? ClientConfig.DefaultDataDirectory(),
            parse.GetValue(agents),
            parse.GetValue(port),
            parse.GetValue(cores),
            parse.GetValue(netns)!,
            parse.GetValue(demo),
            ct));
        return command;
    }

    private static async Task<int> RunAsync(string dataDirectory, int agentCount, int port, int cores, string netnsMode, bool demo, CancellationToken ct)
    {
        if (agentCount is < 1 or > 64)
        {
            return Terminal.Fail("--agents: between 1 and 64");
        }

        var root = UnixAccounts.CurrentUid() == 0;
        var useNetns = netnsMode switch
        {
            "on" => true,
            "off" => false,
            "auto" => root && File.Exists("/usr/sbin/ip") || root && File.Exists("/sbin/ip") || root && File.Exists("/usr/bin/ip"),
            _ => throw new ClientException($"--netns {netnsMode}: expected auto, on or off"),
        };
        if (useNetns && !root)
        {
            return Terminal.Fail("--netns on needs root");
        }

        Directory.CreateDirectory(dataDirectory);
        var self = Path.Combine(AppContext.BaseDirectory, "heorot");
        if (!File.Exists(self))
        {
            return Terminal.Fail($"cannot find the heorot executable next to {AppContext.BaseDirectory}");
        }

        var logs = Path.Combine(dataDirectory, "up-logs");
        Directory.CreateDirectory(logs);
        var processes = new List<Process>();
        var names = Enumerable.Range(1, agentCount).Select(i => $"node{i}").ToList();
        try
        {
            var listen = useNetns ? $"http://{Subnet}.1:{port}" : $"http://127.0.0.1:{port}";
            if (useNetns)
            {
                await SetUpNetworkAsync(names, ct);
            }

            var serverArgs = new List<string> { "server", "--data", dataDirectory, "--listen", listen, "--heartbeat", "5", "--suspect-after", "15", "--down-after", "15", "--grace", "5" };
            if (useNetns)
            {
                serverArgs.AddRange(["--listen", $"http://127.0.0.1:{port}"]);
            }

            processes.Add(Spawn(self, serverArgs, Path.Combine(logs, "server.log"), null));
            var socket = Path.Combine(dataDirectory, "heorot.sock");
            using var client = new HeorotClient("unix:" + socket);
            await WaitAsync(async () => (await client.GetAsync<WhoAmIResponse>("v1/whoami", ct)) != null, TimeSpan.FromSeconds(30), "the server to answer", processes[0], ct);

            var secretFile = Path.Combine(dataDirectory, "agent.secret");
            for (var i = 0; i < agentCount; i++)
            {
                var agentArgs = new List<string>
                {
                    "agent", "--server", listen, "--name", names[i], "--secret-file", secretFile,
                    "--state", Path.Combine(dataDirectory, "agents", names[i]), "--cores", cores.ToString(CultureInfo.InvariantCulture),
                    "--memory", "4096", "--property", $"rack={(i % 2 == 0 ? "a" : "b")}",
                };
                processes.Add(Spawn(self, agentArgs, Path.Combine(logs, names[i] + ".log"), useNetns ? $"heorot-{names[i]}" : null));
            }

            await WaitAsync(
                async () => (await client.GetAsync<List<NodeView>>("v1/nodes", ct)).Count(n => n.State == "Alive") >= agentCount,
                TimeSpan.FromSeconds(60),
                $"{agentCount} agents to register",
                null,
                ct);
            var nodes = await client.GetAsync<List<NodeView>>("v1/nodes", ct);
            Terminal.Out.WriteLine($"heorot up: server at {listen} (and unix:{socket}), {agentCount} nodes alive{(useNetns ? ", each in its own network namespace" : " on loopback")}:");
            foreach (var node in nodes)
            {
                Terminal.Out.WriteLine($"  {node.Name,-8} {node.State,-6} {node.Cores} cores  {string.Join(" ", node.Properties.Select(p => $"{p.Key}={p.Value}"))}");
            }

            Terminal.Out.WriteLine($"  logs in {logs}; talk to it with: export HEOROT_SERVER=unix:{socket}");
            if (demo)
            {
                return await DemoAsync(client, agentCount, root, ct);
            }

            Terminal.Out.WriteLine("  press Ctrl-C to stop");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
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
        finally
        {
            StopAll(processes);

            if (useNetns)
            {
                await TearDownNetworkAsync(names);
            }
        }
    }

    private static async Task<int> DemoAsync(HeorotClient client, int agentCount, bool root, CancellationToken ct)
    {
        var user = root ? "nobody" : UnixAccounts.CurrentUserName();
        var script = """
            #!/bin/sh
            echo "job $HEOROT_JOB_ID runs as $(id -un) on $HEOROT_NODE; its nodes:"
            cat "$HEOROT_NODEFILE"
            sleep 2
            echo "done"
            """;
        var submitted = await client.PostAsync<SubmitResponse>("v1/jobs", new SubmitRequest
        {
            Args = ["-l", $"/nodes={agentCount},walltime=0:05:00", "-n", "demo"],
            Script = script,
            User = root ? user : null,
            WorkingDirectory = "/tmp",
        }, ct);
        var id = submitted.Ids[0];
        Terminal.Out.WriteLine($"heorot up --demo: submitted job {id} as {user}: /nodes={agentCount}");
        var watch = Stopwatch.StartNew();
        var last = string.Empty;
        JobView view;
        while (true)
        {
            view = await client.GetAsync<JobView>($"v1/jobs/{id}", ct);
            if (view.State != last)
            {
                Terminal.Out.WriteLine($"  {watch.Elapsed.TotalSeconds,5:0.0} s  {view.State}{(view.Nodes.Count > 0 ? " on " + string.Join(",", view.Nodes) : string.Empty)}");
                last = view.State;
            }

            if (view.State is "Terminated" or "Error" or "Cancelled" || watch.Elapsed > TimeSpan.FromMinutes(2))
            {
                break;
            }

            await Task.Delay(100, ct);
        }

        Terminal.Out.WriteLine($"  output of job {id}:");
        await client.StreamAsync($"v1/jobs/{id}/logs", text => Terminal.Out.WriteAsync("    " + text.TrimEnd('\n').Replace("\n", "\n    ", StringComparison.Ordinal) + "\n"), ct);
        Terminal.Out.WriteLine($"  exit code {view.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "-"}; stopping");
        return view.State == "Terminated" && view.ExitCode == 0 ? 0 : 1;
    }

    private static Process Spawn(string self, IReadOnlyList<string> args, string logFile, string? netns)
    {
        var start = netns == null ? new ProcessStartInfo(self) : new ProcessStartInfo("ip");
        if (netns != null)
        {
            foreach (var a in new[] { "netns", "exec", netns, self })
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new ClientException($"could not start {self}");
        var log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data != null) { lock (log) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) { lock (log) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>SIGTERM to every process at once, then SIGKILL to what is left after 5 s.</summary>
    private static void StopAll(List<Process> processes)
    {
        foreach (var process in processes)
        {
            Protocol.Hooks.Signals.Send(process.Id, Protocol.Hooks.Signals.Terminate);
        }

        var deadline = DateTime.UtcNow.AddSeconds(5);
        foreach (var process in processes)
        {
            try
            {
                var left = deadline - DateTime.UtcNow;
                if (!process.WaitForExit(left > TimeSpan.Zero ? left : TimeSpan.Zero))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, Process? watched, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (ClientException)
            {
            }

            if (watched is { HasExited: true })
            {
                throw new ClientException($"gave up waiting for {what}: the process exited with status {watched.ExitCode} (see its log)");
            }

            if (watch.Elapsed > timeout)
            {
                throw new ClientException($"gave up waiting for {what} after {timeout.TotalSeconds:0} s");
            }

            await Task.Delay(100, ct);
        }
    }

    private static async Task SetUpNetworkAsync(List<string> names, CancellationToken ct)
    {
        await TearDownNetworkAsync(names);
        await IpAsync(ct, "link", "add", Bridge, "type", "bridge");
        await IpAsync(ct, "addr", "add", $"{Subnet}.1/24", "dev", Bridge);
        await IpAsync(ct, "link", "set", Bridge, "up");
        for (var i = 0; i < names.Count; i++)
        {
            var ns = $"heorot-{names[i]}";
            var veth = $"hv-{names[i]}";
            await IpAsync(ct, "netns", "add", ns);
            await IpAsync(ct, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
            await IpAsync(ct, "link", "set", veth, "master", Bridge, "up");
            await IpAsync(ct, "-n", ns, "addr", "add", $"{Subnet}.{11 + i}/24", "dev", "eth0");
            await IpAsync(ct, "-n", ns, "link", "set", "eth0", "up");
            await IpAsync(ct, "-n", ns, "link", "set", "lo", "up");

            // VM jobs' private networks are multicast groups: they cross the bridge between nodes.
            await IpAsync(ct, "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0");
        }
    }

    private static async Task TearDownNetworkAsync(List<string> names)
    {
        foreach (var name in names)
        {
            await RunIpAsync(["netns", "del", $"heorot-{name}"], true, CancellationToken.None);
            await RunIpAsync(["link", "del", $"hv-{name}"], true, CancellationToken.None);
        }

        await RunIpAsync(["link", "del", Bridge], true, CancellationToken.None);
    }

    private static Task IpAsync(CancellationToken ct, params string[] args) => RunIpAsync(args, false, ct);

    private static async Task RunIpAsync(string[] args, bool quiet, CancellationToken ct)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0 && !quiet)
        {
            throw new ClientException($"ip {string.Join(" ", args)}: {error.Trim()}");
        }
    }
}
