using System.Globalization;
using Heorot.Model.Power;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Power;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;

namespace Heorot.Bench;

/// <summary>
/// Elasticity on real workloads (issue 5, item 7): each trace replayed always-on and under each elastic policy;
/// off node-hours, energy, share of the ideal, change in mean wait and bounded slowdown. EASY's schedule reacts
/// chaotically to small perturbations (a job delayed by a boot reshuffles many later starts), so the changes are
/// also given over R replicas of each trace whose submissions are shifted by a seeded 0..J seconds each (the
/// always-on baseline is replayed on the same replica): mean and standard deviation of the change.
/// </summary>
internal static class ElasticBench
{
    /// <summary>The traces, and processors per node where the machine's nodes had several (header MaxNodes).</summary>
    private static readonly (string Name, int ProcsPerNode)[] Traces =
    [
        ("KTH-SP2-1996-2.1-cln", 1),
        ("CTC-SP2-1996-3.1-cln", 1),
        ("SDSC-SP2-1998-4.2-cln", 1),
        ("HPC2N-2002-2.2-cln", 2),
        ("LANL-CM5-1994-4.1-cln", 1),
        ("SDSC-BLUE-2000-4.2-cln", 8),
    ];

    public static readonly string[] DefaultPolicies = ["idle-timeout:600", "idle-timeout:1800", "plan"];

