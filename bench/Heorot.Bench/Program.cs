using System.Diagnostics;
using System.Globalization;
using Heorot.Scheduling;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;

namespace Heorot.Bench;

/// <summary>
/// Command-line benchmarks of the replay and of the engine's memory. Multi-second replays need no statistical
/// harness: a warm-up run, then N timed runs, reporting the median, the minimum and the maximum.
/// </summary>
internal static class Program
{
    private static readonly Workload[] Workloads =
    [
        new("CTC-SP2-1996-3.1-cln", "CTC-SP2-1996-3.1-cln.swf.gz", null),
        new("CEA-Curie-2011-2.1-cln", "CEA-Curie-2011-2.1-cln.swf.gz", 80640),
    ];

    /// <summary>
    /// Wall time of the reference simulator (pyss) on the same 2-core machines, in seconds, where it was measured.
    /// </summary>
    private static readonly Dictionary<(string Trace, PolicyKind Policy), double> ReferenceSeconds = new()
    {
        [("CTC-SP2-1996-3.1-cln", PolicyKind.Easy)] = 14,
        [("CTC-SP2-1996-3.1-cln", PolicyKind.Conservative)] = 170,
        [("CEA-Curie-2011-2.1-cln", PolicyKind.Easy)] = 540,
    };

    private static readonly PolicyKind[] Policies = [PolicyKind.Fcfs, PolicyKind.Easy, PolicyKind.Conservative];

