using System.Globalization;
using Heorot.Model.Lifecycle;
using Heorot.Model.Resources;
using Heorot.Protocol.Hooks;
using Heorot.Scheduling.Live;
using Heorot.Scheduling.Timeline;
using Heorot.Storage;

namespace Heorot.Server.Control;

public sealed partial class ControlPlane
{
    /// <summary>Time spent in scheduling passes so far, storage writes of their launches included.</summary>
    public TimeSpan PassTime { get; private set; }

    private TimeSpan lastPlanTime;

    /// <summary>Time spent computing plans (snapshot and pure scheduler), without applying them.</summary>
    public TimeSpan PlanTime { get; private set; }

    /// <summary>Asks for a scheduling pass (the loop runs it, no sooner than the minimum interval).</summary>
    public void WantSchedule() => Volatile.Read(ref scheduleWanted).TrySetResult();

    /// <summary>The scheduling loop: a pass whenever something changed, at most one per interval, and every 5 s anyway.</summary>
    public async Task RunSchedulerAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var wanted = Volatile.Read(ref scheduleWanted).Task;
            try
            {
                await wanted.WaitAsync(UntilNextReservation(TimeSpan.FromSeconds(5)), time, stopping);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Interlocked.Exchange(ref scheduleWanted, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            try
            {
                await SchedulePassAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // a failed pass is logged; the next event retries
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogPassFailed(logger, e);
            }

            // Planning takes at most about a third of a core: after a long plan, wait twice its length (the
            // storage writes of its launches are waits, not work, and do not count).
            var pass = lastPlanTime;
            try
            {
                await Task.Delay(pass * 2 > options.SchedulingInterval ? pass * 2 : options.SchedulingInterval, time, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// One pass: a snapshot of nodes and jobs, the pure scheduler's plan, then the plan applied — the only place
    /// jobs start. Returns how many jobs were launched.
    /// </summary>
    public async Task<int> SchedulePassAsync(CancellationToken cancellationToken)
    {
        await passGate.WaitAsync(cancellationToken);
        var started = time.GetTimestamp();
        try
        {
            return await PassAsync();
        }
        finally
        {
            PassTime += time.GetElapsedTime(started);
            passGate.Release();
        }
    }

    private async Task<int> PassAsync()
    {
        var planning = time.GetTimestamp();
        var current = CurrentModel();
        Passes++;
        if (current == null)
        {
            explain = [];
            return 0;
        }

        var jobs = active.Values.ToList();
        var now = Now;
        var nowSeconds = now.ToUnixTimeSeconds();

        var (version, clusterModel, compiler) = current.Value;
        var names = clusterModel.Nodes;
        var launches = new List<Task<JobEntry?>>();

        // Advance reservations whose time has come start on the resources set aside for them.
        foreach (var due in jobs.Where(j => j.State == JobState.Waiting && j.IsReservation && j.Attributes.ReservationStart <= now))
        {
            var runtime = due.Runtime! with { LaunchTime = now };
            launches.Add(TransitionAsync(due, JobTrigger.Launch, "scheduler", $"reservation started on {string.Join(",", runtime.Nodes)}", j => j with { Runtime = runtime }));
        }

        var snapshot = Snapshot(version, clusterModel, compiler, jobs, now);
        if (snapshot.Pending.Count == 0)
        {
            explain = [];
            lastPlanTime = time.GetElapsedTime(planning);
            PlanTime += lastPlanTime;
            return (await Task.WhenAll(launches)).Count(j => j != null);
        }

        var plan = ClusterScheduler.Plan(snapshot);
        explain = plan.Explain.ToDictionary(e => e.JobId);
        lastPlanTime = time.GetElapsedTime(planning);
        PlanTime += lastPlanTime;

        foreach (var id in plan.Preempt)
        {
            if (active.TryGetValue(id, out var victim) && JobLifecycle.Table.TryFire(victim.State, JobTrigger.Cancel, out _))
            {
                await TransitionAsync(victim, JobTrigger.Cancel, "scheduler", "preempted: a normal job needs its resources", j => j with { Runtime = j.Runtime! with { Reason = "preempted" } });
            }
        }

        foreach (var start in plan.Starts)
        {
            if (!active.TryGetValue(start.JobId, out var job) || job.State != JobState.Waiting)
            {
                continue;
            }

            var walltime = snapshot.Pending.First(p => p.Id == job.Id).Alternatives[start.Alternative].Walltime;
            var runtime = new JobRuntime
            {
                Nodes = start.Alloc.Nodes.Select(i => names[i].Name).ToList(),
                Cores = start.Alloc.Cores,
                Memory = start.Alloc.Memory,
                Gpus = start.Alloc.Gpus,
                Walltime = walltime,
                LaunchTime = now,
            };
            launches.Add(TransitionAsync(job, JobTrigger.Launch, "scheduler", $"launched on {string.Join(",", runtime.Nodes)}", j => j with { Runtime = runtime }));
        }

        // One pass's launches share a commit (the store groups concurrent writes).
        var launched = await Task.WhenAll(launches);
        foreach (var job in launched.Where(j => j != null))
        {
            if (options.Prolog != null)
            {
                StartServerProlog(job!);
            }
        }

        return launched.Count(j => j != null);
    }

    /// <summary>How long until the next advance reservation starts, at most <paramref name="limit"/>.</summary>
    private TimeSpan UntilNextReservation(TimeSpan limit)
    {
        var now = Now;
        var next = reserved.Values.Select(j => j.Attributes.ReservationStart!.Value - now).DefaultIfEmpty(limit).Min();
        return next < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : next > limit ? limit : next;
    }

    /// <summary>What a pass reads: available nodes, work holding resources, accepted reservations, waiting jobs.</summary>
    private SchedulingSnapshot Snapshot(int version, ClusterModel clusterModel, RequestCompiler compiler, List<JobEntry> jobs, DateTimeOffset now)
    {
        var nowSeconds = now.ToUnixTimeSeconds();
        var names = clusterModel.Nodes;
        var available = new bool[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            available[i] = nodes.TryGetValue(names[i].Name, out var node) && NodeLifecycle.Schedulable(node.State) && PowerLifecycle.Usable(node.Description.Power);
        }

        NodeAlloc? AllocOf(JobRuntime runtime)
        {
            var indexes = runtime.Nodes.Select(clusterModel.NodeIndexOf).ToArray();
            return indexes.Any(i => i < 0) ? null : new NodeAlloc(indexes, runtime.Cores, runtime.Memory, runtime.Gpus);
        }

        var running = new List<RunningJob>();
        var reservations = new List<AdvanceReservation>();
        foreach (var job in jobs)
        {
            if (job.HoldsNodes && AllocOf(job.Runtime!) is { } alloc)
            {
                var runtime = job.Runtime!;
                var start = (runtime.StartTime ?? runtime.LaunchTime).ToUnixTimeSeconds();
                var end = job.State == JobState.Finishing ? nowSeconds + 1 : Math.Max(nowSeconds + 1, start + runtime.Walltime);
                running.Add(new RunningJob(job.Id, job.User, Math.Min(start, nowSeconds), end, alloc) { Project = job.Record.Project, BestEffort = job.BestEffort });
            }
            else if (job.State == JobState.Waiting && job.IsReservation && job.Runtime != null && AllocOf(job.Runtime) is { } reserved)
            {
                var start = job.Attributes.ReservationStart!.Value.ToUnixTimeSeconds();
                reservations.Add(new AdvanceReservation(job.Id, job.User, start, start + job.Runtime.Walltime, reserved));
            }
        }

        var previous = explain;
        var pending = new List<PendingJob>();
        foreach (var job in jobs.Where(j => j.State == JobState.Waiting && !j.IsReservation).OrderBy(j => j.Id))
        {
            pending.Add(new PendingJob(job.Id, job.User, job.Record.Queue, job.Record.SubmitTime.ToUnixTimeSeconds(), Compile(job, version, compiler))
            {
                Project = job.Record.Project,
                BestEffort = job.BestEffort,
                After = job.Request.After.Where(active.ContainsKey).ToList(),
                Previous = previous.TryGetValue(job.Id, out var record) && record.Planned is { } slot && slot.Start >= nowSeconds ? slot : null,
            });
        }

        var snapshot = new SchedulingSnapshot(nowSeconds, compiler.Shape)
        {
            NodeAvailable = available,
            Queues = options.Queues,
            Running = running,
            Reservations = reservations,
            Pending = pending,
            MaxPlannedJobs = options.PlanningDepth,
        };

        // Healthy nodes that are off or booting are capacity ready later: planned, never started on now.
        if (ReadyTimes(clusterModel, nowSeconds) is { } ready)
        {
            for (var i = 0; i < ready.Length; i++)
            {
                if (ready[i] != null && (!nodes.TryGetValue(names[i].Name, out var node) || !NodeLifecycle.Schedulable(node.State)))
                {
                    ready[i] = null;
                }
            }

            snapshot = ElasticPlanner.WithPowerDelays(snapshot, ready, conservative: false);
        }

        return snapshot;
    }

    private IReadOnlyList<JobAlternative> Compile(JobEntry job, int version, RequestCompiler compiler)
    {
        lock (modelGate)
        {
            if (compiled.TryGetValue(job.Id, out var cached) && cached.Version == version)
            {
                return cached.Alternatives;
            }

            var alternatives = compiler.Compile(job.Request, options.DefaultWalltime);
            compiled[job.Id] = (version, alternatives);
            return alternatives;
        }
    }

    /// <summary>The scheduler's picture of the registered nodes, rebuilt when a node joins or changes.</summary>
    private (int Version, ClusterModel Model, RequestCompiler Compiler)? CurrentModel()
    {
        var version = Volatile.Read(ref nodeVersion);
        lock (modelGate)
        {
            if (model is { } cached && cached.Version == version)
            {
                return cached;
            }

            var registered = nodes.Values.Where(n => n.Description.Cores > 0).OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
            if (registered.Count == 0)
            {
                return null;
            }

            var builder = new ClusterModelBuilder("heorot");
            var cluster = builder.AddCluster("default");
            var sw = builder.AddSwitch(cluster, "default");
            foreach (var node in registered)
            {
                var description = node.Description;
                var properties = description.EffectiveProperties().ToDictionary(p => p.Key, p => ToPropertyValue(p.Value), StringComparer.Ordinal);
                builder.AddNode(sw, node.Name, 1, description.Cores, Math.Max(1, description.MemoryMb), description.Gpus, properties);
            }

            var built = builder.Build();
            model = (version, built, new RequestCompiler(built));
            compiled.Clear();
            return model;
        }
    }

    // ---------------------------------------------------------------- server-side hooks

    private void StartServerProlog(JobEntry job)
    {
        if (options.Prolog == null || !serverPrologRunning.TryAdd(job.Id, true))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                var result = await HookRunner.RunAsync(options.Prolog, HookEnvironment(job, "prolog"), options.HookTimeout);
                if (!result.Ok && active.TryGetValue(job.Id, out var current) && current.State == JobState.Launching && current.Attempt == job.Attempt)
                {
                    LogHookFailed(logger, job.Id, result.Output);
                    await TransitionAsync(current, JobTrigger.PrologFailed, "server", $"server prolog failed: {result.Output}", newAttempt: true);
                }
            }
            finally
            {
                serverPrologRunning.TryRemove(job.Id, out _);
                WakeNodesOf(job);
            }
        });
    }

    private async Task RunServerEpilogAsync(JobEntry job)
    {
        var result = await HookRunner.RunAsync(options.Epilog, HookEnvironment(job, "epilog"), options.HookTimeout);
        if (!result.Ok)
        {
            LogHookFailed(logger, job.Id, result.Output);
            await store.AppendEventAsync(new NewEvent(Now, "server", "job.epilog_failed", $"job/{job.Id}", $"server epilog failed: {result.Output}", "{}"));
        }
    }

    /// <summary>The documented hook environment (docs/hooks.md).</summary>
    internal Dictionary<string, string> HookEnvironment(JobEntry job, string phase)
    {
        var nodeNames = job.Runtime?.Nodes ?? [];
        var nodefile = Path.Combine(options.DataDirectory, "nodefiles", Invariant(job.Id));
        Directory.CreateDirectory(Path.GetDirectoryName(nodefile)!);
        File.WriteAllLines(nodefile, nodeNames);
        return new Dictionary<string, string>
        {
            ["HEOROT_JOB_ID"] = Invariant(job.Id),
            ["HEOROT_ATTEMPT"] = job.Attempt.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_USER"] = job.User,
            ["HEOROT_PROJECT"] = job.Record.Project,
            ["HEOROT_QUEUE"] = job.Record.Queue,
            ["HEOROT_JOB_NAME"] = job.Record.Name ?? string.Empty,
            ["HEOROT_NODES"] = string.Join(",", nodeNames),
            ["HEOROT_NODEFILE"] = nodefile,
            ["HEOROT_WALLTIME"] = Invariant(job.Runtime?.Walltime ?? 0),
            ["HEOROT_HOOK"] = "server-" + phase,
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        };
    }
}
