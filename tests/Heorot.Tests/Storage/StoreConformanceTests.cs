using System.Text.Json.Nodes;
using Heorot.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Heorot.Tests.Storage;

/// <summary>One storage suite, run against every engine by the subclasses below.</summary>
public abstract class StoreConformanceTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 8, 0, 0, TimeSpan.Zero);

    private IHeorotStore? store;

    protected IHeorotStore Store => store ?? throw new InvalidOperationException("store not open");

    /// <summary>Prepares an empty database for this test.</summary>
    protected abstract Task PrepareAsync();

    /// <summary>Opens the store on this test's database.</summary>
    protected abstract Task<IHeorotStore> OpenAsync();

    /// <summary>Runs SQL on the database behind the store's back.</summary>
    protected abstract Task ExecuteRawAsync(string sql);

    protected abstract Task CleanupAsync();

    public async ValueTask InitializeAsync()
    {
        await PrepareAsync();
        store = await OpenAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (store != null)
        {
            await store.DisposeAsync();
        }

        await CleanupAsync();
        GC.SuppressFinalize(this);
    }

    private async Task ReopenAsync()
    {
        await Store.DisposeAsync();
        store = null;
        store = await OpenAsync();
    }

    private static NewJob Job(string user = "alice", string queue = "default", string state = "Waiting", int minute = 0) =>
        new(user, "proj", queue, "/nodes=2/core=4,walltime=1:00:00", "#!/bin/sh\nhostname\n", state, T0.AddMinutes(minute));

    [Fact]
    public async Task SubmitAsync_ThenGetJobAsync_ReturnsEveryField()
    {
        var job = Job() with
        {
            Name = "relax",
            WalltimeSeconds = 3600,
            WorkingDirectory = "/home/alice",
            AttributesJson = """{"types":["besteffort"],"after":[12]}""",
        };

        var id = await Store.SubmitAsync(job, TestContext.Current.CancellationToken);
        var stored = await Store.GetJobAsync(id, TestContext.Current.CancellationToken);

        Assert.NotNull(stored);
        Assert.Equal(
            (id, "alice", "proj", "default", job.Request, job.Script, "Waiting", T0, T0, "relax", 3600L, "/home/alice"),
            (stored.Id, stored.User, stored.Project, stored.Queue, stored.Request, stored.Script, stored.State, stored.SubmitTime, stored.UpdateTime,
                stored.Name, stored.WalltimeSeconds, stored.WorkingDirectory));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(job.AttributesJson), JsonNode.Parse(stored.AttributesJson!)));
        Assert.Null(await Store.GetJobAsync(id + 1000, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task SubmitAsync_WithoutOptionalFields_ReadsBackNulls()
    {
        var id = await Store.SubmitAsync(Job(), TestContext.Current.CancellationToken);
        var stored = await Store.GetJobAsync(id, TestContext.Current.CancellationToken);

        Assert.NotNull(stored);
        Assert.Null(stored.Name);
        Assert.Null(stored.WalltimeSeconds);
        Assert.Null(stored.WorkingDirectory);
        Assert.Null(stored.AttributesJson);
    }

    [Fact]
    public async Task SubmitAsync_OneAfterAnother_IdsIncrease()
    {
        var ids = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add(await Store.SubmitAsync(Job(minute: i), TestContext.Current.CancellationToken));
        }

        Assert.True(ids.Zip(ids.Skip(1)).All(p => p.Second > p.First), string.Join(",", ids));
    }

    [Fact]
    public async Task ListJobsAsync_Filters_CombineUserQueueAndStates()
    {
        var a1 = await Store.SubmitAsync(Job("alice", "default", "Waiting"), TestContext.Current.CancellationToken);
        var a2 = await Store.SubmitAsync(Job("alice", "besteffort", "Running"), TestContext.Current.CancellationToken);
        var b1 = await Store.SubmitAsync(Job("bob", "default", "Running"), TestContext.Current.CancellationToken);
        var b2 = await Store.SubmitAsync(Job("bob", "default", "Terminated"), TestContext.Current.CancellationToken);

        async Task<long[]> Ids(JobFilter filter) =>
            [.. (await Store.ListJobsAsync(filter, TestContext.Current.CancellationToken)).Select(j => j.Id)];

        Assert.Equal([a1, a2, b1, b2], await Ids(new JobFilter()));
        Assert.Equal([a1, a2], await Ids(new JobFilter { User = "alice" }));
        Assert.Equal([a1, b1, b2], await Ids(new JobFilter { Queue = "default" }));
        Assert.Equal([a2, b1], await Ids(new JobFilter { States = ["Running"] }));
        Assert.Equal([b1, b2], await Ids(new JobFilter { User = "bob", Queue = "default", States = ["Running", "Terminated"] }));
        Assert.Empty(await Ids(new JobFilter { User = "carol" }));
    }

    [Fact]
    public async Task ListJobsAsync_AfterIdAndLimit_PagesThroughEveryJobOnce()
    {
        var submitted = new List<long>();
        for (var i = 0; i < 7; i++)
        {
            submitted.Add(await Store.SubmitAsync(Job(minute: i), TestContext.Current.CancellationToken));
        }

        var seen = new List<long>();
        var pages = 0;
        var after = 0L;
        while (true)
        {
            var page = await Store.ListJobsAsync(new JobFilter { AfterId = after, Limit = 3 }, TestContext.Current.CancellationToken);
            if (page.Count == 0)
            {
                break;
            }

            Assert.True(page.Count <= 3);
            pages++;
            seen.AddRange(page.Select(j => j.Id));
            after = page[^1].Id;
        }

        Assert.Equal(submitted, seen);
        Assert.Equal(3, pages);
    }

    [Fact]
    public async Task TryUpdateJobStateAsync_ExpectedStateMatches_UpdatesStateAndTime()
    {
        var id = await Store.SubmitAsync(Job(), TestContext.Current.CancellationToken);

        Assert.True(await Store.TryUpdateJobStateAsync(id, "Waiting", "Running", T0.AddMinutes(5), TestContext.Current.CancellationToken));

        var stored = await Store.GetJobAsync(id, TestContext.Current.CancellationToken);
        Assert.Equal(("Running", T0, T0.AddMinutes(5)), (stored!.State, stored.SubmitTime, stored.UpdateTime));
    }

    [Fact]
    public async Task TryUpdateJobStateAsync_StoredStateDiffers_ReturnsFalseAndChangesNothing()
    {
        var id = await Store.SubmitAsync(Job(), TestContext.Current.CancellationToken);
        Assert.True(await Store.TryUpdateJobStateAsync(id, "Waiting", "Canceled", T0.AddMinutes(1), TestContext.Current.CancellationToken));

        Assert.False(await Store.TryUpdateJobStateAsync(id, "Waiting", "Running", T0.AddMinutes(2), TestContext.Current.CancellationToken));
        Assert.False(await Store.TryUpdateJobStateAsync(id + 1000, "Waiting", "Running", T0.AddMinutes(2), TestContext.Current.CancellationToken));

        var stored = await Store.GetJobAsync(id, TestContext.Current.CancellationToken);
        Assert.Equal(("Canceled", T0.AddMinutes(1)), (stored!.State, stored.UpdateTime));
    }

    [Fact]
    public async Task TryUpdateJobStateAsync_ConcurrentRace_ExactlyOneWins()
    {
        var ids = new List<long>();
        for (var i = 0; i < 20; i++)
        {
            ids.Add(await Store.SubmitAsync(Job(minute: i), TestContext.Current.CancellationToken));
        }

        // For each job, the plan applier starts it while the user cancels it: one of the two must lose.
        var races = ids.Select(async id =>
        {
            var start = Task.Run(() => Store.TryUpdateJobStateAsync(id, "Waiting", "Running", T0.AddHours(1), TestContext.Current.CancellationToken));
            var cancel = Task.Run(() => Store.TryUpdateJobStateAsync(id, "Waiting", "Canceled", T0.AddHours(1), TestContext.Current.CancellationToken));
            var (started, canceled) = (await start, await cancel);
            var stored = await Store.GetJobAsync(id, TestContext.Current.CancellationToken);
            return (started ^ canceled) && stored!.State == (started ? "Running" : "Canceled");
        });

        Assert.All(await Task.WhenAll(races), Assert.True);
    }

    [Fact]
    public async Task UpsertNodeAsync_Twice_ReplacesPropertiesAndState()
    {
        await Store.UpsertNodeAsync(new NodeRecord("n2", """{"cores":8}""", "Alive", T0), TestContext.Current.CancellationToken);
        await Store.UpsertNodeAsync(new NodeRecord("n1", """{"cores":16,"gpu":"a100"}""", "Alive", T0), TestContext.Current.CancellationToken);
        await Store.UpsertNodeAsync(new NodeRecord("n1", """{"cores":16,"gpu":"h100"}""", "Suspected", T0.AddMinutes(3)), TestContext.Current.CancellationToken);

        var n1 = await Store.GetNodeAsync("n1", TestContext.Current.CancellationToken);
        Assert.Equal(("Suspected", T0.AddMinutes(3)), (n1!.State, n1.UpdateTime));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"gpu":"h100","cores":16}"""), JsonNode.Parse(n1.PropertiesJson)));
        Assert.Equal(["n1", "n2"], (await Store.ListNodesAsync(TestContext.Current.CancellationToken)).Select(n => n.Name));
        Assert.Null(await Store.GetNodeAsync("n9", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ReadEventsAsync_Since_ReturnsLaterEventsInOrder()
    {
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await Store.AppendEventAsync(
                new NewEvent(T0.AddSeconds(i), "scheduler", "job.started", $"job/{i}", "planned", $$"""{"nodes":["n{{i}}"]}"""),
                TestContext.Current.CancellationToken));
        }

        var all = await Store.ReadEventsAsync(0, cancellationToken: TestContext.Current.CancellationToken);
        var later = await Store.ReadEventsAsync(ids[1], cancellationToken: TestContext.Current.CancellationToken);
        var two = await Store.ReadEventsAsync(ids[1], 2, TestContext.Current.CancellationToken);

        Assert.Equal(ids, all.Select(e => e.Id));
        Assert.Equal(ids.Skip(2), later.Select(e => e.Id));
        Assert.Equal(ids.Skip(2).Take(2), two.Select(e => e.Id));
        var third = all[2];
        Assert.Equal((T0.AddSeconds(2), "scheduler", "job.started", "job/2", "planned"), (third.Time, third.Actor, third.Kind, third.Subject, third.Reason));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"nodes":["n2"]}"""), JsonNode.Parse(third.PayloadJson)));
        Assert.Empty(await Store.ReadEventsAsync(ids[^1], cancellationToken: TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task FindTokenAsync_ByHash_FindsTheTokenWithoutStoringTheSecret()
    {
        const string Secret = "hrt_s3cr3t-token";
        await Store.AddUserAsync(new UserRecord("alice", T0), TestContext.Current.CancellationToken);
        await Store.AddTokenAsync(new ApiTokenRecord(ApiTokens.Hash(Secret), "alice", "laptop", T0), TestContext.Current.CancellationToken);

        var found = await Store.FindTokenAsync(ApiTokens.Hash(Secret), TestContext.Current.CancellationToken);

        Assert.Equal(new ApiTokenRecord(ApiTokens.Hash(Secret), "alice", "laptop", T0), found);
        Assert.Equal(64, found!.Hash.Length);
        Assert.DoesNotContain(Secret, found.Hash, StringComparison.Ordinal);
        Assert.Null(await Store.FindTokenAsync(ApiTokens.Hash("hrt_other"), TestContext.Current.CancellationToken));
        Assert.Null(await Store.FindTokenAsync(Secret, TestContext.Current.CancellationToken));
        Assert.Equal(new UserRecord("alice", T0), await Store.GetUserAsync("alice", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task AddTokenAsync_UnknownUser_IsAPermanentConstraintError()
    {
        var error = await Assert.ThrowsAsync<StoreException>(() =>
            Store.AddTokenAsync(new ApiTokenRecord(ApiTokens.Hash("x"), "nobody", "", T0), TestContext.Current.CancellationToken));

        Assert.Equal((StoreErrorCode.Constraint, false), (error.Code, error.IsTransient));
    }

    [Fact]
    public async Task AddUserAsync_DuplicateInABatch_FailsAloneWhileNeighboursCommit()
    {
        await Store.AddUserAsync(new UserRecord("alice", T0), TestContext.Current.CancellationToken);

        var submits = Enumerable.Range(0, 20).Select(i => Store.SubmitAsync(Job(minute: i), TestContext.Current.CancellationToken)).ToList();
        var duplicate = Store.AddUserAsync(new UserRecord("alice", T0), TestContext.Current.CancellationToken);
        var more = Enumerable.Range(0, 20).Select(i => Store.SubmitAsync(Job(minute: i), TestContext.Current.CancellationToken)).ToList();

        var error = await Assert.ThrowsAsync<StoreException>(() => duplicate);
        Assert.Equal((StoreErrorCode.Constraint, false), (error.Code, error.IsTransient));
        var ids = await Task.WhenAll(submits.Concat(more));
        Assert.Equal(40, ids.Distinct().Count());
        Assert.Equal(40, (await Store.ListJobsAsync(new JobFilter { Limit = 1000 }, TestContext.Current.CancellationToken)).Count);
    }

    [Fact]
    public async Task SubmitAsync_RefusedWriteAmidABatch_NeighboursStoredOnceWithTheirEventsAndIds()
    {
        // The writer runs a batch without savepoints first and, when a write is refused, runs it again with
        // them: what the callers see and what is stored must be those of one run only.
        await Store.AddUserAsync(new UserRecord("alice", T0), TestContext.Current.CancellationToken);
        static NewJob WithEvent(NewJob job) => job with { Event = new NewEvent(T0, "api", "job.submitted", "", "", "{}") };

        var before = Enumerable.Range(0, 30).Select(i => Store.SubmitAsync(WithEvent(Job(minute: i)), TestContext.Current.CancellationToken)).ToList();
        var many = Store.SubmitManyAsync([WithEvent(Job(minute: 100)), WithEvent(Job(minute: 101))], TestContext.Current.CancellationToken);
        var duplicate = Store.AddUserAsync(new UserRecord("alice", T0), TestContext.Current.CancellationToken);
        var unknownUser = Store.AddTokenAsync(new ApiTokenRecord(ApiTokens.Hash("y"), "nobody", "", T0), TestContext.Current.CancellationToken);
        var after = Enumerable.Range(0, 30).Select(i => Store.SubmitAsync(WithEvent(Job(minute: 200 + i)), TestContext.Current.CancellationToken)).ToList();

        Assert.Equal(StoreErrorCode.Constraint, (await Assert.ThrowsAsync<StoreException>(() => duplicate)).Code);
        Assert.Equal(StoreErrorCode.Constraint, (await Assert.ThrowsAsync<StoreException>(() => unknownUser)).Code);
        var ids = (await Task.WhenAll(before)).Concat(await many).Concat(await Task.WhenAll(after)).ToList();
        var stored = await Store.ListJobsAsync(new JobFilter { Limit = 1000 }, TestContext.Current.CancellationToken);
        Assert.Equal(ids.Order(), stored.Select(j => j.Id));
        var events = await Store.ReadEventsAsync(0, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(ids.Order().Select(id => $"job/{id}"), events.Select(e => e.Subject));
        var minutes = Enumerable.Range(0, 30).Concat([100, 101]).Concat(Enumerable.Range(200, 30));
        Assert.Equal(minutes.Select(m => T0.AddMinutes(m)), ids.Select(id => stored.Single(j => j.Id == id).SubmitTime));
    }

    [Fact]
    public async Task OpenAsync_Reopened_MigrationsAreIdempotentAndDataStays()
    {
        var id = await Store.SubmitAsync(Job(), TestContext.Current.CancellationToken);
        var version = Store.SchemaVersion;

        await ReopenAsync();
        await ReopenAsync();

        Assert.True(version >= 1);
        Assert.Equal(version, Store.SchemaVersion);
        Assert.NotNull(await Store.GetJobAsync(id, TestContext.Current.CancellationToken));
        Assert.True(await Store.SubmitAsync(Job(), TestContext.Current.CancellationToken) > id);
    }

    [Fact]
    public async Task OpenAsync_SchemaNewerThanKnown_IsRefusedWithATypedError()
    {
        await Store.DisposeAsync();
        store = null;
        await ExecuteRawAsync("INSERT INTO schema_version (version, applied_at) VALUES (999, 0)");

        var error = await Assert.ThrowsAsync<StoreException>(OpenAsync);

        Assert.Equal((StoreErrorCode.SchemaTooNew, false), (error.Code, error.IsTransient));
        Assert.Contains("999", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubmitAsync_AfterDispose_IsAClosedError()
    {
        var closed = Store;
        await closed.DisposeAsync();
        store = null;

        var error = await Assert.ThrowsAsync<StoreException>(() => closed.SubmitAsync(Job(), TestContext.Current.CancellationToken));

        Assert.Equal((StoreErrorCode.Closed, false), (error.Code, error.IsTransient));
    }

    [Fact]
    public async Task SubmitAsync_200Concurrent_AllDurableInFewTransactions()
    {
        var before = Store.Statistics;

        var ids = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            Task.Run(() => Store.SubmitAsync(Job(user: $"u{i % 7}", minute: i), TestContext.Current.CancellationToken))));

        var after = Store.Statistics;
        Assert.Equal(200, ids.Distinct().Count());
        Assert.Equal(200, after.Operations - before.Operations);
        var transactions = after.Transactions - before.Transactions;
        TestContext.Current.TestOutputHelper?.WriteLine($"200 concurrent submits: {transactions} transactions");
        Assert.True(transactions <= 40, $"{transactions} transactions for 200 concurrent submits");

        await ReopenAsync();
        var stored = await Store.ListJobsAsync(new JobFilter { Limit = 1000 }, TestContext.Current.CancellationToken);
        Assert.Equal(ids.Order(), stored.Select(j => j.Id));
    }

    private static ImageRecord Image(string name, string version, string owner = "alice", bool isPublic = false, params ImagePart[] parts) =>
        new(name, version, owner, isPublic, parts.Length == 0 ? [new ImagePart("disk", "sha256:" + new string('a', 64), 1024)] : parts, T0)
        {
            Format = "qcow2",
        };

    [Fact]
    public async Task AddImageAsync_ThenGetImageAsync_ReturnsEveryFieldAndParts()
    {
        var kernel = new ImagePart("kernel", "sha256:" + new string('1', 64), 5_000_000_000);
        var initrd = new ImagePart("initrd", "sha256:" + new string('2', 64), 7);
        var image = new ImageRecord("guest", "1", "alice", true, [kernel, initrd], T0) { Cmdline = "console=ttyS0 quiet" };

        var id = await Store.AddImageAsync(image, TestContext.Current.CancellationToken);
        var stored = await Store.GetImageAsync("guest", "1", TestContext.Current.CancellationToken);

        Assert.NotNull(stored);
        Assert.Equal((id, "guest", "1", "alice", true, T0, (string?)null, "console=ttyS0 quiet"), (stored.Id, stored.Name, stored.Version, stored.Owner, stored.Public, stored.CreateTime, stored.Format, stored.Cmdline));
        Assert.Equal([initrd, kernel], stored.Parts.OrderBy(p => p.Role, StringComparer.Ordinal));
        Assert.Null(await Store.GetImageAsync("guest", "2", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task AddImageAsync_DuplicateNameAndVersion_IsAConstraintErrorAndKeepsTheFirst()
    {
        await Store.AddImageAsync(Image("debian", "12", owner: "alice"), TestContext.Current.CancellationToken);

        var error = await Assert.ThrowsAsync<StoreException>(() => Store.AddImageAsync(Image("debian", "12", owner: "bob"), TestContext.Current.CancellationToken));

        Assert.Equal(StoreErrorCode.Constraint, error.Code);
        Assert.Equal("alice", (await Store.GetImageAsync("debian", "12", TestContext.Current.CancellationToken))!.Owner);
    }

    [Fact]
    public async Task ListImagesAsync_OrdersByNameThenAge_AndFiltersByName()
    {
        var b1 = await Store.AddImageAsync(Image("b", "1"), TestContext.Current.CancellationToken);
        var a2 = await Store.AddImageAsync(Image("a", "2"), TestContext.Current.CancellationToken);
        var a1 = await Store.AddImageAsync(Image("a", "1"), TestContext.Current.CancellationToken);

        var all = await Store.ListImagesAsync(cancellationToken: TestContext.Current.CancellationToken);
        var onlyA = await Store.ListImagesAsync("a", TestContext.Current.CancellationToken);

        Assert.Equal([a2, a1, b1], all.Select(i => i.Id));
        Assert.True(a1 > a2, "ids grow with every image added, so the newest version has the largest id");
        Assert.Equal(["2", "1"], onlyA.Select(i => i.Version));
        Assert.All(all, i => Assert.Single(i.Parts));
        Assert.Empty(await Store.ListImagesAsync("c", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task DeleteImageAsync_SharedBlob_IsUnreferencedOnlyWithItsLastImage()
    {
        var shared = new ImagePart("disk", "sha256:" + new string('5', 64), 10);
        var own = new ImagePart("kernel", "sha256:" + new string('6', 64), 20);
        await Store.AddImageAsync(Image("x", "1", parts: [shared, own]), TestContext.Current.CancellationToken);
        await Store.AddImageAsync(Image("x", "2", parts: [shared]), TestContext.Current.CancellationToken);

        var first = await Store.DeleteImageAsync("x", "1", TestContext.Current.CancellationToken);
        var users = await Store.ListImagesByBlobAsync(shared.Digest, TestContext.Current.CancellationToken);
        var second = await Store.DeleteImageAsync("x", "2", TestContext.Current.CancellationToken);

        Assert.Equal([own.Digest], first!.UnreferencedDigests);
        Assert.Equal("1", first.Image.Version);
        Assert.Equal(["2"], users.Select(i => i.Version));
        Assert.Equal([shared.Digest], second!.UnreferencedDigests);
        Assert.Null(await Store.DeleteImageAsync("x", "2", TestContext.Current.CancellationToken));
        Assert.Empty(await Store.ListImagesAsync(cancellationToken: TestContext.Current.CancellationToken));
        Assert.Empty(await Store.ListImagesByBlobAsync(shared.Digest, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Images_AfterReopen_AreStillThere()
    {
        await Store.AddImageAsync(Image("persist", "1", isPublic: true), TestContext.Current.CancellationToken);

        await ReopenAsync();

        var stored = await Store.GetImageAsync("persist", "1", TestContext.Current.CancellationToken);
        Assert.True(stored is { Public: true, Format: "qcow2" });
    }
}

public sealed class SqliteStoreConformanceTests : StoreConformanceTests
{
    private readonly string directory = Directory.CreateTempSubdirectory("heorot-sqlite-").FullName;

    private string DatabasePath => Path.Combine(directory, SqliteStore.DefaultFileName);

    protected override Task PrepareAsync() => Task.CompletedTask;

    protected override async Task<IHeorotStore> OpenAsync() => await SqliteStore.OpenInDirectoryAsync(directory);

    protected override async Task ExecuteRawAsync(string sql)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    protected override Task CleanupAsync()
    {
        Directory.Delete(directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task OpenAsync_NewDatabase_IsInWalMode()
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";

        Assert.Equal("wal", await command.ExecuteScalarAsync(TestContext.Current.CancellationToken));
    }
}

public sealed class PostgresStoreConformanceTests(PostgresCluster cluster) : StoreConformanceTests
{
    private string? connectionString;

    private string ConnectionString => connectionString ?? throw new InvalidOperationException("database not prepared");

    protected override async Task PrepareAsync() => connectionString = await cluster.CreateDatabaseAsync();

    protected override async Task<IHeorotStore> OpenAsync() => await PostgresStore.OpenAsync(ConnectionString);

    protected override async Task ExecuteRawAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    protected override async Task CleanupAsync()
    {
        if (connectionString != null)
        {
            await cluster.DropDatabaseAsync(connectionString);
        }
    }

    [Fact]
    public async Task OpenAsync_NothingListening_IsATransientUnavailableError()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var error = await Assert.ThrowsAsync<StoreException>(() =>
            PostgresStore.OpenAsync($"Host=127.0.0.1;Port={port};Username=postgres;Timeout=2", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal((StoreErrorCode.Unavailable, true), (error.Code, error.IsTransient));
    }
}
