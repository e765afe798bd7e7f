using Heorot.Model.Requests;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Heorot.Cli.Output;
using Heorot.Model.Power;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Power;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;
using Heorot.Simulation.Workloads;
using Spectre.Console;

namespace Heorot.Cli.Commands;

/// <summary><c>heorot sim</c>: replays a workload through the scheduling engine with a virtual clock.</summary>
internal static class SimCommand
{
    public static Command Create()
    {
        var trace = new Option<FileInfo?>("--trace") { Description = "Workload in Standard Workload Format (.swf or .swf.gz)." };
        var policy = new Option<string>("--policy") { Description = "fcfs, easy or conservative.", DefaultValueFactory = _ => "easy" };
        var procs = new Option<int?>("--procs") { Description = "Machine size in processors (default: the trace's MaxProcs header)." };
        var output = new Option<FileInfo?>("--out") { Description = "Write the per-job schedule as CSV (job_id,submit,wait,start,run,procs,req_time)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the metrics." };
        var compat = new Option<string?>("--compat") { Description = "Match another simulator's semantics exactly: 'pyss'." };
        var generate = new Option<int?>("--generate") { Description = "Instead of a trace, generate this many jobs from the Lublin-Feitelson (2003) workload model." };
        var seed = new Option<int>("--seed") { Description = "Seed of the generated workload.", DefaultValueFactory = _ => 1 };
        var cluster = new Option<FileInfo?>("--cluster") { Description = "Replay on this cluster description (YAML) instead of a pool of processors." };
        var workload = new Option<FileInfo?>("--workload") { Description = "With --cluster: jobs as 'SUBMIT RUN USER -l ... -p ...' lines, with hierarchical requests." };
        var walltime = new Option<string>("--default-walltime") { Description = "With --workload: walltime of requests that give none (H:MM:SS).", DefaultValueFactory = _ => "1:00:00" };
        var power = new Option<string?>("--power") { Description = "Power model of a node: boot=120s,idle=100W,busy=250W,off=5W[,shutdown=30s]. Reports energy." };
        var elastic = new Option<string[]>("--elastic") { Description = "Elastic policy, compared with the always-on cluster (repeat for several): none, idle-timeout[:T], plan[:warm=N|auto,window=T,maxwarm=N,short=T,breakeven=T,lead=T,linger=T]. Needs --power." };
        var procsPerNode = new Option<int>("--procs-per-node") { Description = "Processors per node: jobs take whole nodes (default 1: a node is a processor).", DefaultValueFactory = _ => 1 };

        var command = new Command("sim", "Replay a workload through the scheduler and report wait, slowdown and utilization.")
        {
            trace, policy, procs, output, json, compat, generate, seed, cluster, workload, walltime, power, elastic, procsPerNode,
        };
        command.SetAction(parse =>
        {
            var elastics = parse.GetValue(elastic) ?? [];
            if (parse.GetValue(cluster) is { } clusterFile)
            {
                return parse.GetValue(power) != null || elastics.Length > 0
                    ? Terminal.Fail("--power and --elastic replay SWF traces (--trace or --generate); with --cluster they are not supported yet")
                    : ClusterSim.Run(clusterFile, parse.GetValue(trace), parse.GetValue(workload), parse.GetValue(policy)!, parse.GetValue(walltime)!, parse.GetValue(output), parse.GetValue(json));
            }

            var elasticOptions = new ElasticArguments(parse.GetValue(power), elastics, parse.GetValue(procsPerNode));
            return Run(parse.GetValue(trace), parse.GetValue(policy)!, parse.GetValue(procs), parse.GetValue(output), parse.GetValue(json), parse.GetValue(compat), parse.GetValue(generate), parse.GetValue(seed), elasticOptions);
        });
        return command;
    }

    /// <summary>The power and elasticity options as given.</summary>
    private sealed record ElasticArguments(string? Power, string[] Elastic, int ProcsPerNode)
    {
        public bool Any => Power != null || Elastic.Length > 0;
    }

