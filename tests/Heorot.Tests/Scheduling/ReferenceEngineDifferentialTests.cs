using CsCheck;
using Heorot.Scheduling.Policies;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;

namespace Heorot.Tests.Scheduling;

/// <summary>
/// The optimised engine against a deliberately simple reference: a per-second array as the Gantt, lists
/// scanned from the start, the same event semantics written out plainly. Every start time must agree.
/// </summary>
public class ReferenceEngineDifferentialTests
{
    private static readonly Gen<(int Procs, SimJob[] Jobs)> Workloads =
        Gen.Int[1, 12].SelectMany(procs =>
            Gen.Select(Gen.Int[0, 40], Gen.Int[1, 30], Gen.Int[1, procs], Gen.Int[0, 30])
                .Array[1, 30]
                .Select(rows =>
                {
                    var submit = 0L;
                    var jobs = new SimJob[rows.Length];
                    for (var i = 0; i < rows.Length; i++)
                    {
                        var (gap, run, p, extra) = rows[i];
                        submit += gap % 4 == 0 ? 0 : gap; // many equal submit times
                        jobs[i] = new SimJob(i + 1, submit, run, p, run + (extra % 3 == 0 ? 0 : extra));
                    }

                    return (procs, jobs);
                }));

    [Theory]
    [InlineData(PolicyKind.Fcfs)]
    [InlineData(PolicyKind.Easy)]
    [InlineData(PolicyKind.Conservative)]
    public void Run_RandomWorkloads_SameStartsAsSimpleReference(PolicyKind policy)
    {
        Workloads.Sample(w =>
        {
            var fast = Simulator.Run(w.Jobs, new SimulationOptions(policy, w.Procs, SimulationMode.Pyss));
            var expected = SimpleReference.Run(w.Jobs, w.Procs, policy);
            foreach (var o in fast)
            {
                Assert.Equal(expected[o.JobId], o.Start);
            }
        }, iter: 400);
    }

    /// <summary>The reference semantics of <c>shared/reference-schedules/README.md</c>, written as plainly as possible.</summary>
    private static class SimpleReference
    {
        public static Dictionary<long, long> Run(SimJob[] jobs, int procs, PolicyKind policy)
        {
            const int horizon = 10_000;
            var free = Enumerable.Repeat(procs, horizon).ToArray();
            var planned = new Dictionary<long, long>();  // job -> reserved start
            var started = new Dictionary<long, long>();
            var reservedEnd = new Dictionary<long, long>();
            var queue = new List<SimJob>();
            var events = new List<(long Time, int Kind, long Seq, SimJob Job)>();
            long seq = 0;
            foreach (var j in jobs)
            {
                events.Add((j.Submit, 0, seq++, j));
            }

            void Take(SimJob j, long start)
            {
                planned[j.Id] = start;
                reservedEnd[j.Id] = start + j.RequestedTime;
                for (var t = start; t < start + j.RequestedTime; t++)
                {
                    free[t] -= j.Procs;
                }
            }

            void Untake(SimJob j)
            {
                for (var t = planned[j.Id]; t < reservedEnd[j.Id]; t++)
                {
                    free[t] += j.Procs;
                }

                planned.Remove(j.Id);
            }

            bool FitsAt(SimJob j, long t)
            {
                for (var k = t; k < t + j.RequestedTime; k++)
                {
                    if (free[k] < j.Procs)
                    {
                        return false;
                    }
                }

                return true;
            }

            long Earliest(SimJob j, long now)
            {
                var t = now;
                while (!FitsAt(j, t))
                {
                    t++;
                }

                return t;
            }

            List<SimJob> PassFcfsEasy(long now)
            {
                var result = new List<SimJob>();
                while (queue.Count > 0 && FitsAt(queue[0], now))
                {
                    Take(queue[0], now);
                    result.Add(queue[0]);
                    queue.RemoveAt(0);
                }

                if (policy == PolicyKind.Easy && queue.Count > 1)
                {
                    var head = queue[0];
                    Take(head, Earliest(head, now));
                    foreach (var j in queue.Skip(1).ToList())
                    {
                        if (FitsAt(j, now))
                        {
                            Take(j, now);
                            result.Add(j);
                            queue.Remove(j);
                        }
                    }

                    Untake(head);
                }

                return result;
            }

            while (events.Count > 0)
            {
                var e = events.OrderBy(x => x.Time).ThenBy(x => x.Kind).ThenBy(x => x.Seq).First();
                events.Remove(e);
                var now = e.Time;
                var j = e.Job;
                switch (e.Kind)
                {
                    case 0 when policy == PolicyKind.Conservative:
                        queue.Add(j);
                        Take(j, Earliest(j, now));
                        events.Add((planned[j.Id], 2, seq++, j));
                        break;
                    case 0:
                        queue.Add(j);
                        if (policy == PolicyKind.Easy && free[now] < j.Procs)
                        {
                            break;
                        }

                        foreach (var s in PassFcfsEasy(now))
                        {
                            events.Add((now, 2, seq++, s));
                        }

                        break;
                    case 1:
                        for (var t = now; t < reservedEnd[j.Id]; t++)
                        {
                            free[t] += j.Procs;
                        }

                        reservedEnd[j.Id] = now;
                        if (policy == PolicyKind.Conservative)
                        {
                            queue.Remove(j);
                            foreach (var w in queue.ToList())
                            {
                                if (planned[w.Id] <= now)
                                {
                                    continue;
                                }

                                var before = planned[w.Id];
                                Untake(w);
                                Take(w, Earliest(w, now));
                                Assert.True(planned[w.Id] <= before, "conservative never moves a job later");
                                if (planned[w.Id] != before)
                                {
                                    events.Add((planned[w.Id], 2, seq++, w));
                                }
                            }
                        }
                        else
                        {
                            foreach (var s in PassFcfsEasy(now))
                            {
                                events.Add((now, 2, seq++, s));
                            }
                        }

                        break;
                    default:
                        if (started.ContainsKey(j.Id) || planned.GetValueOrDefault(j.Id, -1) != now)
                        {
                            break;
                        }

                        started[j.Id] = now;
                        events.Add((now + j.Run, 1, seq++, j));
                        break;
                }
            }

            return started;
        }
    }
}
