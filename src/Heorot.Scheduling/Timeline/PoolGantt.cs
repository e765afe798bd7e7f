using System.Globalization;

namespace Heorot.Scheduling.Timeline;

/// <summary>
/// A Gantt over one pool of interchangeable processors — the machine model of the Standard Workload Format
/// and of the reference simulator. A demand and an allocation are both a processor count.
/// </summary>
public sealed class PoolGantt : IGantt<int, int>
{
    private readonly CapacityProfile _profile;

    public PoolGantt(int processors, long origin = 0)
    {
        _profile = new CapacityProfile(processors, origin);
    }

    public int Processors => _profile.Capacity;

    public CapacityProfile Profile => _profile;

    public void Archive(long now) => _profile.Archive(now);

    public bool TryEarliest(in int demand, long notBefore, long duration, out long start, out int alloc)
    {
        start = _profile.EarliestFit(demand, notBefore, duration);
        alloc = demand;
        return start != CapacityProfile.Never;
    }

    public bool TryAt(in int demand, long start, long duration, out int alloc)
    {
        alloc = demand;
        return _profile.Fits(demand, start, duration);
    }

    public bool AllocFits(in int alloc, long start, long duration) => _profile.Fits(alloc, start, duration);

    public void Reserve(in int alloc, long start, long end) => _profile.Reserve(start, end, alloc);

    public void Release(in int alloc, long start, long end) => _profile.Release(start, end, alloc);

    public void ReleaseTail(in int alloc, long from, long end) => _profile.Release(from, end, alloc);

    public bool FreeAtCovers(in int demand, long now) => _profile.FreeAt(now) >= demand;

    public string DescribeWait(in int demand, long now, long duration)
    {
        if (demand > _profile.Capacity)
        {
            return string.Create(CultureInfo.InvariantCulture, $"needs {demand} processors; the machine has {_profile.Capacity}");
        }

        var free = _profile.FreeAt(now);
        if (free < demand)
        {
            return string.Create(CultureInfo.InvariantCulture, $"needs {demand} processors; {free} free now");
        }

        var min = _profile.MinFree(now, now + duration);
        return string.Create(CultureInfo.InvariantCulture, $"needs {demand} processors for {duration} s; {free} free now but only {min} stay free for the whole walltime (reserved for earlier jobs)");
    }
}
