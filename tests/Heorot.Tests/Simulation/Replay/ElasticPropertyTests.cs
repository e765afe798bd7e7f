using CsCheck;
using Heorot.Model.Power;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Power;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;

namespace Heorot.Tests.Simulation.Replay;

/// <summary>Invariants of elastic replays on random workloads, power models and policies.</summary>
public class ElasticPropertyTests
{
    private static readonly Gen<(int Nodes, SimJob[] Jobs)> Workloads =
        Gen.Int[1, 10].SelectMany(nodes =>
            Gen.Select(Gen.Int[0, 400], Gen.Int[1, 300], Gen.Int[1, nodes], Gen.Int[0, 200])
                .Array[1, 40]
                .Select(rows =>
                {
                    var submit = 0L;
                    var jobs = new SimJob[rows.Length];
                    for (var i = 0; i < rows.Length; i++)
                    {
                        var (gap, run, p, extra) = rows[i];
                        submit += gap % 5 == 0 ? 0 : gap; // equal submit times, and long idle gaps
                        jobs[i] = new SimJob(i + 1, submit, run, p, run + (extra % 3 == 0 ? 0 : extra));
                    }

                    return (nodes, jobs);
                }));

    private static readonly Gen<PowerModel> Models =
        Gen.Select(Gen.Int[0, 300], Gen.Int[0, 60], Gen.Int[0, 50], Gen.Int[0, 100], Gen.Int[0, 100])
            .Select(t => new PowerModel(t.Item1, t.Item2, t.Item3 + t.Item4, t.Item3 + t.Item4 + t.Item5, t.Item3));

    private static readonly Gen<int> PolicyChoices = Gen.Int[0, 5];

    private static IPowerPolicy PolicyOf(int choice, PowerModel model) => choice switch
    {
        0 => new IdleTimeoutPolicy(0),
        1 => new IdleTimeoutPolicy(90),
        2 => new PlanAwarePolicy(model, new PlanPolicyOptions(Warm: 0, BreakEven: 0, Linger: 0)),
        3 => new PlanAwarePolicy(model, new PlanPolicyOptions(Warm: 2, BreakEven: 30, Lead: 10)),
        4 => new PlanAwarePolicy(model, new PlanPolicyOptions(Window: 600)),
        _ => new AlwaysOnPolicy(),
    };

    [Theory]
    [InlineData(PolicyKind.Fcfs)]
    [InlineData(PolicyKind.Easy)]
    [InlineData(PolicyKind.Conservative)]
    public void RunElastic_AlwaysOn_SameScheduleAsWithoutPower(PolicyKind policy)
    {
        Gen.Select(Workloads, Models).Sample((w, model) =>
        {
            var options = new SimulationOptions(policy, w.Nodes);

            var plain = Simulator.Run(w.Jobs, options);
            var elastic = Simulator.RunElastic(w.Jobs, options, model, new AlwaysOnPolicy());

            Assert.Equal(plain, elastic.Jobs);
            Assert.All(elastic.BootWaits, d => Assert.Equal(0, d));
            Assert.Equal(0, elastic.Power.OffNodeSeconds);
        }, iter: 300);
    }

    [Theory]
    [InlineData(PolicyKind.Fcfs)]
    [InlineData(PolicyKind.Easy)]
    [InlineData(PolicyKind.Conservative)]
    public void RunElastic_RandomPolicies_NodesNeverOversubscribedEveryJobRunsEnergyAboveFloor(PolicyKind policy)
    {
        Gen.Select(Workloads, Models, PolicyChoices).Sample((w, model, choice) =>
        {
            var result = Simulator.RunElastic(w.Jobs, new SimulationOptions(policy, w.Nodes), model, PolicyOf(choice, model));

            // Every job runs, after its submission, for its run time; its wait for boots is bounded.
            Assert.Equal(w.Jobs.Length, result.Jobs.Count);
            for (var i = 0; i < result.Jobs.Count; i++)
            {
                var o = result.Jobs[i];
                Assert.True(o.Start - result.BootWaits[i] >= o.Submit, $"job {o.JobId} held nodes before its submission");
                Assert.InRange(result.BootWaits[i], 0, model.MaxReadyDelay);
            }

            // Never more nodes held (from the start decision to the end) than exist.
            var changes = new List<(long Time, int Delta)>();
            for (var i = 0; i < result.Jobs.Count; i++)
            {
                var o = result.Jobs[i];
                changes.Add((o.Start - result.BootWaits[i], o.Procs));
                changes.Add((o.Start + o.Run, -o.Procs));
            }

            var held = 0;
            foreach (var (_, delta) in changes.OrderBy(c => c.Time).ThenBy(c => c.Delta))
            {
                held += delta;
                Assert.True(held <= w.Nodes, $"{held} nodes held on a machine of {w.Nodes}");
            }

            // Node-time adds up; busy node-time is the work; energy is at least the all-off floor.
            var p = result.Power;
            var nodeTime = (double)w.Nodes * (p.To - p.From);
            Assert.Equal(nodeTime, p.OffNodeSeconds + p.IdleNodeSeconds + p.TransitionNodeSeconds + p.WaitingNodeSeconds + p.BusyNodeSeconds, 6);
            Assert.Equal(result.Jobs.Sum(o => (double)o.Run * o.Procs), p.BusyNodeSeconds, 6);
            var floor = (p.BusyNodeSeconds * model.BusyWatts) + ((nodeTime - p.BusyNodeSeconds) * model.OffWatts);
            Assert.True(p.EnergyJoules >= floor - 1e-6, $"energy {p.EnergyJoules} J below the floor {floor} J");
            Assert.Equal(result.BootWaits.Count(d => d > 0), p.DelayedJobs);
        }, iter: 400);
    }

    [Fact]
    public void RunElastic_SameInputs_SameResult()
    {
        Gen.Select(Workloads, Models, PolicyChoices).Sample((w, model, choice) =>
        {
            var options = new SimulationOptions(PolicyKind.Easy, w.Nodes);

            var a = Simulator.RunElastic(w.Jobs, options, model, PolicyOf(choice, model));
            var b = Simulator.RunElastic(w.Jobs, options, model, PolicyOf(choice, model));

            Assert.Equal(a.Jobs, b.Jobs);
            Assert.Equal(a.Power, b.Power);
        }, iter: 100);
    }
}
