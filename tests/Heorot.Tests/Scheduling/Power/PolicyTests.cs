using Heorot.Model.Requests;
using Heorot.Model.Lifecycle;
using Heorot.Model.Power;
using Heorot.Scheduling.Power;
using Heorot.Scheduling.Timeline;

namespace Heorot.Tests.Scheduling.Power;

public class PolicyTests
{
    private const long Never = CapacityProfile.Never;
    private static readonly PowerModel Model = new(100, 20, 100, 250, 5);

    private static PowerDecision Decide(IPowerPolicy policy, long now, params FreeNodes[] free)
    {
        var decision = new PowerDecision();
        policy.Decide(new PowerView(now, Model, 16, free), decision);
        return decision;
    }

    [Fact]
    public void IdleTimeout_IdleLongEnough_PowersOffAndWakesForTheNext()
    {
        var d = Decide(new IdleTimeoutPolicy(600), 1000,
            new FreeNodes(SimulatedPowerState.Idle, 900, Never, 2),
            new FreeNodes(SimulatedPowerState.Idle, 400, Never, 3),
            new FreeNodes(SimulatedPowerState.Off, 0, Never, 5));

        Assert.Equal([new PowerCommand(1, 3, PowerCommandKind.PowerOff)], d.Commands);
        Assert.Equal(1500, d.WakeAt);
    }

    [Fact]
    public void Plan_NeededSoonOff_BootsNow_NeededLaterWakesInTime()
    {
        var plan = new PlanAwarePolicy(Model, new PlanPolicyOptions(Warm: 0));

        var d = Decide(plan, 1000,
            new FreeNodes(SimulatedPowerState.Off, 0, 1090, 2),      // within boot: boot now
            new FreeNodes(SimulatedPowerState.Off, 0, 1500, 3));     // boot at 1400

        Assert.Equal([new PowerCommand(0, 2, PowerCommandKind.PowerOn)], d.Commands);
        Assert.Equal(1400, d.WakeAt);
    }

    [Fact]
    public void Plan_IdleNotNeededBeyondTheWarmPool_PowersOffTheRest()
    {
        var plan = new PlanAwarePolicy(Model, new PlanPolicyOptions(Warm: 3));

        var d = Decide(plan, 1000,
            new FreeNodes(SimulatedPowerState.Idle, 990, 1100, 1),   // needed within shutdown + boot: kept
            new FreeNodes(SimulatedPowerState.Idle, 990, Never, 2),  // warm
            new FreeNodes(SimulatedPowerState.Idle, 500, Never, 4),  // 1 warm, 3 off
            new FreeNodes(SimulatedPowerState.Off, 0, Never, 6));

        Assert.Equal([new PowerCommand(2, 3, PowerCommandKind.PowerOff)], d.Commands);
        Assert.Equal(Never, d.WakeAt);
    }

    [Fact]
    public void Plan_TooFewWarm_BootsOffNodesIntoTheWarmPool()
    {
        var plan = new PlanAwarePolicy(Model, new PlanPolicyOptions(Warm: 4));

        var d = Decide(plan, 1000,
            new FreeNodes(SimulatedPowerState.Idle, 990, Never, 1),
            new FreeNodes(SimulatedPowerState.Booting, 1050, Never, 1),
            new FreeNodes(SimulatedPowerState.Off, 0, Never, 6));

        Assert.Equal([new PowerCommand(2, 2, PowerCommandKind.PowerOn)], d.Commands);
    }

    [Fact]
    public void Plan_AdaptiveWarm_PeakBurstWithinOneBootOverTheWindow()
    {
        var plan = new PlanAwarePolicy(Model, new PlanPolicyOptions(Window: 1000));

        plan.Submitted(0, 2, 60);
        plan.Submitted(50, 3, 60);    // burst 5 (within 100 s of the first)
        plan.Submitted(400, 1, 60);   // burst 1

        Assert.Equal(5, plan.WarmNow(400, 100));
        Assert.Equal(5, plan.WarmNow(1049, 100));
        Assert.Equal(1, plan.WarmNow(1050, 100)); // the peak left the window
        Assert.Equal(0, plan.WarmNow(1400, 100));
    }

    [Fact]
    public void Plan_AdaptiveWarm_CappedAtAnEighthOfTheNodesByDefault()
    {
        var plan = new PlanAwarePolicy(Model, new PlanPolicyOptions());

        plan.Submitted(0, 30, 600);
        plan.Submitted(10, 30, 600);
        plan.Submitted(20, 30, 7200); // long: does not count

        Assert.Equal(13, plan.WarmNow(20, 100));   // ceil(100 / 8)
        Assert.Equal(60, plan.WarmNow(20, 1000));
    }

    [Theory]
    [InlineData("none", "none")]
    [InlineData("idle-timeout", "idle-timeout:600s")]
    [InlineData("idle-timeout:60", "idle-timeout:60s")]
    [InlineData("idle-timeout:10m", "idle-timeout:600s")]
    [InlineData("idle-timeout:timeout=2m", "idle-timeout:120s")]
    [InlineData("plan", "plan")]
    [InlineData("plan:warm=auto", "plan")]
    [InlineData("plan:warm=4,breakeven=1m,lead=30s", "plan:warm=4,breakeven=60s,lead=30s")]
    [InlineData("plan:warm=auto,window=2h,maxwarm=8,short=10m,linger=0", "plan:window=7200s,maxwarm=8,short=600s,linger=0s")]
    [InlineData("plan:maxwarm=20%", "plan:maxwarm=20%")]
    [InlineData("plan:maxwarm=12.5%", "plan")]
    public void ElasticPolicy_Parse_CanonicalName(string text, string name)
    {
        Assert.Equal(name, ElasticPolicy.Parse(text).Create(Model).Name);
    }

    [Theory]
    [InlineData("greedy", 1, "unknown policy 'greedy'")]
    [InlineData("idle-timeout:abc", 14, "timeout: expected a number, got 'abc'")]
    [InlineData("idle-timeout:5d", 15, "timeout: unknown time unit 'd'")]
    [InlineData("plan:warm=-1", 11, "warm: expected a whole number from 0 to 1000000, got '-1'")]
    [InlineData("plan:cold=3", 6, "unknown key 'cold'")]
    [InlineData("none:1", 5, "'none' takes no parameters")]
    [InlineData("plan:maxwarm=150%", 14, "maxwarm: expected a number from 0 to 100, got '150'")]
    public void ElasticPolicy_ParseBadText_ErrorPointsAtIt(string text, int column, string reason)
    {
        var e = Assert.Throws<RequestParseException>(() => ElasticPolicy.Parse(text));

        Assert.StartsWith("--elastic: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.Equal(column, e.Column);
    }
}
