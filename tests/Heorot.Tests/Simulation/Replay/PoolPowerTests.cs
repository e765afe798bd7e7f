using Heorot.Model.Power;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Power;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;

namespace Heorot.Tests.Simulation.Replay;

/// <summary>The power timeline of elastic replays, on workloads small enough to compute by hand.</summary>
public class PoolPowerTests
{
    private static readonly PowerModel Model = PowerModel.Parse("boot=100s,shutdown=20s,idle=100W,busy=200W,off=10W");

    [Fact]
    public void RunElastic_IdleTimeoutTwoJobs_ExactOffTimeEnergyAndBootWait()
    {
        // 4 nodes. Job 1 (2 nodes, 0..100); the other two go off at 50 (off from 70), its two at 150 (off from 170).
        // Job 2 (4 nodes) arrives at 500: all off, so all boot (500..600); it runs 600..650.
        SimJob[] jobs = [new(1, 0, 100, 2, 200), new(2, 500, 50, 4, 100)];

        var result = Simulator.RunElastic(jobs, new SimulationOptions(PolicyKind.Easy, 4), Model, new IdleTimeoutPolicy(50));

        Assert.Equal([0L, 600L], result.Jobs.Select(j => j.Start));
        Assert.Equal([0L, 100L], result.BootWaits);
        var p = result.Power;
        Assert.Equal((0L, 650L), (p.From, p.To));
        Assert.Equal(400, p.BusyNodeSeconds);
        Assert.Equal(200, p.IdleNodeSeconds);                // 2 × 50 before the first shutdown, 2 × 50 after job 1
        Assert.Equal(480, p.TransitionNodeSeconds);          // shutdowns 2 × 20 + 2 × 20, boots 4 × 100
        Assert.Equal(1520, p.OffNodeSeconds);                // 2 × (500 − 70) + 2 × (500 − 170)
        Assert.Equal(0, p.WaitingNodeSeconds);
        Assert.Equal((400 * 200) + (200 * 100) + (480 * 100) + (1520 * 10), p.EnergyJoules); // 163 200 J
        Assert.Equal((4L, 4L, 1L, 100.0), (p.Boots, p.Shutdowns, p.DelayedJobs, p.DelaySeconds));
    }

    [Fact]
    public void RunElastic_JobGivenAnIdleAndAnOffNode_IdleNodeWaitsForTheBoot()
    {
        // 2 nodes, no shutdown time. Job 1 (1 node, 0..200); node B idle until 50, then off.
        // Job 2 (2 nodes) arrives at 100 and waits for node A; at 200 it takes A (idle) and B (off: boots 200..300),
        // so A waits 200..300 and job 2 runs 300..310.
        var model = PowerModel.Parse("boot=100s,idle=100W,busy=200W,off=10W");
        SimJob[] jobs = [new(1, 0, 200, 1, 300), new(2, 100, 10, 2, 20)];

        var result = Simulator.RunElastic(jobs, new SimulationOptions(PolicyKind.Easy, 2), model, new IdleTimeoutPolicy(50));

        Assert.Equal([0L, 300L], result.Jobs.Select(j => j.Start));
        Assert.Equal(200, result.Jobs[1].Wait);
        var p = result.Power;
        Assert.Equal(310, p.To);
        Assert.Equal((220.0, 50.0, 100.0, 100.0, 150.0), (p.BusyNodeSeconds, p.IdleNodeSeconds, p.WaitingNodeSeconds, p.TransitionNodeSeconds, p.OffNodeSeconds));
        Assert.Equal((220 * 200) + (50 * 100) + (100 * 100) + (100 * 100) + (150 * 10), p.EnergyJoules); // 70 500 J
    }

    [Fact]
    public void RunElastic_AlwaysOn_EnergyIsIdleAndBusyDraw()
    {
        SimJob[] jobs = [new(1, 0, 100, 2, 200), new(2, 500, 50, 4, 100)];

        var result = Simulator.RunElastic(jobs, new SimulationOptions(PolicyKind.Easy, 4), Model, new AlwaysOnPolicy());

        Assert.Equal([0L, 500L], result.Jobs.Select(j => j.Start));
        var p = result.Power;
        Assert.Equal((400.0, 1800.0, 0.0), (p.BusyNodeSeconds, p.IdleNodeSeconds, p.OffNodeSeconds));
        Assert.Equal((400 * 200) + (1800 * 100), p.EnergyJoules);
        Assert.Equal(1800, p.NotBusyNodeSeconds);
    }

    [Fact]
    public void RunElastic_PlanBootsAheadOfTheShadow_HeadStartsWithoutWaiting()
    {
        // 4 nodes, no warm pool. Job 1 holds 3 nodes until 1000 (its walltime, it runs to it); job 2 (4 nodes)
        // arrives at 10 and must wait for it. The free node is not needed before 1000, so the plan powers it off,
        // then boots it at 900 (1000 − boot): job 2 starts at 1000 without waiting.
        SimJob[] jobs = [new(1, 0, 1000, 3, 1000), new(2, 10, 50, 4, 100)];
        var plan = new PlanAwarePolicy(Model, new PlanPolicyOptions(Warm: 0, BreakEven: 0, Linger: 0));

        var result = Simulator.RunElastic(jobs, new SimulationOptions(PolicyKind.Easy, 4), Model, plan);

        Assert.Equal([0L, 1000L], result.Jobs.Select(j => j.Start));
        Assert.Equal([0L, 0L], result.BootWaits);
        var p = result.Power;
        Assert.Equal((1L, 5L), (p.Boots, p.Shutdowns)); // and the 4 nodes job 2 leaves at 1050
        Assert.Equal(900 - 20, p.OffNodeSeconds);            // off from 20 (shut down 0..20) until its boot at 900
    }

    [Fact]
    public void RunElastic_ConservativeReservationOnOffNodes_JobEndsInsideItsSlot()
    {
        // Conservative: job 3's reservation after job 1 holds the walltime plus the longest possible wait for a boot
        // (shutdown + boot), so it may start on nodes that are off and still end inside its slot.
        SimJob[] jobs = [new(1, 0, 300, 4, 300), new(2, 1, 10, 1, 10), new(3, 2, 100, 4, 100)];

        var result = Simulator.RunElastic(jobs, new SimulationOptions(PolicyKind.Conservative, 4), Model, new IdleTimeoutPolicy(0));

        var byId = result.Jobs.ToDictionary(j => j.JobId);
        Assert.Equal(300, byId[2].Start);                   // nodes still on: job 2 starts at once
        Assert.True(byId[3].Start >= 310);
        Assert.Equal(result.Jobs.Count, result.BootWaits.Count);
    }
}
