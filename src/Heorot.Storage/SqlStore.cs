using System.Data.Common;
using System.Threading.Channels;

namespace Heorot.Storage;

/// <summary>
/// What SQLite and PostgreSQL share: the SQL (the dialects agree on everything used here, including
/// <c>RETURNING</c> and <c>ON CONFLICT</c>), the migrations runner and the single writer loop.
/// <para>
/// Group commit: every write is queued on a channel; one loop takes all the writes waiting, runs them in one
/// transaction, commits, and only then completes their tasks. N concurrent submitters therefore cost about one
/// commit, not N. Because one loop writes, ids are handed out in commit order. The batch first runs without
/// savepoints (they cost round trips on PostgreSQL); only when a write is refused is it rolled back whole and
/// run again with each write under a savepoint, so one refused write does not fail its neighbours.
/// </para>
/// </summary>
public abstract class SqlStore : IHeorotStore
{
    private const int MaxBatch = 512;
    private const string Columns =
        "id, user_name, project, queue, request, script, state, submit_time, update_time, name, walltime_seconds, working_directory, attributes, attempt, runtime";

    private readonly Channel<WriteOp> queue = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private Task? writerLoop;
    private DbConnection? writer;
    private long transactions;
    private long operations;

    protected SqlStore(TimeProvider timeProvider)
    {
        TimeProvider = timeProvider;
    }

    public int SchemaVersion { get; private set; }

    public StoreStatistics Statistics => new(Interlocked.Read(ref transactions), Interlocked.Read(ref operations));

    protected TimeProvider TimeProvider { get; }

    /// <summary>The migration folder's name under <c>Migrations/</c>.</summary>
    protected abstract string Engine { get; }

    /// <summary>What follows a parameter bound to a JSON column (a cast in PostgreSQL).</summary>
    protected abstract string JsonCast { get; }

    /// <summary>
    /// Whether a <c>WITH</c> clause may hold an <c>INSERT … RETURNING</c> (PostgreSQL; not SQLite), so a row and
    /// the rows naming it are inserted in one statement.
    /// </summary>
    protected virtual bool InsertsInWith => false;

    /// <summary>Opens a connection ready for use (pragmas applied).</summary>
    protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Serializes concurrent openers of one database while they migrate it (inside the transaction).</summary>
    protected abstract Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

    /// <summary>The engine's exception as a <see cref="StoreException"/>, or null when it is not the engine's.</summary>
    protected abstract StoreException? TranslateEngine(Exception exception);

    /// <summary>Starts a newly built store (migrations, writer loop); a store that fails to start is disposed.</summary>
    protected static async Task<TStore> StartOrDisposeAsync<TStore>(TStore store, CancellationToken cancellationToken)
        where TStore : SqlStore
    {
        try
        {
            await store.StartAsync(cancellationToken);
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }

        return store;
    }

    /// <summary>Migrates the schema and starts the writer loop; called once, through <see cref="StartOrDisposeAsync"/>.</summary>
    private async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            writer = await OpenConnectionAsync(cancellationToken);
            SchemaVersion = await MigrateAsync(writer, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (writer != null)
            {
                await writer.DisposeAsync();
            }

            throw Translate(e);
        }

