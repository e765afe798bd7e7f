using System.Runtime.InteropServices;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Scheduling;

/// <summary>
/// The scheduling core: a queue of jobs planned onto a Gantt by one of the three policies. Pure and
/// deterministic — the caller supplies the time of every call and applies the returned decisions; the engine
/// keeps its Gantt between calls so that conservative reservations only ever move earlier. The trace simulator
/// drives one engine on a <see cref="PoolGantt"/>; the live pass drives one engine per queue on a shared
/// <see cref="NodeGantt"/>.
/// </summary>
/// <remarks>
/// Between its calls the engine assumes that it alone gives capacity back on its Gantt (other code may take
/// capacity): on a processor pool, conservative compression relies on that to skip the reservations that
/// cannot move.
/// </remarks>
public sealed class SchedulingEngine<TDemand, TAlloc>
{
    private readonly IGantt<TDemand, TAlloc> _gantt;
    private readonly List<EngineJob<TDemand, TAlloc>> _waiting = [];

    /// <summary>
    /// The earliest instant at which capacity was given back since the last conservative compression
    /// (<see cref="CapacityProfile.Never"/>: none). A reservation starting at or before it cannot move earlier.
    /// </summary>
    private long _freedFrom = CapacityProfile.Never;

    /// <summary>The Gantt as a processor pool when it is one (demands are processor counts), else null.</summary>
    private readonly PoolGantt? _pool;

    /// <summary>
    /// On a <see cref="PoolGantt"/>: a lower bound of the processors needed by any waiting job but the head (0 when
    /// some job has alternatives). Jobs only leave the queue or join at its end, so taking the minimum on every
    /// arrival keeps it a lower bound; each backfilling scan makes it exact again.
    /// </summary>
    private int _minDemand = int.MaxValue;

    /// <summary>
    /// On a <see cref="PoolGantt"/>: the processors each waiting job needs (<see cref="DemandBound"/>), in queue
    /// order, kept in step with <see cref="_waiting"/> by the EASY path; other changes mark it stale.
    /// </summary>
    private readonly List<int> _demands = [];

    private bool _demandsStale;

    /// <summary>Whether <see cref="_demands"/> is kept up to date as jobs come and go (EASY on a pool).</summary>
    private readonly bool _trackDemands;

    /// <summary>
    /// The EASY path's cache of <see cref="CapacityProfile.FirstShortBeside"/> per demand; an entry is valid while
    /// its stamp equals <see cref="_stamp"/>, which changes with every pass and every start.
    /// </summary>
    private long[] _shortAt = [];

    private int[] _shortStamp = [];

    private int _stamp;

    public SchedulingEngine(IGantt<TDemand, TAlloc> gantt, PolicyKind policy)
    {
        _gantt = gantt;
        Policy = policy;
        _pool = gantt as PoolGantt;
        _trackDemands = _pool != null && policy == PolicyKind.Easy;
    }

    public PolicyKind Policy { get; }

    /// <summary>
    /// Keep the reservation of the first job that cannot start (FCFS and EASY) after the pass, so that work
    /// planned later on the same Gantt (lower-priority queues) cannot delay it. The reference simulator drops it.
    /// </summary>
    public bool KeepHeadReservation { get; init; }

    public IGantt<TDemand, TAlloc> Gantt => _gantt;

    /// <summary>
    /// When resources may need time to become ready (nodes powered off), how long: a job starting now holds its
    /// slot for its walltime plus the wait <see cref="IReadiness{TDemand}.DelayNow"/> gives, and a slot planned
    /// for later reserves <see cref="IReadiness{TDemand}.MaxDelay"/> more. Null (the default): resources are always
    /// ready, and every path is exactly the one without this property. <see cref="Adopt"/> (the live pass) does not
    /// apply it yet.
    /// </summary>
    public IReadiness<TDemand>? Readiness { get; init; }

    /// <summary>Jobs not yet started, in queue order (for conservative, some may hold a future reservation).</summary>
    public IReadOnlyList<EngineJob<TDemand, TAlloc>> Waiting => _waiting;

