using System.CommandLine;
using System.Globalization;
using Heorot.Agent;
using Heorot.Cli.Client;
using Heorot.Cli.Output;
using Heorot.Scheduling.Live;
using Heorot.Scheduling.Policies;
using Heorot.Server;
using Microsoft.Extensions.Logging;

namespace Heorot.Cli.Commands;

/// <summary><c>heorot server</c> and <c>heorot agent</c>: the two daemons.</summary>
internal static class DaemonCommands
{
    public static Command Server()
    {
        var data = new Option<string?>("--data") { Description = "Data directory (SQLite database, job output, agent secret, local socket). Default: $HEOROT_DATA, /var/lib/heorot for root, ~/.local/share/heorot." };
        var listen = new Option<string[]>("--listen") { Description = "TCP address to serve, e.g. http://0.0.0.0:6817 (repeatable).", DefaultValueFactory = _ => ["http://127.0.0.1:6817"] };
        var postgres = new Option<string?>("--postgres") { Description = "PostgreSQL connection string (default: SQLite in the data directory)." };
        var operators = new Option<string[]>("--operator") { Description = "A user with every right (root always has them; repeatable)." };
        var queues = new Option<string[]>("--queue") { Description = "A queue NAME[:PRIORITY[:POLICY]] with POLICY fcfs|easy|conservative (repeatable; default: default:0:conservative)." };
        var heartbeat = new Option<double>("--heartbeat") { Description = "Seconds between idle agent check-ins.", DefaultValueFactory = _ => 10 };
        var suspect = new Option<double>("--suspect-after") { Description = "Seconds of silence before a node is Suspected.", DefaultValueFactory = _ => 30 };
        var down = new Option<double>("--down-after") { Description = "Further seconds before a Suspected node is Down and its jobs requeued or failed.", DefaultValueFactory = _ => 60 };
        var dead = new Option<double>("--dead-after") { Description = "Further seconds before a Down node is Dead (only an operator revives it).", DefaultValueFactory = _ => 1800 };
        var grace = new Option<int>("--grace") { Description = "Seconds between SIGTERM and SIGKILL (cancel, walltime).", DefaultValueFactory = _ => 10 };
        var prolog = new Option<string?>("--prolog") { Description = "Server-side prolog script." };
        var epilog = new Option<string?>("--epilog") { Description = "Server-side epilog script." };
        var interval = new Option<double>("--scheduling-interval") { Description = "Minimum seconds between scheduling passes.", DefaultValueFactory = _ => 0.05 };
        var power = new Option<string?>("--power") { Description = "Power file (mode 0600): power-managed nodes, their BMC drivers and credentials, the elastic manager (docs/power.md)." };
        var command = new Command("server", "Run the Heorot server: REST API, scheduler, journal.")
        {
            data, listen, postgres, operators, queues, heartbeat, suspect, down, dead, grace, prolog, epilog, interval, power,
        };
        command.SetAction(async (parse, ct) =>
        {
            var queueSpecs = new List<QueueSpec>();
            foreach (var text in parse.GetValue(queues) ?? [])
            {
                var parts = text.Split(':');
                var kind = PolicyKind.Conservative;
                if (parts.Length > 3 || parts[0].Length == 0
                    || (parts.Length > 1 && !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
                    || (parts.Length > 2 && !PolicyKinds.TryParse(parts[2], out kind)))
                {
                    return Terminal.Fail($"--queue {text}: expected NAME[:PRIORITY[:fcfs|easy|conservative]]");
                }

                queueSpecs.Add(new QueueSpec(parts[0], parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : 0, kind));
            }

            if (parse.GetValue(suspect) <= parse.GetValue(heartbeat) || parse.GetValue(heartbeat) <= 0)
            {
                return Terminal.Fail($"--suspect-after ({parse.GetValue(suspect)} s) must be longer than --heartbeat ({parse.GetValue(heartbeat)} s), which must be positive");
            }

            var options = new ServerOptions
            {
                DataDirectory = parse.GetValue(data) ?? ClientConfig.DefaultDataDirectory(),
                Urls = parse.GetValue(listen) ?? [],
                PostgresConnectionString = parse.GetValue(postgres),
                Operators = new HashSet<string>(parse.GetValue(operators) ?? [], StringComparer.Ordinal),
                Queues = queueSpecs.Count > 0 ? queueSpecs : [new QueueSpec("default")],
                Heartbeat = TimeSpan.FromSeconds(parse.GetValue(heartbeat)),
                SuspectAfter = TimeSpan.FromSeconds(parse.GetValue(suspect)),
                DownAfter = TimeSpan.FromSeconds(parse.GetValue(down)),
                DeadAfter = TimeSpan.FromSeconds(parse.GetValue(dead)),
                GraceSeconds = parse.GetValue(grace),
                Prolog = parse.GetValue(prolog),
                Epilog = parse.GetValue(epilog),
                SchedulingInterval = TimeSpan.FromSeconds(parse.GetValue(interval)),
                PowerFile = parse.GetValue(power),
            };
            using var logging = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; }));
            HeorotServer server;
            try
            {
                server = await HeorotServer.StartAsync(options, new ForwardingProvider(logging), ct);
            }
            catch (Heorot.Server.Power.PowerConfigException e)
            {
                return Terminal.Fail(e.Message);
            }

            await using var running = server;
            Terminal.Err.WriteLine($"heorot server: listening on {string.Join(", ", server.Addresses)} and unix:{server.SocketPath}; data in {options.DataDirectory}");
            // SIGTERM or Ctrl-C: the host's console lifetime stops the application; the command's token may fire too.
            await Task.WhenAny(Task.Delay(Timeout.Infinite, ct), server.WaitForShutdownAsync(CancellationToken.None)).ContinueWith(_ => { }, TaskScheduler.Default);
            return 0;
        });
        return command;
    }

    public static Command Agent()
    {
        var server = new Option<string>("--server") { Description = "The server's URL, e.g. http://10.0.0.1:6817.", Required = true };
        var name = new Option<string>("--name") { Description = "This node's name (default: the host name).", DefaultValueFactory = _ => Environment.MachineName };
        var secretFile = new Option<string?>("--secret-file") { Description = "File holding the cluster secret (the server's DATA/agent.secret); or set HEOROT_AGENT_SECRET." };
        var state = new Option<string?>("--state") { Description = "State directory (job records, scripts, output). Default: /var/lib/heorot-agent/NAME or ~/.local/share/heorot-agent/NAME." };
        var cores = new Option<int?>("--cores") { Description = "Cores offered (default: detected)." };
        var memory = new Option<long?>("--memory") { Description = "Memory offered in MiB (default: detected)." };
        var gpus = new Option<int?>("--gpus") { Description = "GPUs offered (default: detected)." };
        var properties = new Option<string[]>("--property") { Description = "A node property KEY=VALUE (repeatable)." };
        var prolog = new Option<string?>("--prolog") { Description = "Node prolog script (run as root before each job)." };
        var epilog = new Option<string?>("--epilog") { Description = "Node epilog script (run as root after each job, even a failed one)." };
        var command = new Command("agent", "Run a node agent: registers, heartbeats, runs jobs as their users.")
        {
            server, name, secretFile, state, cores, memory, gpus, properties, prolog, epilog,
        };
        command.SetAction(async (parse, ct) =>
        {
            var secret = Environment.GetEnvironmentVariable("HEOROT_AGENT_SECRET");
            if (parse.GetValue(secretFile) is { } file)
            {
                if (!File.Exists(file))
                {
                    return Terminal.Fail($"--secret-file: no such file: {file}");
                }

                secret = (await File.ReadAllTextAsync(file, ct)).Trim();
            }

            if (string.IsNullOrEmpty(secret))
            {
                return Terminal.Fail("no cluster secret: give --secret-file or set HEOROT_AGENT_SECRET");
            }

            var props = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in parse.GetValue(properties) ?? [])
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq < 1)
                {
                    return Terminal.Fail($"--property {pair}: expected KEY=VALUE");
                }

                props[pair[..eq]] = pair[(eq + 1)..];
            }

            if (!Uri.TryCreate(parse.GetValue(server), UriKind.Absolute, out var serverUri) || serverUri.Scheme is not ("http" or "https"))
            {
                return Terminal.Fail($"--server {parse.GetValue(server)}: expected an http:// or https:// URL");
            }

            var nodeName = parse.GetValue(name)!;
            var stateDirectory = parse.GetValue(state) ?? (Protocol.Unix.UnixAccounts.CurrentUid() == 0
                ? Path.Combine("/var/lib/heorot-agent", nodeName)
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "heorot-agent", nodeName));
            using var agent = new NodeAgent(
                new AgentOptions
                {
                    Server = serverUri,
                    Name = nodeName,
                    Secret = secret,
                    StateDirectory = stateDirectory,
                    Cores = parse.GetValue(cores),
                    MemoryMb = parse.GetValue(memory),
                    Gpus = parse.GetValue(gpus),
                    Properties = props,
                    Prolog = parse.GetValue(prolog),
                    Epilog = parse.GetValue(epilog),
                    SelfCommand = SelfCommand(),
                },
                message => Terminal.Err.WriteLine($"heorot agent {nodeName}: {message}"));
            Terminal.Err.WriteLine($"heorot agent {nodeName}: serving {serverUri}; state in {stateDirectory}");
            var watcher = agent.RunWatcherAsync(ct);
            await agent.RunAsync(ct);
            await watcher;
            return 0;
        });
        return command;
    }

    /// <summary>Hands the host's log lines to a factory owned by the command.</summary>
    private sealed class ForwardingProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }

    /// <summary>How to run this program again: the apphost, or dotnet with this assembly.</summary>
    internal static IReadOnlyList<string> SelfCommand()
    {
        var process = Environment.ProcessPath ?? "dotnet";
        var assembly = typeof(DaemonCommands).Assembly.Location;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, assembly] : [process];
    }

    /// <summary><c>heorot vm-exec REQUEST</c>: the host side of a VM job's script (started by the agent, not by users).</summary>
    public static Command VmExec()
    {
        var request = new Argument<string>("request") { Description = "The request file the agent wrote." };
        var command = new Command("vm-exec", "Run a VM job's script in its first VM (used by the agent).") { request };
        command.Hidden = true;
        command.SetAction(async (parse, ct) => await Heorot.Agent.Vms.VmExec.RunAsync(parse.GetValue(request)!, Console.Out, Console.Error, ct));
        return command;
    }
}
