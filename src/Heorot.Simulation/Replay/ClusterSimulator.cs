using Heorot.Model.Resources;
using Heorot.Scheduling;
using Heorot.Scheduling.Live;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Simulation.Replay;

/// <summary>A job the cluster can never run, with the reason (it is left out of the replay).</summary>
public sealed record RejectedJob(long Id, string Reason);

public sealed record ClusterSimulationResult(IReadOnlyList<JobOutcome> Jobs, IReadOnlyList<RejectedJob> Rejected, long TotalCores);

/// <summary>
/// Replays a workload on a described cluster: the same <see cref="SchedulingEngine{TDemand, TAlloc}"/> as the
/// trace simulator and the live pass, on a <see cref="NodeGantt"/>, with the live loop's clock (at each instant:
/// free what ended, queue what arrived, one pass). Requests keep their hierarchy, properties and alternatives.
/// </summary>
public static class ClusterSimulator
{
    /// <summary>Replays hierarchical jobs; walltimes default to <paramref name="defaultWalltime"/>.</summary>
    public static ClusterSimulationResult Run(ClusterModel cluster, IReadOnlyList<ClusterWorkloadJob> jobs, PolicyKind policy, TimeSpan defaultWalltime, long gap = 0)
    {
        var compiler = new RequestCompiler(cluster);
        var specs = jobs.Select(j => (j.Id, j.Submit, j.Run, Alternatives: compiler.Compile(j.Request, defaultWalltime), After: (IReadOnlyList<long>)j.Request.After)).ToList();
        return Replay(compiler.Shape, specs, policy, gap);
    }

    /// <summary>Replays SWF jobs on a cluster: a job of P processors asks for P cores anywhere (packed onto few nodes).</summary>
    public static ClusterSimulationResult RunTrace(ClusterModel cluster, IReadOnlyList<Swf.SimJob> jobs, PolicyKind policy, long gap = 0)
    {
        // Trace job numbers need not be unique: replay by position and report the trace's numbers.
        var shape = RequestCompiler.ToShape(cluster);
        var specs = jobs.Select((j, i) => ((long)i, j.Submit, j.Run, Alternatives: (IReadOnlyList<JobAlternative>)[new JobAlternative(NodeDemand.Cores(j.Procs), j.RequestedTime)], After: (IReadOnlyList<long>)[])).ToList();
        var result = Replay(shape, specs, policy, gap);
        return result with
        {
            Jobs = result.Jobs.Select(o => o with { JobId = jobs[(int)o.JobId].Id }).OrderBy(o => o.Submit).ThenBy(o => o.JobId).ToList(),
            Rejected = result.Rejected.Select(r => r with { Id = jobs[(int)r.Id].Id }).ToList(),
        };
    }

