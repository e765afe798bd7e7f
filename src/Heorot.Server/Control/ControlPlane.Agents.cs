using Heorot.Model.Lifecycle;
using Heorot.Protocol;
using Heorot.Server.Api;
using Heorot.Storage;

namespace Heorot.Server.Control;

public sealed partial class ControlPlane
{
    /// <summary>
    /// An agent's sync: its heartbeat, its resources and the state of every attempt it holds. The reports drive
    /// the jobs' transitions; the answer is the node's whole desired state, held back (long poll) until it
    /// differs from what the agent reported or the wait runs out.
    /// </summary>
    /// <summary>Agent syncs answered so far.</summary>
    public long Syncs => Interlocked.Read(ref syncs);

    public async Task<SyncResponse> SyncAsync(SyncRequest sync, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref syncs);
        if (!IsValidNodeName(sync.Node))
        {
            throw ApiException.BadInput("node", $"'{sync.Node}' is not a node name (letters, digits, '.', '_', '-'; at most 63)");
        }

        if (sync.Cores < 1 || sync.MemoryMb < 0 || sync.Gpus < 0)
        {
            throw ApiException.BadInput("cores", "a node has at least one core and no negative memory or GPU count");
        }

        var node = nodes.GetOrAdd(sync.Node, n => new NodeEntry(n));
        await RegisterAsync(node, sync, cancellationToken);
        if (sync.Health is { } health)
        {
            await HealthAsync(node, health, cancellationToken);
        }

        var reports = sync.Jobs.GroupBy(j => new JobAttempt(j.JobId, j.Attempt)).ToDictionary(g => g.Key, g => g.Last());
        bool stale;
        lock (node.Gate)
        {
            node.LastSeen = Now;
            node.Connected = true;

            // The agent's two loops can deliver an older report after a newer one: it is old news, not applied.
            stale = node.ReportedAt.Start == sync.AgentStart && sync.Serial <= node.ReportedAt.Serial;
            if (!stale)
            {
                node.Reports = reports;
                node.ReportedAt = (sync.AgentStart, sync.Serial);
            }
        }

        if (stale)
        {
            lock (node.Gate)
            {
                reports = node.Reports;
            }

            return DesiredState(node, reports);
        }

        // Reports concern different jobs: their transitions go to the store together and share a commit.
        foreach (var status in reports.Values)
        {
            WriteLogs(status);
        }

        await Task.WhenAll(reports.Values.Select(status => ProcessReportAsync(node, status)));
        await Task.WhenAll(holding.Values.Where(j => j.State == JobState.Finishing && j.Runtime!.Nodes.Contains(node.Name)).ToList().Select(TryFinishAsync));

        // A running attempt its head no longer knows (its state was wiped): lost, never launched again. Only
        // while this is still the newest report: a newer one, applied while this one awaited its writes, may have
        // made Running a job that this older report was composed too early to hold.
        List<JobEntry> lost;
        lock (node.Gate)
        {
            lost = node.ReportedAt != (sync.AgentStart, sync.Serial) ? []
                : holding.Values.Where(j => j.State == JobState.Running && j.Runtime!.Head == node.Name && !reports.ContainsKey(new JobAttempt(j.Id, j.Attempt))).ToList();
        }

        foreach (var job in lost)
        {
            await LoseJobAsync(job, $"node {node.Name} no longer knows the job");
        }

        var response = DesiredState(node, reports);
        if (sync.WaitMilliseconds > 0 && !NeedsAction(response, reports))
        {
            var changed = node.Changed;
            response = DesiredState(node, reports);
            if (!NeedsAction(response, reports))
            {
                try
                {
                    // Never longer than a heartbeat: a node is seen alive when its poll comes back.
                    await changed.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(sync.WaitMilliseconds, options.Heartbeat.TotalMilliseconds)), time, cancellationToken);
                }
                catch (TimeoutException)
                {
                }

