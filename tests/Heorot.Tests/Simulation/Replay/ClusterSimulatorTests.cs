using Heorot.Model.Resources;
using Heorot.Scheduling.Policies;
using Heorot.Simulation.Replay;
using Heorot.Tests.Support;

namespace Heorot.Tests.Simulation.Replay;

public class ClusterSimulatorTests
{
    private static ClusterModel ExampleCluster() =>
        ClusterDescription.Load(Path.Combine(SharedFiles.RepositoryRoot, "examples", "cluster.yaml"));

    private static IReadOnlyList<ClusterWorkloadJob> ExampleWorkload() =>
        ClusterWorkload.Parse(File.ReadAllText(Path.Combine(SharedFiles.RepositoryRoot, "examples", "workload.txt")), "workload.txt");

    [Theory]
    [InlineData(PolicyKind.Fcfs)]
    [InlineData(PolicyKind.Easy)]
    [InlineData(PolicyKind.Conservative)]
    public void Run_ExampleWorkload_EveryJobRunsAfterSubmitAndAfterItsDependency(PolicyKind policy)
    {
        var jobs = ExampleWorkload();

        var result = ClusterSimulator.Run(ExampleCluster(), jobs, policy, TimeSpan.FromHours(1));

        Assert.Empty(result.Rejected);
        Assert.Equal(jobs.Count, result.Jobs.Count);
        Assert.All(result.Jobs, o => Assert.True(o.Start >= o.Submit && o.Wait == o.Start - o.Submit));
        var byId = result.Jobs.ToDictionary(o => o.JobId);
        foreach (var job in jobs)
        {
            foreach (var after in job.Request.After)
            {
                Assert.True(byId[job.Id].Start >= byId[after].Start + byId[after].Run, $"job {job.Id} started before job {after} ended");
            }
        }

        // Never more cores busy than the cluster has, at any job start.
        foreach (var o in result.Jobs)
        {
            var busy = result.Jobs.Where(x => x.Start <= o.Start && o.Start < x.Start + x.Run).Sum(x => (long)x.Procs);
            Assert.True(busy <= result.TotalCores, $"{busy} cores busy at {o.Start}");
        }
    }

    [Fact]
    public void Run_RequestNoNodeCanHold_RejectedWithReason()
    {
        var jobs = ClusterWorkload.Parse("0 10 a -l \"/nodes=1/gpu=16\"\n0 10 b -l \"/nodes=1\" --after 1\n0 10 c -l \"/nodes=2\"\n", "w.txt");

        var result = ClusterSimulator.Run(ExampleCluster(), jobs, PolicyKind.Easy, TimeSpan.FromHours(1));

        Assert.Equal([1L, 2L], result.Rejected.Select(r => r.Id));
        Assert.Contains("can never run on this cluster", result.Rejected[0].Reason, StringComparison.Ordinal);
        Assert.Equal("depends on a rejected job", result.Rejected[1].Reason);
        Assert.Equal(3, Assert.Single(result.Jobs).JobId);
    }

    [Theory]
    [InlineData("0 10 a -l \"/nodes=x\"", "w.txt:1: -l: expected a number at column 8")]
    [InlineData("# comment\n\nten 10 a", "w.txt:3: SUBMIT must be a whole number of seconds up to 1000000000000, got 'ten'")]
    [InlineData("0 0 a", "w.txt:1: RUN must be a positive number of seconds up to 1000000000000, got '0'")]
    [InlineData("0 10", "w.txt:1: expected SUBMIT RUN USER [ARGUMENTS]")]
    [InlineData("0 10 a --after 1", "w.txt:1: --after 1: no earlier job has that id")]
    public void Parse_BadLine_ErrorNamesFileAndLine(string text, string expected)
    {
        var e = Assert.Throws<WorkloadFormatException>(() => ClusterWorkload.Parse(text, "w.txt"));
        Assert.StartsWith(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_DependencyOnJobSubmittedLater_StillHonoured()
    {
        var jobs = ClusterWorkload.Parse("100 50 u -l \"/nodes=1\"\n0 10 u -l \"/nodes=1\" --after 1\n", "w.txt");

        var result = ClusterSimulator.Run(ExampleCluster(), jobs, PolicyKind.Conservative, TimeSpan.FromHours(1));

        var byId = result.Jobs.ToDictionary(o => o.JobId);
        Assert.True(byId[2].Start >= byId[1].Start + 50, $"job 2 started at {byId[2].Start}, before job 1 ended");
    }

    [Theory]
    [InlineData(PolicyKind.Easy)]
    [InlineData(PolicyKind.Conservative)]
    public void RunTrace_RealTraceOnSmallCluster_AllJobsRunWithinCapacity(PolicyKind policy)
    {
        // KTH's 100 processors as 25 nodes of 4 cores; the first 3000 jobs, plus a duplicated job number.
        var b = new ClusterModelBuilder("kth");
        var sw = b.AddSwitch(b.AddCluster("c"), "sw");
        for (var i = 0; i < 25; i++)
        {
            b.AddNode(sw, $"n{i}", 1, 4, 1024);
        }

        var swf = Heorot.Simulation.Swf.SwfReader.ReadFile(SharedFiles.Path("traces", "KTH-SP2-1996-2.1-cln.swf.gz"));
        var jobs = Heorot.Simulation.Swf.StrongFilter.Apply(swf.Records, 100).Take(3000).ToList();
        jobs.Add(jobs[^1] with { Submit = jobs[^1].Submit + 1 });

        var result = ClusterSimulator.RunTrace(b.Build(), jobs, policy);

        Assert.Empty(result.Rejected);
        Assert.Equal(jobs.Count, result.Jobs.Count);
        var events = result.Jobs.SelectMany(o => new[] { (Time: o.Start, Cores: o.Procs), (Time: o.Start + o.Run, Cores: -o.Procs) }).OrderBy(e => e.Time).ThenBy(e => e.Cores);
        var busy = 0;
        foreach (var (_, cores) in events)
        {
            busy += cores;
            Assert.True(busy <= 100, $"{busy} cores busy");
        }
    }
}
