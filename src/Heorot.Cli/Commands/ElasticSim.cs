using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Heorot.Cli.Output;
using Heorot.Model.Power;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Power;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;
using Spectre.Console;

namespace Heorot.Cli.Commands;

/// <summary>
/// <c>heorot sim … --power MODEL --elastic POLICY…</c>: the same workload on the always-on cluster and under each
/// elastic policy; off node-hours, energy, the share of the ideal and the change in wait and slowdown.
/// </summary>
internal static class ElasticSim
{
    public static int Run(string name, IReadOnlyList<SimJob> jobs, int records, PolicyKind policy, SimulationOptions options, PowerModel model, IReadOnlyList<ElasticPolicy> policies, FileInfo? output, bool json)
    {
        var runs = new List<(string Name, ElasticOutcome Outcome, ScheduleMetrics Metrics, double Seconds)>(policies.Count + 1);
        // Always on first (the baseline of every change), once.
        foreach (var elastic in (IEnumerable<ElasticPolicy>)[ElasticPolicy.None, .. policies.Where(p => p.Kind != "none")])
        {
            var instance = elastic.Create(model);
            var stopwatch = Stopwatch.StartNew();
            var outcome = Simulator.RunElastic(jobs, options, model, instance);
            var seconds = stopwatch.Elapsed.TotalSeconds;
            runs.Add((instance.Name, outcome, ScheduleMetrics.Compute(outcome.Jobs, options.Processors), seconds));
        }

        var baseline = runs.First(r => r.Name == "none");
        var compared = runs
            .Select(r => (r.Name, Comparison: ElasticComparison.Compute(model, baseline.Metrics, baseline.Outcome.Power, r.Outcome, options.Processors), r.Seconds))
            .ToList();

        if (output != null)
        {
            var written = runs.Count == 1 ? runs[0] : runs.Single(r => r.Name != "none");
            using var writer = new StreamWriter(output.FullName);
            ScheduleCsv.Write(writer, written.Outcome.Jobs);
        }

        if (json)
        {
            WriteJson(name, policy, options, model, compared);
        }
        else
        {
            WriteTable(name, policy, options, records, model, compared);
        }

        return 0;
    }

