using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Heorot.Cli.Client;
using Heorot.Cli.Output;
using Heorot.Protocol;
using Spectre.Console;

namespace Heorot.Cli.Commands;

/// <summary>
/// The users' and operators' verbs against a running server: sub, stat, del, hold, resume, logs, nodes, node,
/// events, queues, login, whoami. Every verb has <c>--json</c>; human output is aligned tables.
/// </summary>
internal static partial class UserCommands
{
    private static readonly Option<string?> ServerOption = new("--server") { Description = "Server address: http://HOST:PORT or unix:PATH (default: HEOROT_SERVER, the config file, then the local socket).", Recursive = true };
    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print JSON for scripts.", Recursive = true };

    /// <summary>The words after <c>--</c> on the command line: the command a <c>sub</c> runs.</summary>
    public static IReadOnlyList<string> TrailingCommand { get; set; } = [];

    /// <summary>The verbs by name, each built by its factory only when needed (see <c>Program.Main</c>).</summary>
    public static IEnumerable<(string Name, Func<Command> Create)> Verbs() =>
    [
        ("sub", Sub), ("stat", Stat), ("del", () => JobVerb("del", "Cancel jobs (yours; operators: any).", "cancel")),
        ("hold", () => JobVerb("hold", "Hold waiting jobs.", "hold")), ("resume", () => JobVerb("resume", "Release held jobs.", "release")),
        ("signal", Signal), ("resv", Resv), ("logs", Logs), ("nodes", Nodes), ("node", Node), ("power", Power), ("console", NodeConsole),
        ("events", Events), ("queues", Queues), ("login", Login), ("whoami", WhoAmI), ("image", Image),
        ("shell", () => ShellCommand.Create(ServerOption, "shell")), ("ssh", () => ShellCommand.Create(ServerOption, "ssh")),
    ];

    public static void AddGlobalOptions(RootCommand root)
    {
        root.Options.Add(ServerOption);
        root.Options.Add(JsonOption);
    }