    private static ClusterSimulationResult Replay(ClusterShape shape, List<(long Id, long Submit, long Run, IReadOnlyList<JobAlternative> Alternatives, IReadOnlyList<long> After)> specs, PolicyKind policy, long gap)
    {
        var gantt = new NodeGantt(shape, 0, gap);
        var empty = new NodeGantt(shape, 0, gap);
        var engine = new SchedulingEngine<NodeDemand, NodeAlloc>(gantt, policy);
        var byId = new Dictionary<long, EngineJob<NodeDemand, NodeAlloc>>();
        var runOf = new Dictionary<long, long>();
        var rejected = new List<RejectedJob>();
        var rejectedIds = new HashSet<long>();
        var arrivals = new List<EngineJob<NodeDemand, NodeAlloc>>();
        // Jobs are built in id order, so that a dependency on a job submitted later is still known; they
        // arrive in submission order.
        foreach (var s in specs.OrderBy(s => s.Id))
        {
            // A request the empty cluster cannot hold would block its queue forever: reject it up front.
            var fits = s.Alternatives.Any(a => empty.TryEarliest(a.Demand, 0, a.Walltime, out _, out _));
            var deps = s.After.Where(byId.ContainsKey).Select(id => byId[id]).ToList();
            if (!fits || s.After.Any(rejectedIds.Contains))
            {
                rejectedIds.Add(s.Id);
                rejected.Add(new RejectedJob(s.Id, fits ? "depends on a rejected job" : "can never run on this cluster: needs " + s.Alternatives[0].Demand));
                continue;
            }

            var first = s.Alternatives[0];
            var job = new EngineJob<NodeDemand, NodeAlloc>(s.Id, s.Submit, Math.Max(1, first.Walltime), first.Demand)
            {
                Alternatives = s.Alternatives.Count > 1 ? s.Alternatives.Select(a => (a.Demand, Math.Max(1, a.Walltime))).ToList() : null,
                Dependencies = deps.Count > 0 ? deps : null,
            };
            byId[s.Id] = job;
            runOf[s.Id] = s.Run;
            arrivals.Add(job);
        }

        arrivals.Sort(static (a, b) => a.Submit != b.Submit ? a.Submit.CompareTo(b.Submit) : a.Id.CompareTo(b.Id));

        var starts = new Dictionary<long, long>();
        var ends = new PriorityQueue<EngineJob<NodeDemand, NodeAlloc>, long>();
        var planned = new PriorityQueue<EngineJob<NodeDemand, NodeAlloc>, long>();
        var changed = new List<EngineJob<NodeDemand, NodeAlloc>>();
        var watched = new Dictionary<long, long>();
        var next = 0;
        while (next < arrivals.Count || ends.Count > 0 || planned.Count > 0)
        {
            var now = long.MaxValue;
            if (next < arrivals.Count)
            {
                now = arrivals[next].Submit;
            }

            if (ends.TryPeek(out _, out var endAt))
            {
                now = Math.Min(now, endAt);
            }

            if (planned.TryPeek(out _, out var startAt))
            {
                now = Math.Min(now, startAt);
            }

            var ended = false;
            while (ends.TryPeek(out var job, out var at) && at == now)
            {
                ends.Dequeue();
                engine.Finish(job, now);
                ended = true;
            }

            var submitted = false;
            changed.Clear();
            while (next < arrivals.Count && arrivals[next].Submit == now)
            {
                // Conservative reserves at submission; the pass below may start such a job and drop it from the queue.
                engine.Submit(arrivals[next], now);
                changed.Add(arrivals[next++]);
                submitted = true;
            }

            if (ended || submitted || planned.Count > 0)
            {
                engine.Pass(now, changed);
            }

            // Every planned job (started now, or reserved for later) is watched until its start.
            foreach (var job in engine.Waiting.Concat(changed))
            {
                if (job.IsPlanned && !starts.ContainsKey(job.Id) && (!watched.TryGetValue(job.Id, out var at) || at != job.Start))
                {
                    watched[job.Id] = job.Start;
                    planned.Enqueue(job, job.Start);
                }
            }

            while (planned.TryPeek(out var job, out var at) && at <= now)
            {
                planned.Dequeue();
                if (!starts.ContainsKey(job.Id) && job.IsPlanned && job.Start <= now)
                {
                    starts[job.Id] = job.Start;
                    ends.Enqueue(job, job.Start + Math.Min(runOf[job.Id], job.ReservedEnd - job.Start)); // killed at its walltime
                }
            }

            if (next >= arrivals.Count && ends.Count == 0 && planned.Count == 0 && engine.Waiting.Count > 0)
            {
                throw new InvalidOperationException($"{engine.Waiting.Count} jobs could not be placed (dependencies on jobs that never run?)");
            }
        }

        var outcomes = arrivals
            .Select(j =>
            {
                var start = starts[j.Id];
                var walltime = j.Alternatives?[j.Alternative].Walltime ?? j.Walltime;
                var run = Math.Min(runOf[j.Id], walltime);
                return new JobOutcome(j.Id, j.Submit, start - j.Submit, start, run, j.Alloc!.Cores.Sum(), walltime);
            })
            .OrderBy(o => o.Submit).ThenBy(o => o.JobId)
            .ToList();
        return new ClusterSimulationResult(outcomes, rejected, shape.Cores.Sum(c => (long)c));
    }
}
