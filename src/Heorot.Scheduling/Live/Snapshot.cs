using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Scheduling.Live;

/// <summary>A queue: its priority (higher first), its policy and how it orders its own jobs.</summary>
public sealed record QueueSpec(string Name, int Priority = 0, PolicyKind Policy = PolicyKind.Conservative, bool FairShare = false);

/// <summary>One way to run a job: a demand and its walltime. Several make a moldable job.</summary>
public sealed record JobAlternative(NodeDemand Demand, long Walltime);

/// <summary>A job waiting to start, as the scheduler reads it from the store.</summary>
public sealed record PendingJob(long Id, string User, string Queue, long Submit, IReadOnlyList<JobAlternative> Alternatives)
{
    public string Project { get; init; } = string.Empty;

    /// <summary>Preempted whenever normal work needs its resources; never holds a reservation.</summary>
    public bool BestEffort { get; init; }

    /// <summary>Jobs that must have ended before this one starts.</summary>
    public IReadOnlyList<long> After { get; init; } = [];

    /// <summary>The slot planned by the previous pass: a conservative reservation never moves later.</summary>
    public PlannedSlot? Previous { get; init; }
}

/// <summary>A planned slot: start, end, the alternative chosen and its resources.</summary>
public sealed record PlannedSlot(long Start, long End, int Alternative, NodeAlloc Alloc);

/// <summary>A job holding resources now, until its requested end.</summary>
public sealed record RunningJob(long Id, string User, long Start, long End, NodeAlloc Alloc)
{
    public string Project { get; init; } = string.Empty;

    public bool BestEffort { get; init; }
}

/// <summary>An accepted advance reservation: resources held over a fixed window.</summary>
public sealed record AdvanceReservation(long Id, string User, long Start, long End, NodeAlloc Alloc);

/// <summary>Finished work, for fair-share: core-seconds charged to a user and a project, ending at a time.</summary>
public sealed record UsageRecord(string User, string Project, long End, double CoreSeconds);

public sealed record FairShareOptions(long HalfLifeSeconds = 7 * 24 * 3600, double UserWeight = 1.0, double ProjectWeight = 0.5);

/// <summary>Everything one scheduling pass reads: a read-only snapshot. Time is an input.</summary>
public sealed record SchedulingSnapshot(long Now, ClusterShape Cluster)
{
    /// <summary>Per node, whether it can take work (Alive and not drained); null: all.</summary>
    public bool[]? NodeAvailable { get; init; }

    /// <summary>Seconds kept free on a node after each job (VM teardown, a reboot).</summary>
    public long Gap { get; init; }

    public IReadOnlyList<QueueSpec> Queues { get; init; } = [new QueueSpec("default")];

    public IReadOnlyList<RunningJob> Running { get; init; } = [];

    public IReadOnlyList<PendingJob> Pending { get; init; } = [];

    public IReadOnlyList<AdvanceReservation> Reservations { get; init; } = [];

    public IReadOnlyList<UsageRecord> Usage { get; init; } = [];

    public FairShareOptions FairShare { get; init; } = new();

    /// <summary>
    /// Planning depth: at most this many pending normal jobs are planned per pass (as Slurm's bf_max_job_test);
    /// the rest wait for a later pass and say so.
    /// </summary>
    public int MaxPlannedJobs { get; init; } = 100_000;
}

/// <summary>Start a job now on these resources.</summary>
public sealed record StartDecision(long JobId, int Alternative, NodeAlloc Alloc, long End);

/// <summary>Why a pending job does not start now, and when it should.</summary>
public sealed record ExplainRecord(long JobId, PlannedSlot? Planned, string Reason);

/// <summary>The outcome of a pass: what to start, what to preempt, and an explain record per waiting job.</summary>
public sealed record Plan(IReadOnlyList<StartDecision> Starts, IReadOnlyList<long> Preempt, IReadOnlyList<ExplainRecord> Explain)
{
    public ExplainRecord? ExplainFor(long jobId) => Explain.FirstOrDefault(e => e.JobId == jobId);
}