    private static void WriteJson(string name, PolicyKind policy, SimulationOptions options, PowerModel model, List<(string Name, ElasticComparison C, double Seconds)> runs)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            var first = runs[0].C;
            w.WriteStartObject();
            w.WriteString("workload", name);
            w.WriteString("policy", policy.Name());
            w.WriteNumber("nodes", options.Nodes);
            w.WriteNumber("procs_per_node", options.ProcsPerNode);
            w.WriteString("power", model.ToString());
            w.WriteNumber("horizon_seconds", first.Power.To - first.Power.From);
            w.WriteNumber("ideal_off_node_hours", first.IdealOffNodeSeconds / 3600);
            w.WriteNumber("floor_kwh", first.FloorJoules / 3.6e6);
            w.WriteStartArray("runs");
            foreach (var (runName, c, seconds) in runs)
            {
                w.WriteStartObject();
                w.WriteString("elastic", runName);
                w.WriteNumber("jobs", c.Schedule.Jobs);
                w.WriteNumber("mean_wait", c.Schedule.MeanWait);
                w.WriteNumber("mean_bsld", c.Schedule.MeanBoundedSlowdown);
                w.WriteNumber("max_bsld", c.Schedule.MaxBoundedSlowdown);
                w.WriteNumber("utilization", c.Schedule.Utilization);
                w.WriteNumber("makespan", c.Schedule.Makespan);
                w.WriteNumber("off_node_hours", c.Power.OffNodeHours);
                w.WriteNumber("idle_node_hours", c.Power.IdleNodeSeconds / 3600);
                w.WriteNumber("transition_node_hours", c.Power.TransitionNodeSeconds / 3600);
                w.WriteNumber("waiting_node_hours", c.Power.WaitingNodeSeconds / 3600);
                w.WriteNumber("busy_node_hours", c.Power.BusyNodeSeconds / 3600);
                w.WriteNumber("energy_kwh", c.Power.EnergyKilowattHours);
                w.WriteNumber("share_of_ideal", c.ShareOfIdeal);
                w.WriteNumber("energy_saving_share", c.EnergySavingShare);
                w.WriteNumber("mean_wait_change", c.MeanWaitChange);
                w.WriteNumber("mean_bsld_change", c.MeanBoundedSlowdownChange);
                w.WriteNumber("boot_bsld", c.BootBoundedSlowdown);
                w.WriteNumber("boots", c.Power.Boots);
                w.WriteNumber("shutdowns", c.Power.Shutdowns);
                w.WriteNumber("delayed_jobs", c.Power.DelayedJobs);
                w.WriteNumber("boot_wait_seconds", c.Power.DelaySeconds);
                w.WriteNumber("seconds", seconds);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        Terminal.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    private static void WriteTable(string name, PolicyKind policy, SimulationOptions options, int records, PowerModel model, List<(string Name, ElasticComparison C, double Seconds)> runs)
    {
        static string F(double v, string format = "N1") => v.ToString(format, CultureInfo.InvariantCulture);
        static string Pct(double v) => (v >= 0 ? "+" : string.Empty) + F(v * 100, "N1") + " %";
        var first = runs[0].C;
        var head = new Grid().AddColumn().AddColumn();
        head.AddRow("workload", Markup.Escape(name));
        head.AddRow("policy", policy.Name());
        head.AddRow("nodes", $"{F(options.Nodes, "N0")} ({options.ProcsPerNode} processor{(options.ProcsPerNode == 1 ? string.Empty : "s")} each)");
        head.AddRow("jobs (after filter / lines)", $"{first.Schedule.Jobs:N0} / {records:N0}");
        head.AddRow("power model", Markup.Escape(model.ToString()));
        head.AddRow("horizon", $"{F((first.Power.To - first.Power.From) / 86400.0)} days (first submission to last end)");
        head.AddRow("ideal off (idle node-time, always on)", $"{F(first.IdealOffNodeSeconds / 3600, "N0")} node-h");
        head.AddRow("energy floor (ideal)", $"{F(first.FloorJoules / 3.6e6, "N0")} kWh");
        Terminal.Rich.Write(head);

        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("elastic")
            .AddColumn(new TableColumn("off node-h").RightAligned())
            .AddColumn(new TableColumn("share of ideal").RightAligned())
            .AddColumn(new TableColumn("energy kWh").RightAligned())
            .AddColumn(new TableColumn("mean wait s").RightAligned())
            .AddColumn(new TableColumn("Δ wait").RightAligned())
            .AddColumn(new TableColumn("mean bsld").RightAligned())
            .AddColumn(new TableColumn("Δ bsld").RightAligned())
            .AddColumn(new TableColumn("of which boot waits").RightAligned())
            .AddColumn(new TableColumn("boots").RightAligned())
            .AddColumn(new TableColumn("jobs waiting for boots").RightAligned());
        foreach (var (runName, c, _) in runs)
        {
            table.AddRow(
                Markup.Escape(runName),
                F(c.Power.OffNodeHours, "N0"),
                F(c.ShareOfIdeal * 100) + " %",
                F(c.Power.EnergyKilowattHours, "N0"),
                F(c.Schedule.MeanWait, "N0"),
                Pct(c.MeanWaitChange),
                F(c.Schedule.MeanBoundedSlowdown, "N2"),
                Pct(c.MeanBoundedSlowdownChange),
                F(c.BootBoundedSlowdown, "N2"),
                F(c.Power.Boots, "N0"),
                F(c.Power.DelayedJobs, "N0"));
        }

        Terminal.Rich.Write(table);
    }
}
