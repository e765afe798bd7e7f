using CsCheck;
using Heorot.Scheduling.Live;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Tests.Scheduling.Live;

/// <summary>
/// Random clusters and workloads driven through many live passes, as the server's loop would: the plan's
/// starts are applied, jobs end at or before their walltime, and each pass gets the previous slots back.
/// </summary>
public class ClusterSchedulerInvariantTests
{
    private sealed record Spec(long Id, long Submit, int Nodes, int Cores, long Walltime, long Run);

    private static readonly Gen<(PolicyKind Policy, int Nodes, Spec[] Jobs, bool Reservation)> Cases =
        Gen.Select(Gen.Enum<PolicyKind>(), Gen.Int[2, 6], Gen.Bool).SelectMany(t =>
            Gen.Select(Gen.Int[0, 30], Gen.Int[0, t.Item2], Gen.Int[1, 4], Gen.Int[5, 60], Gen.Int[1, 60])
                .Array[1, 18]
                .Select(rows => (t.Item1, t.Item2, rows.Select((r, i) => new Spec(i + 1, r.Item1, r.Item2, r.Item3, r.Item4, Math.Min(r.Item4, r.Item5))).ToArray(), t.Item3)));

    [Fact]
    public void Plan_ManyPasses_NoCoreOversubscribed_ReservationKept_SlotsNeverLater_HeadNeverDelayed()
    {
        Cases.Sample(c =>
        {
            const int cores = 4;
            var shape = ClusterShape.Uniform(c.Nodes, cores, switches: 2);
            var reservation = c.Reservation
                ? new AdvanceReservation(999, "r", 40, 70, new NodeAlloc([0], [cores], [0], [0]))
                : null;
            var running = new List<(Spec Job, long Start, NodeAlloc Alloc)>();
            var done = new HashSet<long>();
            var previous = new Dictionary<long, PlannedSlot>();
            var usage = new int[c.Nodes, 2200];
            for (var now = 0L; now < 2000 && done.Count < c.Jobs.Length; now++)
            {
                running.RemoveAll(r =>
                {
                    if (r.Start + r.Job.Run > now)
                    {
                        return false;
                    }

                    done.Add(r.Job.Id);
                    return true;
                });
                var pending = c.Jobs
                    .Where(j => j.Submit <= now && !done.Contains(j.Id) && running.All(r => r.Job.Id != j.Id))
                    .Select(j => new PendingJob(j.Id, "u", "default", j.Submit, [new JobAlternative(j.Nodes == 0 ? NodeDemand.Cores(j.Cores) : NodeDemand.Nodes(j.Nodes, j.Cores), j.Walltime)])
                    {
                        Previous = previous.GetValueOrDefault(j.Id),
                    })
                    .ToList();
                var snapshot = new SchedulingSnapshot(now, shape)
                {
                    Queues = [new QueueSpec("default", 0, c.Policy)],
                    Running = running.Select(r => new RunningJob(r.Job.Id, "u", r.Start, r.Start + r.Job.Walltime, r.Alloc)).ToList(),
                    Pending = pending,
                    Reservations = reservation == null ? [] : [reservation],
                };

                var plan = ClusterScheduler.Plan(snapshot);

                foreach (var e in plan.Explain)
                {
                    if (e.Planned != null && previous.TryGetValue(e.JobId, out var before) && c.Policy == PolicyKind.Conservative)
                    {
                        Assert.True(e.Planned.Start <= before.Start, $"conservative moved job {e.JobId} later: {before.Start} -> {e.Planned.Start}");
                    }

                    if (c.Policy == PolicyKind.Easy && e.Planned != null && previous.TryGetValue(e.JobId, out var headBefore))
                    {
                        Assert.True(e.Planned.Start <= headBefore.Start, $"EASY delayed the head job {e.JobId}: {headBefore.Start} -> {e.Planned.Start}");
                    }
                }

                previous.Clear();
                foreach (var e in plan.Explain.Where(e => e.Planned != null))
                {
                    previous[e.JobId] = e.Planned!;
                }

                foreach (var s in plan.Starts)
                {
                    var job = c.Jobs.Single(j => j.Id == s.JobId);
                    running.Add((job, now, s.Alloc));
                    for (var i = 0; i < s.Alloc.Nodes.Length; i++)
                    {
                        for (var t = now; t < now + job.Run; t++)
                        {
                            usage[s.Alloc.Nodes[i], t] += s.Alloc.Cores[i];
                            Assert.True(usage[s.Alloc.Nodes[i], t] <= cores, $"node {s.Alloc.Nodes[i]} oversubscribed at {t}");
                            if (reservation != null && s.Alloc.Nodes[i] == 0)
                            {
                                Assert.False(t >= reservation.Start && t < reservation.End, $"job {job.Id} runs on reserved node 0 at {t}");
                            }
                        }
                    }
                }
            }

            // Every job that can fit ran (the reservation leaves capacity after it ends).
            Assert.Equal(c.Jobs.Length, done.Count + running.Count);
        }, iter: 150);
    }
}