    /// <summary>
    /// Queues a job. Under conservative backfilling the job gets its reservation now, at the earliest slot;
    /// the returned flag says whether it got one (false: it cannot be placed yet, or ever).
    /// </summary>
    public bool Submit(EngineJob<TDemand, TAlloc> job, long now)
    {
        _gantt.Archive(now);
        Queue(job);
        return Policy != PolicyKind.Conservative || Place(job, now);
    }

    /// <summary>Queues a job without planning it: the next <see cref="Pass"/> places it, in queue order.</summary>
    public void Enqueue(EngineJob<TDemand, TAlloc> job) => Queue(job);

    /// <summary>
    /// Queues a job that already holds a slot from an earlier pass, keeping that slot when its resources are
    /// still free (else it is queued unplanned and placed by the next pass). Returns whether the slot was kept.
    /// </summary>
    public bool Adopt(EngineJob<TDemand, TAlloc> job, long start, int alternative, TAlloc alloc)
    {
        Queue(job);
        _freedFrom = long.MinValue; // the slot was not found on this Gantt: the next compression revisits every job
        if (alternative < 0 || alternative >= job.AlternativeCount || !_gantt.AllocFits(alloc, start, job.WalltimeOf(alternative)))
        {
            return false;
        }

        Take(job, start, alternative, alloc, job.WalltimeOf(alternative));
        return true;
    }

    /// <summary>Records that a started job ended at <paramref name="now"/>: the unused tail of its slot is freed.</summary>
    public void Finish(EngineJob<TDemand, TAlloc> job, long now)
    {
        _gantt.Archive(now);
        if (job.IsPlanned && now < job.ReservedEnd)
        {
            _gantt.ReleaseTail(job.Alloc!, now, job.ReservedEnd);
            job.ReservedEnd = now;
            _freedFrom = Math.Min(_freedFrom, now);
        }

        job.Finished = true;
    }

    /// <summary>
    /// Shortens a started job's slot to end at <paramref name="end"/>: with <see cref="Readiness"/>, a slot planned
    /// for later reserved the longest wait for boots; once the job starts, its real wait is known and the rest is
    /// given back (later jobs may then move earlier at the next pass).
    /// </summary>
    public void Trim(EngineJob<TDemand, TAlloc> job, long end)
    {
        if (job.IsPlanned && end < job.ReservedEnd)
        {
            _gantt.ReleaseTail(job.Alloc!, end, job.ReservedEnd);
            job.ReservedEnd = end;
            _freedFrom = Math.Min(_freedFrom, end);
        }
    }

    /// <summary>Whether the instantaneous free capacity covers the job (a cheap test, ignoring reservations).</summary>
    public bool FreeNowCovers(EngineJob<TDemand, TAlloc> job, long now) => _gantt.FreeAtCovers(job.Demand, now);

    /// <summary>
    /// One scheduling pass at <paramref name="now"/>. FCFS and EASY append the jobs that start now; conservative
    /// compresses the reservations (each waiting job, in queue order, moves to its earliest slot, never later)
    /// and appends the jobs whose planned start changed.
    /// </summary>
    public void Pass(long now, List<EngineJob<TDemand, TAlloc>> changed)
    {
        _gantt.Archive(now);
        switch (Policy)
        {
            case PolicyKind.Fcfs:
                StartHeadsThatFit(now, changed);
                if (KeepHeadReservation && _waiting.Count > 0)
                {
                    Place(_waiting[0], now);
                }

                break;
            case PolicyKind.Easy:
                StartHeadsThatFit(now, changed);
                Backfill(now, changed);
                break;
            default:
                Compress(now, changed);
                break;
        }
    }

    private void StartHeadsThatFit(long now, List<EngineJob<TDemand, TAlloc>> started)
    {
        var n = 0;
        while (n < _waiting.Count && TryStartNow(_waiting[n], now))
        {
            started.Add(_waiting[n]);
            n++;
        }

        _waiting.RemoveRange(0, n);
        if (_trackDemands && !_demandsStale)
        {
            _demands.RemoveRange(0, n);
        }
    }

