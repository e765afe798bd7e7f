using System.Globalization;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Scheduling.Live;

/// <summary>
/// One live scheduling pass: snapshot in, plan out (Nomad's shape). Builds a <see cref="NodeGantt"/> from the
/// running jobs and accepted reservations, then runs one <see cref="SchedulingEngine{TDemand, TAlloc}"/> per queue
/// in priority order on that shared Gantt, so a higher-priority queue's reservations bind the queues after it.
/// Best-effort jobs are planned last, only into what is free now, and are preempted when a normal job's slot
/// starting now needs their resources. Pure: no I/O, no clock, deterministic for a snapshot.
/// </summary>
public static class ClusterScheduler
{
    public static Plan Plan(SchedulingSnapshot snapshot)
    {
        var now = snapshot.Now;
        var gantt = FixedWork(snapshot);

        var byId = new Dictionary<long, EngineJob<NodeDemand, NodeAlloc>>();
        var pendingById = snapshot.Pending.ToDictionary(p => p.Id);
        var runningEnds = snapshot.Running.ToDictionary(r => r.Id, r => r.End);

        var normal = snapshot.Pending.Where(p => !p.BestEffort).ToList();
        var ordered = Order(normal, snapshot);
        var depthCut = ordered.Skip(snapshot.MaxPlannedJobs).Select(p => p.Id).ToHashSet();
        var planned = ordered.Take(snapshot.MaxPlannedJobs).ToList();

        foreach (var p in planned)
        {
            byId[p.Id] = ToEngineJob(p, byId, runningEnds, pendingById, now);
        }

        var starts = new List<StartDecision>();
        var explain = new List<ExplainRecord>();
        var changed = new List<EngineJob<NodeDemand, NodeAlloc>>();
        foreach (var queue in snapshot.Queues.OrderByDescending(q => q.Priority).ThenBy(q => q.Name, StringComparer.Ordinal))
        {
            var engine = new SchedulingEngine<NodeDemand, NodeAlloc>(gantt, queue.Policy) { KeepHeadReservation = true };
            var mine = planned.Where(p => p.Queue == queue.Name).ToList();
            foreach (var p in mine)
            {
                var job = byId[p.Id];
                // A kept slot must still respect the job's predecessors, which may have moved: re-plan those jobs.
                if (queue.Policy == PolicyKind.Conservative && p.Previous is { } prev && prev.Start >= now && job.Dependencies == null)
                {
                    engine.Adopt(job, prev.Start, prev.Alternative, prev.Alloc);
                }
                else
                {
                    engine.Enqueue(job);
                }
            }

            changed.Clear();
            engine.Pass(now, changed);
            foreach (var p in mine)
            {
                var job = byId[p.Id];
                if (job.IsPlanned && job.Start <= now)
                {
                    starts.Add(new StartDecision(job.Id, job.Alternative, job.Alloc!, job.ReservedEnd));
                }
            }
        }

        // Jobs of queues nobody declared never run: say so rather than ignore them.
        var known = snapshot.Queues.Select(q => q.Name).ToHashSet(StringComparer.Ordinal);
        var queuesByName = snapshot.Queues.ToDictionary(q => q.Name, StringComparer.Ordinal);

        // Preempt best-effort jobs whose resources a normal job starting now needs. Best-effort work only ever
        // holds the present instant: it runs in what is idle now and is preempted when a reservation arrives.
        var preempt = new List<long>();
        foreach (var be in snapshot.Running.Where(j => j.BestEffort).OrderBy(j => j.Start).ThenBy(j => j.Id))
        {
            if (gantt.AllocFits(be.Alloc, now, 1))
            {
                gantt.Reserve(be.Alloc, now, now + 1);
            }
            else
            {
                preempt.Add(be.Id);
            }
        }

        // Best-effort pending jobs: only into what is idle now, never with a reservation.
        foreach (var p in snapshot.Pending.Where(p => p.BestEffort).OrderBy(p => p.Submit).ThenBy(p => p.Id))
        {
            var started = false;
            for (var a = 0; a < p.Alternatives.Count && !started; a++)
            {
                var alt = p.Alternatives[a];
                if (known.Contains(p.Queue) && DependenciesDone(p, runningEnds, pendingById) && gantt.TryAt(alt.Demand, now, 1, out var alloc))
                {
                    gantt.Reserve(alloc, now, now + 1);
                    starts.Add(new StartDecision(p.Id, a, alloc, now + alt.Walltime));
                    started = true;
                }
            }

            if (!started)
            {
                explain.Add(new ExplainRecord(p.Id, null, known.Contains(p.Queue)
                    ? "best-effort: waits until resources are idle (" + gantt.DescribeWait(p.Alternatives[0].Demand, now, 1) + ")"
                    : $"queue '{p.Queue}' does not exist"));
            }
        }

        var startIds = starts.Select(s => s.JobId).ToHashSet();
        foreach (var p in ordered)
        {
            if (startIds.Contains(p.Id))
            {
                continue;
            }

            if (depthCut.Contains(p.Id))
            {
                explain.Add(new ExplainRecord(p.Id, null, string.Create(CultureInfo.InvariantCulture, $"not planned in this pass: {snapshot.MaxPlannedJobs} jobs ahead of it fill the planning depth")));
                continue;
            }

            if (!known.Contains(p.Queue))
            {
                explain.Add(new ExplainRecord(p.Id, null, $"queue '{p.Queue}' does not exist"));
                continue;
            }

            explain.Add(Explain(p, byId[p.Id], gantt, snapshot, runningEnds, pendingById, queuesByName[p.Queue].Policy));
        }

        return new Plan(starts, preempt, explain);
    }

