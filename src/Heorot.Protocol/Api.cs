namespace Heorot.Protocol;

/// <summary>
/// A submission: the request as command-line arguments of one front-end (<c>oar</c>: -l/-p/-q/-t/--after;
/// <c>slurm</c>: --nodes, --ntasks, …), or, when there are none, the directives at the top of the script.
/// </summary>
public sealed record SubmitRequest
{
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>oar (default) or slurm.</summary>
    public string? From { get; init; }

    /// <summary>The batch script run on the job's first node, as the submitting user.</summary>
    public string Script { get; init; } = string.Empty;

    public string? Name { get; init; }

    public string? Queue { get; init; }

    public string? Project { get; init; }

    public string? WorkingDirectory { get; init; }

    /// <summary>Submit an array of this many jobs (indexes 0..N-1, in <c>HEOROT_ARRAY_INDEX</c>).</summary>
    public int? Array { get; init; }

    /// <summary>Environment variables given to the job.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>Requeue the job if a node is lost under it (OAR's idempotent type).</summary>
    public bool Idempotent { get; init; }

    /// <summary>Submit on behalf of this user (operators only, as root with sbatch --uid).</summary>
    public string? User { get; init; }

    /// <summary>
    /// An advance reservation (OAR's <c>-r</c>): the job starts at this time on resources set aside now, or the
    /// submission is refused. Its walltime is the reservation's length.
    /// </summary>
    public DateTimeOffset? ReservationStart { get; init; }

    /// <summary>
    /// An interactive job (<c>sub -I</c>): no batch script; the job holds its nodes until the user's shell
    /// session on the first node ends (or the walltime does).
    /// </summary>
    public bool Interactive { get; init; }

    /// <summary>Run the job in virtual machines booted from this image (NAME or NAME:VERSION).</summary>
    public string? Image { get; init; }

    /// <summary>With an image: how many VMs, spread over the job's nodes (default: one per node).</summary>
    public int? VNodes { get; init; }

    /// <summary>With an image: SSH public keys for the VMs' user (one per line, as in authorized_keys).</summary>
    public IReadOnlyList<string>? SshKeys { get; init; }
}

public sealed record SubmitResponse(IReadOnlyList<long> Ids);

/// <summary>A job as the API shows it.</summary>
public sealed record JobView
{
    public long Id { get; init; }

    public string User { get; init; } = string.Empty;

    public string Project { get; init; } = string.Empty;

    public string Queue { get; init; } = string.Empty;

    public string? Name { get; init; }

    public string State { get; init; } = string.Empty;

    /// <summary>The canonical request (OAR syntax).</summary>
    public string Request { get; init; } = string.Empty;

    public long? WalltimeSeconds { get; init; }

    public DateTimeOffset SubmitTime { get; init; }

    public DateTimeOffset? StartTime { get; init; }

    public DateTimeOffset? EndTime { get; init; }

    public IReadOnlyList<string> Nodes { get; init; } = [];

    public int Attempt { get; init; }

    public int? ExitCode { get; init; }

    public string? Reason { get; init; }

    /// <summary>For a waiting job: why it does not run and when it is planned to (from the last scheduling pass).</summary>
    public ExplainView? Explain { get; init; }

    /// <summary>For an advance reservation: when it starts (its nodes are in <see cref="Nodes"/>).</summary>
    public DateTimeOffset? ReservationStart { get; init; }
}

public sealed record ExplainView(string Reason, DateTimeOffset? PlannedStart, IReadOnlyList<string>? PlannedNodes);

public sealed record JobListResponse(IReadOnlyList<JobView> Jobs, long? NextAfter);

public sealed record NodeView
{
    public string Name { get; init; } = string.Empty;

    public string State { get; init; } = string.Empty;

    public int Cores { get; init; }

    public long MemoryMb { get; init; }

    public int Gpus { get; init; }

    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    public DateTimeOffset? LastSeen { get; init; }

    public string? Reason { get; init; }

    public IReadOnlyList<long> Jobs { get; init; } = [];

    /// <summary>Off, PoweringOn, On, PoweringOff; null when Heorot does not control the node's power.</summary>
    public string? Power { get; init; }

    public DateTimeOffset? PowerSince { get; init; }

    /// <summary>The learned boot time in seconds, once measured.</summary>
    public double? BootSeconds { get; init; }
}

/// <summary>A power command for a node set (<c>heorot power</c>): on, off, soft, cycle, reset or status.</summary>
public sealed record PowerRequest
{
    /// <summary>Node-set syntax, e.g. <c>node[1-16,20]</c>.</summary>
    public string Nodes { get; init; } = string.Empty;

    public string Action { get; init; } = string.Empty;

    /// <summary>At most this many BMCs are talked to at once.</summary>
    public int? Window { get; init; }

    public string? Reason { get; init; }

    /// <summary>Power off, cycle or reset nodes even when they hold jobs (the jobs are lost).</summary>
    public bool Force { get; init; }
}

/// <summary>One node's outcome of a power command (one JSON line per node, streamed as they complete).</summary>
public sealed record PowerResult
{
    public string Node { get; init; } = string.Empty;

    public bool Ok { get; init; }

    /// <summary>The BMC's answer for status (On, Off, Unknown); the node's power state after other actions.</summary>
    public string? State { get; init; }

    /// <summary>A stable error code (unreachable, auth_failed, unsupported, no_driver, ...) when not ok.</summary>
    public string? Code { get; init; }

    public string? Error { get; init; }

    public double Seconds { get; init; }
}

public sealed record NodeActionRequest
{
    /// <summary>drain, resume or set-properties.</summary>
    public string Action { get; init; } = string.Empty;

    public string? Reason { get; init; }

    public IReadOnlyDictionary<string, string>? Properties { get; init; }
}

public sealed record JobActionRequest
{
    /// <summary>hold, release, signal, extend.</summary>
    public string Action { get; init; } = string.Empty;

    public string? Signal { get; init; }

    public long? ExtendSeconds { get; init; }

    public string? Reason { get; init; }
}

public sealed record QueueView(string Name, int Priority, string Policy, int Waiting, int Running);

public sealed record EventView(long Id, DateTimeOffset Time, string Actor, string Kind, string Subject, string Reason, string Payload);

public sealed record UserRequest(string Name);

public sealed record TokenRequest
{
    /// <summary>Whose token; only operators may name another user.</summary>
    public string? User { get; init; }

    public string? Description { get; init; }
}

public sealed record TokenResponse(string User, string Token);

public sealed record WhoAmIResponse(string User, bool Operator, string Via);