    private void Backfill(long now, List<EngineJob<TDemand, TAlloc>> started)
    {
        if (_waiting.Count == 0 || (_waiting.Count == 1 && !KeepHeadReservation))
        {
            return;
        }

        // The head's reservation at its earliest start (the shadow time) is what backfilled jobs must not delay.
        // It is placed lazily, when a first candidate fits now without it: a candidate that does not fit even then
        // cannot fit with it, and when none fits (the common case on a full machine) the Gantt is left untouched.
        // On a processor pool, a job needing more processors than are free now cannot start (the head's reservation
        // and the jobs started in this pass only take processors): when that holds for every waiting job, the scan
        // would change nothing.
        var freeNow = _pool == null ? int.MaxValue : _pool.Profile.FreeAt(now);
        if (freeNow < _minDemand && !KeepHeadReservation)
        {
            return;
        }

        var head = _waiting[0];
        if (_pool != null && !KeepHeadReservation && head.Alternatives == null && head.Dependencies == null && !head.IsPlanned)
        {
            BackfillPool(_pool.Profile, head, now, freeNow, started);
            return;
        }

        _demandsStale = true;
        var headTried = false;
        var headPlaced = false;
        var write = 1;
        var minDemand = int.MaxValue;
        for (var i = 1; i < _waiting.Count; i++)
        {
            var job = _waiting[i];
            var demand = DemandBound(job);
            if (demand > freeNow)
            {
                _waiting[write++] = job;
                minDemand = Math.Min(minDemand, demand);
                continue;
            }

            // (On a pool, fitting in the processors free now is the cheap test: a job that passes it but not the
            // whole of its walltime only places the head earlier in the scan, on the same profile.)
            if (!headTried && (_pool != null || !CannotStartEvenAlone(job, now)))
            {
                headTried = true;
                headPlaced = Place(head, now);
            }

            if (headTried && TryStartNow(job, now))
            {
                started.Add(job);
                if (_pool != null)
                {
                    freeNow = _pool.Profile.FreeAt(now);
                }
            }
            else
            {
                _waiting[write++] = job;
                minDemand = Math.Min(minDemand, demand);
            }
        }

        _minDemand = minDemand;

        _waiting.RemoveRange(write, _waiting.Count - write);
        if (!headTried && KeepHeadReservation)
        {
            Place(head, now);
        }
        else if (headPlaced && !KeepHeadReservation)
        {
            Unplace(head);
        }
    }