                response = DesiredState(node, reports);
            }
        }

        lock (node.Gate)
        {
            node.LastSeen = Now;
            if (response.Signals.Count > 0)
            {
                node.PendingSignals.Clear();
            }
        }

        return response;
    }

    private async Task RegisterAsync(NodeEntry node, SyncRequest sync, CancellationToken cancellationToken)
    {
        NodeState state;
        NodeDescription description;
        bool known;
        DateTimeOffset? agentStart;
        lock (node.Gate)
        {
            state = node.State;
            description = node.Description;
            known = description.Cores > 0 && !description.Declared;
            agentStart = node.AgentStart;
            node.AgentStart = sync.AgentStart;
        }

        var changed = description.Cores != sync.Cores || description.MemoryMb != sync.MemoryMb || description.Gpus != sync.Gpus
            || !description.Properties.OrderBy(p => p.Key).SequenceEqual(sync.Properties.OrderBy(p => p.Key)) || description.Declared;
        if (changed)
        {
            var updated = description with { Cores = sync.Cores, MemoryMb = sync.MemoryMb, Gpus = sync.Gpus, Properties = new Dictionary<string, string>(sync.Properties), Declared = false };
            var reason = known ? $"resources changed: {sync.Cores} cores, {sync.MemoryMb} MiB, {sync.Gpus} GPUs" : $"registered: {sync.Cores} cores, {sync.MemoryMb} MiB, {sync.Gpus} GPUs";
            await SaveNodeAsync(node, description.Cores > 0 ? state : NodeState.Alive, updated, new NewEvent(Now, $"agent/{node.Name}", known ? "node.changed" : "node.registered", $"node/{node.Name}", reason, "{}"), resourcesChanged: true, cancellationToken);
            WantSchedule();
        }
        else if (agentStart != null && agentStart != sync.AgentStart)
        {
            await store.AppendEventAsync(new NewEvent(Now, $"agent/{node.Name}", "node.agent_restarted", $"node/{node.Name}", "the agent restarted and reconciled", "{}"), cancellationToken);
            NotifyEvents();
        }

        if (description.Power is NodePowerState.Off or NodePowerState.PoweringOn)
        {
            await PowerBootedAsync(node, sync.AgentStart, cancellationToken);
        }

        // The agent answers again: a node suspected for silence heals; a Down one goes through Suspected, and
        // its check is this sync (the agent reconciled its jobs).
        if (state == NodeState.Down)
        {
            await FireNodeAsync(node, NodeTrigger.HeartbeatBack, $"agent/{node.Name}", "the agent is back", cancellationToken);
            await FireNodeAsync(node, NodeTrigger.CheckPassed, $"agent/{node.Name}", "the agent reconciled its jobs", cancellationToken);
        }
        else if (state == NodeState.Suspected && description.SuspectedByHeartbeat)
        {
            await FireNodeAsync(node, NodeTrigger.HeartbeatBack, $"agent/{node.Name}", "the agent answers again", cancellationToken);
        }
    }

    /// <summary>The operator's health check: a failure makes the node Suspected; passing again heals it.</summary>
    private async Task HealthAsync(NodeEntry node, HealthReport health, CancellationToken cancellationToken)
    {
        NodeState state;
        bool byCheck;
        lock (node.Gate)
        {
            state = node.State;
            byCheck = node.Description.SuspectedByCheck;
        }

        if (!health.Ok && state == NodeState.Alive)
        {
            await FireNodeAsync(node, NodeTrigger.CheckFailed, $"agent/{node.Name}", $"health check failed: {(health.Output.Length > 0 ? health.Output : "no output")}", cancellationToken);
        }
        else if (health.Ok && state == NodeState.Suspected && byCheck)
        {
            await FireNodeAsync(node, NodeTrigger.CheckPassed, $"agent/{node.Name}", "the health check passes again", cancellationToken);
        }
    }

    private async Task ProcessReportAsync(NodeEntry node, AgentJobStatus status)
    {
        var key = new JobAttempt(status.JobId, status.Attempt);
        bool firstEpilogFailure;
        lock (node.Gate)
        {
            firstEpilogFailure = status.Phase == AgentPhase.Cleaned && status.EpilogFailed && node.EpilogFailuresSeen.Add(key);
        }

        if (firstEpilogFailure)
        {
            if (node.State == NodeState.Alive)
            {
                await FireNodeAsync(node, NodeTrigger.EpilogFailed, $"agent/{node.Name}", $"epilog of job {status.JobId} failed: {status.Reason}", CancellationToken.None);
            }
        }

        if (!active.TryGetValue(status.JobId, out var job) || job.Attempt != status.Attempt || job.Runtime == null || !job.Runtime.Nodes.Contains(node.Name))
        {
            return; // a leftover the agent is cleaning up
        }

        var head = job.Runtime.Head == node.Name;
        switch (job.State)
        {
            case JobState.Launching when status.Phase == AgentPhase.PrologFailed:
                if (node.State == NodeState.Alive)
                {
                    await FireNodeAsync(node, NodeTrigger.PrologFailed, $"agent/{node.Name}", $"prolog of job {job.Id} failed: {status.Reason}", CancellationToken.None);
                }

                await TransitionAsync(job, JobTrigger.PrologFailed, $"agent/{node.Name}", $"prolog failed on {node.Name}: {status.Reason}; queued again", newAttempt: true);
                break;
            case JobState.Launching when status.Phase == AgentPhase.Failed:
                await TransitionAsync(job, JobTrigger.Fail, $"agent/{node.Name}", $"cannot start on {node.Name}: {status.Reason}", j => j with { Runtime = j.Runtime! with { Reason = status.Reason, EndTime = Now } });
                break;
            case JobState.Launching when head && status.Phase is AgentPhase.Running or AgentPhase.Exited or AgentPhase.Cleaning or AgentPhase.Cleaned && status.StartTime != null:
                // A short job may have run, ended and been cleaned up before the server heard it start.
                var started = await TransitionAsync(job, JobTrigger.Started, $"agent/{node.Name}", "running", j => j with { Runtime = j.Runtime! with { StartTime = status.StartTime ?? Now } });
                if (started != null && status.Phase != AgentPhase.Running)
                {
                    await EndAsync(started, node, status);
                }

                break;
            case JobState.Launching when status.Phase == AgentPhase.Prepared:
                if (nodes.TryGetValue(job.Runtime.Head, out var headNode))
                {
                    headNode.Wake(); // the head may now run the script
                }

                break;
            case JobState.Running when head && status.Phase is AgentPhase.Exited or AgentPhase.Cleaning or AgentPhase.Cleaned:
                await EndAsync(job, node, status);
                break;
            default:
                break;
        }
    }

    private async Task EndAsync(JobEntry job, NodeEntry node, AgentJobStatus status)
    {
        var reason = status.Reason ?? (status.ExitCode == 0 ? "exited normally" : $"exit status {status.ExitCode}");
        var finishing = await TransitionAsync(job, JobTrigger.Ended, $"agent/{node.Name}", reason, j => j with
        {
            Runtime = j.Runtime! with { ExitCode = status.ExitCode, EndTime = status.EndTime ?? Now, Reason = status.Reason },
        });
        if (finishing != null)
        {
            await TryFinishAsync(finishing);
        }
    }

    /// <summary>A finishing job ends once every node has cleaned up (or is down): then the server epilog runs.</summary>
    private async Task TryFinishAsync(JobEntry job)
    {
        foreach (var name in job.Runtime!.Nodes)
        {
            if (!nodes.TryGetValue(name, out var node))
            {
                continue;
            }

            lock (node.Gate)
            {
                if (node.State is NodeState.Down or NodeState.Dead || !node.Connected)
                {
                    continue;
                }

                if (node.Reports.TryGetValue(new JobAttempt(job.Id, job.Attempt), out var report) && report.Phase != AgentPhase.Cleaned)
                {
                    return;
                }
            }
        }

        if (options.Epilog != null)
        {
            await RunServerEpilogAsync(job);
        }

        await TransitionAsync(job, JobTrigger.EpilogDone, "server", job.Runtime.Reason ?? (job.Runtime.ExitCode is { } code ? $"exit status {code}" : "ended"));
    }

    /// <summary>The node's desired state: the attempts it should hold and what to do with each.</summary>
    private SyncResponse DesiredState(NodeEntry node, Dictionary<JobAttempt, AgentJobStatus> reports)
    {
        lock (node.DesiredGate)
        {
            return ComputeDesiredState(node, reports) with { Generation = ++node.Generation };
        }
    }

    private SyncResponse ComputeDesiredState(NodeEntry node, Dictionary<JobAttempt, AgentJobStatus> reports)
    {
        var assignments = new List<Assignment>();
        foreach (var job in holding.Values)
        {
            if (job.Runtime is not { } runtime || job.State is not (JobState.Launching or JobState.Running) || !runtime.Nodes.Contains(node.Name))
            {
                continue;
            }

            if (job.State == JobState.Launching && serverPrologRunning.ContainsKey(job.Id))
            {
                continue;
            }

            var index = runtime.Nodes.ToList().IndexOf(node.Name);
            var action = DesiredAction.Prepare;
            if (job.State == JobState.Running)
            {
                action = index == 0 ? DesiredAction.Keep : DesiredAction.Prepare;
            }
            else if (index == 0 && AllPrepared(job))
            {
                action = DesiredAction.Run;
            }

            var environment = new Dictionary<string, string>(job.Attributes.Environment);
            if (job.Attributes.ArrayIndex is { } arrayIndex)
            {
                environment["HEOROT_ARRAY_INDEX"] = Invariant(arrayIndex);
            }

            assignments.Add(new Assignment(
                new JobSpec
                {
                    JobId = job.Id,
                    Attempt = job.Attempt,
                    User = job.User,
                    Name = job.Record.Name,
                    Script = job.Record.Script,
                    WorkingDirectory = job.Record.WorkingDirectory,
                    WalltimeSeconds = runtime.Walltime,
                    Nodes = runtime.Nodes,
                    Cores = index >= 0 && index < runtime.Cores.Length ? runtime.Cores[index] : 0,
                    Environment = environment,
                    Vm = job.Attributes.Vm is { } vm ? VmSpecOf(job, vm, runtime) : null,
                },
                action));
        }

        var assigned = assignments.Select(a => new JobAttempt(a.Spec.JobId, a.Spec.Attempt)).ToHashSet();
        var forget = reports.Values
            .Where(r => r.Phase == AgentPhase.Cleaned && !assigned.Contains(new JobAttempt(r.JobId, r.Attempt)) && r.Stdout is not { Data.Length: > 0 } && r.Stderr is not { Data.Length: > 0 })
            .Select(r => new JobAttempt(r.JobId, r.Attempt)).ToList();
        var logs = reports.Values.Select(r =>
        {
            var (stdout, stderr) = Logs.Lengths(r.JobId, r.Attempt);
            return new LogOffsets(r.JobId, r.Attempt, stdout, stderr);
        }).ToList();
        List<SignalOrder> signals;
        List<Protocol.Sessions.SessionOrder> sessionOrders;
        lock (node.Gate)
        {
            signals = [.. node.PendingSignals];
            sessionOrders = [.. node.PendingSessions];
        }

        return new SyncResponse
        {
            Assignments = assignments,
            Forget = forget,
            Logs = logs,
            Signals = signals,
            Sessions = sessionOrders,
            HeartbeatMilliseconds = (int)options.Heartbeat.TotalMilliseconds,
            GraceSeconds = options.GraceSeconds,
        };
    }

    private bool AllPrepared(JobEntry job)
    {
        foreach (var name in job.Runtime!.Nodes.Skip(1))
        {
            if (!nodes.TryGetValue(name, out var node))
            {
                return false;
            }

            lock (node.Gate)
            {
                if (!node.Reports.TryGetValue(new JobAttempt(job.Id, job.Attempt), out var report) || report.Phase != AgentPhase.Prepared)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Whether the answer asks the agent for anything it has not done yet.</summary>
    private static bool NeedsAction(SyncResponse response, Dictionary<JobAttempt, AgentJobStatus> reports)
    {
        // An attempt whose step is under way is reported again when the step ends: nothing to ask of it now
        // (answering at once would only make the agent poll in a loop).
        if (response.Signals.Count > 0 || response.Sessions.Count > 0 || response.Forget.Any(f => reports.TryGetValue(f, out var r) && !r.Busy))
        {
            return true;
        }

        var assigned = new HashSet<JobAttempt>();
        foreach (var assignment in response.Assignments)
        {
            var key = new JobAttempt(assignment.Spec.JobId, assignment.Spec.Attempt);
            assigned.Add(key);
            if (!reports.TryGetValue(key, out var report))
            {
                if (assignment.Action != DesiredAction.Keep)
                {
                    return true;
                }

                continue;
            }

            if (assignment.Action == DesiredAction.Run && report.Phase == AgentPhase.Prepared && !report.Busy)
            {
                return true;
            }
        }

        // Something held that is no longer wanted and not yet cleaned: the agent must clean it up.
        return reports.Values.Any(r => r.Phase is not (AgentPhase.Cleaned or AgentPhase.Cleaning) && !r.Busy && !assigned.Contains(new JobAttempt(r.JobId, r.Attempt)));
    }

    private void WriteLogs(AgentJobStatus status)
    {
        if (status.Stdout is { Data.Length: > 0 } stdout)
        {
            Logs.Write(status.JobId, status.Attempt, LogKind.Stdout, stdout.Offset, stdout.Data);
        }

        if (status.Stderr is { Data.Length: > 0 } stderr)
        {
            Logs.Write(status.JobId, status.Attempt, LogKind.Stderr, stderr.Offset, stderr.Data);
        }
    }

    // ---------------------------------------------------------------- heartbeats

    /// <summary>Watches heartbeats: silent nodes become Suspected, then Down, and their jobs are requeued or fail.</summary>
    public async Task RunMonitorAsync(CancellationToken stopping)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(options.SuspectAfter.TotalMilliseconds / 4, 100, 2000));
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, time, stopping);
                await CheckHeartbeatsAsync();
            }
            catch (OperationCanceledException)
            {
                return;
            }
