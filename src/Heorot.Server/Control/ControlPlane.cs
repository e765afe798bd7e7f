using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Heorot.Model;
using Heorot.Model.Lifecycle;
using Heorot.Model.Requests;
using Heorot.Model.Resources;
using Heorot.Protocol;
using Heorot.Protocol.Hooks;
using Heorot.Scheduling.Live;
using Heorot.Scheduling.Policies;
using Heorot.Server.Api;
using Heorot.Server.Identity;
using Heorot.Storage;
using Microsoft.Extensions.Logging;

namespace Heorot.Server.Control;

/// <summary>
/// The control plane's state and every change to it. The store is the arbiter: each job change is a
/// compare-and-set on the job's stored state and attempt, journalled with its event in the same transaction;
/// the in-memory picture (unfinished jobs, nodes, what agents last reported) follows only committed changes.
/// Jobs start only through <see cref="SchedulePassAsync"/>, the single plan applier; agents are told the whole
/// desired state of their node on every sync (level-triggered), so a lost message or a restart on either side
/// is repaired by the next sync, and an attempt is never launched twice.
/// </summary>
public sealed partial class ControlPlane : IDisposable
{
    private readonly IHeorotStore store;
    private readonly ServerOptions options;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly ConcurrentDictionary<long, JobEntry> active = new();

    // The unfinished jobs that hold nodes (Launching, Running, Finishing): what every agent sync looks at,
    // without scanning a queue of waiting jobs.
    private readonly ConcurrentDictionary<long, JobEntry> holding = new();

    /// <summary>The accepted advance reservations not started yet, for the loop's wake-up time.</summary>
    private readonly ConcurrentDictionary<long, JobEntry> reserved = new();
    private readonly ConcurrentDictionary<string, NodeEntry> nodes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, bool> serverPrologRunning = new();
    private readonly SemaphoreSlim passGate = new(1, 1);
    private readonly Lock modelGate = new();
    private readonly Dictionary<long, (int Version, IReadOnlyList<JobAlternative> Alternatives)> compiled = [];
    private TaskCompletionSource eventsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource scheduleWanted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Dictionary<long, ExplainRecord> explain = new Dictionary<long, ExplainRecord>();
    private (int Version, ClusterModel Model, RequestCompiler Compiler)? model;
    private int nodeVersion;
    private long signalSerial;
    private long syncs;

    public ControlPlane(IHeorotStore store, ServerOptions options, TimeProvider time, ILogger logger)
    {
        this.store = store;
        this.options = options;
        this.time = time;
        this.logger = logger;
        Logs = new LogStore(Path.Combine(options.DataDirectory, "logs"));
    }

    public LogStore Logs { get; }

    public void Dispose() => passGate.Dispose();

    public IHeorotStore Store => store;

    public ServerOptions Options => options;

    /// <summary>Scheduling passes run so far (for tests and the status endpoint).</summary>
    public long Passes { get; private set; }

    private DateTimeOffset Now => time.GetUtcNow();

    /// <summary>Loads the nodes and the unfinished jobs from the store.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        foreach (var record in await store.ListNodesAsync(cancellationToken))
        {
            var node = nodes.GetOrAdd(record.Name, n => new NodeEntry(n));
            node.State = Enum.Parse<NodeState>(record.State);
            node.Description = NodeDescription.FromJson(record.PropertiesJson);
            node.LastSeen = Now; // agents get the full timeout to come back after a server restart
            node.StateSince = Now;
        }

        var states = new[] { JobState.Waiting, JobState.Hold, JobState.Launching, JobState.Running, JobState.Finishing }.Select(s => s.ToString()).ToList();
        long after = 0;
        while (true)
        {
            var page = await store.ListJobsAsync(new JobFilter { States = states, AfterId = after, Limit = 5000 }, cancellationToken);
            foreach (var record in page)
            {
                Put(JobEntry.From(record));
            }

            if (page.Count < 5000)
            {
                break;
            }

            after = page[^1].Id;
        }

        Interlocked.Increment(ref nodeVersion);
        LogLoaded(logger, nodes.Count, active.Count);

