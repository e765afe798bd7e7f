namespace Heorot.Scheduling;

/// <summary>A job as the scheduling engine sees it: a demand, a requested walltime and, once planned, a slot.</summary>
public sealed class EngineJob<TDemand, TAlloc>
{
    public const long Unplanned = long.MinValue;

    public EngineJob(long id, long submit, long walltime, TDemand demand)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(walltime, 1);
        Id = id;
        Submit = submit;
        Walltime = walltime;
        Demand = demand;
    }

    public long Id { get; }

    public long Submit { get; }

    /// <summary>Requested duration in seconds: what the Gantt reserves.</summary>
    public long Walltime { get; }

    public TDemand Demand { get; }

    /// <summary>Planned (or actual, once running) start; <see cref="Unplanned"/> when the job holds no slot.</summary>
    public long Start { get; internal set; } = Unplanned;

    /// <summary>The resources of the current slot; meaningful only when <see cref="Start"/> is planned.</summary>
    public TAlloc? Alloc { get; internal set; }

    /// <summary>End of the reserved slot (start + walltime, or the actual end once the job finished early).</summary>
    public long ReservedEnd { get; internal set; }

    public bool IsPlanned => Start != Unplanned;

    public bool Finished { get; internal set; }

    /// <summary>Whether the job has started by <paramref name="now"/>: its slot began.</summary>
    public bool HasStarted(long now) => Start != Unplanned && Start <= now;

    public override string ToString() => $"job {Id} (submit {Submit}, walltime {Walltime}, start {(IsPlanned ? Start : "-")})";
}
