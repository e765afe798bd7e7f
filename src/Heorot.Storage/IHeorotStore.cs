namespace Heorot.Storage;

/// <summary>
/// The control plane's storage contract, implemented by <see cref="SqliteStore"/> and <see cref="PostgresStore"/>
/// with the same schema and semantics. Every write goes through one writer loop: a write's task completes only
/// after the transaction holding it has committed, and concurrent writes share a transaction (group commit).
/// Failures are <see cref="StoreException"/>s.
/// </summary>
public interface IHeorotStore : IAsyncDisposable
{
    /// <summary>Inserts a job and returns its id (monotonic); completes once the insert is durable.</summary>
    Task<long> SubmitAsync(NewJob job, CancellationToken cancellationToken = default);

    /// <summary>Inserts several jobs in one transaction (a job array): all or none; ids in order.</summary>
    Task<IReadOnlyList<long>> SubmitManyAsync(IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken = default);

    /// <summary>How many jobs are stored, in every state.</summary>
    Task<long> CountJobsAsync(CancellationToken cancellationToken = default);

    Task<JobRecord?> GetJobAsync(long id, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<JobRecord>> ListJobsAsync(JobFilter filter, CancellationToken cancellationToken = default);

    /// <summary>
    /// Compare-and-set: moves job <paramref name="id"/> from <paramref name="expectedState"/> to
    /// <paramref name="newState"/>. Returns false, changing nothing, when the job is missing or its stored state
    /// differs, so the plan applier never overwrites a concurrent change.
    /// </summary>
    Task<bool> TryUpdateJobStateAsync(long id, string expectedState, string newState, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>
    /// Compare-and-set on state (and attempt), with the runtime record and an event written in the same
    /// transaction. Returns false, changing nothing, when the job is missing or the stored state differs.
    /// </summary>
    Task<bool> TryUpdateJobAsync(JobUpdate update, CancellationToken cancellationToken = default);

    /// <summary>Inserts the node or replaces its properties and state.</summary>
    Task UpsertNodeAsync(NodeRecord node, CancellationToken cancellationToken = default);

    /// <summary>As <see cref="UpsertNodeAsync(NodeRecord, CancellationToken)"/>, journalling the event in the same transaction.</summary>
    Task UpsertNodeAsync(NodeRecord node, NewEvent? entry, CancellationToken cancellationToken = default);

    Task<NodeRecord?> GetNodeAsync(string name, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<NodeRecord>> ListNodesAsync(CancellationToken cancellationToken = default);

    /// <summary>Appends an event to the journal and returns its id.</summary>
    Task<long> AppendEventAsync(NewEvent entry, CancellationToken cancellationToken = default);

    /// <summary>The id of the newest event, 0 when there is none.</summary>
    Task<long> LastEventIdAsync(CancellationToken cancellationToken = default);

    /// <summary>Events whose id is greater than <paramref name="sinceId"/>, in id order, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<EventRecord>> ReadEventsAsync(long sinceId, int limit = 1000, CancellationToken cancellationToken = default);

    /// <summary>Adds a user; a duplicate name is a <see cref="StoreErrorCode.Constraint"/> error.</summary>
    Task AddUserAsync(UserRecord user, CancellationToken cancellationToken = default);

    Task<UserRecord?> GetUserAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Stores a token by its hash (<see cref="ApiTokens.Hash"/>); the user must exist.</summary>
    Task AddTokenAsync(ApiTokenRecord token, CancellationToken cancellationToken = default);

    Task<ApiTokenRecord?> FindTokenAsync(string hash, CancellationToken cancellationToken = default);

    /// <summary>
    /// Adds an image version and returns its store-assigned id; a duplicate (name, version) is a
    /// <see cref="StoreErrorCode.Constraint"/> error. The blobs it names must already be stored (the caller's duty).
    /// </summary>
    Task<long> AddImageAsync(ImageRecord image, CancellationToken cancellationToken = default);

    Task<ImageRecord?> GetImageAsync(string name, string version, CancellationToken cancellationToken = default);

    /// <summary>Every image (or every version of <paramref name="name"/>), ordered by name then id (oldest version first).</summary>
    Task<IReadOnlyList<ImageRecord>> ListImagesAsync(string? name = null, CancellationToken cancellationToken = default);

    /// <summary>The images that reference the blob <paramref name="digest"/>, in id order.</summary>
    Task<IReadOnlyList<ImageRecord>> ListImagesByBlobAsync(string digest, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes an image version and, in the same transaction, finds which of its digests no other image
    /// references (so the caller may delete those blobs); null when there is no such image.
    /// </summary>
    Task<ImageDeletion?> DeleteImageAsync(string name, string version, CancellationToken cancellationToken = default);

    /// <summary>The schema version the store runs on after its migrations.</summary>
    int SchemaVersion { get; }

    StoreStatistics Statistics { get; }
}
