namespace Heorot.Scheduling.Timeline;

/// <summary>Where a profile's final free runs start and how long its earlier runs are (see <see cref="CapacityProfile.Summarise"/>).</summary>
/// <param name="FullTail">Start of the final, endless fully-free run.</param>
/// <param name="MaxFullRun">Longest fully-free run before it.</param>
/// <param name="PartialTail">Start of the final, endless run with at least one free unit.</param>
/// <param name="MaxPartialRun">Longest such run before it.</param>
public readonly record struct RunSummary(long FullTail, long MaxFullRun, long PartialTail, long MaxPartialRun);

/// <summary>
/// A step function of free capacity over time for one pool of interchangeable units (processors, cores of a
/// node): the Gantt row of a counted resource. Segment <c>i</c> covers <c>[times[i], times[i+1])</c>; the last
/// segment extends to infinity. Adjacent segments with the same value are merged, so the size stays
/// proportional to the number of distinct reservation ends in the future.
/// </summary>
/// <remarks>Not thread-safe: one scheduling pass owns a profile.</remarks>
public sealed class CapacityProfile
{
    /// <summary>A time later than any reservation: "never".</summary>
    public const long Never = long.MaxValue;

    private long[] _times;
    private int[] _free;
    private int _head;
    private int _count;

    public CapacityProfile(int capacity, long origin = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Capacity = capacity;
        _times = new long[16];
        _free = new int[16];
        _times[0] = origin;
        _free[0] = capacity;
        _count = 1;
    }

    public int Capacity { get; }

    /// <summary>Number of live segments (a measure of the profile's size).</summary>
    public int Segments => _count - _head;

    /// <summary>
    /// Summarises the live segments for cheap pruning: where the final fully-free run starts and the longest
    /// earlier fully-free run; where the final run with at least one free unit starts and the longest earlier one.
    /// A window of length d that starts before a final run's start must fit inside an earlier run of that kind.
    /// </summary>
    public RunSummary Summarise()
    {
        long maxFull = 0, maxPartial = 0, fullStart = 0, partialStart = 0;
        bool inFull = false, inPartial = false;
        for (var k = _head; k < _count; k++)
        {
            var t = _times[k];
            var f = _free[k];
            if (f == Capacity)
            {
                if (!inFull)
                {
                    inFull = true;
                    fullStart = t;
                }
            }
            else if (inFull)
            {
                inFull = false;
                maxFull = Math.Max(maxFull, t - fullStart);
            }

            if (f >= 1)
            {
                if (!inPartial)
                {
                    inPartial = true;
                    partialStart = t;
                }
            }
            else if (inPartial)
            {
                inPartial = false;
                maxPartial = Math.Max(maxPartial, t - partialStart);
            }
        }

        // The last segment is always fully free, so both runs are open here: they are the final runs.
        return new RunSummary(fullStart, maxFull, partialStart, maxPartial);
    }

    /// <summary>
    /// Appends the start windows of a job needing <paramref name="need"/> units for <paramref name="duration"/>,
    /// from <paramref name="from"/> on and before <paramref name="before"/>: each is <c>[first, last]</c>, the
    /// starts whose whole window fits in one maximal run with enough free units. The last one is endless
    /// (<c>last</c> = <see cref="Never"/>).
    /// </summary>
    public void StartWindows(int need, long from, long duration, long before, List<(long First, long Last)> output)
    {
        if (need > Capacity)
        {
            return;
        }

        var k = Find(from);
        var inRun = false;
        long runStart = 0;
        for (; k < _count; k++)
        {
            var t = Math.Max(_times[k], from);
            if (_free[k] >= need)
            {
                if (!inRun)
                {
                    if (t >= before)
                    {
                        return;
                    }

                    inRun = true;
                    runStart = t;
                }
            }
            else if (inRun)
            {
                inRun = false;
                if (t - runStart >= duration)
                {
                    output.Add((runStart, t - duration));
                }
            }
        }

        if (inRun)
        {
            output.Add((runStart, Never)); // the final segment is fully free: the run never ends
        }
    }

