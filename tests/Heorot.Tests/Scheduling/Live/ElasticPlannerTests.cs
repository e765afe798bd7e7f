using Heorot.Model.Lifecycle;
using Heorot.Model.Requests;
using Heorot.Model.Resources;
using Heorot.Scheduling.Live;
using Heorot.Scheduling.Policies;

namespace Heorot.Tests.Scheduling.Live;

public class ElasticPlannerTests
{
    private const long T0 = 1_700_000_000;

    private static readonly ElasticOptions Options = new() { IdleSeconds = 600, BreakEvenSeconds = 300, ShutdownSeconds = 30, DefaultBootSeconds = 120, LeadSeconds = 10 };

    private static ElasticNode Node(int index, NodePowerState power) => new(index, $"n{index}", power) { IdleSince = T0 - 10_000, BootSeconds = 100 };

    private static RequestCompiler Compiler(int nodes)
    {
        var b = new ClusterModelBuilder("test");
        var sw = b.AddSwitch(b.AddCluster("a"), "sw");
        for (var i = 0; i < nodes; i++)
        {
            b.AddNode(sw, $"n{i}", 1, 4, 1024, 0, null);
        }

        return new RequestCompiler(b.Build());
    }

    private static PendingJob Job(RequestCompiler compiler, long id, string l) =>
        new(id, "alice", "default", T0, compiler.Compile(OarRequestParser.Parse([l], null), TimeSpan.FromHours(1)));