    /// <summary>
    /// <see cref="Backfill"/> on a processor pool when the head's reservation is dropped after the pass: the
    /// head's slot is computed but not written to the profile; candidates are tested beside it instead
    /// (<see cref="CapacityProfile.FitsBeside"/>), which saves two profile updates per pass with the same outcome.
    /// </summary>
    private void BackfillPool(CapacityProfile profile, EngineJob<TDemand, TAlloc> head, long now, int freeNow, List<EngineJob<TDemand, TAlloc>> started)
    {
        if (_demandsStale)
        {
            _demands.Clear();
            foreach (var job in _waiting)
            {
                _demands.Add(DemandBound(job));
            }

            _demandsStale = false;
        }

        // Only the candidates needing at most the processors free now are visited (a vectorised search over the
        // demands); the runs of jobs between them stay queued, moved down in blocks once some job has started.
        var jobs = CollectionsMarshal.AsSpan(_waiting);
        var demands = CollectionsMarshal.AsSpan(_demands);
        var count = jobs.Length;
        var found = demands[1..].IndexOfAnyInRange(int.MinValue, freeNow);
        if (found < 0)
        {
            return;
        }

        var headTried = false;
        long heldFrom = 0, heldTo = 0;
        var held = 0;
        var stamp = NextStamp();
        if (_shortAt.Length <= profile.Capacity)
        {
            _shortAt = new long[profile.Capacity + 1];
            _shortStamp = new int[profile.Capacity + 1];
        }

        var i = 1 + found;
        var write = i;
        while (true)
        {
            var job = jobs[i];
            if (!headTried)
            {
                // The shadow slot, as Place would reserve it (and Unplace leave the head unplanned).
                headTried = true;
                var headDemand = (int)(object)head.Demand!;
                var headHold = head.Walltime + (Readiness?.MaxDelay ?? 0);
                var start = profile.EarliestFit(headDemand, Math.Max(now, head.Submit), headHold);
                if (start != CapacityProfile.Never)
                {
                    heldFrom = start;
                    heldTo = start + headHold;
                    held = headDemand;
                    head.Alternative = 0;
                    head.Alloc = (TAlloc)(object)headDemand;
                    head.ReservedEnd = heldTo;
                }

                head.Start = EngineJob<TDemand, TAlloc>.Unplanned;
            }

            bool ok;
            if (job.Alternatives == null && job.Dependencies == null && (uint)demands[i] < (uint)_shortAt.Length)
            {
                // Where the candidate's processors run short, per demand: many candidates share a demand, and
                // the profile only changes when one starts.
                var demand = demands[i];
                if (_shortStamp[demand] != stamp)
                {
                    _shortStamp[demand] = stamp;
                    _shortAt[demand] = profile.FirstShortBeside(demand, now, heldFrom, heldTo, held);
                }

                var hold = job.Walltime + DelayNow(job.Demand, now);
                ok = Math.Max(now + hold, now + 1) <= _shortAt[demand];
                if (ok)
                {
                    Take(job, now, 0, (TAlloc)(object)demand, hold);
                }
            }
            else
            {
                ok = TryStartNowBeside(profile, job, now, heldFrom, heldTo, held);
            }

            if (ok)
            {
                started.Add(job);
                freeNow = profile.FreeAt(now);
                stamp = NextStamp();
            }
            else
            {
                jobs[write] = job;
                demands[write] = demands[i];
                write++;
            }

            // The next candidate, and the jobs before it moved down as one block.
            var from = i + 1;
            found = from < count ? demands[from..].IndexOfAnyInRange(int.MinValue, freeNow) : -1;
            var next = found < 0 ? count : from + found;
            if (write != from)
            {
                jobs[from..next].CopyTo(jobs[write..]);
                demands[from..next].CopyTo(demands[write..]);
            }

            write += next - from;
            if (next == count)
            {
                break;
            }

            i = next;
        }

        if (write < count)
        {
            _waiting.RemoveRange(write, count - write);
            _demands.RemoveRange(write, count - write);
        }
    }

    /// <summary>A stamp no cache entry holds yet.</summary>
    private int NextStamp()
    {
        if (++_stamp == int.MaxValue)
        {
            Array.Clear(_shortStamp);
            _stamp = 1;
        }

        return _stamp;
    }

    /// <summary><see cref="TryStartNow"/> on a processor pool, with units held over <c>[heldFrom, heldTo)</c>.</summary>
    private bool TryStartNowBeside(CapacityProfile profile, EngineJob<TDemand, TAlloc> job, long now, long heldFrom, long heldTo, int held)
    {
        if (job.Dependencies != null && DependencyRunning(job, now))
        {
            return false;
        }

        var best = -1;
        var bestDemand = 0;
        var bestHold = 0L;
        for (var a = 0; a < job.AlternativeCount; a++)
        {
            var demand = (int)(object)job.DemandOf(a)!;
            var hold = job.WalltimeOf(a) + DelayNow(job.DemandOf(a), now);
            if ((best < 0 || job.WalltimeOf(a) < job.WalltimeOf(best)) && profile.FitsBeside(demand, now, hold, heldFrom, heldTo, held))
            {
                best = a;
                bestDemand = demand;
                bestHold = hold;
            }
        }

        if (best < 0)
        {
            return false;
        }

        Take(job, now, best, (TAlloc)(object)bestDemand, bestHold);
        return true;
    }

    /// <summary>Queues a job at the end, keeping <see cref="_minDemand"/> a lower bound.</summary>
    private void Queue(EngineJob<TDemand, TAlloc> job)
    {
        _waiting.Add(job);
        var demand = DemandBound(job);
        _minDemand = Math.Min(_minDemand, demand);
        if (_trackDemands && !_demandsStale)
        {
            _demands.Add(demand);
        }
    }