    private static Command Sub()
    {
        var from = new Option<string>("--from") { Description = "Request front-end of the other arguments: oar (-l, -p, -q, -t, --after, -n) or slurm (--nodes, --ntasks, --time, …).", DefaultValueFactory = _ => "oar" };
        var script = new Option<FileInfo?>("--script") { Description = "Batch script to run; its #HEOROT/#SBATCH/#OAR directives are the request when no other is given." };
        var array = new Option<int?>("--array") { Description = "Submit an array of N jobs (HEOROT_ARRAY_INDEX = 0..N-1)." };
        var idempotent = new Option<bool>("--idempotent") { Description = "Requeue the job if a node is lost under it." };
        var onBehalf = new Option<string?>("--as") { Description = "Submit for another user (operators)." };
        var workdir = new Option<string?>("--workdir") { Description = "Working directory on the node (default: the user's home)." };
        var reservation = new Option<string?>("-r", "--reservation") { Description = "Advance reservation: start at this time ('YYYY-MM-DD HH:MM:SS' local, ISO 8601, or +SECONDS), on resources set aside now, or be refused." };
        var image = new Option<string?>("--image") { Description = "Run the job in virtual machines booted from this image (NAME or NAME:VERSION; see heorot image list). Without a command the VMs stay up until the walltime." };
        var vnodes = new Option<int?>("--vnodes") { Description = "With --image: how many VMs, spread over the job's nodes (default: one per node)." };
        var sshKey = new Option<FileInfo[]>("--ssh-key") { Description = "With --image: a public key file for the VMs' user (default: ~/.ssh/*.pub).", AllowMultipleArgumentsPerToken = false };
        var interactive = new Option<bool>("-I", "--interactive") { Description = "Interactive job: wait until it starts, then open a shell on its first node; the job ends with the shell." };
        var command = new Command("sub", "Submit a job: heorot sub -l /nodes=2,walltime=0:10:00 -- COMMAND ARGS, or --script FILE.")
        {
            from, script, array, idempotent, onBehalf, workdir, reservation, interactive, image, vnodes, sshKey,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, ct) => Guard(async () =>
        {
            string text;
            var scriptFile = parse.GetValue(script);
            if (scriptFile != null)
            {
                if (!scriptFile.Exists)
                {
                    return Terminal.Fail($"--script: no such file: {scriptFile.FullName}");
                }

                text = await File.ReadAllTextAsync(scriptFile.FullName, ct);
            }
            else if (TrailingCommand.Count > 0)
            {
                text = "#!/bin/sh\nexec " + string.Join(" ", TrailingCommand.Select(ShellQuote)) + "\n";
            }
            else if (parse.GetValue(interactive) || parse.GetValue(image) != null)
            {
                text = string.Empty;
            }
            else
            {
                return Terminal.Fail("nothing to run: give a command after --, --script FILE, or -I for an interactive shell");
            }

            if (parse.GetValue(interactive) && text.Length > 0)
            {
                return Terminal.Fail("-I opens a shell: it takes no command or script");
            }

            DateTimeOffset? reservationStart = null;
            if (parse.GetValue(reservation) is { } when)
            {
                if (ParseTime(when) is not { } parsed)
                {
                    return Terminal.Fail($"-r {when}: expected 'YYYY-MM-DD HH:MM:SS', an ISO 8601 time or +SECONDS");
                }

                reservationStart = parsed;
            }

            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var response = await client.PostAsync<SubmitResponse>("v1/jobs", new SubmitRequest
            {
                ReservationStart = reservationStart,
                Args = parse.UnmatchedTokens.ToList(),
                From = parse.GetValue(from),
                Script = text,
                Array = parse.GetValue(array),
                Idempotent = parse.GetValue(idempotent),
                User = parse.GetValue(onBehalf),
                WorkingDirectory = parse.GetValue(workdir),
                Interactive = parse.GetValue(interactive),
                Image = parse.GetValue(image),
                VNodes = parse.GetValue(vnodes),
                SshKeys = parse.GetValue(image) != null ? SshKeys(parse.GetValue(sshKey)) : null,
            }, ct);
            if (parse.GetValue(interactive))
            {
                return await InteractiveAsync(client, response.Ids[0], ct);
            }

            if (parse.GetValue(JsonOption))
            {
                Terminal.Out.WriteLine(JsonSerializer.Serialize(response, WireJson.Options));
            }
            else
            {
                foreach (var id in response.Ids)
                {
                    Terminal.Out.WriteLine($"HEOROT_JOB_ID={id}");
                }
            }

            return 0;
        }));
        return command;
    }

    /// <summary>The public keys of the files given, else of ~/.ssh/*.pub (none is fine: heorot ssh needs none).</summary>
    private static List<string> SshKeys(FileInfo[]? files)
    {
        var chosen = files is { Length: > 0 } ? files.ToList()
            : Directory.Exists(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ssh"))
                ? new DirectoryInfo(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ssh")).GetFiles("*.pub").ToList()
                : [];
        var keys = new List<string>();
        foreach (var file in chosen)
        {
            if (!file.Exists)
            {
                throw new ClientException($"--ssh-key: no such file: {file.FullName}");
            }

            keys.AddRange(File.ReadAllLines(file.FullName).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')));
        }

        return keys;
    }

    /// <summary><c>sub -I</c>: waits for the job to start (telling where it stands), then opens its shell.</summary>
    private static async Task<int> InteractiveAsync(HeorotClient client, long id, CancellationToken ct)
    {
        await Console.Error.WriteLineAsync($"HEOROT_JOB_ID={id}");
        var said = string.Empty;
        while (true)
        {
            var job = await client.GetAsync<JobView>($"v1/jobs/{id}", ct);
            if (job.State == "Running")
            {
                await Console.Error.WriteLineAsync($"[job {id}] running on {string.Join(",", job.Nodes)}: opening a shell on {(job.Nodes.Count > 0 ? job.Nodes[0] : "its first node")}");
                break;
            }

            if (job.State is "Terminated" or "Error" or "Cancelled")
            {
                return Terminal.Fail($"job {id} ended before it started: {job.State}{(job.Reason != null ? ": " + job.Reason : string.Empty)}");
            }

            if (job.State != said)
            {
                await Console.Error.WriteLineAsync($"[job {id}] {job.State}…");
                said = job.State;
            }

            await Task.Delay(250, ct);
        }

        var code = await ShellCommand.RunAsync(client, id, null, ct);
        await Console.Error.WriteLineAsync($"[job {id}] shell exited ({code}); the job ends");
        return code;
    }

    /// <summary>A reservation time: +SECONDS from now, or a date (local time unless it says otherwise).</summary>
    internal static DateTimeOffset? ParseTime(string text)
    {
        if (text.StartsWith('+') && long.TryParse(text[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return DateTimeOffset.UtcNow.AddSeconds(seconds);
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var time) ? time : null;
    }

    private static Command Resv()
    {
        var command = new Command("resv", "List advance reservations (jobs submitted with -r) that have not started.");
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var jobs = (await client.GetAsync<JobListResponse>("v1/jobs?limit=100000", ct)).Jobs.Where(j => j.ReservationStart != null && j.State == "Waiting").ToList();
            if (parse.GetValue(JsonOption))
            {
                Terminal.Out.WriteLine(JsonSerializer.Serialize(jobs, WireJson.Options));
                return 0;
            }

            var table = NewTable("ID", "USER", "NAME", "START", "WALLTIME", "NODES");
            foreach (var j in jobs)
            {
                table.AddRow(j.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(j.User), Markup.Escape(j.Name ?? "-"), j.ReservationStart!.Value.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), Duration(j.WalltimeSeconds), Markup.Escape(string.Join(",", j.Nodes)));
            }

            Terminal.Rich.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Stat()
    {
        var user = new Option<string?>("-u", "--user") { Description = "Only this user's jobs." };
        var queue = new Option<string?>("-q", "--queue") { Description = "Only this queue's jobs." };
        var state = new Option<string?>("--state") { Description = "Only jobs in these states (comma-separated; any state, finished ones included)." };
        var job = new Option<long?>("-j", "--job") { Description = "Show one job in full." };
        var why = new Option<bool>("--why") { Description = "With -j: why the job waits and when it is planned to start." };
        var command = new Command("stat", "List jobs (unfinished ones by default), or show one with -j N [--why].") { user, queue, state, job, why };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var json = parse.GetValue(JsonOption);
            if (parse.GetValue(job) is { } id)
            {
                var view = await client.GetAsync<JobView>($"v1/jobs/{id}", ct);
                if (json)
                {
                    Terminal.Out.WriteLine(JsonSerializer.Serialize(view, WireJson.Indented));
                    return 0;
                }

                PrintJob(view, parse.GetValue(why));
                return 0;
            }

            var query = new List<string>();
            AddQuery(query, "user", parse.GetValue(user));
            AddQuery(query, "queue", parse.GetValue(queue));
            AddQuery(query, "state", parse.GetValue(state));
            var jobs = new List<JobView>();
            long? after = 0;
            while (after != null)
            {
                var page = await client.GetAsync<JobListResponse>("v1/jobs?" + string.Join("&", query.Append($"after={after}").Append("limit=10000")), ct);
                jobs.AddRange(page.Jobs);
                after = page.NextAfter;
            }

            if (json)
            {
                Terminal.Out.WriteLine(JsonSerializer.Serialize(jobs, WireJson.Options));
                return 0;
            }

            var table = NewTable("ID", "USER", "QUEUE", "NAME", "STATE", "NODES", "SUBMITTED", "WALLTIME", "EXIT/REASON");
            foreach (var j in jobs)
            {
                table.AddRow(
                    j.Id.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(j.User),
                    Markup.Escape(j.Queue),
                    Markup.Escape(j.Name ?? "-"),
                    StateMarkup(j.State),
                    Markup.Escape(j.Nodes.Count == 0 ? "-" : string.Join(",", j.Nodes)),
                    j.SubmitTime.ToLocalTime().ToString("MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                    Duration(j.WalltimeSeconds),
                    Markup.Escape(j.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? j.Reason ?? j.Explain?.Reason ?? string.Empty));
            }

            Terminal.Rich.Write(table);
            return 0;
        }));
        return command;
    }

    private static void PrintJob(JobView view, bool why)
    {
        var lines = new List<(string, string)>
        {
            ("id", view.Id.ToString(CultureInfo.InvariantCulture)),
            ("user", view.User),
            ("project", view.Project),
            ("queue", view.Queue),
            ("name", view.Name ?? "-"),
            ("state", view.State),
            ("request", view.Request),
            ("walltime", Duration(view.WalltimeSeconds)),
            ("submitted", view.SubmitTime.ToLocalTime().ToString("u", CultureInfo.InvariantCulture)),
            ("started", view.StartTime?.ToLocalTime().ToString("u", CultureInfo.InvariantCulture) ?? "-"),
            ("ended", view.EndTime?.ToLocalTime().ToString("u", CultureInfo.InvariantCulture) ?? "-"),
            ("nodes", view.Nodes.Count == 0 ? "-" : string.Join(",", view.Nodes)),
            ("attempt", view.Attempt.ToString(CultureInfo.InvariantCulture)),
            ("exit code", view.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "-"),
            ("reason", view.Reason ?? "-"),
        };
        if (why || view.Explain != null)
        {
            lines.Add(("why", view.Explain?.Reason ?? (view.State == "Waiting" ? "no explain record yet" : $"not waiting: {view.State}")));
            if (view.Explain?.PlannedStart is { } planned)
            {
                lines.Add(("planned start", planned.ToLocalTime().ToString("u", CultureInfo.InvariantCulture) + (view.Explain.PlannedNodes is { } n ? " on " + string.Join(",", n) : string.Empty)));
            }
        }

        var width = lines.Max(l => l.Item1.Length);
        foreach (var (key, value) in lines)
        {
            Terminal.Out.WriteLine($"{key.PadRight(width)}  {value}");
        }
    }

    private static Command JobVerb(string name, string description, string action)
    {
        var ids = new Argument<long[]>("ids") { Description = "Job ids.", Arity = ArgumentArity.OneOrMore };
        var command = new Command(name, description) { ids };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var failed = 0;
            var views = new List<JobView>();
            foreach (var id in parse.GetValue(ids)!)
            {
                try
                {
                    var view = action == "cancel"
                        ? await client.DeleteAsync<JobView>($"v1/jobs/{id}", ct)
                        : await client.PostAsync<JobView>($"v1/jobs/{id}/actions", new JobActionRequest { Action = action }, ct);
                    views.Add(view);
                    if (!parse.GetValue(JsonOption))
                    {
                        Terminal.Out.WriteLine($"job {id}: {view.State}");
                    }
                }
                catch (ClientException e)
                {
                    failed++;
                    Terminal.Fail($"job {id}: {e.Message}");
                }
            }

            if (parse.GetValue(JsonOption))
            {
                Terminal.Out.WriteLine(JsonSerializer.Serialize(views, WireJson.Options));
            }

            return failed == 0 ? 0 : 1;
        }));
        return command;
    }

    private static Command Signal()
    {
        var id = new Argument<long>("id") { Description = "Job id." };
        var signal = new Option<string>("-s", "--signal") { Description = "Signal name (TERM, INT, USR1, …).", DefaultValueFactory = _ => "TERM" };
        var command = new Command("signal", "Send a signal to a running job's processes.") { id, signal };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var view = await client.PostAsync<JobView>($"v1/jobs/{parse.GetValue(id)}/actions", new JobActionRequest { Action = "signal", Signal = parse.GetValue(signal) }, ct);
            Terminal.Out.WriteLine(parse.GetValue(JsonOption) ? JsonSerializer.Serialize(view, WireJson.Options) : $"job {view.Id}: {parse.GetValue(signal)} sent");
            return 0;
        }));
        return command;
    }

    private static Command Logs()
    {
        var id = new Argument<long>("id") { Description = "Job id." };
        var stderr = new Option<bool>("--err") { Description = "Standard error instead of standard output." };
        var follow = new Option<bool>("-f", "--follow") { Description = "Keep printing output until the job ends." };
        var command = new Command("logs", "Print a job's output (yours; operators: any).") { id, stderr, follow };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var path = $"v1/jobs/{parse.GetValue(id)}/logs?stream={(parse.GetValue(stderr) ? "err" : "out")}&follow={(parse.GetValue(follow) ? "true" : "false")}";
            if (parse.GetValue(JsonOption))
            {
                var text = new System.Text.StringBuilder();
                await client.StreamAsync(path, chunk => { text.Append(chunk); return Task.CompletedTask; }, ct);
                Terminal.Out.WriteLine(JsonSerializer.Serialize(new { job = parse.GetValue(id), text = text.ToString() }, WireJson.Options));
                return 0;
            }

            await client.StreamAsync(path, async chunk => { await Terminal.Out.WriteAsync(chunk); await Terminal.Out.FlushAsync(ct); }, ct);
            return 0;
        }));
        return command;
    }

    private static Command Nodes()
    {
        var command = new Command("nodes", "List nodes: state, resources, properties and jobs.");
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var nodes = await client.GetAsync<List<NodeView>>("v1/nodes", ct);
            if (parse.GetValue(JsonOption))
            {
                Terminal.Out.WriteLine(JsonSerializer.Serialize(nodes, WireJson.Options));
                return 0;
            }

            var table = NewTable("NODE", "STATE", "POWER", "CORES", "MEMORY", "GPUS", "PROPERTIES", "JOBS", "REASON");
            foreach (var n in nodes)
            {
                table.AddRow(
                    Markup.Escape(n.Name),
                    StateMarkup(n.State),
                    n.Power == null ? "-" : StateMarkup(n.Power),
                    n.Cores.ToString(CultureInfo.InvariantCulture),
                    $"{n.MemoryMb} MiB",
                    n.Gpus.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(string.Join(" ", n.Properties.Select(p => $"{p.Key}={p.Value}"))),
                    n.Jobs.Count == 0 ? "-" : string.Join(",", n.Jobs),
                    Markup.Escape(n.Reason ?? string.Empty));
            }

            Terminal.Rich.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Node()
    {
        var command = new Command("node", "Operator verbs on nodes: drain, resume, set.");
        foreach (var (verb, description) in new[] { ("drain", "Drain a node: running jobs finish, no new ones start."), ("resume", "Put a drained or suspected node back in service.") })
        {
            var name = new Argument<string>("name") { Description = "Node name." };
            var reason = new Option<string?>("--reason") { Description = "Why (kept in the journal)." };
            var sub = new Command(verb, description) { name, reason };
            sub.SetAction((parse, ct) => Guard(async () =>
            {
                using var client = new HeorotClient(parse.GetValue(ServerOption));
                var view = await client.PostAsync<NodeView>($"v1/nodes/{Uri.EscapeDataString(parse.GetValue(name)!)}/actions", new NodeActionRequest { Action = verb, Reason = parse.GetValue(reason) }, ct);
                Terminal.Out.WriteLine(parse.GetValue(JsonOption) ? JsonSerializer.Serialize(view, WireJson.Options) : $"node {view.Name}: {view.State}");
                return 0;
            }));
            command.Subcommands.Add(sub);
        }

        var nodeName = new Argument<string>("name") { Description = "Node name." };
        var pairs = new Argument<string[]>("properties") { Description = "KEY=VALUE pairs.", Arity = ArgumentArity.OneOrMore };
        var set = new Command("set", "Set node properties (they win over the agent's).") { nodeName, pairs };
        set.SetAction((parse, ct) => Guard(async () =>
        {
            var properties = new Dictionary<string, string>();
            foreach (var pair in parse.GetValue(pairs)!)
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq < 1)
                {
                    return Terminal.Fail($"'{pair}': expected KEY=VALUE");
                }

                properties[pair[..eq]] = pair[(eq + 1)..];
            }

            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var view = await client.PostAsync<NodeView>($"v1/nodes/{Uri.EscapeDataString(parse.GetValue(nodeName)!)}/actions", new NodeActionRequest { Action = "set-properties", Properties = properties }, ct);
            Terminal.Out.WriteLine(parse.GetValue(JsonOption) ? JsonSerializer.Serialize(view, WireJson.Options) : $"node {view.Name}: {string.Join(" ", view.Properties.Select(p => $"{p.Key}={p.Value}"))}");
            return 0;
        }));
        command.Subcommands.Add(set);
        return command;
    }

    private static Command Events()
    {
        var since = new Option<long>("--since") { Description = "Only events after this id." };
        var follow = new Option<bool>("-f", "--follow") { Description = "Keep printing new events (server-sent events)." };
        var command = new Command("events", "The journal: every state change with time, actor and reason.") { since, follow };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var json = parse.GetValue(JsonOption);
            if (parse.GetValue(follow))
            {
                var pending = string.Empty;
                await client.StreamAsync($"v1/events/stream?since={parse.GetValue(since)}", async chunk =>
                {
                    pending += chunk;
                    int end;
                    while ((end = pending.IndexOf("\n\n", StringComparison.Ordinal)) >= 0)
                    {
                        var message = pending[..end];
                        pending = pending[(end + 2)..];
                        var data = message.Split('\n').FirstOrDefault(l => l.StartsWith("data: ", StringComparison.Ordinal));
                        if (data != null)
                        {
                            var entry = JsonSerializer.Deserialize<EventView>(data[6..], WireJson.Options)!;
                            await Terminal.Out.WriteLineAsync(json ? data[6..] : FormatEvent(entry));
                            await Terminal.Out.FlushAsync(ct);
                        }
                    }
                }, ct);
                return 0;
            }

            var events = await client.GetAsync<List<EventView>>($"v1/events?since={parse.GetValue(since)}&limit=10000", ct);
            foreach (var entry in events)
            {
                Terminal.Out.WriteLine(json ? JsonSerializer.Serialize(entry, WireJson.Options) : FormatEvent(entry));
            }

            return 0;
        }));
        return command;
    }

    private static string FormatEvent(EventView e) =>
        $"{e.Id,6}  {e.Time.ToLocalTime():yyyy-MM-dd HH:mm:ss.fff}  {e.Kind,-22} {e.Subject,-14} {e.Actor,-14} {e.Reason}";

    private static Command Queues()
    {
        var command = new Command("queues", "List queues: priority, policy, waiting and running jobs.");
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var queues = await client.GetAsync<List<QueueView>>("v1/queues", ct);
            if (parse.GetValue(JsonOption))
            {
                Terminal.Out.WriteLine(JsonSerializer.Serialize(queues, WireJson.Options));
                return 0;
            }

            var table = NewTable("QUEUE", "PRIORITY", "POLICY", "WAITING", "RUNNING");
            foreach (var q in queues)
            {
                table.AddRow(Markup.Escape(q.Name), q.Priority.ToString(CultureInfo.InvariantCulture), q.Policy, q.Waiting.ToString(CultureInfo.InvariantCulture), q.Running.ToString(CultureInfo.InvariantCulture));
            }

            Terminal.Rich.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Login()
    {
        var token = new Option<string?>("--token") { Description = "Keep this token (from an operator) instead of asking the local server for one." };
        var command = new Command("login", "Get an API token (through the local socket) and keep it, with the server address, in ~/.config/heorot/config.json.") { token };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            var server = parse.GetValue(ServerOption);
            var given = parse.GetValue(token);
            string user;
            if (given == null)
            {
                using var local = new HeorotClient(server);
                var created = await local.PostAsync<TokenResponse>("v1/tokens", new TokenRequest { Description = "heorot login" }, ct);
                given = created.Token;
                user = created.User;
            }
            else
            {
                user = "(given token)";
            }

            var config = ClientConfig.Load() with { Token = given, Server = server ?? ClientConfig.Load().Server };
            config.Save();
            Terminal.Out.WriteLine(parse.GetValue(JsonOption) ? JsonSerializer.Serialize(new { user, config = ClientConfig.PathOf() }, WireJson.Options) : $"logged in as {user}; token kept in {ClientConfig.PathOf()}");
            return 0;
        }));
        return command;
    }

    private static Command WhoAmI()
    {
        var command = new Command("whoami", "Who the server thinks you are.");
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var me = await client.GetAsync<WhoAmIResponse>("v1/whoami", ct);
            Terminal.Out.WriteLine(parse.GetValue(JsonOption) ? JsonSerializer.Serialize(me, WireJson.Options) : $"{me.User}{(me.Operator ? " (operator)" : string.Empty)} via {me.Via}");
            return 0;
        }));
        return command;
    }

    internal static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (ClientException e)
        {
            return Terminal.Fail(e.Message, e.Status is >= 400 and < 500 ? 1 : 2);
        }
    }

    private static Table NewTable(params string[] columns)
    {
        var table = new Table { Border = TableBorder.None, ShowHeaders = true };
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn($"[bold]{column}[/]") { Padding = new Padding(0, 0, 2, 0) });
        }

        return table;
    }

    private static string StateMarkup(string state) => state switch
    {
        "Running" or "Alive" or "Terminated" or "On" => $"[green]{state}[/]",
        "Waiting" or "Launching" or "Finishing" or "Hold" or "Drained" or "PoweringOn" or "PoweringOff" => $"[yellow]{state}[/]",
        "Off" => $"[blue]{state}[/]",
        "Error" or "Suspected" or "Down" or "Dead" => $"[red]{state}[/]",
        _ => Markup.Escape(state),
    };

    private static string Duration(long? seconds) => seconds is { } s ? TimeSpan.FromSeconds(s).ToString(s >= 86400 ? @"d\-hh\:mm\:ss" : @"hh\:mm\:ss", CultureInfo.InvariantCulture) : "-";

    /// <summary>POSIX single quoting: the word reaches the command unchanged, whatever it contains.</summary>
    internal static string ShellQuote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c, StringComparison.Ordinal))
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static void AddQuery(List<string> query, string name, string? value)
    {
        if (value != null)
        {
            query.Add($"{name}={Uri.EscapeDataString(value)}");
        }
    }
}
