using System.Data.Common;
using Npgsql;

namespace Heorot.Storage;

/// <summary>PostgreSQL for production, chosen by a connection string; same schema and semantics as SQLite.</summary>
public sealed class PostgresStore : SqlStore
{
    // Any fixed number: serializes concurrent migrations of one database.
    private const long MigrationLockKey = 0x4865_6f72_6f74;

    private readonly NpgsqlDataSource dataSource;

    private PostgresStore(string connectionString, TimeProvider timeProvider)
        : base(timeProvider)
    {
        dataSource = NpgsqlDataSource.Create(WithDefaults(connectionString));
    }

    protected override string Engine => "Postgres";

    protected override bool InsertsInWith => true;

    protected override string JsonCast => "::jsonb";

    public static async Task<PostgresStore> OpenAsync(string connectionString, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        PostgresStore store;
        try
        {
            store = new PostgresStore(connectionString, timeProvider ?? TimeProvider.System);
        }
        catch (ArgumentException e)
        {
            throw new StoreException(StoreErrorCode.Internal, $"bad PostgreSQL connection string: {e.Message}", isTransient: false, e);
        }

        return await StartOrDisposeAsync(store, cancellationToken);
    }

    /// <summary>
    /// The connection string with Heorot's defaults for what the user left unset: the writer sends the same
    /// few statements all day, so they are prepared once per connection (parse and plan saved on every call).
    /// </summary>
    private static string WithDefaults(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // The builder's own ContainsKey answers whether a keyword is valid; the keys set are those it writes.
        var given = new DbConnectionStringBuilder { ConnectionString = builder.ConnectionString };
        if (!given.ContainsKey("Max Auto Prepare"))
        {
            builder.MaxAutoPrepare = 32;
        }

        return builder.ConnectionString;
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await dataSource.OpenConnectionAsync(cancellationToken);

    protected override Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", cancellationToken);

    protected override StoreException? TranslateEngine(Exception exception) => exception switch
    {
        PostgresException e when e.SqlState.StartsWith("23", StringComparison.Ordinal) =>
            new StoreException(StoreErrorCode.Constraint, e.MessageText, isTransient: false, e),
        PostgresException { SqlState: "40001" or "40P01" or "55P03" } e =>
            new StoreException(StoreErrorCode.Busy, e.MessageText, isTransient: true, e),
        PostgresException e when e.SqlState.StartsWith("08", StringComparison.Ordinal) || e.SqlState is "57P01" or "57P02" or "57P03" or "53300" =>
            new StoreException(StoreErrorCode.Unavailable, e.MessageText, isTransient: true, e),
        PostgresException e => new StoreException(StoreErrorCode.Internal, e.MessageText, e.IsTransient, e),
        NpgsqlException e => new StoreException(StoreErrorCode.Unavailable, $"PostgreSQL unreachable: {e.Message}", e.IsTransient, e),
        _ => null,
    };

    protected override ValueTask DisposeEngineAsync() => dataSource.DisposeAsync();
}