    [Fact]
    public void Decide_OffNodeAJobNeedsNow_PowersItOn()
    {
        var decisions = ElasticPlanner.Decide(T0, [Node(0, NodePowerState.Off)], [new PlannedUse(0, T0 + 100, 7)], Options);

        var on = Assert.Single(decisions);
        Assert.Equal(ElasticAction.PowerOn, on.Action);
        Assert.Equal("n0", on.Node);
        Assert.Contains("job 7", on.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_OffNodeNeededLater_WaitsUntilItsBootTimeBeforeTheStart()
    {
        // Boot 100 s + lead 10 s: powered on at start - 110 s, not before.
        var use = new PlannedUse(0, T0 + 1000, 7);

        Assert.Empty(ElasticPlanner.Decide(T0, [Node(0, NodePowerState.Off)], [use], Options));
        Assert.Empty(ElasticPlanner.Decide(T0 + 889, [Node(0, NodePowerState.Off)], [use], Options));
        Assert.Equal(ElasticAction.PowerOn, Assert.Single(ElasticPlanner.Decide(T0 + 890, [Node(0, NodePowerState.Off)], [use], Options)).Action);
    }

    [Fact]
    public void Decide_NodeWithoutLearnedBootTime_UsesTheDefault()
    {
        var node = Node(0, NodePowerState.Off) with { BootSeconds = 0 };
        var use = new PlannedUse(0, T0 + 1000, 7);

        Assert.Empty(ElasticPlanner.Decide(T0 + 869, [node], [use], Options));
        Assert.Single(ElasticPlanner.Decide(T0 + 870, [node], [use], Options));
    }

    [Fact]
    public void Decide_IdleNodeNothingPlanned_PowersItOffOnlyAfterTheIdleTime()
    {
        var node = Node(0, NodePowerState.On) with { IdleSince = T0 - 599 };

        Assert.Empty(ElasticPlanner.Decide(T0, [node], [], Options));
        var off = Assert.Single(ElasticPlanner.Decide(T0 + 1, [node], [], Options));
        Assert.Equal(ElasticAction.PowerOff, off.Action);
        Assert.Contains("idle for 600 s", off.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_IdleNodeNeededWithinBootShutdownAndBreakEven_StaysOn()
    {
        var node = Node(0, NodePowerState.On);

        // Horizon = boot 100 + shutdown 30 + break-even 300 = 430 s.
        Assert.Empty(ElasticPlanner.Decide(T0, [node], [new PlannedUse(0, T0 + 430, 7)], Options));
        Assert.Equal(ElasticAction.PowerOff, Assert.Single(ElasticPlanner.Decide(T0, [node], [new PlannedUse(0, T0 + 431, 7)], Options)).Action);
    }

    [Fact]
    public void Decide_BusyOrUnhealthyOrUnstoppableNodes_AreNeverPoweredOff()
    {
        ElasticNode[] nodes =
        [
            Node(0, NodePowerState.On) with { Busy = true },
            Node(1, NodePowerState.On) with { Healthy = false },
            Node(2, NodePowerState.On) with { CanPowerOff = false },
        ];

        Assert.Empty(ElasticPlanner.Decide(T0, nodes, [], Options));
    }

    [Fact]
    public void Decide_KeepWarm_LeavesThatManyIdleNodesOnAndWakesOneWhenNoneIs()
    {
        var options = Options with { KeepWarm = 1 };

        var offs = ElasticPlanner.Decide(T0, [Node(0, NodePowerState.On), Node(1, NodePowerState.On) with { IdleSince = T0 - 20_000 }], [], options);
        var on = ElasticPlanner.Decide(T0, [Node(0, NodePowerState.Off), Node(1, NodePowerState.Off) with { BootSeconds = 50 }], [], options);

        var off = Assert.Single(offs);
        Assert.Equal(("n1", ElasticAction.PowerOff), (off.Node, off.Action)); // idle the longest
        var warm = Assert.Single(on);
        Assert.Equal(("n1", ElasticAction.PowerOn), (warm.Node, warm.Action)); // the quicker to boot
    }

    [Fact]
    public void Decide_KeepWarmIsPerPartition()
    {
        var options = Options with { KeepWarm = 1 };
        ElasticNode[] nodes =
        [
            Node(0, NodePowerState.On) with { Partition = "a" },
            Node(1, NodePowerState.On) with { Partition = "b" },
            Node(2, NodePowerState.On) with { Partition = "b" },
        ];

        var off = Assert.Single(ElasticPlanner.Decide(T0, nodes, [], options));

        Assert.Equal("n1", off.Node);
    }

    [Fact]
    public void Decide_BootTimedOut_CyclesOnceThenGivesUp()
    {
        // Timeout = 2 × 100 + 60 = 260 s.
        var booting = Node(0, NodePowerState.PoweringOn) with { TransitionSince = T0 - 259 };

        Assert.Empty(ElasticPlanner.Decide(T0, [booting], [], Options));
        var cycle = Assert.Single(ElasticPlanner.Decide(T0 + 1, [booting], [], Options));
        var giveUp = Assert.Single(ElasticPlanner.Decide(T0 + 1, [booting with { Cycles = 1 }], [], Options));

        Assert.Equal(ElasticAction.Cycle, cycle.Action);
        Assert.Equal(ElasticAction.GiveUp, giveUp.Action);
    }

    [Fact]
    public void Decide_RateLimited_PowersOnForPlannedWorkFirst()
    {
        ElasticNode[] nodes = [Node(0, NodePowerState.On), Node(1, NodePowerState.Off), Node(2, NodePowerState.Off)];
        PlannedUse[] uses = [new(2, T0 + 50, 9), new(1, T0 + 20, 8)];

        var decisions = ElasticPlanner.Decide(T0, nodes, uses, Options with { MaxActionsPerMinute = 3 }, recentActions: 1);

        Assert.Equal([("n1", ElasticAction.PowerOn), ("n2", ElasticAction.PowerOn)], decisions.Select(d => (d.Node, d.Action)).ToArray());
    }

    [Fact]
    public void Decide_UndiscoveredNode_IsBootedToRegister()
    {
        var decision = Assert.Single(ElasticPlanner.Decide(T0, [Node(0, NodePowerState.Off) with { Undiscovered = true }], [], Options));

        Assert.Equal(ElasticAction.PowerOn, decision.Action);
    }

    [Fact]
    public void WithPowerDelays_JobNeedingAnOffNode_IsPlannedAfterItsBootAndWakesIt()
    {
        var compiler = Compiler(3);
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Queues = [new QueueSpec("default", Policy: PolicyKind.Easy)],
            Pending = [Job(compiler, 1, "/nodes=3,walltime=1:00:00"), Job(compiler, 2, "/nodes=1,walltime=1:00:00"), Job(compiler, 3, "/nodes=2,walltime=1:00:00")],
        };

        // n0 is on; n1 is off (boot 100 s), n2 is booting and ready in 30 s.
        var whatIf = ElasticPlanner.WithPowerDelays(snapshot, [null, T0 + 100, T0 + 30]);
        var plan = ClusterScheduler.Plan(whatIf);
        var uses = ElasticPlanner.Uses(plan);

        Assert.Equal(T0 + 100, plan.ExplainFor(1)!.Planned!.Start); // every node, once n1 is up
        Assert.NotNull(plan.ExplainFor(3)!.Planned); // conservative: every waiting job has a slot, not only EASY's head
        Assert.All(plan.Starts, s => Assert.DoesNotContain(1, s.Alloc.Nodes));
        var decisions = ElasticPlanner.Decide(T0, [Node(1, NodePowerState.Off), Node(2, NodePowerState.PoweringOn) with { TransitionSince = T0 - 70 }], uses, Options);
        Assert.Equal([("n1", ElasticAction.PowerOn)], decisions.Select(d => (d.Node, d.Action)).ToArray());
    }

    [Fact]
    public void WithPowerDelays_KeptSlotOnANodeNotReadyByThen_IsPlannedAfreshInQueueOrder()
    {
        var compiler = Compiler(3);
        var job1 = Job(compiler, 1, "/nodes=2,walltime=0:05:00");
        var job2 = Job(compiler, 2, "/nodes=2,walltime=0:05:00");

        // The previous pass gave job 1 a slot at T0+3 and job 2 the one after it; the off nodes are now ready only
        // at T0+4 (their readiness slides until they are powered on): job 1 loses its slot. Were job 2's kept, job 2
        // would be compressed into the first slot and overtake job 1.
        var alloc = new Heorot.Scheduling.Timeline.NodeAlloc([0, 1], [4, 4], [1024, 1024], [0, 0]);
        var snapshot = new SchedulingSnapshot(T0, compiler.Shape)
        {
            Pending = [job1 with { Previous = new PlannedSlot(T0 + 3, T0 + 303, 0, alloc) }, job2 with { Previous = new PlannedSlot(T0 + 303, T0 + 603, 0, alloc) }],
        };

        var plan = ClusterScheduler.Plan(ElasticPlanner.WithPowerDelays(snapshot, [T0 + 4, T0 + 4, T0 + 4]));

        Assert.Equal(T0 + 4, plan.ExplainFor(1)!.Planned!.Start);
        Assert.True(plan.ExplainFor(2)!.Planned!.Start > T0 + 4);
    }
}
