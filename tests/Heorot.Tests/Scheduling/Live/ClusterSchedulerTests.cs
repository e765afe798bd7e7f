using Heorot.Model;
using Heorot.Model.Requests;
using Heorot.Model.Resources;
using Heorot.Scheduling.Live;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Tests.Scheduling.Live;

public class ClusterSchedulerTests
{
    private const long T0 = 1_700_000_000;

    /// <summary>8 nodes of 4 cores, 2 switches; nodes 4-7 have 2 GPUs and gpu_model 'A100'.</summary>
    private static ClusterModel Cluster()
    {
        var b = new ClusterModelBuilder("test");
        var c = b.AddCluster("a");
        for (var s = 0; s < 2; s++)
        {
            var sw = b.AddSwitch(c, $"sw{s}");
            for (var i = 0; i < 4; i++)
            {
                var n = (s * 4) + i;
                var props = new Dictionary<string, PropertyValue> { ["model"] = PropertyValue.Of(s == 0 ? "X540" : "R740") };
                if (s == 1)
                {
                    props["gpu_model"] = PropertyValue.Of("A100");
                }

                b.AddNode(sw, $"n{n}", 1, 4, 16384, s == 1 ? 2 : 0, props);
            }
        }

        return b.Build();
    }

    private static PendingJob Job(RequestCompiler compiler, long id, string l, string? p = null, long submit = T0, string queue = "default", string user = "alice") =>
        new(id, user, queue, submit, compiler.Compile(OarRequestParser.Parse([l], p), TimeSpan.FromHours(1)));

    private static RunningJob Running(long id, long start, long end, params int[] nodes) =>
        new(id, "bob", start, end, new NodeAlloc(nodes, nodes.Select(_ => 4).ToArray(), new long[nodes.Length], new int[nodes.Length]));

