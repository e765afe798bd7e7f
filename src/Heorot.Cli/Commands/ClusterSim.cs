using System.Diagnostics;
using Heorot.Cli.Output;
using Heorot.Model.Requests;
using Heorot.Model.Resources;
using Heorot.Scheduling.Policies;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;

namespace Heorot.Cli.Commands;

/// <summary><c>heorot sim --cluster FILE</c>: replays a workload on a described cluster with hierarchical requests.</summary>
internal static class ClusterSim
{
    public static int Run(FileInfo clusterFile, FileInfo? trace, FileInfo? workload, string policyText, string walltimeText, FileInfo? output, bool json)
    {
        if (!PolicyKinds.TryParse(policyText, out var policy))
        {
            return Terminal.Fail($"--policy: unknown policy '{policyText}'; expected fcfs, easy or conservative");
        }

        if ((trace == null) == (workload == null))
        {
            return Terminal.Fail("with --cluster, give exactly one of --trace FILE.swf or --workload FILE");
        }

        TimeSpan defaultWalltime;
        try
        {
            defaultWalltime = SlurmRequestParser.ParseTime(walltimeText, "--default-walltime") ?? TimeSpan.FromHours(1);
        }
        catch (RequestParseException e)
        {
            return Terminal.Fail(e.Message + "\n" + e.Caret);
        }

        ClusterModel cluster;
        try
        {
            cluster = ClusterDescription.Load(clusterFile.FullName);
        }
        catch (ClusterDescriptionException e)
        {
            return Terminal.Fail(e.Message);
        }

        var input = (trace ?? workload)!;
        if (!input.Exists)
        {
            return Terminal.Fail($"no such file: {input.FullName}");
        }

        var stopwatch = Stopwatch.StartNew();
        ClusterSimulationResult result;
        var lines = 0;
        try
        {
            if (trace != null)
            {
                var swf = SwfReader.ReadFile(trace.FullName);
                var cores = (int)Math.Min(int.MaxValue, cluster.TotalCores);
                var jobs = StrongFilter.Apply(swf.Records, cores);
                lines = swf.Records.Count;
                stopwatch.Restart();
                result = ClusterSimulator.RunTrace(cluster, jobs, policy);
            }
            else
            {
                var jobs = ClusterWorkload.Parse(File.ReadAllText(workload!.FullName), workload.Name);
                lines = jobs.Count;
                stopwatch.Restart();
                result = ClusterSimulator.Run(cluster, jobs, policy, defaultWalltime);
            }
        }
        catch (SwfFormatException e)
        {
            return Terminal.Fail(e.Message);
        }
        catch (WorkloadFormatException e)
        {
            return Terminal.Fail(e.Message);
        }

        var seconds = stopwatch.Elapsed.TotalSeconds;
        foreach (var r in result.Rejected.Take(10))
        {
            Terminal.Err.WriteLine($"heorot: job {r.Id} left out: {r.Reason}");
        }

        if (result.Rejected.Count > 10)
        {
            Terminal.Err.WriteLine($"heorot: … and {result.Rejected.Count - 10} more jobs left out");
        }

        var metrics = ScheduleMetrics.Compute(result.Jobs, (int)Math.Min(int.MaxValue, result.TotalCores));
        if (output != null)
        {
            using var writer = new StreamWriter(output.FullName);
            ScheduleCsv.Write(writer, result.Jobs);
        }

        if (json)
        {
            SimCommand.WriteJson(metrics, seconds);
        }
        else
        {
            SimCommand.WriteTable($"{input.Name} on {clusterFile.Name} ({cluster.Nodes.Count} nodes)", policy, SimulationMode.Tick, (int)Math.Min(int.MaxValue, result.TotalCores), lines, metrics, seconds);
        }

        return 0;
    }
}