    /// <summary>
    /// On a processor pool, the fewest processors the job can run on (0 when it has alternatives); elsewhere 0.
    /// </summary>
    private int DemandBound(EngineJob<TDemand, TAlloc> job) =>
        _pool != null && job.Alternatives == null && typeof(TDemand) == typeof(int) ? (int)(object)job.Demand! : 0;

    /// <summary>A cheap sufficient test that a job cannot start now, whatever else is planned (false: try it).</summary>
    private bool CannotStartEvenAlone(EngineJob<TDemand, TAlloc> job, long now) =>
        job.Alternatives == null && !_gantt.TryAt(job.Demand, now, job.Walltime, out _);

    /// <remarks>
    /// On a processor pool, a planned job with one way to run and no dependencies can only move earlier if
    /// capacity was given back before its start since it was placed: every earlier start was infeasible because
    /// of some instant before its own start (its own processors stay free for it), and reservations made since
    /// only took capacity. Such jobs are skipped. (On nodes the argument fails — an earlier start elsewhere can be
    /// blocked after the job's own start — so every job is revisited there.) a job that moves frees its old slot from its old start on, which matters to the jobs after it in
    /// this pass and, in the next pass, to those before it.
    /// </remarks>
    private void Compress(long now, List<EngineJob<TDemand, TAlloc>> moved)
    {
        _demandsStale = true;
        var freedFrom = _freedFrom;
        _freedFrom = CapacityProfile.Never;
        var write = 0;
        for (var i = 0; i < _waiting.Count; i++)
        {
            var job = _waiting[i];
            if (job.HasStarted(now))
            {
                continue; // started jobs never move; they leave the queue
            }

            _waiting[write++] = job;
            var before = job.Start;
            if (before == now)
            {
                continue; // cannot move earlier than now
            }

            if (_pool != null && job.IsPlanned && before <= freedFrom && job.Alternatives == null && job.Dependencies == null
                && (Readiness == null || !_gantt.FreeAtCovers(job.Demand, now)))
            {
                // Nothing was freed before its start: its earliest slot is the one it holds. (With readiness, a start
                // now reserves less than a later one, so a job that might fit now is revisited.)
                continue;
            }

            Unplace(job);
            Place(job, now);
            if (job.Start != before)
            {
                moved.Add(job);
                if (before != EngineJob<TDemand, TAlloc>.Unplanned)
                {
                    // Jobs already visited in this pass did not see this: the next pass must revisit them too.
                    freedFrom = Math.Min(freedFrom, before);
                    _freedFrom = Math.Min(_freedFrom, before);
                }
            }
        }

        _waiting.RemoveRange(write, _waiting.Count - write);
    }

    /// <summary>Starts the job now on the alternative that ends first among those that fit now.</summary>
    private bool TryStartNow(EngineJob<TDemand, TAlloc> job, long now)
    {
        if (job.Dependencies != null && DependencyRunning(job, now))
        {
            return false;
        }

        if (job.Alternatives == null)
        {
            var hold = job.Walltime + DelayNow(job.Demand, now);
            if (!_gantt.TryAt(job.Demand, now, hold, out var alloc))
            {
                return false;
            }

            Take(job, now, 0, alloc, hold);
            return true;
        }

        var best = -1;
        var bestHold = 0L;
        TAlloc? bestAlloc = default;
        for (var a = 0; a < job.Alternatives.Count; a++)
        {
            var hold = job.WalltimeOf(a) + DelayNow(job.DemandOf(a), now);
            if ((best < 0 || job.WalltimeOf(a) < job.WalltimeOf(best)) && _gantt.TryAt(job.DemandOf(a), now, hold, out var alloc))
            {
                best = a;
                bestAlloc = alloc;
                bestHold = hold;
            }
        }

        if (best < 0)
        {
            return false;
        }

        Take(job, now, best, bestAlloc!, bestHold);
        return true;
    }