    [Fact]
    public void Plan_OneSwitchRequest_PlacesEveryNodeUnderOneSwitch()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Running = [Running(1, T0 - 10, T0 + 100, 0)],
            Pending = [Job(compiler, 2, "/switch=1/nodes=4/core=2,walltime=0:10:00")],
        };

        var plan = ClusterScheduler.Plan(snapshot);

        var start = Assert.Single(plan.Starts);
        Assert.Equal([4, 5, 6, 7], start.Alloc.Nodes.Order().ToArray());
        Assert.All(start.Alloc.Cores, c => Assert.Equal(2, c));
    }

    [Fact]
    public void Plan_GpuJobWithBusyEligibleNodes_ExplainsWhatItNeedsAndWhen()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Running = [Running(1, T0 - 10, T0 + 3600, 4), Running(2, T0 - 10, T0 + 7200, 5)],
            Pending = [Job(compiler, 3, "/nodes=3,walltime=1:00:00", "gpu >= 2")],
        };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Empty(plan.Starts);
        var why = plan.ExplainFor(3)!;
        Assert.Equal(T0 + 3600, why.Planned!.Start);
        Assert.Contains("needs 3 whole nodes", why.Reason, StringComparison.Ordinal);
        Assert.Contains("gpu >= 2", why.Reason, StringComparison.Ordinal);
        Assert.Contains("2 of 4 eligible nodes free now", why.Reason, StringComparison.Ordinal);
        Assert.Contains(ClusterScheduler.FormatTime(T0 + 3600), why.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_PropertyFilterNobodyMatches_SaysSoAndPlansNothing()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape) { Pending = [Job(compiler, 1, "/nodes=1", "model like 'Z%'")] };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Empty(plan.Starts);
        Assert.Null(plan.ExplainFor(1)!.Planned);
        Assert.Contains("only 0 nodes match", plan.ExplainFor(1)!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Reserve_ConflictingWindow_RefusedWithReason_AndQueuedJobsPlanAroundAccepted()
    {
        var compiler = new RequestCompiler(Cluster());
        var all = compiler.Compile(OarRequestParser.ParseResources("/nodes=8"));
        var baseSnapshot = new SchedulingSnapshot(T0, compiler.Shape) { Running = [Running(1, T0 - 10, T0 + 1000, 0)] };

        var (refusedAlloc, refusal) = ClusterScheduler.Reserve(baseSnapshot, all, T0 + 500, T0 + 1500);
        Assert.Null(refusedAlloc);
        Assert.StartsWith("refused: needs 8 whole nodes", refusal, StringComparison.Ordinal);

        var (alloc, none) = ClusterScheduler.Reserve(baseSnapshot, all, T0 + 1000, T0 + 2000);
        Assert.Null(none);
        var withReservation = baseSnapshot with
        {
            Reservations = [new AdvanceReservation(9, "carol", T0 + 1000, T0 + 2000, alloc!)],
            Pending = [Job(compiler, 2, "/nodes=2,walltime=0:30:00")],
        };

        var plan = ClusterScheduler.Plan(withReservation);

        // 30 minutes do not fit before the reservation at T0+1000: the job goes after it.
        Assert.Empty(plan.Starts);
        Assert.Equal(T0 + 2000, plan.ExplainFor(2)!.Planned!.Start);
    }

    [Fact]
    public void Plan_NormalJobNeedsBestEffortNodes_PreemptsThem()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Running = [Running(1, T0 - 10, T0 + 3600, 0, 1, 2, 3, 4, 5, 6, 7) with { BestEffort = true }],
            Pending = [Job(compiler, 2, "/nodes=2,walltime=0:10:00")],
        };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Equal([1L], plan.Preempt);
        Assert.Equal(2, Assert.Single(plan.Starts).JobId);
    }

    [Fact]
    public void Plan_BestEffortJob_StartsOnlyIntoIdleResources()
    {
        var compiler = new RequestCompiler(Cluster());
        var be = Job(compiler, 2, "/nodes=8,walltime=10:00:00") with { BestEffort = true };
        var busy = new SchedulingSnapshot(T0, compiler.Shape) { Running = [Running(1, T0 - 10, T0 + 60, 0)], Pending = [be] };
        var idle = busy with { Running = [] };

        Assert.Empty(ClusterScheduler.Plan(busy).Starts);
        Assert.StartsWith("best-effort", ClusterScheduler.Plan(busy).ExplainFor(2)!.Reason, StringComparison.Ordinal);
        Assert.Equal(2, Assert.Single(ClusterScheduler.Plan(idle).Starts).JobId);
    }

    [Fact]
    public void Plan_JobAfterPendingJob_PlannedAfterItsEnd()
    {
        var compiler = new RequestCompiler(Cluster());
        var first = Job(compiler, 1, "/nodes=8,walltime=1:00:00") with { };
        var second = Job(compiler, 2, "/nodes=1,walltime=0:10:00") with { After = [1] };
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape) { Running = [Running(5, T0 - 1, T0 + 100, 0)], Pending = [first, second] };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Empty(plan.Starts);
        Assert.Equal(T0 + 100, plan.ExplainFor(1)!.Planned!.Start);
        Assert.Equal(T0 + 100 + 3600, plan.ExplainFor(2)!.Planned!.Start);
        Assert.Contains("waits for job 1", plan.ExplainFor(2)!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_MoldableJob_TakesTheAlternativeThatFinishesFirst()
    {
        var compiler = new RequestCompiler(Cluster());
        var request = OarRequestParser.Parse(["/nodes=8,walltime=0:01:40", "/nodes=1,walltime=0:05:00"], null);
        var moldable = new PendingJob(1, "alice", "default", T0, compiler.Compile(request, TimeSpan.FromHours(1)));
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape) { Running = [Running(2, T0 - 1, T0 + 250, 0, 1, 2, 3, 4, 5, 6)], Pending = [moldable] };

        // 8 nodes at T0+250 end at T0+350; 1 node now ends at T0+300.
        var start = Assert.Single(ClusterScheduler.Plan(snapshot).Starts);
        Assert.Equal(1, start.Alternative);
        Assert.Equal([7], start.Alloc.Nodes);
    }

    [Fact]
    public void Plan_GapBetweenJobs_KeepsNodeFreeAfterEachJob()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Gap = 60,
            Running = [Running(1, T0 - 10, T0 + 100, 0, 1, 2, 3, 4, 5, 6, 7)],
            Pending = [Job(compiler, 2, "/nodes=8,walltime=0:10:00")],
        };

        Assert.Equal(T0 + 160, ClusterScheduler.Plan(snapshot).ExplainFor(2)!.Planned!.Start);
    }

    [Fact]
    public void Plan_FairShareQueue_LightUserBeforeHeavyUser()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Queues = [new QueueSpec("default", 0, PolicyKind.Conservative, FairShare: true)],
            Usage = [new UsageRecord("heavy", "p", T0 - 3600, 1e6), new UsageRecord("light", "p", T0 - 3600, 1e3)],
            Running = [Running(1, T0 - 10, T0 + 100, 0, 1, 2, 3, 4, 5, 6, 7)],
            Pending = [Job(compiler, 2, "/nodes=8", user: "heavy"), Job(compiler, 3, "/nodes=8", submit: T0 + 1, user: "light")],
        };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.True(plan.ExplainFor(3)!.Planned!.Start < plan.ExplainFor(2)!.Planned!.Start);
    }

    [Fact]
    public void Plan_HigherPriorityQueue_PlannedFirst()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Queues = [new QueueSpec("default", 0, PolicyKind.Easy), new QueueSpec("urgent", 10, PolicyKind.Fcfs)],
            Running = [Running(1, T0 - 10, T0 + 100, 0, 1, 2, 3, 4, 5, 6, 7)],
            Pending = [Job(compiler, 2, "/nodes=8"), Job(compiler, 3, "/nodes=8", submit: T0 + 5, queue: "urgent"), Job(compiler, 4, "/nodes=1", queue: "nowhere")],
        };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Equal(T0 + 100, plan.ExplainFor(3)!.Planned!.Start);
        Assert.Equal(T0 + 100 + 3600, plan.ExplainFor(2)!.Planned!.Start);
        Assert.Equal("queue 'nowhere' does not exist", plan.ExplainFor(4)!.Reason);
    }

    [Fact]
    public void Plan_DependencyInLowerQueue_DependentWaitsWithoutSlot()
    {
        var compiler = new RequestCompiler(Cluster());
        var a = Job(compiler, 1, "/nodes=1", queue: "low");
        var b = Job(compiler, 2, "/nodes=1", queue: "high") with { After = [1] };
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Queues = [new QueueSpec("high", 10), new QueueSpec("low", 0)],
            Pending = [a, b],
        };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Equal([1L], plan.Starts.Select(s => s.JobId));
        Assert.Null(plan.ExplainFor(2)!.Planned);
        Assert.StartsWith("waits for job 1 to end", plan.ExplainFor(2)!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_PreviousSlotOfJobWhosePredecessorMovedLater_IsNotKept()
    {
        var compiler = new RequestCompiler(Cluster());
        var nodes = Enumerable.Range(0, 8).ToArray();
        var predecessor = Job(compiler, 1, "/nodes=8,walltime=0:10:00");
        var successor = Job(compiler, 2, "/nodes=1,walltime=0:10:00") with
        {
            After = [1],
            Previous = new PlannedSlot(T0, T0 + 600, 0, new NodeAlloc([3], [4], [0], [0])),
        };
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Running = [Running(9, T0 - 10, T0 + 1000, 0)],
            Pending = [predecessor, successor],
        };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Empty(plan.Starts);
        Assert.Equal(T0 + 1000 + 600, plan.ExplainFor(2)!.Planned!.Start);
    }

    [Theory]
    [InlineData("/switch=2/nodes=2000000000")]
    [InlineData("/switch=65536/nodes=65536")]
    public void Plan_HugeRequest_NeverStartsAndSaysWhy(string l)
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape) { Pending = [Job(compiler, 1, l)] };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Empty(plan.Starts);
        Assert.Contains("only 8 nodes match", plan.ExplainFor(1)!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_AllNodesOfEmptySet_NeverStartsAndReservationRefused()
    {
        var compiler = new RequestCompiler(Cluster());
        var job = Job(compiler, 1, "/nodes=ALL", "model = 'nothing'") with { Queue = "fcfs" };
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape) { Queues = [new QueueSpec("fcfs", 0, PolicyKind.Fcfs)], Pending = [job] };

        Assert.Empty(ClusterScheduler.Plan(snapshot).Starts);
        var (alloc, refusal) = ClusterScheduler.Reserve(snapshot, job.Alternatives[0].Demand, T0 + 10, T0 + 20);
        Assert.Null(alloc);
        Assert.StartsWith("refused: needs 1 whole node", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_TwoGroupsWhereOnlyOneNodeSuitsTheSecond_PlacesBoth()
    {
        var b = new ClusterModelBuilder("uneven");
        var sw = b.AddSwitch(b.AddCluster("c"), "sw");
        b.AddNode(sw, "small", 1, 8, 1024, 0, new Dictionary<string, PropertyValue> { ["ib"] = PropertyValue.Of("yes") });
        b.AddNode(sw, "big", 1, 16, 1024, 0, new Dictionary<string, PropertyValue> { ["ib"] = PropertyValue.Of("no") });
        var compiler = new RequestCompiler(b.Build());
        var request = OarRequestParser.ParseArguments(["-l", "/nodes=1/core=1+/nodes=1/core=1{ib = 'yes'}"]);
        var job = new PendingJob(1, "u", "default", T0, compiler.Compile(request, TimeSpan.FromHours(1)));

        var start = Assert.Single(ClusterScheduler.Plan(new SchedulingSnapshot(T0, compiler.Shape) { Pending = [job] }).Starts);

        Assert.Equal([0, 1], start.Alloc.Nodes.Order().ToArray());
    }

    [Fact]
    public void Compile_AllCoresOnUnevenNodes_TakesWholeNodes()
    {
        var b = new ClusterModelBuilder("uneven");
        var sw = b.AddSwitch(b.AddCluster("c"), "sw");
        b.AddNode(sw, "small", 1, 16, 1024);
        b.AddNode(sw, "big", 2, 16, 1024);
        var compiler = new RequestCompiler(b.Build());
        var job = new PendingJob(1, "u", "default", T0, compiler.Compile(OarRequestParser.Parse(["/nodes=2/core=ALL"], null), TimeSpan.FromHours(1)));

        var start = Assert.Single(ClusterScheduler.Plan(new SchedulingSnapshot(T0, compiler.Shape) { Pending = [job] }).Starts);

        Assert.Equal(48, start.Alloc.Cores.Sum());
    }

    [Fact]
    public void Plan_IdleNodeBesideBestEffortNode_UsesTheIdleNodeAndPreemptsNothing()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Running = [Running(1, T0 - 10, T0 + 3600, 0, 1, 2, 3, 4, 5, 6) with { BestEffort = true }],
            Pending = [Job(compiler, 2, "/nodes=1,walltime=0:10:00"), Job(compiler, 3, "/nodes=1/core=1,walltime=0:10:00", submit: T0 + 1)],
        };

        var plan = ClusterScheduler.Plan(snapshot);

        Assert.Empty(plan.Preempt);
        Assert.Equal([7], plan.Starts.Single(s => s.JobId == 2).Alloc.Nodes);
    }

    [Fact]
    public void Plan_CoresAnywhereNotFreeYet_ExplainsInCores()
    {
        var compiler = new RequestCompiler(Cluster());
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Running = [Running(1, T0 - 10, T0 + 600, 0, 1, 2, 3, 4, 5)],
            Pending = [Job(compiler, 2, "/core=12,walltime=0:10:00")],
        };

        var why = ClusterScheduler.Plan(snapshot).ExplainFor(2)!;

        Assert.StartsWith("needs 12 cores; 8 of 32 eligible cores free now", why.Reason, StringComparison.Ordinal);
        Assert.Equal(T0 + 600, why.Planned!.Start);
    }
}