        writerLoop = Task.Run(WriterLoopAsync, CancellationToken.None);
    }

    private async Task<int> MigrateAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var migrations = Migrations.For(Engine);
        var known = migrations.Count == 0 ? 0 : migrations[^1].Version;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await LockForMigrationAsync(connection, transaction, cancellationToken);
        await ExecuteAsync(connection, transaction, "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at bigint NOT NULL)", cancellationToken);
        await using (var command = Command(connection, transaction, "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        {
            var current = Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken));
            if (current > known)
            {
                throw new StoreException(
                    StoreErrorCode.SchemaTooNew,
                    $"the database's schema version is {current}, but this Heorot knows versions up to {known}: upgrade Heorot",
                    isTransient: false);
            }

            foreach (var migration in migrations.Where(m => m.Version > current))
            {
                try
                {
                    await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken);
                }
                catch (DbException e)
                {
                    throw new StoreException(StoreErrorCode.MigrationFailed, $"migration {migration.Name} failed: {e.Message}", isTransient: false, e);
                }

                await using var record = Command(connection, transaction, "INSERT INTO schema_version (version, applied_at) VALUES (@v, @t)");
                Add(record, "v", migration.Version);
                Add(record, "t", TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
                await record.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return known;
    }

    public Task<long> SubmitAsync(NewJob job, CancellationToken cancellationToken = default) =>
        WriteAsync((c, t, ct) => InsertJobAsync(c, t, job, ct), cancellationToken);

    public Task<IReadOnlyList<long>> SubmitManyAsync(IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken = default) =>
        WriteAsync<IReadOnlyList<long>>(
            async (c, t, ct) =>
            {
                var ids = new List<long>(jobs.Count);
                foreach (var job in jobs)
                {
                    ids.Add(await InsertJobAsync(c, t, job, ct));
                }

                return ids;
            },
            cancellationToken);

    private async Task<long> InsertJobAsync(DbConnection c, DbTransaction t, NewJob job, CancellationToken ct)
    {
        var insert = $"""
            INSERT INTO jobs (user_name, project, queue, request, script, state, submit_time, update_time, name, walltime_seconds, working_directory, attributes)
            VALUES (@user, @project, @queue, @request, @script, @state, @submit, @submit, @name, @walltime, @workdir, @attributes{JsonCast})
            RETURNING id
            """;
        var together = job.Event != null && InsertsInWith;
        // One round trip for the job and its event where the dialect allows it: the event names the new id.
        await using var command = Command(c, t, together
            ? $"""
                WITH job AS ({insert}),
                event AS ({EventInsert} SELECT @time, @actor, @kind, 'job/' || id, @reason, @payload{JsonCast} FROM job)
                SELECT id FROM job
                """
            : insert);
        Add(command, "user", job.User);
        Add(command, "project", job.Project);
        Add(command, "queue", job.Queue);
        Add(command, "request", job.Request);
        Add(command, "script", job.Script);
        Add(command, "state", job.State);
        Add(command, "submit", job.SubmitTime.ToUnixTimeMilliseconds());
        Add(command, "name", job.Name);
        Add(command, "walltime", job.WalltimeSeconds);
        Add(command, "workdir", job.WorkingDirectory);
        Add(command, "attributes", job.AttributesJson);
        if (together)
        {
            AddEvent(command, job.Event!, subject: false);
        }

        var id = Convert.ToInt64(await command.ExecuteScalarAsync(ct));
        if (job.Event is { } entry && !together)
        {
            await InsertEventAsync(c, t, entry with { Subject = "job/" + id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, ct);
        }

        return id;
    }

    public Task<JobRecord?> GetJobAsync(long id, CancellationToken cancellationToken = default) =>
        ReadAsync(
            async (c, ct) =>
            {
                await using var command = Command(c, null, $"SELECT {Columns} FROM jobs WHERE id = @id");
                Add(command, "id", id);
                await using var reader = await command.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct) ? ReadJob(reader) : null;
            },
            cancellationToken);

    public Task<IReadOnlyList<JobRecord>> ListJobsAsync(JobFilter filter, CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<JobRecord>>(
            async (c, ct) =>
            {
                await using var command = Command(c, null, "");
                var where = new List<string> { "id > @after" };
                Add(command, "after", filter.AfterId);
                if (filter.User != null)
                {
                    where.Add("user_name = @user");
                    Add(command, "user", filter.User);
                }

                if (filter.Queue != null)
                {
                    where.Add("queue = @queue");
                    Add(command, "queue", filter.Queue);
                }

                if (filter.States is { Count: > 0 } states)
                {
                    var names = new List<string>();
                    for (var i = 0; i < states.Count; i++)
                    {
                        names.Add("@s" + i);
                        Add(command, "s" + i, states[i]);
                    }

                    where.Add($"state IN ({string.Join(", ", names)})");
                }

                Add(command, "limit", Math.Max(0, filter.Limit));
                command.CommandText = $"SELECT {Columns} FROM jobs WHERE {string.Join(" AND ", where)} ORDER BY id LIMIT @limit";
                await using var reader = await command.ExecuteReaderAsync(ct);
                var jobs = new List<JobRecord>();
                while (await reader.ReadAsync(ct))
                {
                    jobs.Add(ReadJob(reader));
                }

                return jobs;
            },
            cancellationToken);

    public Task<bool> TryUpdateJobStateAsync(long id, string expectedState, string newState, DateTimeOffset time, CancellationToken cancellationToken = default) =>
        TryUpdateJobAsync(new JobUpdate(id, expectedState, newState, time), cancellationToken);

    public Task<bool> TryUpdateJobAsync(JobUpdate update, CancellationToken cancellationToken = default) =>
        WriteAsync(
            async (c, t, ct) =>
            {
                await using var command = Command(c, t, "");
                var sets = new List<string> { "state = @new", "update_time = @time" };
                var where = "id = @id AND state = @expected";
                Add(command, "new", update.NewState);
                Add(command, "time", update.Time.ToUnixTimeMilliseconds());
                Add(command, "id", update.Id);
                Add(command, "expected", update.ExpectedState);
                if (update.ExpectedAttempt is { } expectedAttempt)
                {
                    where += " AND attempt = @expectedAttempt";
                    Add(command, "expectedAttempt", expectedAttempt);
                }

                if (update.NewAttempt is { } attempt)
                {
                    sets.Add("attempt = @attempt");
                    Add(command, "attempt", attempt);
                }

                if (update.ClearRuntime)
                {
                    sets.Add("runtime = NULL");
                }
                else if (update.RuntimeJson != null)
                {
                    sets.Add($"runtime = @runtime{JsonCast}");
                    Add(command, "runtime", update.RuntimeJson);
                }

                command.CommandText = $"UPDATE jobs SET {string.Join(", ", sets)} WHERE {where}";
                if (await command.ExecuteNonQueryAsync(ct) != 1)
                {
                    return false;
                }

                if (update.Event is { } entry)
                {
                    await InsertEventAsync(c, t, entry, ct);
                }

                return true;
            },
            cancellationToken);

    public Task UpsertNodeAsync(NodeRecord node, CancellationToken cancellationToken = default) =>
        UpsertNodeAsync(node, null, cancellationToken);

    public Task UpsertNodeAsync(NodeRecord node, NewEvent? entry, CancellationToken cancellationToken = default) =>
        WriteAsync(
            async (c, t, ct) =>
            {
                if (entry != null)
                {
                    await InsertEventAsync(c, t, entry, ct);
                }

                await using var command = Command(c, t, $"""
                    INSERT INTO nodes (name, properties, state, update_time) VALUES (@name, @properties{JsonCast}, @state, @time)
                    ON CONFLICT (name) DO UPDATE SET properties = excluded.properties, state = excluded.state, update_time = excluded.update_time
                    """);
                Add(command, "name", node.Name);
                Add(command, "properties", node.PropertiesJson);
                Add(command, "state", node.State);
                Add(command, "time", node.UpdateTime.ToUnixTimeMilliseconds());
                return await command.ExecuteNonQueryAsync(ct);
            },
            cancellationToken);

    public Task<NodeRecord?> GetNodeAsync(string name, CancellationToken cancellationToken = default) =>
        ReadAsync(
            async (c, ct) =>
            {
                await using var command = Command(c, null, "SELECT name, properties, state, update_time FROM nodes WHERE name = @name");
                Add(command, "name", name);
                await using var reader = await command.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct) ? ReadNode(reader) : null;
            },
            cancellationToken);

    public Task<IReadOnlyList<NodeRecord>> ListNodesAsync(CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<NodeRecord>>(
            async (c, ct) =>
            {
                await using var command = Command(c, null, "SELECT name, properties, state, update_time FROM nodes ORDER BY name");
                await using var reader = await command.ExecuteReaderAsync(ct);
                var nodes = new List<NodeRecord>();
                while (await reader.ReadAsync(ct))
                {
                    nodes.Add(ReadNode(reader));
                }

                return nodes;
            },
            cancellationToken);

    public Task<long> AppendEventAsync(NewEvent entry, CancellationToken cancellationToken = default) =>
        WriteAsync((c, t, ct) => InsertEventAsync(c, t, entry, ct), cancellationToken);

    private const string EventInsert = "INSERT INTO events (time, actor, kind, subject, reason, payload)";

    private async Task<long> InsertEventAsync(DbConnection c, DbTransaction t, NewEvent entry, CancellationToken ct)
    {
        await using var command = Command(c, t, $"{EventInsert} VALUES (@time, @actor, @kind, @subject, @reason, @payload{JsonCast}) RETURNING id");
        AddEvent(command, entry, subject: true);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct));
    }

    /// <summary>The parameters of an event insert, without <c>@subject</c> where the statement derives it.</summary>
    private static void AddEvent(DbCommand command, NewEvent entry, bool subject)
    {
        Add(command, "time", entry.Time.ToUnixTimeMilliseconds());
        Add(command, "actor", entry.Actor);
        Add(command, "kind", entry.Kind);
        if (subject)
        {
            Add(command, "subject", entry.Subject);
        }

        Add(command, "reason", entry.Reason);
        Add(command, "payload", entry.PayloadJson);
    }

    public Task<long> CountJobsAsync(CancellationToken cancellationToken = default) =>
        ReadAsync(
            async (c, ct) =>
            {
                await using var command = Command(c, null, "SELECT COUNT(*) FROM jobs");
                return Convert.ToInt64(await command.ExecuteScalarAsync(ct));
            },
            cancellationToken);

    public Task<long> LastEventIdAsync(CancellationToken cancellationToken = default) =>
        ReadAsync(
            async (c, ct) =>
            {
                await using var command = Command(c, null, "SELECT COALESCE(MAX(id), 0) FROM events");
                return Convert.ToInt64(await command.ExecuteScalarAsync(ct));
            },
            cancellationToken);

    public Task<IReadOnlyList<EventRecord>> ReadEventsAsync(long sinceId, int limit = 1000, CancellationToken cancellationToken = default) =>
        ReadAsync<IReadOnlyList<EventRecord>>(
            async (c, ct) =>
            {
                await using var command = Command(c, null, "SELECT id, time, actor, kind, subject, reason, payload FROM events WHERE id > @since ORDER BY id LIMIT @limit");
                Add(command, "since", sinceId);
                Add(command, "limit", Math.Max(0, limit));
                await using var reader = await command.ExecuteReaderAsync(ct);
                var events = new List<EventRecord>();
                while (await reader.ReadAsync(ct))
                {
                    events.Add(new EventRecord(
                        reader.GetInt64(0),
                        Time(reader, 1),
                        reader.GetString(2),
                        reader.GetString(3),
                        reader.GetString(4),
                        reader.GetString(5),
                        reader.GetString(6)));
                }

                return events;
            },
            cancellationToken);

    public Task AddUserAsync(UserRecord user, CancellationToken cancellationToken = default) =>
        WriteAsync(
            async (c, t, ct) =>
            {
                await using var command = Command(c, t, "INSERT INTO users (name, create_time) VALUES (@name, @time)");
                Add(command, "name", user.Name);
                Add(command, "time", user.CreateTime.ToUnixTimeMilliseconds());
                return await command.ExecuteNonQueryAsync(ct);
            },
            cancellationToken);

    public Task<UserRecord?> GetUserAsync(string name, CancellationToken cancellationToken = default) =>
        ReadAsync(
            async (c, ct) =>
            {
                await using var command = Command(c, null, "SELECT name, create_time FROM users WHERE name = @name");
                Add(command, "name", name);
                await using var reader = await command.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct) ? new UserRecord(reader.GetString(0), Time(reader, 1)) : null;
            },
            cancellationToken);

    public Task AddTokenAsync(ApiTokenRecord token, CancellationToken cancellationToken = default) =>
        WriteAsync(
            async (c, t, ct) =>
            {
                await using var command = Command(c, t, "INSERT INTO api_tokens (hash, user_name, description, create_time) VALUES (@hash, @user, @description, @time)");
                Add(command, "hash", token.Hash);
                Add(command, "user", token.User);
                Add(command, "description", token.Description);
                Add(command, "time", token.CreateTime.ToUnixTimeMilliseconds());
                return await command.ExecuteNonQueryAsync(ct);
            },
            cancellationToken);

    public Task<ApiTokenRecord?> FindTokenAsync(string hash, CancellationToken cancellationToken = default) =>
        ReadAsync(
            async (c, ct) =>
            {
                await using var command = Command(c, null, "SELECT hash, user_name, description, create_time FROM api_tokens WHERE hash = @hash");
                Add(command, "hash", hash);
                await using var reader = await command.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct)
                    ? new ApiTokenRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), Time(reader, 3))
                    : null;
            },
            cancellationToken);

    private static readonly string[] ImageDeletes = ["DELETE FROM image_parts WHERE image_id = @id", "DELETE FROM images WHERE id = @id"];

    private const string ImageSelect =
        "SELECT i.id, i.name, i.version, i.owner, i.public, i.format, i.cmdline, i.create_time, p.role, p.digest, p.size FROM images i LEFT JOIN image_parts p ON p.image_id = i.id";

    public Task<long> AddImageAsync(ImageRecord image, CancellationToken cancellationToken = default) =>
        WriteAsync(
            async (c, t, ct) =>
            {
                await using var command = Command(c, t, """
                    INSERT INTO images (name, version, owner, public, format, cmdline, create_time)
                    VALUES (@name, @version, @owner, @public, @format, @cmdline, @time) RETURNING id
                    """);
                Add(command, "name", image.Name);
                Add(command, "version", image.Version);
                Add(command, "owner", image.Owner);
                Add(command, "public", image.Public);
                Add(command, "format", image.Format);
                Add(command, "cmdline", image.Cmdline);
                Add(command, "time", image.CreateTime.ToUnixTimeMilliseconds());
                var id = Convert.ToInt64(await command.ExecuteScalarAsync(ct));
                foreach (var part in image.Parts)
                {
                    await using var insert = Command(c, t, "INSERT INTO image_parts (image_id, role, digest, size) VALUES (@id, @role, @digest, @size)");
                    Add(insert, "id", id);
                    Add(insert, "role", part.Role);
                    Add(insert, "digest", part.Digest);
                    Add(insert, "size", part.Size);
                    await insert.ExecuteNonQueryAsync(ct);
                }

                return id;
            },
            cancellationToken);

    public Task<ImageRecord?> GetImageAsync(string name, string version, CancellationToken cancellationToken = default) =>
        ReadAsync(async (c, ct) => await SelectImageAsync(c, null, name, version, ct), cancellationToken);

    public Task<IReadOnlyList<ImageRecord>> ListImagesAsync(string? name = null, CancellationToken cancellationToken = default) =>
        ReadAsync(
            async (c, ct) =>
            {
                await using var command = Command(c, null, $"{ImageSelect} {(name == null ? string.Empty : "WHERE i.name = @name")} ORDER BY i.name, i.id, p.role");
                if (name != null)
                {
                    Add(command, "name", name);
                }

                return await ReadImagesAsync(command, ct);
            },
            cancellationToken);

    public Task<IReadOnlyList<ImageRecord>> ListImagesByBlobAsync(string digest, CancellationToken cancellationToken = default) =>
        ReadAsync(
            async (c, ct) =>
            {
                await using var command = Command(c, null, $"{ImageSelect} WHERE i.id IN (SELECT image_id FROM image_parts WHERE digest = @digest) ORDER BY i.id, p.role");
                Add(command, "digest", digest);
                return await ReadImagesAsync(command, ct);
            },
            cancellationToken);

    public Task<ImageDeletion?> DeleteImageAsync(string name, string version, CancellationToken cancellationToken = default) =>
        WriteAsync(
            async (c, t, ct) =>
            {
                var image = await SelectImageAsync(c, t, name, version, ct);
                if (image == null)
                {
                    return null;
                }

                foreach (var sql in ImageDeletes)
                {
                    await using var delete = Command(c, t, sql);
                    Add(delete, "id", image.Id);
                    await delete.ExecuteNonQueryAsync(ct);
                }

                var unreferenced = new List<string>();
                foreach (var digest in image.Parts.Select(p => p.Digest).Distinct(StringComparer.Ordinal))
                {
                    await using var count = Command(c, t, "SELECT COUNT(*) FROM image_parts WHERE digest = @digest");
                    Add(count, "digest", digest);
                    if (Convert.ToInt64(await count.ExecuteScalarAsync(ct)) == 0)
                    {
                        unreferenced.Add(digest);
                    }
                }

                return (ImageDeletion?)new ImageDeletion(image, unreferenced);
            },
            cancellationToken);

    private static async Task<ImageRecord?> SelectImageAsync(DbConnection c, DbTransaction? t, string name, string version, CancellationToken ct)
    {
        await using var command = Command(c, t, $"{ImageSelect} WHERE i.name = @name AND i.version = @version ORDER BY p.role");
        Add(command, "name", name);
        Add(command, "version", version);
        var images = await ReadImagesAsync(command, ct);
        return images.Count == 0 ? null : images[0];
    }

    /// <summary>Rows of <see cref="ImageSelect"/> (one per part, grouped by image id) as records, in row order.</summary>
    private static async Task<IReadOnlyList<ImageRecord>> ReadImagesAsync(DbCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        var images = new List<ImageRecord>();
        List<ImagePart>? parts = null;
        while (await reader.ReadAsync(ct))
        {
            var id = reader.GetInt64(0);
            if (images.Count == 0 || images[^1].Id != id)
            {
                parts = [];
                images.Add(new ImageRecord(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4), parts, Time(reader, 7))
                {
                    Id = id,
                    Format = NullableString(reader, 5),
                    Cmdline = NullableString(reader, 6),
                });
            }

            if (!reader.IsDBNull(8))
            {
                parts!.Add(new ImagePart(reader.GetString(8), reader.GetString(9), reader.GetInt64(10)));
            }
        }

        return images;
    }

    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        if (writerLoop != null)
        {
            await writerLoop;
        }

        if (writer != null)
        {
            await writer.DisposeAsync();
            writer = null;
        }

        await DisposeEngineAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the engine's resources (pools, data sources) after the writer loop has ended.</summary>
    protected abstract ValueTask DisposeEngineAsync();

    protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    protected static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    protected static async Task ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static DateTimeOffset Time(DbDataReader reader, int ordinal) => DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));

    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static JobRecord ReadJob(DbDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetString(5),
        reader.GetString(6),
        Time(reader, 7),
        Time(reader, 8),
        NullableString(reader, 9),
        reader.IsDBNull(10) ? null : reader.GetInt64(10),
        NullableString(reader, 11),
        NullableString(reader, 12))
    {
        Attempt = reader.GetInt32(13),
        RuntimeJson = NullableString(reader, 14),
    };

    private static NodeRecord ReadNode(DbDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetString(2), Time(reader, 3));

    private StoreException Translate(Exception exception) => exception switch
    {
        StoreException store => store,
        _ => TranslateEngine(exception)
            ?? new StoreException(StoreErrorCode.Internal, $"storage failure: {exception.Message}", isTransient: false, exception),
    };

    private async Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> body, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await OpenConnectionAsync(cancellationToken);
            return await body(connection, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw Translate(e);
        }
    }

    private Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> body, CancellationToken cancellationToken)
    {
        var op = new WriteOp<T>(body, cancellationToken);
        if (!queue.Writer.TryWrite(op))
        {
            throw new StoreException(StoreErrorCode.Closed, "the store is closed", isTransient: false);
        }

        return op.Task;
    }

    private async Task WriterLoopAsync()
    {
        var batch = new List<WriteOp>();
        var failures = new Dictionary<WriteOp, StoreException>();
        while (await queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            failures.Clear();
            while (batch.Count < MaxBatch && queue.Reader.TryRead(out var op))
            {
                if (!op.CancelIfRequested())
                {
                    batch.Add(op);
                }
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                writer ??= await OpenConnectionAsync(CancellationToken.None);
                if (!await TryCommitAsync(writer, batch, failures, isolate: false))
                {
                    // A write was refused and the whole transaction rolled back: nothing of the first run is
                    // visible. Run the batch again with each write under a savepoint, so only the refused
                    // writes fail and their neighbours still commit.
                    await TryCommitAsync(writer, batch, failures, isolate: true);
                }

                Interlocked.Increment(ref transactions);
                Interlocked.Add(ref operations, batch.Count - failures.Count);
                foreach (var op in batch)
                {
                    if (failures.TryGetValue(op, out var failure))
                    {
                        op.Fail(failure);
                    }
                    else
                    {
                        op.Complete();
                    }
                }
            }
#pragma warning disable CA1031 // The loop must survive any failure and hand it to the waiting writers.
            catch (Exception e)
#pragma warning restore CA1031
            {
                var failure = Translate(e);
                foreach (var op in batch)
                {
                    op.Fail(failure);
                }

                if (writer is { State: not System.Data.ConnectionState.Open })
                {
                    await writer.DisposeAsync();
                    writer = null;
                }
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="batch"/> in one transaction and commits it. Optimistic (<paramref name="isolate"/>
    /// false): no savepoints, so each write costs only its own statements; the first refused write (a
    /// non-transient engine error such as a constraint) rolls back everything and returns false, for the caller
    /// to run the batch again isolated. Isolated: each write under a savepoint; a refused write is rolled back
    /// to its savepoint and recorded in <paramref name="failures"/>. A batch of one write needs neither: its
    /// error fails the transaction and that write alone. Write bodies only touch the database and replace their
    /// captured result on every run, so a rolled-back run leaves nothing behind.
    /// </summary>
    private async Task<bool> TryCommitAsync(DbConnection connection, List<WriteOp> batch, Dictionary<WriteOp, StoreException> failures, bool isolate)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        foreach (var op in batch)
        {
            if (isolate)
            {
                await transaction.SaveAsync("op");
            }

            try
            {
                await op.RunAsync(connection, transaction);
                if (isolate)
                {
                    await transaction.ReleaseAsync("op");
                }
            }
            catch (DbException e) when (batch.Count > 1 && TranslateEngine(e) is { IsTransient: false } refused)
            {
                if (!isolate)
                {
                    await transaction.RollbackAsync();
                    return false;
                }

                // Only this write is refused (a constraint, say); its neighbours still commit.
                await transaction.RollbackAsync("op");
                failures[op] = refused;
            }
        }

        await transaction.CommitAsync();
        return true;
    }

    private abstract class WriteOp
    {
        public abstract Task RunAsync(DbConnection connection, DbTransaction transaction);

        public abstract bool CancelIfRequested();

        public abstract void Complete();

        public abstract void Fail(Exception exception);
    }

    private sealed class WriteOp<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> body, CancellationToken cancellationToken) : WriteOp
    {
        private readonly TaskCompletionSource<T> completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T result = default!;

        public Task<T> Task => completion.Task;

        // Once a write is in a transaction it runs to the commit: cancelling then would leave its fate unknown.
        public override async Task RunAsync(DbConnection connection, DbTransaction transaction) =>
            result = await body(connection, transaction, CancellationToken.None);

        public override bool CancelIfRequested() =>
            cancellationToken.IsCancellationRequested && completion.TrySetCanceled(cancellationToken);

        public override void Complete() => completion.TrySetResult(result);

        public override void Fail(Exception exception) => completion.TrySetException(exception);
    }
}