    /// <summary>Whether a predecessor of the job has not ended by <paramref name="now"/>.</summary>
    /// <remarks>A loop rather than a lambda: a lambda capturing <c>now</c> would allocate on every call of its caller.</remarks>
    private static bool DependencyRunning(EngineJob<TDemand, TAlloc> job, long now)
    {
        foreach (var d in job.Dependencies!)
        {
            if (!d.Finished && (!d.IsPlanned || d.ReservedEnd > now))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Reserves the earliest-finishing slot over all alternatives, after the job's dependencies.</summary>
    private bool Place(EngineJob<TDemand, TAlloc> job, long now)
    {
        var notBefore = Math.Max(now, job.Submit);
        if (job.Dependencies != null)
        {
            foreach (var dep in job.Dependencies)
            {
                if (!dep.Finished && !dep.IsPlanned)
                {
                    job.Start = EngineJob<TDemand, TAlloc>.Unplanned;
                    return false; // its predecessor has no slot yet: nothing to plan after
                }

                notBefore = Math.Max(notBefore, dep.ReservedEnd);
            }
        }

        if (job.Alternatives == null)
        {
            if (!TryEarliestHold(job.Demand, job.Walltime, notBefore, now, out var start, out var hold, out var alloc))
            {
                job.Start = EngineJob<TDemand, TAlloc>.Unplanned;
                return false;
            }

            Take(job, start, 0, alloc, hold);
            return true;
        }

        var best = -1;
        var bestStart = 0L;
        var bestHold = 0L;
        TAlloc? bestAlloc = default;
        for (var a = 0; a < job.Alternatives.Count; a++)
        {
            if (TryEarliestHold(job.DemandOf(a), job.WalltimeOf(a), notBefore, now, out var start, out var hold, out var alloc)
                && (best < 0 || start + job.WalltimeOf(a) < bestStart + job.WalltimeOf(best)))
            {
                best = a;
                bestStart = start;
                bestHold = hold;
                bestAlloc = alloc;
            }
        }

        if (best < 0)
        {
            job.Start = EngineJob<TDemand, TAlloc>.Unplanned;
            return false;
        }

        Take(job, bestStart, best, bestAlloc!, bestHold);
        return true;
    }

    /// <summary>
    /// The earliest slot of a demand and how long it must be held: the walltime, plus with <see cref="Readiness"/>
    /// the exact wait of a start now or the bound of a later one.
    /// </summary>
    private bool TryEarliestHold(TDemand demand, long walltime, long notBefore, long now, out long start, out long hold, out TAlloc alloc)
    {
        if (Readiness == null)
        {
            hold = walltime;
            return _gantt.TryEarliest(demand, notBefore, walltime, out start, out alloc);
        }

        if (notBefore <= now)
        {
            hold = walltime + Readiness.DelayNow(demand, now);
            if (_gantt.TryAt(demand, now, hold, out alloc))
            {
                start = now;
                return true;
            }
        }

        hold = walltime + Readiness.MaxDelay;
        return _gantt.TryEarliest(demand, Math.Max(notBefore, now + 1), hold, out start, out alloc);
    }

    /// <summary>The wait of a start now (<see cref="Readiness"/>), 0 when resources are always ready.</summary>
    private long DelayNow(in TDemand demand, long now) => Readiness == null ? 0 : Readiness.DelayNow(demand, now);

    /// <summary>Takes the slot <c>[start, start + hold)</c>: the walltime of the alternative plus any wait for readiness.</summary>
    private void Take(EngineJob<TDemand, TAlloc> job, long start, int alternative, TAlloc alloc, long hold)
    {
        job.Start = start;
        job.Alternative = alternative;
        job.Alloc = alloc;
        job.ReservedEnd = start + hold;
        _gantt.Reserve(alloc, start, job.ReservedEnd);
    }

    private void Unplace(EngineJob<TDemand, TAlloc> job)
    {
        if (!job.IsPlanned)
        {
            return;
        }

        _gantt.Release(job.Alloc!, job.Start, job.ReservedEnd);
        job.Start = EngineJob<TDemand, TAlloc>.Unplanned;
    }
}