    /// <summary>Drops the segments that ended at or before <paramref name="now"/>; they can no longer matter.</summary>
    public void Archive(long now)
    {
        while (_head + 1 < _count && _times[_head + 1] <= now)
        {
            _head++;
        }

        if (_head > 64 && _head > (_count >> 1))
        {
            Move(_times, _head, 0, _count - _head);
            Move(_free, _head, 0, _count - _head);
            _count -= _head;
            _head = 0;
        }
    }

    /// <summary>Free units at instant <paramref name="time"/>.</summary>
    public int FreeAt(long time) => _free[Find(time)];

    /// <summary>The least free units over <c>[start, end)</c>.</summary>
    public int MinFree(long start, long end)
    {
        var k = Find(start);
        var min = _free[k];
        for (k++; k < _count && _times[k] < end; k++)
        {
            if (_free[k] < min)
            {
                min = _free[k];
            }
        }

        return min;
    }

    /// <summary>Whether <paramref name="need"/> units are free during all of <c>[start, start + duration)</c>.</summary>
    /// <remarks>Stops at the first segment short of <paramref name="need"/>: a rejection at a busy instant is O(1).</remarks>
    public bool Fits(int need, long start, long duration)
    {
        var k = Find(start);
        if (_free[k] < need)
        {
            return false;
        }

        var end = start + duration;
        for (k++; k < _count && _times[k] < end; k++)
        {
            if (_free[k] < need)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Whether <paramref name="need"/> units would fit during all of <c>[start, start + duration)</c> if
    /// <paramref name="held"/> more units were also taken over <c>[heldFrom, heldTo)</c>: the answer
    /// <see cref="Fits"/> would give after <c>Add(heldFrom, heldTo, held)</c>, without changing the profile.
    /// </summary>
    public bool FitsBeside(int need, long start, long duration, long heldFrom, long heldTo, int held)
    {
        if (heldTo <= heldFrom)
        {
            held = 0;
        }

        // Fits looks at the instant start and at every boundary strictly inside the window, as if the window
        // were at least one unit long.
        var end = Math.Max(start + duration, start + 1);
        var k = Find(start);
        var from = start;
        while (true)
        {
            var next = k + 1 < _count ? _times[k + 1] : Never;
            var to = Math.Min(next, end);
            var required = from < heldTo && heldFrom < to ? need + held : need;
            if (_free[k] < required)
            {
                return false;
            }

            if (next >= end)
            {
                return true;
            }

            k++;
            from = next;
        }
    }

    /// <summary>
    /// The first instant at or after <paramref name="from"/> at which fewer than <paramref name="need"/> units
    /// are free if <paramref name="held"/> more units were also taken over <c>[heldFrom, heldTo)</c>;
    /// <see cref="Never"/> when there is none. <c>FitsBeside(need, from, d, …)</c> holds exactly when
    /// <c>max(from + d, from + 1)</c> is at most this instant.
    /// </summary>
    public long FirstShortBeside(int need, long from, long heldFrom, long heldTo, int held)
    {
        if (heldTo <= heldFrom)
        {
            held = 0;
        }

        for (var k = Find(from); k < _count; k++)
        {
            var a = Math.Max(_times[k], from);
            var free = _free[k];
            if (free < need)
            {
                return a;
            }

            if (free < need + held)
            {
                var b = k + 1 < _count ? _times[k + 1] : Never;
                if (a < heldTo && heldFrom < b)
                {
                    return Math.Max(a, heldFrom);
                }
            }
        }

        return Never;
    }

    /// <summary>
    /// The earliest time at or after <paramref name="notBefore"/> at which <paramref name="need"/> units stay
    /// free for <paramref name="duration"/>; <see cref="Never"/> when the need exceeds the capacity.
    /// </summary>
    public long EarliestFit(int need, long notBefore, long duration)
    {
        if (need > Capacity)
        {
            return Never;
        }

        var k = Find(notBefore);
        var candidate = notBefore;
        while (true)
        {
            if (_free[k] < need)
            {
                // The last segment is always fully free, so k + 1 exists here.
                k++;
                candidate = _times[k];
                continue;
            }

            var end = k + 1 < _count ? _times[k + 1] : Never;
            if (end - candidate >= duration)
            {
                return candidate;
            }

            k++;
        }
    }

    /// <summary>The first segment boundary strictly after <paramref name="time"/>; <see cref="Never"/> when none.</summary>
    public long NextBoundary(long time)
    {
        var k = Find(time) + 1;
        return k < _count ? _times[k] : Never;
    }

    /// <summary>Takes <paramref name="units"/> over <c>[start, end)</c> (negative units give them back).</summary>
    public void Add(long start, long end, int units)
    {
        if (end <= start || units == 0)
        {
            return;
        }

        // Inserting or removing a segment may shift the segments before it by one (see Insert): re-base i0.
        var i0 = Split(start);
        var head = _head;
        var i1 = Split(end);
        i0 -= head - _head;
        for (var k = i0; k < i1; k++)
        {
            _free[k] -= units;
        }

        // Merge at the two edges that may now be equal to their neighbours (i1 first: indexes shift).
        head = _head;
        MergeWithPrevious(i1);
        i0 += _head - head;
        MergeWithPrevious(i0);
    }

    /// <summary>Reserves units; <see cref="Add"/> with a positive count.</summary>
    public void Reserve(long start, long end, int units) => Add(start, end, units);

    /// <summary>Gives units back; <see cref="Add"/> with a negative count.</summary>
    public void Release(long start, long end, int units) => Add(start, end, -units);

    private int Find(long time)
    {
        // Largest k in [head, count) with times[k] <= time; times before the head map to the head.
        // Most queries are at the current time, which after Archive(now) lies in the head segment: O(1).
        int lo = _head, hi = _count - 1;
        if (time <= _times[lo] || lo == hi || time < _times[lo + 1])
        {
            return lo;
        }

        while (lo < hi)
        {
            var mid = (lo + hi + 1) >>> 1;
            if (_times[mid] <= time)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    private int Split(long time)
    {
        var k = Find(time);
        if (_times[k] == time)
        {
            return k;
        }

        if (time < _times[k])
        {
            // Before the archived origin: extend the profile backwards with a full segment.
            return Insert(k, time, Capacity);
        }

        return Insert(k + 1, time, _free[k]);
    }

    /// <summary>
    /// Inserts a segment before index <paramref name="at"/>, moving whichever side is shorter: the segments before
    /// it move one place down into the archived room when there is some, so that inserting near the present (the
    /// usual case) is cheap. Returns the index of the new segment.
    /// </summary>
    private int Insert(int at, long time, int free)
    {
        if (_head > 0 && at - _head < _count - at)
        {
            Move(_times, _head, _head - 1, at - _head);
            Move(_free, _head, _head - 1, at - _head);
            _head--;
            at--;
        }
        else
        {
            if (_count == _times.Length)
            {
                Array.Resize(ref _times, _times.Length * 2);
                Array.Resize(ref _free, _free.Length * 2);
            }

            Move(_times, at, at + 1, _count - at);
            Move(_free, at, at + 1, _count - at);
            _count++;
        }

        _times[at] = time;
        _free[at] = free;
        return at;
    }

    /// <summary>Moves <paramref name="length"/> items of <paramref name="array"/> (overlapping ranges allowed).</summary>
    private static void Move<T>(T[] array, int from, int to, int length) => array.AsSpan(from, length).CopyTo(array.AsSpan(to, length));

    /// <summary>Removes segment <paramref name="k"/> when it has the value of the one before (the shorter side moves).</summary>
    private void MergeWithPrevious(int k)
    {
        if (k <= _head || k >= _count || _free[k] != _free[k - 1])
        {
            return;
        }

        if (k - _head < _count - k - 1)
        {
            // Segment k - 1 absorbs k: it keeps its start, and everything before moves one place up.
            Move(_times, _head, _head + 1, k - _head);
            Move(_free, _head, _head + 1, k - _head);
            _head++;
            return;
        }

        Move(_times, k + 1, k, _count - k - 1);
        Move(_free, k + 1, k, _count - k - 1);
        _count--;
    }
}
