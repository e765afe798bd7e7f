using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Heorot.Protocol;
using Heorot.Server;
using Heorot.Storage;

namespace Heorot.Bench;

/// <summary>
/// The control plane measured through its API, on this machine, beside bench/slurm: submission throughput into
/// durable storage, end-to-end throughput of trivial jobs on local agent processes, start latency on an idle
/// cluster, and stat latency with 100 000 jobs stored.
/// </summary>
internal static class ControlPlaneBench
{
    public static async Task RunAsync(int jobs, int concurrency, string? postgres)
    {
        var user = Environment.UserName == "root" ? "nobody" : Environment.UserName;
        Console.WriteLine($"control plane, {(postgres == null ? "SQLite (WAL, synchronous=FULL)" : "PostgreSQL")}; {Environment.ProcessorCount} cores; jobs run as {user}");

        // 1. Submission throughput: concurrent API clients, no node (jobs only wait).
        await using (var bench = await Cluster.StartAsync(postgres, 0))
        {
            // Warm-up (JIT, connections): 2 000 submissions not counted.
            await SubmitManyAsync(bench, 2000, concurrency, user);
            var before = bench.Server.Store.Statistics.Transactions;
            var watch = Stopwatch.StartNew();
            await SubmitManyAsync(bench, jobs, concurrency, user);
            var seconds = watch.Elapsed.TotalSeconds;
            Console.WriteLine($"submission: {jobs} jobs from {concurrency} clients in {seconds:0.00} s = {jobs / seconds:0} jobs/s ({bench.Server.Store.Statistics.Transactions - before} transactions, after 2 000 not counted)");
        }

        // 2 and 3. End-to-end throughput and start latency on 4 agent processes × 4 cores.
        await using (var bench = await Cluster.StartAsync(postgres, 4))
        {
            var marker = Path.Combine(bench.Directory, "latency");
            Directory.CreateDirectory(marker);
            File.SetUnixFileMode(marker, (UnixFileMode)0b111_111_111);
            var latencies = new List<double>();
            using var client = bench.Client();
            for (var i = 0; i < 10; i++)
            {
                var file = Path.Combine(marker, i.ToString(CultureInfo.InvariantCulture));
                var submitted = DateTimeOffset.UtcNow;
                using var r = await client.PostAsJsonAsync("v1/jobs", new SubmitRequest { Args = ["-l", "/core=1"], Script = $"#!/bin/sh\ndate +%s.%N > {file}\n", User = user, WorkingDirectory = "/tmp" }, WireJson.Options);
                r.EnsureSuccessStatusCode();
                while (!File.Exists(file) || new FileInfo(file).Length == 0)
                {
                    await Task.Delay(2);
                }

                var started = double.Parse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture);
                latencies.Add(started - submitted.ToUnixTimeMilliseconds() / 1000.0);
                await Task.Delay(300);
            }

            latencies.Sort();
            Console.WriteLine($"start latency (submit → first instruction, idle cluster): median {latencies[5] * 1000:0} ms, min {latencies[0] * 1000:0} ms, max {latencies[^1] * 1000:0} ms");

            // Warm-up (JIT, then tiered recompilation with dynamic PGO in the server and the agents, which takes
            // about 30 s of this load to settle): 2 000 jobs run to the end, not counted; Slurm's daemons were warm
            // too. HEOROT_BENCH_WARMUP=N changes it (300 gives the rate of freshly started processes).
            await SubmitManyAsync(bench, int.Parse(Environment.GetEnvironmentVariable("HEOROT_BENCH_WARMUP") ?? "2000", CultureInfo.InvariantCulture), 8, user, "/tmp");
            while ((await client.GetFromJsonAsync<JobListResponse>("v1/jobs?limit=1", WireJson.Options))!.Jobs.Count > 0)
            {
                await Task.Delay(50);
            }

            var n = Math.Min(jobs, 1000);
            var syncsBefore = bench.Server.Control.Syncs;
            var (passesBefore, passTimeBefore, planTimeBefore) = (bench.Server.Control.Passes, bench.Server.Control.PassTime, bench.Server.Control.PlanTime);
            var unmeasured = (await client.GetFromJsonAsync<JobListResponse>("v1/jobs?state=Terminated,Error,Cancelled&limit=100000", WireJson.Options))!.Jobs.Max(j => j.Id);
            var watch = Stopwatch.StartNew();
            await SubmitManyAsync(bench, n, 8, user, "/tmp");

            var submittedIn = watch.Elapsed.TotalSeconds;
            while ((await client.GetFromJsonAsync<JobListResponse>("v1/jobs?limit=1", WireJson.Options))!.Jobs.Count > 0)
            {
                await Task.Delay(50);
            }

            var total = watch.Elapsed.TotalSeconds;
            var ended = (await client.GetFromJsonAsync<JobListResponse>($"v1/jobs?state=Terminated,Error,Cancelled&limit=100000", WireJson.Options))!.Jobs;
            var terminated = ended.Count(j => j.ExitCode == 0 && j.Id > unmeasured);
            foreach (var odd in ended.Where(j => j.ExitCode != 0 && j.Id > unmeasured))
            {
                Console.WriteLine($"  job {odd.Id}: {odd.State}, exit {odd.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}, {odd.Reason}");
            }

            Console.WriteLine($"  ({bench.Server.Control.Syncs - syncsBefore} agent syncs, {bench.Server.Control.Passes - passesBefore} scheduling passes taking {(bench.Server.Control.PassTime - passTimeBefore).TotalSeconds:0.00} s in all, {(bench.Server.Control.PlanTime - planTimeBefore).TotalSeconds:0.00} s of it planning)");
            Console.WriteLine($"end to end: {n} trivial jobs (8 concurrent submitters) submitted in {submittedIn:0.0} s, all finished after {total:0.0} s = {n / total:0.0} jobs/s; {terminated} ended with exit 0");
        }

