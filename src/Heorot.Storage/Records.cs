namespace Heorot.Storage;

/// <summary>A job as submitted; the store assigns its id. <c>Request</c> is the canonical request string.</summary>
public sealed record NewJob(
    string User,
    string Project,
    string Queue,
    string Request,
    string Script,
    string State,
    DateTimeOffset SubmitTime)
{
    public string? Name { get; init; }

    public long? WalltimeSeconds { get; init; }

    public string? WorkingDirectory { get; init; }

    /// <summary>Free-form JSON (job types, dependencies, environment); null when none.</summary>
    public string? AttributesJson { get; init; }

    /// <summary>Journalled in the same transaction as the insert, its subject set to <c>job/ID</c>; null journals nothing.</summary>
    public NewEvent? Event { get; init; }
}

/// <summary>A stored job.</summary>
public sealed record JobRecord(
    long Id,
    string User,
    string Project,
    string Queue,
    string Request,
    string Script,
    string State,
    DateTimeOffset SubmitTime,
    DateTimeOffset UpdateTime,
    string? Name,
    long? WalltimeSeconds,
    string? WorkingDirectory,
    string? AttributesJson)
{
    /// <summary>How many times the job was launched and put back in the queue; keys each launch.</summary>
    public int Attempt { get; init; }

    /// <summary>The control plane's JSON record of the current attempt (allocation, times, exit status); null before a launch.</summary>
    public string? RuntimeJson { get; init; }
}

/// <summary>
/// A compare-and-set change of a job: applied only when the stored state is <see cref="ExpectedState"/> (and
/// the attempt is <see cref="ExpectedAttempt"/> when given); the event is journalled in the same transaction.
/// </summary>
public sealed record JobUpdate(long Id, string ExpectedState, string NewState, DateTimeOffset Time)
{
    public int? ExpectedAttempt { get; init; }

    /// <summary>The new attempt number; null keeps it.</summary>
    public int? NewAttempt { get; init; }

    /// <summary>The new runtime record; null keeps it (use <see cref="ClearRuntime"/> to erase it).</summary>
    public string? RuntimeJson { get; init; }

    public bool ClearRuntime { get; init; }

    /// <summary>Journalled with the change, atomically; null journals nothing.</summary>
    public NewEvent? Event { get; init; }
}

/// <summary>Which jobs to list: all filters combine with AND; results are ordered by id.</summary>
public sealed record JobFilter
{
    public string? User { get; init; }

    public string? Queue { get; init; }

    /// <summary>Any of these states; null or empty means every state.</summary>
    public IReadOnlyList<string>? States { get; init; }

    /// <summary>Keyset paging: only jobs whose id is greater than this.</summary>
    public long AfterId { get; init; }

    public int Limit { get; init; } = 100;
}

/// <summary>A node as the server knows it: its properties (JSON object) and its state.</summary>
public sealed record NodeRecord(string Name, string PropertiesJson, string State, DateTimeOffset UpdateTime);

/// <summary>An event to append to the journal.</summary>
public sealed record NewEvent(DateTimeOffset Time, string Actor, string Kind, string Subject, string Reason, string PayloadJson);

/// <summary>A journal entry; ids grow in commit order.</summary>
public sealed record EventRecord(long Id, DateTimeOffset Time, string Actor, string Kind, string Subject, string Reason, string PayloadJson);

public sealed record UserRecord(string Name, DateTimeOffset CreateTime);

/// <summary>An API token: only the SHA-256 hash of the secret is stored (see <see cref="ApiTokens"/>).</summary>
public sealed record ApiTokenRecord(string Hash, string User, string Description, DateTimeOffset CreateTime);

/// <summary>
/// Counters of the writer loop, to see group commit at work: write transactions committed, and the write
/// operations (submissions, updates, appends) they carried.
/// </summary>
public sealed record StoreStatistics(long Transactions, long Operations);

/// <summary>One content-addressed blob of an image, in a role: <c>disk</c>, <c>kernel</c> or <c>initrd</c>.</summary>
public sealed record ImagePart(string Role, string Digest, long Size);

/// <summary>
/// A version of an image: its blobs by role, owned by the uploader, private (owner and operators) or public.
/// <c>Id</c> is assigned by the store and grows with every image added, so the newest version of a name is
/// the one with the largest id.
/// </summary>
public sealed record ImageRecord(
    string Name,
    string Version,
    string Owner,
    bool Public,
    IReadOnlyList<ImagePart> Parts,
    DateTimeOffset CreateTime)
{
    public long Id { get; init; }

    /// <summary>The disk's format (qcow2, raw); null without a disk.</summary>
    public string? Format { get; init; }

    /// <summary>The kernel command line; null without a kernel or when none was given.</summary>
    public string? Cmdline { get; init; }
}

/// <summary>What deleting an image did: the digests it referenced that no image references any more.</summary>
public sealed record ImageDeletion(ImageRecord Image, IReadOnlyList<string> UnreferencedDigests);
