using System.Diagnostics;
using System.Globalization;
using Heorot.Storage;

namespace Heorot.Bench;

/// <summary>
/// Durable submission throughput: N jobs submitted by C concurrent submitters, each acknowledged only after its
/// transaction committed (group commit). SQLite in a temporary data directory (WAL, synchronous=FULL); PostgreSQL
/// when HEOROT_PG names a server (use one with fsync on for a durable figure).
/// </summary>
internal static class StorageBench
{
    public static void Run(int jobs, int concurrency)
    {
        Console.WriteLine("| engine | jobs | concurrent submitters | seconds | jobs/s | transactions |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var dir = Path.Combine(Path.GetTempPath(), "heorot-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var sqlite = SqliteStore.OpenInDirectoryAsync(dir).GetAwaiter().GetResult();
            Measure("SQLite", sqlite, jobs, concurrency);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        if (Environment.GetEnvironmentVariable("HEOROT_PG") is { Length: > 0 } pg)
        {
            Measure("PostgreSQL", PostgresStore.OpenAsync(pg).GetAwaiter().GetResult(), jobs, concurrency);
        }
    }

    private static void Measure(string engine, IHeorotStore store, int jobs, int concurrency)
    {
        using var gate = new SemaphoreSlim(concurrency);
        var now = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var before = store.Statistics;
        var stopwatch = Stopwatch.StartNew();
        var tasks = new List<Task>(jobs);
        for (var i = 0; i < jobs; i++)
        {
            gate.Wait();
            var job = new NewJob("u" + (i % 50), "p", "default", "-l /nodes=1,walltime=1:00:00", "#!/bin/sh\ntrue\n", "Waiting", now);
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await store.SubmitAsync(job).ConfigureAwait(false);
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        Task.WaitAll(tasks);
        var seconds = stopwatch.Elapsed.TotalSeconds;
        var transactions = store.Statistics.Transactions - before.Transactions;
        store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {engine} | {jobs:N0} | {concurrency} | {seconds:F2} | {jobs / seconds:N0} | {transactions:N0} |"));
    }
}
