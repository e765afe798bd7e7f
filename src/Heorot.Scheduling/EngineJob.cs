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

    /// <summary>
    /// Several ways to run the job (a moldable job): the engine picks the one that finishes first. When null,
    /// the job has one way: <see cref="Demand"/> for <see cref="Walltime"/>.
    /// </summary>
    public IReadOnlyList<(TDemand Demand, long Walltime)>? Alternatives { get; init; }

    /// <summary>Jobs that must end before this one starts (<c>--after</c>).</summary>
    public IReadOnlyList<EngineJob<TDemand, TAlloc>>? Dependencies { get; init; }

    /// <summary>The alternative of the current slot (0 for a job with one way to run).</summary>
    public int Alternative { get; internal set; }

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

    internal int AlternativeCount => Alternatives?.Count ?? 1;

    internal TDemand DemandOf(int alternative) => Alternatives == null ? Demand : Alternatives[alternative].Demand;

    internal long WalltimeOf(int alternative) => Alternatives == null ? Walltime : Alternatives[alternative].Walltime;

    public bool Finished { get; internal set; }

    /// <summary>Whether the job has started by <paramref name="now"/>: its slot began.</summary>
    public bool HasStarted(long now) => Start != Unplanned && Start <= now;

    public override string ToString() => $"job {Id} (submit {Submit}, walltime {Walltime}, start {(IsPlanned ? Start : "-")})";
}
