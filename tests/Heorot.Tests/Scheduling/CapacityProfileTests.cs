using CsCheck;
using Heorot.Scheduling.Timeline;

namespace Heorot.Tests.Scheduling;

public class CapacityProfileTests
{
    [Fact]
    public void EarliestFit_HoleTooShort_SkipsToLaterSlot()
    {
        var p = new CapacityProfile(10);
        p.Reserve(0, 10, 8);   // 2 free in [0,10)
        p.Reserve(15, 30, 8);  // 2 free in [15,30): a hole of 10 free in [10,15)
        Assert.Equal(10, p.EarliestFit(5, 0, 5));
        Assert.Equal(30, p.EarliestFit(5, 0, 6));
        Assert.Equal(0, p.EarliestFit(2, 0, 100));
        Assert.Equal(CapacityProfile.Never, p.EarliestFit(11, 0, 1));
    }

    [Fact]
    public void Release_AfterReserve_MergesBackToOneSegment()
    {
        var p = new CapacityProfile(4);
        p.Reserve(5, 10, 3);
        p.Reserve(7, 12, 1);
        p.Release(5, 10, 3);
        p.Release(7, 12, 1);
        Assert.Equal(1, p.Segments);
        Assert.Equal(4, p.FreeAt(8));
    }

    /// <summary>Every operation agrees with a per-second array of free units.</summary>
    [Fact]
    public void Operations_RandomSequences_MatchPerSecondArray()
    {
        var op = Gen.Select(Gen.Int[0, 60], Gen.Int[1, 20], Gen.Int[1, 8], Gen.Bool);
        Gen.Select(Gen.Int[1, 8], op.Array[1, 25], Gen.Int[0, 60]).Sample(t =>
        {
            var (capacity, ops, probe) = t;
            const int horizon = 1000; // 25 reservations of at most 20 s after a start of at most 60 s fit well inside
            var naive = Enumerable.Repeat(capacity, horizon).ToArray();
            var profile = new CapacityProfile(capacity);
            var held = new List<(int Start, int End, int Units)>();
            foreach (var (start, length, unitsRaw, release) in ops)
            {
                if (release && held.Count > 0)
                {
                    var (s, e, u) = held[^1];
                    held.RemoveAt(held.Count - 1);
                    profile.Release(s, e, u);
                    for (var k = s; k < e; k++)
                    {
                        naive[k] += u;
                    }

                    continue;
                }

                var units = Math.Min(unitsRaw, capacity);
                var fit = profile.EarliestFit(units, start, length);
                var expected = start;
                while (Enumerable.Range(expected, length).Any(k => naive[k] < units))
                {
                    expected++;
                }

                Assert.Equal(expected, fit);
                profile.Reserve(fit, fit + length, units);
                held.Add(((int)fit, (int)fit + length, units));
                for (var k = (int)fit; k < fit + length; k++)
                {
                    naive[k] -= units;
                }
            }

            for (var k = 0; k < horizon - 10; k++)
            {
                Assert.Equal(naive[k], profile.FreeAt(k));
            }

            Assert.Equal(naive.Skip(probe).Take(10).Min(), profile.MinFree(probe, probe + 10));
        }, iter: 300);
    }
}