    /// <summary>
    /// Accepts or refuses an advance reservation at submission: the demand must fit in its window around running
    /// work and the reservations already accepted (queued jobs are planned around reservations, not the reverse).
    /// </summary>
    public static (NodeAlloc? Alloc, string? Refusal) Reserve(SchedulingSnapshot snapshot, NodeDemand demand, long start, long end)
    {
        if (end <= start)
        {
            return (null, "the reservation ends before it starts");
        }

        if (start < snapshot.Now)
        {
            return (null, "the reservation starts in the past");
        }

        var gantt = FixedWork(snapshot);
        return gantt.TryAt(demand, start, end - start, out var alloc)
            ? (alloc, null)
            : (null, string.Create(CultureInfo.InvariantCulture, $"refused: needs {demand}; running jobs or other reservations hold the resources between {FormatTime(start)} and {FormatTime(end)}"));
    }

    /// <summary>Formats an engine time (seconds since the Unix epoch) for explain records.</summary>
    public static string FormatTime(long time) =>
        time == CapacityProfile.Never ? "never" : DateTimeOffset.FromUnixTimeSeconds(time).ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// A Gantt holding the work nothing can move: running normal jobs (until their requested end) and accepted
    /// reservations. Best-effort work is preemptible, so it is left out while normal work is planned.
    /// </summary>
    private static NodeGantt FixedWork(SchedulingSnapshot snapshot)
    {
        var now = snapshot.Now;
        var gantt = new NodeGantt(snapshot.Cluster, now, snapshot.Gap);
        if (snapshot.NodeAvailable is { } available)
        {
            for (var n = 0; n < available.Length; n++)
            {
                gantt.SetAvailable(n, available[n]);
            }
        }

        foreach (var job in snapshot.Running.Where(j => !j.BestEffort))
        {
            gantt.Reserve(job.Alloc, Math.Min(job.Start, now), Math.Max(job.End, now + 1));
        }

        foreach (var r in snapshot.Reservations.Where(r => r.End > now))
        {
            gantt.Reserve(r.Alloc, Math.Max(r.Start, now), r.End);
        }

        foreach (var node in snapshot.Running.Where(j => j.BestEffort).SelectMany(j => j.Alloc.Nodes))
        {
            gantt.Avoid(node);
        }

        return gantt;
    }

    /// <summary>Queue priority first, then fair-share (least recent usage first) or FIFO, then submission, then id.</summary>
    private static List<PendingJob> Order(List<PendingJob> jobs, SchedulingSnapshot snapshot)
    {
        var queues = snapshot.Queues.ToDictionary(q => q.Name, StringComparer.Ordinal);
        var fairShare = FairShare.Compute(snapshot);
        return jobs
            .OrderByDescending(p => queues.TryGetValue(p.Queue, out var q) ? q.Priority : int.MinValue)
            .ThenBy(p => queues.TryGetValue(p.Queue, out var q) && q.FairShare ? fairShare.Factor(p.User, p.Project) : 0)
            .ThenBy(p => p.Submit)
            .ThenBy(p => p.Id)
            .ToList();
    }

    /// <summary>Stands for a predecessor this pass does not plan ahead of its successor: never planned, never finished.</summary>
    private static readonly EngineJob<NodeDemand, NodeAlloc> NotPlannedAhead = new(long.MinValue, 0, 1, NodeDemand.Cores(1));