        // Jobs whose server prolog was interrupted by a restart run it again.
        foreach (var job in active.Values.Where(j => j.State == JobState.Launching && options.Prolog != null))
        {
            StartServerProlog(job);
        }
    }

    // ---------------------------------------------------------------- submissions and user actions

    public async Task<IReadOnlyList<long>> SubmitAsync(Caller caller, SubmitRequest submission, CancellationToken cancellationToken)
    {
        if (submission.User is { } onBehalf && onBehalf != caller.User)
        {
            if (!caller.IsOperator)
            {
                throw ApiException.Forbidden("only operators may submit on behalf of another user");
            }

            caller = caller with { User = onBehalf };
        }

        if (caller.User == "root")
        {
            throw ApiException.Forbidden("jobs never run as root: submit as a regular user (operators may use --as USER)");
        }

        var request = ParseRequest(submission);
        var queue = submission.Queue ?? request.Queue ?? options.Queues[0].Name;
        if (!options.Queues.Any(q => q.Name == queue))
        {
            throw ApiException.BadInput("queue", $"no queue named '{queue}' (queues: {string.Join(", ", options.Queues.Select(q => q.Name))})");
        }

        if (submission.Array is { } n && (n < 1 || n > options.MaxArraySize))
        {
            throw ApiException.BadInput("array", $"an array has 1 to {options.MaxArraySize} jobs, not {n}");
        }

        if (submission.Environment is { } env)
        {
            foreach (var variable in env.Keys.Where(k => !EnvironmentName().IsMatch(k) || k.StartsWith("HEOROT_", StringComparison.Ordinal)))
            {
                throw ApiException.BadInput("environment", $"'{variable}' is not an environment variable name a job may set");
            }
        }

        foreach (var dependency in request.After)
        {
            if (await store.GetJobAsync(dependency, cancellationToken) == null)
            {
                throw ApiException.BadInput("args", $"--after {dependency}: no such job");
            }
        }

        var vm = await VmAttributesOfAsync(caller, submission, cancellationToken);

        if (submission.Interactive)
        {
            if (submission.Array != null || submission.ReservationStart != null)
            {
                throw ApiException.BadInput(submission.Array != null ? "array" : "reservationStart", "an interactive job is one job that starts as soon as it can: drop --array and -r");
            }

            submission = submission with { Script = InteractivePlaceholder };
        }

        var name = submission.Name ?? request.Name;
        var canonical = new JobRequest(request.Alternatives, queue, name, request.Types, request.After);
        if (submission.ReservationStart is { } reservationStart)
        {
            if (submission.Array != null)
            {
                throw ApiException.BadInput("array", "an advance reservation is one job: drop --array");
            }

            return [await ReserveAsync(caller, submission, canonical, reservationStart, cancellationToken)];
        }

        CheckFits(canonical);
        var now = Now;
        var count = submission.Array ?? 1;
        var jobs = new List<NewJob>(count);
        var attributes = new List<JobAttributes>(count);
        for (var i = 0; i < count; i++)
        {
            attributes.Add(new JobAttributes
            {
                Idempotent = submission.Idempotent || request.Types.Contains("idempotent"),
                Environment = submission.Environment ?? new Dictionary<string, string>(),
                ArrayIndex = submission.Array == null ? null : i,
                Interactive = submission.Interactive,
                Vm = vm,
            });
            jobs.Add(new NewJob(caller.User, submission.Project ?? caller.User, queue, canonical.ToString(), submission.Script, nameof(JobState.Waiting), now)
            {
                Name = name,
                WorkingDirectory = submission.WorkingDirectory,
                AttributesJson = JsonSerializer.Serialize(attributes[i], WireJson.Options),
                WalltimeSeconds = (long)(canonical.Alternatives[0].Walltime ?? options.DefaultWalltime).TotalSeconds,
                Event = new NewEvent(now, caller.User, "job.submitted", string.Empty, $"submitted to {queue}", "{}"),
            });
        }

        var ids = count == 1 ? [await store.SubmitAsync(jobs[0], cancellationToken)] : await store.SubmitManyAsync(jobs, cancellationToken);
        for (var i = 0; i < ids.Count; i++)
        {
            var record = new JobRecord(ids[i], jobs[i].User, jobs[i].Project, queue, jobs[i].Request, jobs[i].Script, jobs[i].State, now, now, jobs[i].Name, jobs[i].WalltimeSeconds, jobs[i].WorkingDirectory, jobs[i].AttributesJson);
            Put(new JobEntry(record, JobState.Waiting, 0, null, canonical, attributes[i]));
        }

        NotifyEvents();
        WantSchedule();
        return ids;
    }

    /// <summary>
    /// An advance reservation: under the pass gate (so two reservations never take the same resources), the
    /// pure scheduler finds resources free over the whole window around running work and accepted reservations;
    /// the job is stored Waiting with them set aside, and the scheduling loop starts it at its start time.
    /// </summary>
    private async Task<long> ReserveAsync(Caller caller, SubmitRequest submission, JobRequest request, DateTimeOffset start, CancellationToken cancellationToken)
    {
        var current = CurrentModel() ?? throw new ApiException(409, "reservation_refused", "no node has registered yet: nothing to reserve");
        var (version, clusterModel, compiler) = current;
        var alternative = compiler.Compile(request, options.DefaultWalltime)[0];
        await passGate.WaitAsync(cancellationToken);
        try
        {
            var now = Now;
            // Health is a matter of now, a reservation of later: only drained and dead nodes are left out.
            var snapshot = Snapshot(version, clusterModel, compiler, active.Values.ToList(), now) with
            {
                Pending = [],
                NodeAvailable = clusterModel.Nodes.Select(n => !nodes.TryGetValue(n.Name, out var entry) || entry.State is not (NodeState.Drained or NodeState.Dead)).ToArray(),
            };
            var begin = start.ToUnixTimeSeconds();
            var (alloc, refusal) = ClusterScheduler.Reserve(snapshot, alternative.Demand, begin, begin + alternative.Walltime);
            if (alloc == null)
            {
                throw new ApiException(409, "reservation_refused", $"reservation refused: {refusal}", "reservationStart");
            }

            var attributes = new JobAttributes
            {
                Idempotent = submission.Idempotent,
                Environment = submission.Environment ?? new Dictionary<string, string>(),
                ReservationStart = start,
            };
            var runtime = new JobRuntime
            {
                Nodes = alloc.Nodes.Select(i => clusterModel.Nodes[i].Name).ToList(),
                Cores = alloc.Cores,
                Memory = alloc.Memory,
                Gpus = alloc.Gpus,
                Walltime = alternative.Walltime,
                LaunchTime = start,
            };
            var job = new NewJob(caller.User, submission.Project ?? caller.User, request.Queue ?? options.Queues[0].Name, request.ToString(), submission.Script, nameof(JobState.Waiting), now)
            {
                Name = request.Name,
                WorkingDirectory = submission.WorkingDirectory,
                AttributesJson = JsonSerializer.Serialize(attributes, WireJson.Options),
                WalltimeSeconds = alternative.Walltime,
                Event = new NewEvent(now, caller.User, "job.reserved", string.Empty, $"reserved from {start:u} on {string.Join(",", runtime.Nodes)}", "{}"),
            };
            var id = await store.SubmitAsync(job, cancellationToken);
            var runtimeJson = JsonSerializer.Serialize(runtime, WireJson.Options);
            await store.TryUpdateJobAsync(new JobUpdate(id, nameof(JobState.Waiting), nameof(JobState.Waiting), now) { RuntimeJson = runtimeJson }, cancellationToken);
            var record = new JobRecord(id, job.User, job.Project, job.Queue, job.Request, job.Script, job.State, now, now, job.Name, job.WalltimeSeconds, job.WorkingDirectory, job.AttributesJson) { RuntimeJson = runtimeJson };
            Put(new JobEntry(record, JobState.Waiting, 0, runtime, request, attributes));
            NotifyEvents();
            WantSchedule();
            return id;
        }
        finally
        {
            passGate.Release();
        }
    }

    private static JobRequest ParseRequest(SubmitRequest submission)
    {
        try
        {
            if (submission.Args.Count == 0)
            {
                return ScriptDirectives.Parse(submission.Script);
            }

            return (submission.From ?? "oar").ToLowerInvariant() switch
            {
                "oar" => OarRequestParser.ParseArguments(submission.Args),
                "slurm" => SlurmRequestParser.Parse(submission.Args),
                _ => throw ApiException.BadInput("from", $"unknown request front-end '{submission.From}': expected oar or slurm"),
            };
        }
        catch (RequestParseException e)
        {
            throw ApiException.BadInput("args", e.Message, e.Caret);
        }
    }

    /// <summary>Refuses a request no registered node could ever satisfy (once any node is registered).</summary>
    private void CheckFits(JobRequest request)
    {
        var current = CurrentModel();
        if (current == null)
        {
            return;
        }

        var alternatives = current.Value.Compiler.Compile(request, options.DefaultWalltime);
        var shape = current.Value.Compiler.Shape;
        var plan = ClusterScheduler.Plan(new SchedulingSnapshot(0, shape)
        {
            Pending = [new PendingJob(1, "check", options.Queues[0].Name, 0, alternatives)],
            Queues = [options.Queues[0]],
        });
        if (plan.Starts.Count == 0 && plan.ExplainFor(1) is { Planned: null } refusal)
        {
            throw new ApiException(400, "unsatisfiable", $"the request cannot run on this cluster: {refusal.Reason}", "args");
        }
    }

    public Task CancelAsync(Caller caller, long id, string? reason, CancellationToken cancellationToken) =>
        ActOnJobAsync(caller, id, JobTrigger.Cancel, reason ?? $"cancelled by {caller.User}", cancellationToken);

    public Task HoldAsync(Caller caller, long id, CancellationToken cancellationToken) =>
        ActOnJobAsync(caller, id, JobTrigger.Hold, $"held by {caller.User}", cancellationToken);

    public Task ReleaseAsync(Caller caller, long id, CancellationToken cancellationToken) =>
        ActOnJobAsync(caller, id, JobTrigger.Release, $"released by {caller.User}", cancellationToken);

    private async Task ActOnJobAsync(Caller caller, long id, JobTrigger trigger, string reason, CancellationToken cancellationToken)
    {
        for (var round = 0; round < 5; round++)
        {
            var job = await ActiveOrThrowAsync(caller, id, cancellationToken);
            if (!JobLifecycle.Table.TryFire(job.State, trigger, out _))
            {
                throw new ApiException(409, "illegal_transition", $"job {id} is {job.State}: it cannot be {TriggerVerb(trigger)}");
            }

            if (await TransitionAsync(job, trigger, caller.User, reason, j => j.Runtime == null ? j : j with { Runtime = j.Runtime with { Reason = reason } }) != null)
            {
                return;
            }
        }

        throw new ApiException(409, "conflict", $"job {id} kept changing; try again");
    }

    private static string TriggerVerb(JobTrigger trigger) => trigger switch
    {
        JobTrigger.Cancel => "cancelled",
        JobTrigger.Hold => "held (only waiting jobs can be)",
        JobTrigger.Release => "released (only held jobs can be)",
        _ => trigger.ToString().ToLowerInvariant(),
    };

    private async Task<JobEntry> ActiveOrThrowAsync(Caller caller, long id, CancellationToken cancellationToken)
    {
        if (!active.TryGetValue(id, out var job))
        {
            var record = await store.GetJobAsync(id, cancellationToken) ?? throw ApiException.NotFound($"job {id}");
            if (!caller.MayActOn(record.User))
            {
                throw ApiException.Forbidden($"job {id} belongs to {record.User}");
            }

            throw new ApiException(409, "illegal_transition", $"job {id} has already ended ({record.State})");
        }

        if (!caller.MayActOn(job.User))
        {
            throw ApiException.Forbidden($"job {id} belongs to {job.User}");
        }

        return job;
    }

    public async Task SignalAsync(Caller caller, long id, string signal, CancellationToken cancellationToken)
    {
        if (!Signals.TryParse(signal, out _))
        {
            throw ApiException.BadInput("signal", $"unknown signal '{signal}' (known: {string.Join(", ", Signals.Known)})");
        }

        var job = await ActiveOrThrowAsync(caller, id, cancellationToken);
        if (job.State != JobState.Running || job.Runtime == null || !nodes.TryGetValue(job.Runtime.Head, out var head))
        {
            throw new ApiException(409, "illegal_transition", $"job {id} is {job.State}: only running jobs take signals");
        }

        lock (head.Gate)
        {
            head.PendingSignals.Add(new SignalOrder(id, job.Attempt, signal.ToUpperInvariant(), Interlocked.Increment(ref signalSerial)));
        }

        head.Wake();
        await store.AppendEventAsync(new NewEvent(Now, caller.User, "job.signalled", $"job/{id}", $"{signal.ToUpperInvariant()} sent by {caller.User}", "{}"), cancellationToken);
        NotifyEvents();
    }

    /// <summary>Lengthens the walltime of a job (operators only, as in Slurm).</summary>
    public async Task ExtendAsync(Caller caller, long id, long seconds, CancellationToken cancellationToken)
    {
        if (!caller.IsOperator)
        {
            throw ApiException.Forbidden("only operators may extend a walltime");
        }

        if (seconds is < 1 or > 366L * 24 * 3600)
        {
            throw ApiException.BadInput("extendSeconds", "give a positive number of seconds, at most a year");
        }

        var job = await ActiveOrThrowAsync(caller, id, cancellationToken);
        if (job.Runtime == null || job.State is not (JobState.Running or JobState.Launching))
        {
            throw new ApiException(409, "illegal_transition", $"job {id} is {job.State}: only a started job's walltime can be extended");
        }

        var next = job with { Runtime = job.Runtime with { Walltime = job.Runtime.Walltime + seconds } };
        if (!await store.TryUpdateJobAsync(new JobUpdate(id, job.State.ToString(), job.State.ToString(), Now)
        {
            ExpectedAttempt = job.Attempt,
            RuntimeJson = JsonSerializer.Serialize(next.Runtime, WireJson.Options),
            Event = new NewEvent(Now, caller.User, "job.extended", $"job/{id}", $"walltime extended by {seconds} s to {next.Runtime!.Walltime} s", "{}"),
        }, cancellationToken))
        {
            throw new ApiException(409, "conflict", $"job {id} changed meanwhile; try again");
        }

        Put(next);
        WakeNodesOf(next);
        NotifyEvents();
    }

    // ---------------------------------------------------------------- reading

    public async Task<JobView?> GetJobAsync(long id, CancellationToken cancellationToken)
    {
        if (active.TryGetValue(id, out var job))
        {
            return View(job);
        }

        var record = await store.GetJobAsync(id, cancellationToken);
        return record == null ? null : View(JobEntry.From(record));
    }

    /// <summary>Unfinished jobs from memory, or any jobs from the store when states or paging ask for them.</summary>
    public async Task<(IReadOnlyList<JobView> Jobs, long? Next)> ListJobsAsync(string? user, string? queue, IReadOnlyList<string>? states, long after, int limit, CancellationToken cancellationToken)
    {
        if (states is null or { Count: 0 })
        {
            var selected = active.Values.Where(j => j.Id > after && (user == null || j.User == user) && (queue == null || j.Record.Queue == queue))
                .OrderBy(j => j.Id).Take(limit + 1).ToList();
            var more = selected.Count > limit;
            var page = selected.Take(limit).Select(View).ToList();
            return (page, more ? page[^1].Id : null);
        }

        var records = await store.ListJobsAsync(new JobFilter { User = user, Queue = queue, States = states, AfterId = after, Limit = limit + 1 }, cancellationToken);
        var views = records.Take(limit).Select(r => active.TryGetValue(r.Id, out var a) ? View(a) : View(JobEntry.From(r))).ToList();
        return (views, records.Count > limit ? views[^1].Id : null);
    }

    public JobView View(JobEntry job)
    {
        ExplainView? why = null;
        if (job.State == JobState.Waiting && job.IsReservation)
        {
            why = new ExplainView($"advance reservation: starts at {job.Attributes.ReservationStart:u}", job.Attributes.ReservationStart, job.Runtime?.Nodes);
        }
        else if (job.State == JobState.Waiting && explain.TryGetValue(job.Id, out var record))
        {
            var names = model?.Model.Nodes;
            why = new ExplainView(
                record.Reason,
                record.Planned == null ? null : DateTimeOffset.FromUnixTimeSeconds(record.Planned.Start),
                record.Planned == null || names == null ? null : record.Planned.Alloc.Nodes.Where(n => n < names.Count).Select(n => names[n].Name).ToList());
        }
        else if (job.State == JobState.Waiting)
        {
            why = new ExplainView(
                model == null && Passes > 0 ? "no node has registered yet" : Passes == 0 ? "waiting for the first scheduling pass" : "submitted after the last scheduling pass",
                null,
                null);
        }
        else if (job.State == JobState.Hold)
        {
            why = new ExplainView("held: release it with heorot resume", null, null);
        }

        return new JobView
        {
            Id = job.Id,
            User = job.User,
            Project = job.Record.Project,
            Queue = job.Record.Queue,
            Name = job.Record.Name,
            State = job.State.ToString(),
            Request = job.Record.Request,
            WalltimeSeconds = job.Runtime?.Walltime ?? job.Record.WalltimeSeconds,
            SubmitTime = job.Record.SubmitTime,
            StartTime = job.Runtime?.StartTime,
            EndTime = job.Runtime?.EndTime,
            Nodes = job.Runtime?.Nodes ?? [],
            Attempt = job.Attempt,
            ExitCode = job.Runtime?.ExitCode,
            Reason = job.Runtime?.Reason,
            Explain = why,
            ReservationStart = job.Attributes.ReservationStart,
        };
    }

    /// <summary>
    /// The nodes, once registered (or power-managed): a node whose first sync is still being stored is not shown
    /// yet, so that whoever sees it Alive can also schedule on it (a test saw 3 nodes Alive, one of them without
    /// its resources yet, and had a 3-node reservation refused).
    /// </summary>
    public IReadOnlyList<NodeView> ListNodes() => nodes.Values.Where(Listed).OrderBy(n => n.Name, StringComparer.Ordinal).Select(NodeView).ToList();

    public NodeView? GetNode(string name) => nodes.TryGetValue(name, out var node) && Listed(node) ? NodeView(node) : null;

    private static bool Listed(NodeEntry node)
    {
        lock (node.Gate)
        {
            return node.Description.Cores > 0 || node.Description.Power != null;
        }
    }

    private NodeView NodeView(NodeEntry node)
    {
        lock (node.Gate)
        {
            return new NodeView
            {
                Name = node.Name,
                State = node.State.ToString(),
                Cores = node.Description.Cores,
                MemoryMb = node.Description.MemoryMb,
                Gpus = node.Description.Gpus,
                Properties = node.Description.EffectiveProperties(),
                LastSeen = node.Connected ? node.LastSeen : null,
                Reason = node.Description.Reason,
                Jobs = holding.Values.Where(j => j.Runtime!.Nodes.Contains(node.Name)).Select(j => j.Id).Order().ToList(),
                Power = node.Description.Power?.ToString(),
                PowerSince = node.Description.PowerSince,
                BootSeconds = node.Description.BootSeconds,
            };
        }
    }

    public IReadOnlyList<QueueView> ListQueues() => options.Queues.Select(q => new QueueView(
        q.Name,
        q.Priority,
        q.Policy.Name(),
        active.Values.Count(j => j.Record.Queue == q.Name && j.State is JobState.Waiting or JobState.Hold),
        active.Values.Count(j => j.Record.Queue == q.Name && j.HoldsNodes))).ToList();

    /// <summary>Completes when new events may have been journalled.</summary>
    public Task EventsChanged => Volatile.Read(ref eventsChanged).Task;

    private void NotifyEvents() =>
        Interlocked.Exchange(ref eventsChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    // ---------------------------------------------------------------- operators on nodes

    public async Task NodeActionAsync(Caller caller, string name, NodeActionRequest action, CancellationToken cancellationToken)
    {
        if (!caller.IsOperator)
        {
            throw ApiException.Forbidden("only operators may change nodes");
        }

        if (!nodes.TryGetValue(name, out var node))
        {
            throw ApiException.NotFound($"node {name}");
        }

        switch (action.Action)
        {
            case "drain":
                await FireNodeAsync(node, NodeTrigger.Drain, caller.User, action.Reason ?? $"drained by {caller.User}", cancellationToken);
                break;
            case "resume":
                var trigger = node.State switch
                {
                    NodeState.Drained => NodeTrigger.Resume,
                    NodeState.Suspected => NodeTrigger.CheckPassed,
                    NodeState.Dead => NodeTrigger.Revive,
                    _ => throw new ApiException(409, "illegal_transition", $"node {name} is {node.State}: nothing to resume"),
                };
                await FireNodeAsync(node, trigger, caller.User, action.Reason ?? $"resumed by {caller.User}", cancellationToken);
                break;
            case "set-properties":
                if (action.Properties is not { Count: > 0 } properties)
                {
                    throw ApiException.BadInput("properties", "give at least one property");
                }

                foreach (var key in properties.Keys.Where(k => !PropertyName().IsMatch(k)))
                {
                    throw ApiException.BadInput("properties", $"'{key}' is not a property name (letters, digits, _ and -)");
                }

                NodeDescription description;
                lock (node.Gate)
                {
                    var merged = new Dictionary<string, string>(node.Description.OperatorProperties, StringComparer.Ordinal);
                    foreach (var (k, v) in properties)
                    {
                        merged[k] = v;
                    }

                    description = node.Description with { OperatorProperties = merged };
                }

                await SaveNodeAsync(node, node.State, description, new NewEvent(Now, caller.User, "node.properties", $"node/{name}", string.Join(", ", properties.Select(p => $"{p.Key}={p.Value}")), "{}"), resourcesChanged: true, cancellationToken);
                WantSchedule();
                break;
            default:
                throw ApiException.BadInput("action", $"unknown node action '{action.Action}': expected drain, resume or set-properties");
        }
    }

    private async Task FireNodeAsync(NodeEntry node, NodeTrigger trigger, string actor, string reason, CancellationToken cancellationToken)
    {
        NodeState from;
        NodeDescription description;
        lock (node.Gate)
        {
            from = node.State;
            description = node.Description with
            {
                Reason = trigger is NodeTrigger.CheckPassed or NodeTrigger.Resume or NodeTrigger.HeartbeatBack ? null : reason,
                // A revived node heals like a silent one: when its agent next answers.
                SuspectedByHeartbeat = trigger is NodeTrigger.HeartbeatLost or NodeTrigger.Revive || (node.Description.SuspectedByHeartbeat && trigger == NodeTrigger.Timeout),
            };
        }

        if (!NodeLifecycle.Table.TryFire(from, trigger, out var to))
        {
            throw new ApiException(409, "illegal_transition", $"node {node.Name} is {from}: {trigger} does not apply");
        }

        // Why a node is Suspected decides how it heals: its agent answering, its boot, its health check.
        description = to == NodeState.Alive
            ? description with { SuspectedByCheck = false, SuspectedByPower = false, PowerCycles = 0 }
            : description with
            {
                SuspectedByCheck = trigger == NodeTrigger.CheckFailed || description.SuspectedByCheck,
                SuspectedByPower = trigger == NodeTrigger.PowerFailed || description.SuspectedByPower,
            };

        await SaveNodeAsync(node, to, description, new NewEvent(Now, actor, "node." + to.ToString().ToLowerInvariant(), $"node/{node.Name}", reason, "{}"), resourcesChanged: false, cancellationToken);
        LogNode(logger, node.Name, from, to, reason);
        WantSchedule();
    }

    /// <summary>
    /// Stores and publishes a node's state and description. When its resources change (cores, memory, GPUs,
    /// properties: <paramref name="resourcesChanged"/>), the cluster model's version is bumped under the same lock
    /// that makes the node visible. Bumped after it, a submission made in between (a test that saw the third
    /// node Alive) was checked against the cached model without that node and refused as unsatisfiable.
    /// </summary>
    private async Task SaveNodeAsync(NodeEntry node, NodeState state, NodeDescription description, NewEvent? entry, bool resourcesChanged, CancellationToken cancellationToken)
    {
        await store.UpsertNodeAsync(new NodeRecord(node.Name, description.ToJson(), state.ToString(), Now), entry, cancellationToken);
        lock (node.Gate)
        {
            if (node.State != state)
            {
                node.StateSince = Now;
            }

            node.State = state;
            node.Description = description;
            if (resourcesChanged)
            {
                Interlocked.Increment(ref nodeVersion);
            }
        }

        NotifyEvents();
    }

    // ---------------------------------------------------------------- job transitions

    /// <summary>
    /// Fires a trigger on a job: a compare-and-set in the store with its event; on success the cache follows.
    /// Returns the new entry, or null when the stored job had changed meanwhile (the cache is then reloaded).
    /// </summary>
    private async Task<JobEntry?> TransitionAsync(JobEntry job, JobTrigger trigger, string actor, string reason, Func<JobEntry, JobEntry>? change = null, bool newAttempt = false)
    {
        var to = JobLifecycle.Table.Fire(job.State, trigger);
        var next = (change?.Invoke(job) ?? job) with { State = to };
        if (newAttempt)
        {
            next = next with { Attempt = job.Attempt + 1, Runtime = null };
        }

        var now = Now;
        var payload = next.Runtime == null ? "{}" : JsonSerializer.Serialize(new { nodes = next.Runtime.Nodes, exitCode = next.Runtime.ExitCode }, WireJson.Options);
        var ok = await store.TryUpdateJobAsync(new JobUpdate(job.Id, job.State.ToString(), to.ToString(), now)
        {
            ExpectedAttempt = job.Attempt,
            NewAttempt = next.Attempt != job.Attempt ? next.Attempt : null,
            RuntimeJson = next.Runtime == null ? null : JsonSerializer.Serialize(next.Runtime, WireJson.Options),
            ClearRuntime = next.Runtime == null && job.Runtime != null,
            Event = new NewEvent(now, actor, "job." + to.ToString().ToLowerInvariant(), $"job/{job.Id}", reason, payload),
        });
        if (!ok)
        {
            var stored = await store.GetJobAsync(job.Id);
            if (stored == null || JobEntry.IsFinal(Enum.Parse<JobState>(stored.State)))
            {
                Drop(job.Id);
            }
            else
            {
                Put(JobEntry.From(stored));
            }

            return null;
        }

        if (JobEntry.IsFinal(to))
        {
            Drop(job.Id);
            lock (modelGate)
            {
                compiled.Remove(job.Id);
            }
        }
        else
        {
            Put(next);
        }

        WakeNodesOf(job);
        WakeNodesOf(next);
        NotifyEvents();
        if (to is JobState.Waiting or JobState.Terminated or JobState.Error or JobState.Cancelled || job.State == JobState.Finishing)
        {
            WantSchedule();
        }

        return next;
    }

    /// <summary>Caches an unfinished job; the jobs holding nodes are also indexed, for the per-sync scans.</summary>
    private void Put(JobEntry job)
    {
        active[job.Id] = job;
        if (job.HoldsNodes)
        {
            holding[job.Id] = job;
        }
        else
        {
            holding.TryRemove(job.Id, out _);
        }

        if (job.State == JobState.Waiting && job.IsReservation)
        {
            reserved[job.Id] = job;
        }
        else
        {
            reserved.TryRemove(job.Id, out _);
        }
    }

    private void Drop(long id)
    {
        active.TryRemove(id, out _);
        holding.TryRemove(id, out _);
        reserved.TryRemove(id, out _);
    }

    private void WakeNodesOf(JobEntry job)
    {
        foreach (var name in job.Runtime?.Nodes ?? [])
        {
            if (nodes.TryGetValue(name, out var node))
            {
                node.Wake();
            }
        }
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    private static partial Regex EnvironmentName();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
    private static partial Regex PropertyName();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex NodeName();

    [LoggerMessage(LogLevel.Information, "loaded {Nodes} nodes and {Jobs} unfinished jobs")]
    private static partial void LogLoaded(ILogger logger, int nodes, int jobs);

    [LoggerMessage(LogLevel.Information, "node {Node}: {From} -> {To} ({Reason})")]
    private static partial void LogNode(ILogger logger, string node, NodeState from, NodeState to, string reason);

    [LoggerMessage(LogLevel.Warning, "scheduling pass failed")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);

    [LoggerMessage(LogLevel.Warning, "hook failed for job {Job}: {Output}")]
    private static partial void LogHookFailed(ILogger logger, long job, string output);

    internal static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    internal static PropertyValue ToPropertyValue(string text) =>
        text switch
        {
            "true" => PropertyValue.Of(true),
            "false" => PropertyValue.Of(false),
            _ when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) => PropertyValue.Of(number),
            _ => PropertyValue.Of(text),
        };

    internal static bool IsValidNodeName(string name) => NodeName().IsMatch(name);
}
