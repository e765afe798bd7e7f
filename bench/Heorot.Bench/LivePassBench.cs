using System.Diagnostics;
using System.Globalization;
using Heorot.Model.Requests;
using Heorot.Model.Resources;
using Heorot.Scheduling.Live;
using Heorot.Scheduling.Policies;

namespace Heorot.Bench;

/// <summary>
/// One live scheduling pass on a synthetic cluster (10 000 nodes of 2 × 16 cores, 100 switches, properties)
/// with a queue of mixed shapes under conservative backfilling; prints the median pass time.
/// </summary>
internal static class LivePassBench
{
    public static void Run(int nodes, int[] queued, int runs, int depth)
    {
        var cluster = ClusterModel.Synthetic(nodes, switchCount: Math.Max(1, nodes / 100), cpus: 2, coresPerCpu: 16, gpusPerNode: 4, gpuNodeEvery: 10);
        var compiler = new RequestCompiler(cluster);
        const long now = 1_700_000_000;
        var random = new Random(42);
        Console.WriteLine("| nodes | queued jobs | depth | running jobs | median pass (ms) | min | max | started | planned |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var count in queued)
        {
            var running = new List<RunningJob>();
            for (var n = 0; n < nodes * 7 / 10; n++)
            {
                var end = now + random.Next(60, 86_400);
                running.Add(new RunningJob(-n - 1, "u" + (n % 50), now - 600, end, new Heorot.Scheduling.Timeline.NodeAlloc([n], [32], [0], [0])));
            }

            var pending = new List<PendingJob>(count);
            for (var i = 0; i < count; i++)
            {
                var kind = random.Next(10);
                var (l, p) = kind switch
                {
                    < 5 => ($"/nodes=1/core={random.Next(1, 17)}", (string?)null),
                    < 8 => ($"/nodes={random.Next(2, 33)}", null),
                    < 9 => ($"/switch=1/nodes={random.Next(4, 17)}", null),
                    _ => ($"/nodes={random.Next(1, 5)}", "gpu >= 2"),
                };
                var walltime = TimeSpan.FromSeconds(random.Next(300, 48 * 3600));
                var request = OarRequestParser.Parse([l + ",walltime=" + ResourceAlternative.FormatWalltime(walltime)], p);
                pending.Add(new PendingJob(i + 1, "u" + random.Next(200), "default", now - random.Next(0, 86_400), compiler.Compile(request, TimeSpan.FromHours(1))));
            }

            var snapshot = new SchedulingSnapshot(now, compiler.Shape)
            {
                Queues = [new QueueSpec("default", 0, PolicyKind.Conservative)],
                Running = running,
                Pending = pending,
                MaxPlannedJobs = depth,
            };

            var times = new List<double>();
            Plan? plan = null;
            for (var r = 0; r <= runs; r++)
            {
                var sw = Stopwatch.StartNew();
                plan = ClusterScheduler.Plan(snapshot);
                if (r > 0)
                {
                    times.Add(sw.Elapsed.TotalMilliseconds); // run 0 is the warm-up
                }
            }

            times.Sort();
            var planned = plan!.Explain.Count(e => e.Planned != null);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {nodes:N0} | {count:N0} | {Math.Min(depth, count):N0} | {running.Count:N0} | {times[times.Count / 2]:F0} | {times[0]:F0} | {times[^1]:F0} | {plan.Starts.Count:N0} | {planned:N0} |"));
        }
    }
}
