using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Scheduling;

/// <summary>
/// The scheduling core: a queue of jobs planned onto a Gantt by one of the three policies. Pure and
/// deterministic — the caller supplies the time of every call and applies the returned decisions; the engine
/// keeps its Gantt between calls so that conservative reservations only ever move earlier. The trace simulator
/// and the live scheduling loop both drive this class.
/// </summary>
public sealed class SchedulingEngine<TDemand, TAlloc>
{
    private readonly IGantt<TDemand, TAlloc> _gantt;
    private readonly List<EngineJob<TDemand, TAlloc>> _waiting = [];

    public SchedulingEngine(IGantt<TDemand, TAlloc> gantt, PolicyKind policy)
    {
        _gantt = gantt;
        Policy = policy;
    }

    public PolicyKind Policy { get; }

    public IGantt<TDemand, TAlloc> Gantt => _gantt;

    /// <summary>Jobs not yet started, in queue order (for conservative, some may hold a future reservation).</summary>
    public IReadOnlyList<EngineJob<TDemand, TAlloc>> Waiting => _waiting;

    /// <summary>
    /// Queues a job. Under conservative backfilling the job gets its reservation now, at the earliest slot;
    /// the returned flag says whether it got one (false: it can never fit).
    /// </summary>
    public bool Submit(EngineJob<TDemand, TAlloc> job, long now)
    {
        _gantt.Archive(now);
        _waiting.Add(job);
        return Policy != PolicyKind.Conservative || Place(job, now);
    }

    /// <summary>Records that a started job ended at <paramref name="now"/>: the unused tail of its slot is freed.</summary>
    public void Finish(EngineJob<TDemand, TAlloc> job, long now)
    {
        _gantt.Archive(now);
        if (job.IsPlanned && now < job.ReservedEnd)
        {
            _gantt.Release(job.Alloc!, now, job.ReservedEnd);
            job.ReservedEnd = now;
        }

        job.Finished = true;
    }

    /// <summary>Removes a job that has not started (cancelled): its reservation, if any, is freed.</summary>
    public bool Withdraw(EngineJob<TDemand, TAlloc> job, long now)
    {
        var index = _waiting.IndexOf(job);
        if (index < 0 || job.HasStarted(now))
        {
            return false;
        }

        Unplace(job);
        _waiting.RemoveAt(index);
        return true;
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
        while (n < _waiting.Count)
        {
            var job = _waiting[n];
            if (!_gantt.TryAt(job.Demand, now, job.Walltime, out var alloc))
            {
                break;
            }

            Take(job, now, alloc);
            started.Add(job);
            n++;
        }

        _waiting.RemoveRange(0, n);
    }

    private void Backfill(long now, List<EngineJob<TDemand, TAlloc>> started)
    {
        if (_waiting.Count <= 1)
        {
            return;
        }

        // The head's reservation at its earliest start (the shadow time) is what backfilled jobs must not delay.
        var head = _waiting[0];
        var headPlaced = Place(head, now);
        var write = 1;
        for (var i = 1; i < _waiting.Count; i++)
        {
            var job = _waiting[i];
            if (_gantt.TryAt(job.Demand, now, job.Walltime, out var alloc))
            {
                Take(job, now, alloc);
                started.Add(job);
            }
            else
            {
                _waiting[write++] = job;
            }
        }

        _waiting.RemoveRange(write, _waiting.Count - write);
        if (headPlaced)
        {
            Unplace(head);
        }
    }

    private void Compress(long now, List<EngineJob<TDemand, TAlloc>> moved)
    {
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

            Unplace(job);
            Place(job, now);
            if (job.Start != before)
            {
                moved.Add(job);
            }
        }

        _waiting.RemoveRange(write, _waiting.Count - write);
    }

    private bool Place(EngineJob<TDemand, TAlloc> job, long now)
    {
        var notBefore = Math.Max(now, job.Submit);
        if (!_gantt.TryEarliest(job.Demand, notBefore, job.Walltime, out var start, out var alloc))
        {
            job.Start = EngineJob<TDemand, TAlloc>.Unplanned;
            return false;
        }

        Take(job, start, alloc);
        return true;
    }

    private void Take(EngineJob<TDemand, TAlloc> job, long start, TAlloc alloc)
    {
        job.Start = start;
        job.Alloc = alloc;
        job.ReservedEnd = start + job.Walltime;
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