    /// <summary>The power model and policies, parsed; null and an exit code on a bad option.</summary>
    private static (PowerModel? Model, List<ElasticPolicy> Policies, int Code) ParseElastic(ElasticArguments args, SimulationMode mode, FileInfo? output)
    {
        if (args.Elastic.Length > 0 && args.Power == null)
        {
            return (null, [], Terminal.Fail("--elastic needs a power model: --power boot=120s,idle=100W,busy=250W,off=5W"));
        }

        if (mode == SimulationMode.Pyss)
        {
            return (null, [], Terminal.Fail("--power and --elastic run on the default clock; drop --compat pyss"));
        }

        try
        {
            var model = PowerModel.Parse(args.Power!);
            var policies = args.Elastic.Select(e => ElasticPolicy.Parse(e)).ToList();
            if (output != null && policies.Count(p => p.Kind != "none") > 1)
            {
                return (null, [], Terminal.Fail("--out writes one schedule: give one --elastic policy with it"));
            }

            return (model, policies, 0);
        }
        catch (RequestParseException e)
        {
            return (null, [], Terminal.Fail(e.Message + "\n" + e.Caret));
        }
    }

    private static int Run(FileInfo? trace, string policyText, int? procs, FileInfo? output, bool json, string? compat, int? generate, int seed, ElasticArguments elastic)
    {
        if (!PolicyKinds.TryParse(policyText, out var policy))
        {
            return Terminal.Fail($"--policy: unknown policy '{policyText}'; expected fcfs, easy or conservative");
        }

        if (elastic.ProcsPerNode <= 0)
        {
            return Terminal.Fail($"--procs-per-node: expected a positive number of processors, got {elastic.ProcsPerNode}");
        }

        var mode = SimulationMode.Tick;
        if (compat != null)
        {
            if (!compat.Equals("pyss", StringComparison.OrdinalIgnoreCase))
            {
                return Terminal.Fail($"--compat: unknown simulator '{compat}'; expected pyss");
            }

            mode = SimulationMode.Pyss;
        }

        PowerModel? powerModel = null;
        List<ElasticPolicy> elasticPolicies = [];
        if (elastic.Any)
        {
            (powerModel, elasticPolicies, var code) = ParseElastic(elastic, mode, output);
            if (powerModel == null)
            {
                return code;
            }
        }

        if (procs is <= 0)
        {
            return Terminal.Fail($"--procs: expected a positive number of processors, got {procs}");
        }

        if (trace != null && generate != null)
        {
            return Terminal.Fail("give either --trace FILE or --generate JOBS, not both");
        }

        if (generate != null)
        {
            if (generate <= 0)
            {
                return Terminal.Fail($"--generate: expected a positive number of jobs, got {generate}");
            }

            var machine = procs ?? 128;
            var generated = LublinFeitelsonModel.Generate(generate.Value, machine, seed)
                .Select(j => new SimJob(j.Id, j.Submit, j.RunTime, j.Procs, j.RequestedTime, j.User))
                .ToList();
            return Report($"Lublin-Feitelson model, {generate:N0} jobs, seed {seed}", generated, generated.Count, policy, machine, mode, output, json, elastic.ProcsPerNode, powerModel, elasticPolicies);
        }

        if (trace == null)
        {
            return Terminal.Fail("--trace FILE (or --generate JOBS) is required");
        }

        if (!trace.Exists)
        {
            return Terminal.Fail($"--trace: no such file: {trace.FullName}");
        }

        SwfTrace swf;
        try
        {
            swf = SwfReader.ReadFile(trace.FullName);
        }
        catch (SwfFormatException e)
        {
            return Terminal.Fail(e.Message);
        }
        catch (InvalidDataException e)
        {
            return Terminal.Fail($"{trace.Name}: not a readable gzip file ({e.Message})");
        }

        var processors = procs ?? swf.Header.MaxProcs ?? 0;
        if (processors <= 0)
        {
            return Terminal.Fail($"{trace.Name}: the header has no MaxProcs; give the machine size with --procs");
        }

        var jobs = StrongFilter.Apply(swf.Records, processors);
        return Report(trace.Name, jobs, swf.Records.Count, policy, processors, mode, output, json, elastic.ProcsPerNode, powerModel, elasticPolicies);
    }