        // 4. stat latency with 100 000 jobs stored (finished ones, plus 1 000 waiting).
        await using (var bench = await Cluster.StartAsync(postgres, 0))
        {
            var now = DateTimeOffset.UtcNow;
            for (var b = 0; b < 100; b++)
            {
                await bench.Server.Store.SubmitManyAsync(Enumerable.Range(0, 1000).Select(_ => new NewJob(user, user, "default", "-l /core=1", "true", "Terminated", now)).ToList());
            }

            await SubmitManyAsync(bench, 1000, 1, user);
            using var client = bench.Client();

            foreach (var (what, path) in new[] { ("stat (unfinished, 1 000 listed)", "v1/jobs?limit=1000"), ("stat -j ID", "v1/jobs/50000"), ("stat --state Terminated (first 1 000)", "v1/jobs?state=Terminated&limit=1000") })
            {
                var times = new List<double>();
                for (var i = 0; i < 21; i++)
                {
                    var w = Stopwatch.StartNew();
                    (await client.GetAsync(path)).EnsureSuccessStatusCode();
                    times.Add(w.Elapsed.TotalMilliseconds);
                }

                times.Sort();
                Console.WriteLine($"{what} with {await bench.Server.Store.CountJobsAsync()} jobs stored: median {times[10]:0.0} ms");
            }
        }
    }

    /// <summary>Submits <paramref name="count"/> trivial one-core jobs from <paramref name="concurrency"/> API clients.</summary>
    private static async Task SubmitManyAsync(Cluster bench, int count, int concurrency, string user, string? workingDirectory = null)
    {
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            using var client = bench.Client();
            while (Interlocked.Increment(ref next) <= count)
            {
                using var r = await client.PostAsJsonAsync("v1/jobs", new SubmitRequest { Args = ["-l", "/core=1"], Script = "#!/bin/sh\ntrue\n", User = user, WorkingDirectory = workingDirectory }, WireJson.Options);
                r.EnsureSuccessStatusCode();
            }
        }));
    }

    private sealed class Cluster : IAsyncDisposable
    {
        private readonly List<Process> agents = [];

        public required HeorotServer Server { get; init; }

        public required string Directory { get; init; }

        public required string Token { get; init; }

        public static async Task<Cluster> StartAsync(string? postgres, int agentCount)
        {
            var directory = Path.Combine(Path.GetTempPath(), "heorot-bench-" + Guid.NewGuid().ToString("N")[..8]);
            if (postgres != null)
            {
                // Every phase starts from an empty database, as SQLite does in its fresh directory.
                await using var connection = new Npgsql.NpgsqlConnection(postgres);
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = "DROP TABLE IF EXISTS image_parts, images, api_tokens, users, events, nodes, jobs, schema_version CASCADE";
                await command.ExecuteNonQueryAsync();
            }

            var server = await HeorotServer.StartAsync(new ServerOptions
            {
                DataDirectory = Path.Combine(directory, "data"),
                Urls = ["http://127.0.0.1:0"],
                PostgresConnectionString = postgres,
                Heartbeat = TimeSpan.FromSeconds(5),
                SchedulingInterval = TimeSpan.FromMilliseconds(10),
                Operators = new HashSet<string>(["bench"]),
            });
            if (await server.Store.GetUserAsync("bench") == null)
            {
                await server.Store.AddUserAsync(new UserRecord("bench", DateTimeOffset.UtcNow));
            }

            var token = "bench-" + Guid.NewGuid().ToString("N");
            await server.Store.AddTokenAsync(new ApiTokenRecord(ApiTokens.Hash(token), "bench", "bench", DateTimeOffset.UtcNow));
            var cluster = new Cluster { Server = server, Directory = directory, Token = token };
            var dll = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "src", "Heorot.Cli", "bin", "Release", "net10.0", "heorot.dll");
            for (var i = 0; i < agentCount; i++)
            {
                var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
                foreach (var a in new[] { Path.GetFullPath(dll), "agent", "--server", server.Addresses[0], "--name", $"b{i}", "--secret-file", Path.Combine(directory, "data", "agent.secret"), "--state", Path.Combine(directory, $"agent{i}"), "--cores", "4", "--memory", "4096" })
                {
                    start.ArgumentList.Add(a);
                }

                var p = Process.Start(start)!;
                p.OutputDataReceived += (_, _) => { };
                p.ErrorDataReceived += (_, _) => { };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                cluster.agents.Add(p);
            }

            while (server.Control.ListNodes().Count(n => n.State == "Alive") < agentCount)
            {
                await Task.Delay(50);
            }

            return cluster;
        }

        public HttpClient Client()
        {
            var client = new HttpClient { BaseAddress = new Uri(Server.Addresses[0] + "/") };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            return client;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var p in agents)
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync();
                p.Dispose();
            }

            await Server.DisposeAsync();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
