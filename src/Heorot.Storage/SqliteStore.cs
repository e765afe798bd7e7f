using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Heorot.Storage;

/// <summary>
/// The embedded default: one SQLite file in the data directory. WAL mode lets readers run beside the single
/// writer; <c>synchronous=FULL</c> syncs the WAL at every commit, so an acknowledged write survives a crash or
/// a power loss.
/// </summary>
public sealed class SqliteStore : SqlStore
{
    /// <summary>The database's file name inside the data directory.</summary>
    public const string DefaultFileName = "heorot.db";

    private readonly string connectionString;

    private SqliteStore(string path, TimeProvider timeProvider)
        : base(timeProvider)
    {
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    protected override string Engine => "Sqlite";

    protected override string JsonCast => "";

    /// <summary>Opens (creating and migrating when needed) the database file at <paramref name="path"/>.</summary>
    public static async Task<SqliteStore> OpenAsync(string path, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        var store = new SqliteStore(path, timeProvider ?? TimeProvider.System);
        return await StartOrDisposeAsync(store, cancellationToken);
    }

    /// <summary>Opens <see cref="DefaultFileName"/> in <paramref name="dataDirectory"/>.</summary>
    public static Task<SqliteStore> OpenInDirectoryAsync(string dataDirectory, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(dataDirectory);
        return OpenAsync(Path.Combine(dataDirectory, DefaultFileName), timeProvider, cancellationToken);
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            // journal_mode is stored in the file; synchronous is per connection.
            await ExecuteAsync(connection, null, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    // BeginTransaction in Microsoft.Data.Sqlite is BEGIN IMMEDIATE: the write lock is already held.
    protected override Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    protected override StoreException? TranslateEngine(Exception exception) => exception switch
    {
        SqliteException { SqliteErrorCode: 19 } e => new StoreException(StoreErrorCode.Constraint, e.Message, isTransient: false, e),
        SqliteException { SqliteErrorCode: 5 or 6 } e => new StoreException(StoreErrorCode.Busy, e.Message, isTransient: true, e),
        SqliteException { SqliteErrorCode: 14 } e => new StoreException(StoreErrorCode.Unavailable, e.Message, isTransient: true, e),
        SqliteException e => new StoreException(StoreErrorCode.Internal, e.Message, isTransient: false, e),
        _ => null,
    };

    protected override ValueTask DisposeEngineAsync()
    {
        // Pooled connections keep the file open; release them so the file can be moved or deleted.
        using var connection = new SqliteConnection(connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }
}