#pragma warning disable CA1031 // the monitor must survive a failed check; the next one retries
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogPassFailed(logger, e);
            }
        }
    }

    public async Task CheckHeartbeatsAsync()
    {
        var now = Now;
        foreach (var node in nodes.Values)
        {
            NodeState state;
            DateTimeOffset lastSeen;
            bool byHeartbeat;
            lock (node.Gate)
            {
                state = node.State;
                lastSeen = node.LastSeen;
                byHeartbeat = node.Description.SuspectedByHeartbeat;
                if (PowerLifecycle.Silent(node.Description.Power))
                {
                    // Off, booting or shutting down: its agent is expected to be silent (the elastic manager watches boots).
                    node.LastSeen = now;
                    continue;
                }
            }

            var silence = now - lastSeen;
            if (state == NodeState.Alive && silence > options.SuspectAfter)
            {
                await FireNodeAsync(node, NodeTrigger.HeartbeatLost, "server", $"no heartbeat for {silence.TotalSeconds:0} s", CancellationToken.None);
            }
            else if (state == NodeState.Suspected && byHeartbeat && silence > options.SuspectAfter + options.DownAfter)
            {
                await FireNodeAsync(node, NodeTrigger.Timeout, "server", $"no heartbeat for {silence.TotalSeconds:0} s", CancellationToken.None);
                await LoseJobsAsync(node);
            }
            else if (state == NodeState.Down && silence > options.SuspectAfter + options.DownAfter + options.DeadAfter)
            {
                await FireNodeAsync(node, NodeTrigger.Timeout, "server", $"no heartbeat for {silence.TotalSeconds:0} s: an operator must revive it", CancellationToken.None);
            }
        }
    }

    private async Task LoseJobsAsync(NodeEntry node)
    {
        foreach (var job in holding.Values.Where(j => j.Runtime!.Nodes.Contains(node.Name)).ToList())
        {
            await LoseJobAsync(job, $"node {node.Name} was lost");
        }
    }

    private async Task LoseJobAsync(JobEntry job, string reason)
    {
        {
            switch (job.State)
            {
                case JobState.Launching:
                    await TransitionAsync(job, JobTrigger.NodeLost, "server", reason + " before the job started; queued again", newAttempt: true);
                    break;
                case JobState.Running when job.Attributes.Idempotent:
                    await TransitionAsync(job, JobTrigger.Requeue, "server", reason + "; the job is idempotent: queued again", newAttempt: true);
                    break;
                case JobState.Running:
                    await TransitionAsync(job, JobTrigger.NodeLost, "server", reason + " under the job", j => j with { Runtime = j.Runtime! with { Reason = reason, EndTime = Now } });
                    break;
                case JobState.Finishing:
                    await TryFinishAsync(job);
                    break;
                default:
                    break;
            }
        }
    }
}