    private static EngineJob<NodeDemand, NodeAlloc> ToEngineJob(PendingJob p, Dictionary<long, EngineJob<NodeDemand, NodeAlloc>> byId, Dictionary<long, long> runningEnds, Dictionary<long, PendingJob> pending, long now)
    {
        var deps = new List<EngineJob<NodeDemand, NodeAlloc>>();
        foreach (var id in p.After)
        {
            if (byId.TryGetValue(id, out var dep))
            {
                deps.Add(dep); // a pending job planned ahead of this one
            }
            else if (runningEnds.TryGetValue(id, out var end))
            {
                // A running job: it ends at the latest by its requested end.
                var running = new EngineJob<NodeDemand, NodeAlloc>(id, now, 1, NodeDemand.Cores(0));
                running.Start = Math.Min(now, end - 1);
                running.ReservedEnd = Math.Max(end, now);
                deps.Add(running);
            }
            else if (pending.ContainsKey(id))
            {
                // Pending but planned after this job (a lower queue, fair-share, the planning depth): this job
                // waits without a slot until its predecessor is planned ahead of it or has run.
                deps.Add(NotPlannedAhead);
            }
        }

        return new EngineJob<NodeDemand, NodeAlloc>(p.Id, p.Submit, p.Alternatives[0].Walltime, p.Alternatives[0].Demand)
        {
            Alternatives = p.Alternatives.Count > 1 ? p.Alternatives.Select(a => (a.Demand, a.Walltime)).ToList() : null,
            Dependencies = deps.Count > 0 ? deps : null,
        };
    }

    private static bool DependenciesDone(PendingJob p, Dictionary<long, long> runningEnds, Dictionary<long, PendingJob> pending) =>
        p.After.All(id => !runningEnds.ContainsKey(id) && !pending.ContainsKey(id));

    private static ExplainRecord Explain(PendingJob p, EngineJob<NodeDemand, NodeAlloc> job, NodeGantt gantt, SchedulingSnapshot snapshot, Dictionary<long, long> runningEnds, Dictionary<long, PendingJob> pending, PolicyKind policy)
    {
        var now = snapshot.Now;
        var waitingFor = p.After.Where(id => runningEnds.ContainsKey(id) || pending.ContainsKey(id)).ToList();
        var slot = job.IsPlanned ? new PlannedSlot(job.Start, job.ReservedEnd, job.Alternative, job.Alloc!) : null;
        string reason;
        if (waitingFor.Count > 0 && !job.IsPlanned)
        {
            reason = "waits for job " + string.Join(", ", waitingFor) + " to end";
        }
        else
        {
            var alt = p.Alternatives[job.IsPlanned ? job.Alternative : 0];
            reason = gantt.DescribeWait(alt.Demand, now, alt.Walltime);
            if (waitingFor.Count > 0)
            {
                reason = "waits for job " + string.Join(", ", waitingFor) + " to end; " + reason;
            }
        }

        if (slot != null)
        {
            reason += "; planned to start at " + FormatTime(slot.Start);
        }
        else if (waitingFor.Count == 0 && policy != PolicyKind.Conservative)
        {
            reason += $"; waits its turn ({policy.Name()} reserves only the first waiting job of its queue)";
        }
        else if (waitingFor.Count == 0)
        {
            reason += "; cannot be placed on this cluster as it is now";
        }

        return new ExplainRecord(p.Id, slot, reason);
    }
}

/// <summary>
/// Fair-share: each user's and project's usage (core-seconds) decays with a half-life; a job's factor is its
/// user's weighted share of recent usage plus its project's. Lower factors go first.
/// </summary>
public sealed class FairShare
{
    private readonly Dictionary<string, double> _user;
    private readonly Dictionary<string, double> _project;
    private readonly double _total;
    private readonly FairShareOptions _options;

    private FairShare(Dictionary<string, double> user, Dictionary<string, double> project, double total, FairShareOptions options)
    {
        _user = user;
        _project = project;
        _total = total;
        _options = options;
    }

    public static FairShare Compute(SchedulingSnapshot snapshot)
    {
        var o = snapshot.FairShare;
        var user = new Dictionary<string, double>(StringComparer.Ordinal);
        var project = new Dictionary<string, double>(StringComparer.Ordinal);
        var total = 0.0;
        void Charge(string u, string p, long end, double coreSeconds)
        {
            var age = Math.Max(0, snapshot.Now - end);
            var weight = coreSeconds * Math.Pow(0.5, (double)age / Math.Max(1, o.HalfLifeSeconds));
            user[u] = user.GetValueOrDefault(u) + weight;
            project[p] = project.GetValueOrDefault(p) + weight;
            total += weight;
        }

        foreach (var r in snapshot.Usage)
        {
            Charge(r.User, r.Project, r.End, r.CoreSeconds);
        }

        foreach (var r in snapshot.Running)
        {
            Charge(r.User, r.Project, snapshot.Now, (double)r.Alloc.Cores.Sum() * Math.Max(0, snapshot.Now - r.Start));
        }

        return new FairShare(user, project, total, o);
    }

    public double Factor(string user, string project) =>
        _total <= 0 ? 0 : ((_options.UserWeight * _user.GetValueOrDefault(user)) + (_options.ProjectWeight * _project.GetValueOrDefault(project))) / _total;
}