    private static readonly SimulationMode[] Modes = [SimulationMode.Pyss, SimulationMode.Tick];

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Usage();
            return args.Length == 0 ? 2 : 0;
        }

        var options = Options.Parse(args.AsSpan(1));
        if (options == null)
        {
            Usage();
            return 2;
        }

        switch (args[0])
        {
            case "replay":
                Replay(options);
                return 0;
            case "memory":
                Memory(options);
                return 0;
            case "modes":
                CompareModes(options);
                return 0;
            case "storage":
                StorageBench.Run(options.Jobs, options.Concurrency);
                return 0;
            case "control":
                ControlPlaneBench.RunAsync(options.JobsGiven ? options.Jobs : 5000, 64, Environment.GetEnvironmentVariable("HEOROT_BENCH_POSTGRES")).GetAwaiter().GetResult();
                return 0;
            case "vm":
                return VmBench.RunAsync(options.Runs).GetAwaiter().GetResult();
            case "power":
                return PowerBench.RunAsync(options.Runs).GetAwaiter().GetResult();
            case "live":
                LivePassBench.Run(options.Nodes, options.JobsGiven ? [options.Jobs] : [10_000, 100_000], options.Runs, options.Depth);
                return 0;
            case "elastic":
                ElasticBench.Run(options.TracesDir, options.Trace, options.Policy, options.Power, options.Elastic, options.Replicas, options.Jitter);
                return 0;
            default:
                Usage();
                return 2;
        }
    }

    private static void Usage()
    {
        Console.Error.WriteLine("""
            usage: Heorot.Bench replay [--runs N] [--trace ctc|curie] [--policy fcfs|easy|conservative] [--mode pyss|tick]
                   Heorot.Bench memory [--jobs N]
                   Heorot.Bench modes  [--trace ctc|curie] [--policy ...]
                   Heorot.Bench storage [--jobs N] [--concurrency C]   (durable submissions; PostgreSQL too when HEOROT_PG is set)
                   Heorot.Bench live   [--nodes N] [--jobs N] [--depth D] [--runs N]   (one conservative pass on a synthetic cluster)
                   Heorot.Bench vm     [--runs N]   (VM jobs: bare boot, warm/cold start, fetch over a shaped link, teardown, VMs per node; root for the link)
                   Heorot.Bench power  [--runs N]   (Redfish driver calls against the emulated BMC; N power cycles of a QEMU guest behind it)
                   Heorot.Bench elastic [--trace kth|ctc|sdsc|all] [--policy easy|conservative] [--power MODEL] [--elastic POLICY]... [--replicas R] [--jitter S]
                                (elasticity on real workloads: off node-hours, energy, share of the ideal, change in wait and slowdown)
              --traces DIR   folder of the SWF traces (default: ../shared/traces from the repository root)
            """);
    }

    private static void Replay(Options options)
    {
        Console.WriteLine("| trace | policy | mode | median s | min s | max s | pyss s | speed-up |");
        Console.WriteLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var workload in options.SelectedWorkloads())
        {
            var (jobs, processors) = workload.Load(options.TracesDir);
            foreach (var policy in options.SelectedPolicies())
            {
                foreach (var mode in options.SelectedModes())
                {
                    var simulation = new SimulationOptions(policy, processors, mode);
                    Simulator.Run(jobs, simulation); // warm-up: JIT and tiered compilation
                    var seconds = new double[options.Runs];
                    for (var r = 0; r < seconds.Length; r++)
                    {
                        GC.Collect();
                        var stopwatch = Stopwatch.StartNew();
                        Simulator.Run(jobs, simulation);
                        seconds[r] = stopwatch.Elapsed.TotalSeconds;
                    }

                    Array.Sort(seconds);
                    var median = seconds.Length % 2 == 1
                        ? seconds[seconds.Length / 2]
                        : (seconds[(seconds.Length / 2) - 1] + seconds[seconds.Length / 2]) / 2;
                    var reference = ReferenceSeconds.TryGetValue((workload.Name, policy), out var s) ? s : (double?)null;
                    Console.WriteLine(Inv(
                        $"| {workload.Name} | {policy.Name()} | {Name(mode)} | {median:F3} | {seconds[0]:F3} | {seconds[^1]:F3} | {(reference is { } r1 ? Inv($"{r1:F0}") : "—")} | {(reference is { } r2 ? Inv($"{r2 / median:F0} ×") : "—")} |"));
                }
            }
        }
    }

    /// <summary>
    /// Bytes per queued job: jobs submitted to an engine whose machine is full (so every one waits), measured as
    /// bytes allocated by the submitting thread and as live heap growth after a full collection.
    /// </summary>
    private static void Memory(Options options)
    {
        Console.WriteLine("| policy | queued jobs | allocated B/job | retained B/job |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        foreach (var policy in new[] { PolicyKind.Easy, PolicyKind.Conservative })
        {
            var (allocated, retained) = MeasureQueue(policy, options.Jobs);
            Console.WriteLine(Inv($"| {policy.Name()} | {options.Jobs} | {allocated:F0} | {retained:F0} |"));
        }
    }

    private static (double Allocated, double Retained) MeasureQueue(PolicyKind policy, int count)
    {
        const int Processors = 1024;
        var gantt = new PoolGantt(Processors);
        var engine = new SchedulingEngine<int, int>(gantt, policy);
        var changed = new List<EngineJob<int, int>>();

        // Fill the machine for a long time: every job submitted afterwards has to wait.
        var blocker = new EngineJob<int, int>(-1, 0, 1_000_000_000, Processors);
        engine.Submit(blocker, 0);
        engine.Pass(0, changed);

        var random = new Random(1);
        var jobs = new EngineJob<int, int>[count];
        var retainedBefore = GC.GetTotalMemory(forceFullCollection: true);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < count; i++)
        {
            var now = 1 + i;
            jobs[i] = new EngineJob<int, int>(i, now, random.Next(60, 86_400), random.Next(1, Processors + 1));
            engine.Submit(jobs[i], now);
        }

        var allocatedAfter = GC.GetAllocatedBytesForCurrentThread();
        var retainedAfter = GC.GetTotalMemory(forceFullCollection: true);
        if (engine.Waiting.Count != count)
        {
            throw new InvalidOperationException($"expected {count} waiting jobs, found {engine.Waiting.Count}");
        }

        GC.KeepAlive(jobs);
        GC.KeepAlive(engine);
        return ((double)(allocatedAfter - allocatedBefore) / count, (double)(retainedAfter - retainedBefore) / count);
    }

    /// <summary>How far the default (tick) mode is from the pyss-compatible mode, per trace and policy.</summary>
    private static void CompareModes(Options options)
    {
        Console.WriteLine("| trace | policy | jobs | jobs with another start | mean wait pyss s | mean wait tick s | mean bsld pyss | mean bsld tick |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var workload in options.SelectedWorkloads())
        {
            var (jobs, processors) = workload.Load(options.TracesDir);
            foreach (var policy in options.SelectedPolicies())
            {
                var pyss = Simulator.Run(jobs, new SimulationOptions(policy, processors, SimulationMode.Pyss));
                var tick = Simulator.Run(jobs, new SimulationOptions(policy, processors, SimulationMode.Tick));
                var differing = 0;
                for (var i = 0; i < pyss.Count; i++)
                {
                    if (pyss[i].Start != tick[i].Start)
                    {
                        differing++;
                    }
                }

                var p = ScheduleMetrics.Compute(pyss, processors);
                var t = ScheduleMetrics.Compute(tick, processors);
                Console.WriteLine(Inv(
                    $"| {workload.Name} | {policy.Name()} | {pyss.Count} | {differing} ({100.0 * differing / pyss.Count:F1} %) | {p.MeanWait:F0} | {t.MeanWait:F0} | {p.MeanBoundedSlowdown:F2} | {t.MeanBoundedSlowdown:F2} |"));
            }
        }
    }

    private static string Name(SimulationMode mode) => mode == SimulationMode.Pyss ? "pyss" : "tick";

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private sealed record Workload(string Name, string File, int? Processors)
    {
        public (List<SimJob> Jobs, int Processors) Load(string tracesDir)
        {
            var swf = SwfReader.ReadFile(Path.Combine(tracesDir, File));
            var processors = Processors ?? swf.Header.MaxProcs
                ?? throw new InvalidOperationException($"{File}: no MaxProcs in the header");
            return (StrongFilter.Apply(swf.Records, processors), processors);
        }
    }

    private sealed class Options
    {
        public int Runs { get; private set; } = 5;

        public int Jobs { get; private set; } = 100_000;

        public string? Trace { get; private set; }

        public PolicyKind? Policy { get; private set; }

        public SimulationMode? Mode { get; private set; }

        public string TracesDir { get; private set; } = DefaultTracesDir();

        public int Nodes { get; private set; } = 10_000;

        public int Depth { get; private set; } = int.MaxValue;

        /// <summary>Whether --jobs was given (its default suits `memory`; `live` then measures 10 000 and 100 000).</summary>
        public bool JobsGiven { get; private set; }

        public int Concurrency { get; private set; } = 64;

        public string Power { get; private set; } = "boot=120s,idle=100W,busy=250W,off=5W";

        public List<string> Elastic { get; } = [];

        public int Replicas { get; private set; } = 5;

        public int Jitter { get; private set; } = 60;

        public static Options? Parse(ReadOnlySpan<string> args)
        {
            var options = new Options();
            for (var i = 0; i < args.Length; i++)
            {
                if (i + 1 >= args.Length)
                {
                    return null;
                }

                var value = args[++i];
                switch (args[i - 1])
                {
                    case "--runs" when int.TryParse(value, CultureInfo.InvariantCulture, out var runs) && runs > 0:
                        options.Runs = runs;
                        break;
                    case "--jobs" when int.TryParse(value, CultureInfo.InvariantCulture, out var jobs) && jobs > 0:
                        options.Jobs = jobs;
                        options.JobsGiven = true;
                        break;
                    case "--trace":
                        options.Trace = value;
                        break;
                    case "--policy" when PolicyKinds.TryParse(value, out var policy):
                        options.Policy = policy;
                        break;
                    case "--mode" when value is "pyss" or "tick":
                        options.Mode = value == "pyss" ? SimulationMode.Pyss : SimulationMode.Tick;
                        break;
                    case "--traces":
                        options.TracesDir = value;
                        break;
                    case "--nodes" when int.TryParse(value, CultureInfo.InvariantCulture, out var nodes) && nodes > 0:
                        options.Nodes = nodes;
                        break;
                    case "--concurrency" when int.TryParse(value, CultureInfo.InvariantCulture, out var concurrency) && concurrency > 0:
                        options.Concurrency = concurrency;
                        break;
                    case "--depth" when int.TryParse(value, CultureInfo.InvariantCulture, out var depth) && depth > 0:
                        options.Depth = depth;
                        break;
                    case "--power":
                        options.Power = value;
                        break;
                    case "--elastic":
                        options.Elastic.Add(value);
                        break;
                    case "--replicas" when int.TryParse(value, CultureInfo.InvariantCulture, out var replicas) && replicas >= 0:
                        options.Replicas = replicas;
                        break;
                    case "--jitter" when int.TryParse(value, CultureInfo.InvariantCulture, out var jitter) && jitter >= 0:
                        options.Jitter = jitter;
                        break;
                    default:
                        return null;
                }
            }

            return options;
        }

        public IEnumerable<Workload> SelectedWorkloads() =>
            Workloads.Where(w => Trace == null || w.Name.Contains(Trace, StringComparison.OrdinalIgnoreCase));

        public IEnumerable<PolicyKind> SelectedPolicies() => Policies.Where(p => Policy == null || p == Policy);

        public IEnumerable<SimulationMode> SelectedModes() => Modes.Where(m => Mode == null || m == Mode);

        private static string DefaultTracesDir()
        {
            // The repository root is the folder with Heorot.sln above the binary; the traces sit beside it.
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                if (System.IO.File.Exists(Path.Combine(dir.FullName, "Heorot.sln")))
                {
                    return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "traces"));
                }
            }

            return Path.Combine("..", "shared", "traces");
        }
    }
}
