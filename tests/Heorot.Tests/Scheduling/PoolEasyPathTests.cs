using Heorot.Scheduling;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Tests.Scheduling;

/// <summary>
/// EASY on a <see cref="PoolGantt"/> takes a path of its own (the head's shadow slot is not written to the
/// profile, candidates are found through a demand array). It must start every job when the generic path does,
/// including jobs with alternatives and dependencies, which the trace replays never have: the same workload is
/// run on a pool and on a wrapper that hides the pool from the engine.
/// </summary>
public class PoolEasyPathTests
{
    [Fact]
    public void Easy_RandomJobsWithAlternativesAndDependencies_SameStartsAsGenericPath()
    {
        for (var seed = 0; seed < 400; seed++)
        {
            var fast = Replay(seed, gantt => gantt);
            var generic = Replay(seed, gantt => new Hidden(gantt));
            Assert.Equal(generic, fast);
        }
    }

    private static long[] Replay(int seed, Func<PoolGantt, IGantt<int, int>> wrap)
    {
        var random = new Random(seed);
        var procs = random.Next(1, 13);
        var count = random.Next(1, 30);
        var jobs = new EngineJob<int, int>[count];
        var runs = new long[count];
        var submit = 0L;
        for (var i = 0; i < count; i++)
        {
            submit += random.Next(4) == 0 ? 0 : random.Next(0, 20);
            var walltime = random.Next(1, 30);
            var demand = random.Next(1, procs + 1);
            IReadOnlyList<(int, long)>? alternatives = random.Next(4) == 0
                ? [(demand, walltime), (random.Next(1, procs + 1), random.Next(1, 30))]
                : null;
            IReadOnlyList<EngineJob<int, int>>? dependencies = i > 0 && random.Next(5) == 0 ? [jobs[random.Next(i)]] : null;
            jobs[i] = new EngineJob<int, int>(i, submit, walltime, demand) { Alternatives = alternatives, Dependencies = dependencies };
            runs[i] = random.Next(1, 40);
        }

        var engine = new SchedulingEngine<int, int>(wrap(new PoolGantt(procs)), PolicyKind.Easy);
        var starts = Enumerable.Repeat(-1L, count).ToArray();
        var ends = Enumerable.Repeat(long.MaxValue, count).ToArray();
        var changed = new List<EngineJob<int, int>>();
        var next = 0;
        for (var now = 0L; now < 5_000 && starts.Contains(-1); now++)
        {
            for (var i = 0; i < count; i++)
            {
                if (ends[i] == now)
                {
                    engine.Finish(jobs[i], now);
                }
            }

            while (next < count && jobs[next].Submit == now)
            {
                engine.Submit(jobs[next++], now);
            }

            changed.Clear();
            engine.Pass(now, changed);
            foreach (var job in changed)
            {
                var i = (int)job.Id;
                starts[i] = now;
                ends[i] = now + Math.Min(runs[i], job.ReservedEnd - job.Start);
            }
        }

        return starts;
    }

    /// <summary>Forwards to a pool without being one, so the engine takes its generic path.</summary>
    private sealed class Hidden(PoolGantt pool) : IGantt<int, int>
    {
        public void Archive(long now) => pool.Archive(now);

        public bool TryEarliest(in int demand, long notBefore, long duration, out long start, out int alloc) =>
            pool.TryEarliest(demand, notBefore, duration, out start, out alloc);

        public bool TryAt(in int demand, long start, long duration, out int alloc) => pool.TryAt(demand, start, duration, out alloc);

        public bool AllocFits(in int alloc, long start, long duration) => pool.AllocFits(alloc, start, duration);

        public void Reserve(in int alloc, long start, long end) => pool.Reserve(alloc, start, end);

        public void Release(in int alloc, long start, long end) => pool.Release(alloc, start, end);

        public void ReleaseTail(in int alloc, long from, long end) => pool.ReleaseTail(alloc, from, end);

        public bool FreeAtCovers(in int demand, long now) => pool.FreeAtCovers(demand, now);

        public string DescribeWait(in int demand, long now, long duration) => pool.DescribeWait(demand, now, duration);
    }
}