    public static void Run(string tracesDir, string? trace, PolicyKind? policy, string power, IReadOnlyList<string> elastic, int replicas, int jitter)
    {
        var model = PowerModel.Parse(power);
        var policies = (elastic.Count > 0 ? elastic : DefaultPolicies).Select(e => ElasticPolicy.Parse(e)).ToList();
        var selected = trace switch
        {
            null => Traces.Take(3),
            "all" => Traces,
            "extra" => Traces.Skip(3),
            _ => Traces.Where(t => t.Name.Contains(trace, StringComparison.OrdinalIgnoreCase)),
        };
        Console.WriteLine(Inv($"Power model {model}; {replicas} replicas with submissions shifted by 0..{jitter} s."));
        Console.WriteLine();
        Console.WriteLine("| trace | policy | elastic | off node-h | share of ideal | energy MWh | Δ energy | mean wait s | Δ wait | mean bsld | Δ bsld | of which boot waits | Δ wait, replicas | Δ bsld, replicas | jobs waiting for boots |");
        Console.WriteLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (traceName, procsPerNode) in selected)
        {
            var name = procsPerNode == 1 ? traceName : Inv($"{traceName} ({procsPerNode} procs/node)");
            var file = traceName + ".swf.gz";
            var swf = SwfReader.ReadFile(Path.Combine(tracesDir, file));
            var processors = swf.Header.MaxProcs ?? throw new InvalidOperationException($"{file}: no MaxProcs");
            var jobs = StrongFilter.Apply(swf.Records, processors);
            if (jobs.Count == 0)
            {
                Console.WriteLine(Inv($"| {name} | — | no job passes the filter (no requested times) | | | | | | | | | | | | |"));
                continue;
            }

            var copies = Enumerable.Range(1, replicas).Select(r => Jitter(jobs, r, jitter)).ToList();
            foreach (var kind in policy is { } p ? [p] : new[] { PolicyKind.Easy, PolicyKind.Conservative })
            {
                var options = new SimulationOptions(kind, processors) { ProcsPerNode = procsPerNode };
                var baseline = Replay(jobs, options, model, ElasticPolicy.None);
                var baselines = copies.Select(c => Replay(c, options, model, ElasticPolicy.None)).ToList();
                var baseMetrics = ScheduleMetrics.Compute(baseline.Jobs, processors);
                var (ideal, idealKwh) = (baseline.Power.NotBusyNodeSeconds / 3600, baseline.Power.EnergyKilowattHours);
                Console.WriteLine(Inv(
                    $"| {name} | {kind.Name()} | none (ideal: {ideal:N0} node-h off) | 0 | 0 % | {idealKwh / 1000:N1} | — | {baseMetrics.MeanWait:N0} | — | {baseMetrics.MeanBoundedSlowdown:F2} | — | — | — | — | 0 |"));
                if (copies.Count > 0)
                {
                    // The noise floor: always-on against itself with every submission shifted by 0..1 s more.
                    var waitNoise = new List<double>();
                    var bsldNoise = new List<double>();
                    for (var r = 0; r < copies.Count; r++)
                    {
                        var b = ScheduleMetrics.Compute(baselines[r].Jobs, processors);
                        var nudged = ScheduleMetrics.Compute(Replay(Jitter(copies[r], 1000 + r + 1, 1), options, model, ElasticPolicy.None).Jobs, processors);
                        waitNoise.Add((nudged.MeanWait - b.MeanWait) / b.MeanWait);
                        bsldNoise.Add((nudged.MeanBoundedSlowdown - b.MeanBoundedSlowdown) / b.MeanBoundedSlowdown);
                    }

                    Console.WriteLine(Inv(
                        $"| {name} | {kind.Name()} | none, submissions 0..1 s later (noise) | 0 | 0 % | — | — | — | — | — | — | — | {Spread(waitNoise)} | {Spread(bsldNoise)} | 0 |"));
                }

                foreach (var elasticPolicy in policies.Where(e => e.Kind != "none"))
                {
                    var run = Replay(jobs, options, model, elasticPolicy);
                    var c = ElasticComparison.Compute(model, baseMetrics, baseline.Power, run, processors);
                    var waitChanges = new List<double>();
                    var bsldChanges = new List<double>();
                    for (var r = 0; r < copies.Count; r++)
                    {
                        var replica = Replay(copies[r], options, model, elasticPolicy);
                        var b = ScheduleMetrics.Compute(baselines[r].Jobs, processors);
                        var rc = ElasticComparison.Compute(model, b, baselines[r].Power, replica, processors);
                        waitChanges.Add(rc.MeanWaitChange);
                        bsldChanges.Add(rc.MeanBoundedSlowdownChange);
                    }

                    var energyChange = (run.Power.EnergyKilowattHours - idealKwh) / idealKwh;
                    Console.WriteLine(Inv(
                        $"| {name} | {kind.Name()} | {elasticPolicy.Create(model).Name} | {run.Power.OffNodeHours:N0} | {c.ShareOfIdeal * 100:F1} % | {run.Power.EnergyKilowattHours / 1000:N1} | {Signed(energyChange * 100)} % | {c.Schedule.MeanWait:N0} | {Pct(c.MeanWaitChange)} | {c.Schedule.MeanBoundedSlowdown:F2} | {Pct(c.MeanBoundedSlowdownChange)} | {c.BootBoundedSlowdown:F2} | {Spread(waitChanges)} | {Spread(bsldChanges)} | {run.Power.DelayedJobs:N0} |"));
                }
            }
        }
    }

    private static ElasticOutcome Replay(IReadOnlyList<SimJob> jobs, SimulationOptions options, PowerModel model, ElasticPolicy policy) =>
        Simulator.RunElastic(jobs, options, model, policy.Create(model));

    /// <summary>The trace with every submission shifted by a seeded 0..<paramref name="seconds"/> s, in submit order.</summary>
    private static List<SimJob> Jitter(List<SimJob> jobs, int seed, int seconds)
    {
        var random = new Random(seed);
        return [.. jobs.Select(j => j with { Submit = j.Submit + random.Next(0, seconds + 1) }).OrderBy(j => j.Submit)];
    }

    private static string Pct(double v) => Signed(v * 100) + " %";

    /// <summary>One decimal with its sign, and no sign on a value that rounds to zero.</summary>
    private static string Signed(double v)
    {
        var rounded = Math.Round(v, 1);
        return rounded == 0 ? "0.0" : Inv($"{rounded:+0.0;-0.0}");
    }

    private static string Spread(List<double> values)
    {
        if (values.Count == 0)
        {
            return "—";
        }

        var mean = values.Average();
        var sd = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : 0;
        return Inv($"{Signed(mean * 100)} ± {sd * 100:F1} %");
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
