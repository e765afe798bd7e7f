using CsCheck;
using Heorot.Scheduling.Timeline;

namespace Heorot.Tests.Scheduling.Timeline;

/// <summary>
/// The node Gantt's earliest start (lower bounds, run summaries, window sweep) against brute force over a
/// per-second grid of free cores: same start, and the chosen nodes really are free for the whole window.
/// </summary>
public class NodeGanttDifferentialTests
{
    private const int Cores = 4;
    private const int Horizon = 400;

    [Fact]
    public void TryEarliest_RandomGanttsAndDemands_MatchesBruteForce()
    {
        var reservation = Gen.Select(Gen.Int[0, 7], Gen.Int[0, 80], Gen.Int[1, 40], Gen.Int[1, Cores]);
        var demand = Gen.Select(Gen.Int[1, 5], Gen.Int[0, Cores], Gen.Int[0, 1], Gen.Int[1, 50], Gen.Int[0, 30]);
        Gen.Select(Gen.Int[1, 8], reservation.Array[0, 25], demand, Gen.Int[0, 60]).Sample(t =>
        {
            var (nodes, reservations, (count, cores, oneSwitch, duration, _), gap) = t;
            var shape = ClusterShape.Uniform(nodes, Cores, switches: 2);
            var gantt = new NodeGantt(shape, origin: 0, gap: gap % 3 == 0 ? gap : 0);
            var free = new int[nodes, Horizon];
            for (var n = 0; n < nodes; n++)
            {
                for (var s = 0; s < Horizon; s++)
                {
                    free[n, s] = Cores;
                }
            }

            foreach (var (nodeRaw, start, length, units) in reservations)
            {
                var n = nodeRaw % nodes;
                var alloc = new NodeAlloc([n], [units], [0], [0]);
                if (!gantt.AllocFits(alloc, start, length))
                {
                    continue;
                }

                gantt.Reserve(alloc, start, start + length);
                for (var s = start; s < start + length + gantt.Gap; s++)
                {
                    free[n, s] -= units;
                }
            }

            var group = new NodeGroupDemand { Nodes = count, CoresPerNode = cores, MaxSwitches = oneSwitch };
            var found = gantt.TryEarliest(new NodeDemand([group]), 0, duration, out var at, out var chosen);

            var expected = -1;
            for (var s = 0; s + duration + gantt.Gap < Horizon && expected < 0; s++)
            {
                var perSwitch = new int[2];
                var total = 0;
                for (var n = 0; n < nodes; n++)
                {
                    var need = cores == 0 ? Cores : cores;
                    var ok = true;
                    for (var k = s; k < s + duration + gantt.Gap && ok; k++)
                    {
                        ok = free[n, k] >= need;
                    }

                    if (ok)
                    {
                        total++;
                        perSwitch[shape.SwitchOf[n]]++;
                    }
                }

                if (oneSwitch == 1 ? perSwitch.Max() >= count : total >= count)
                {
                    expected = s;
                }
            }

            if (expected < 0)
            {
                Assert.True(!found || at + duration + gantt.Gap >= Horizon - 1, $"found {at} but brute force found none");
                return;
            }

            Assert.True(found, $"expected a start at {expected}");
            Assert.Equal(expected, at);
            Assert.Equal(count, chosen.Nodes.Distinct().Count());
            Assert.True(gantt.AllocFits(chosen, at, duration), "the chosen nodes are not free for the whole window");
            if (oneSwitch == 1)
            {
                Assert.Single(chosen.Nodes.Select(n => shape.SwitchOf[n]).Distinct());
            }
        }, iter: 2000);
    }
}