    private static int Report(string name, IReadOnlyList<SimJob> jobs, int records, PolicyKind policy, int processors, SimulationMode mode, FileInfo? output, bool json, int procsPerNode, PowerModel? power, List<ElasticPolicy> elastic)
    {
        if (processors % procsPerNode != 0)
        {
            return Terminal.Fail($"--procs-per-node: {processors} processors do not make whole nodes of {procsPerNode}");
        }

        var options = new SimulationOptions(policy, processors, mode) { ProcsPerNode = procsPerNode };
        if (power != null)
        {
            return ElasticSim.Run(name, jobs, records, policy, options, power, elastic, output, json);
        }

        var outcomes = Replay(jobs, options, out var seconds);
        var metrics = ScheduleMetrics.Compute(outcomes, processors);

        if (output != null)
        {
            using var writer = new StreamWriter(output.FullName);
            ScheduleCsv.Write(writer, outcomes);
        }

        if (json)
        {
            WriteJson(metrics, seconds);
        }
        else
        {
            WriteTable(name, policy, mode, processors, records, metrics, seconds);
        }

        return 0;
    }

    internal static IReadOnlyList<JobOutcome> Replay(IReadOnlyList<SimJob> jobs, SimulationOptions options, out double seconds)
    {
        var stopwatch = Stopwatch.StartNew();
        IReadOnlyList<JobOutcome> outcomes = [];
        if (Terminal.ShowsProgress && jobs.Count > 20_000)
        {
            Terminal.Error.Progress().AutoClear(true).Start(context =>
            {
                var task = context.AddTask($"replaying {jobs.Count:N0} jobs", maxValue: 1);
                outcomes = Simulator.Run(jobs, options with
                {
                    Progress = (done, total) => task.Value = Math.Min(1, (double)done / total),
                });
                task.Value = 1;
            });
        }
        else
        {
            outcomes = Simulator.Run(jobs, options);
        }

        seconds = stopwatch.Elapsed.TotalSeconds;
        return outcomes;
    }

    internal static void WriteJson(ScheduleMetrics m, double seconds)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("jobs", m.Jobs);
            w.WriteNumber("mean_wait", m.MeanWait);
            w.WriteNumber("mean_bsld", m.MeanBoundedSlowdown);
            w.WriteNumber("max_bsld", m.MaxBoundedSlowdown);
            w.WriteNumber("utilization", m.Utilization);
            w.WriteNumber("makespan", m.Makespan);
            w.WriteNumber("seconds", seconds);
            w.WriteEndObject();
        }

        Terminal.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    internal static void WriteTable(string name, PolicyKind policy, SimulationMode mode, int processors, int records, ScheduleMetrics m, double seconds)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        string F(double v, string format = "N2") => v.ToString(format, CultureInfo.InvariantCulture);
        table.AddRow("workload", Markup.Escape(name));
        table.AddRow("policy", $"{policy.Name()}{(mode == SimulationMode.Pyss ? " (pyss-compatible)" : string.Empty)}");
        table.AddRow("processors", F(processors, "N0"));
        table.AddRow("jobs (after filter / lines)", $"{m.Jobs:N0} / {records:N0}");
        table.AddRow("mean wait", $"{F(m.MeanWait)} s");
        table.AddRow("mean bounded slowdown", F(m.MeanBoundedSlowdown));
        table.AddRow("max bounded slowdown", F(m.MaxBoundedSlowdown));
        table.AddRow("utilization", F(m.Utilization * 100, "N1") + " %");
        table.AddRow("makespan", $"{F(m.Makespan, "N0")} s ({F(m.Makespan / 86400.0, "N1")} days)");
        table.AddRow("replay time", $"{F(seconds, "N3")} s");
        Terminal.Rich.Write(table);
    }
}
