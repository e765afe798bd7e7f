using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Heorot.Protocol;
using Heorot.Protocol.Unix;
using Heorot.Server;
using Heorot.Storage;
using Heorot.Tests.Support;

namespace Heorot.Tests.Server;

/// <summary>
/// A real cluster for end-to-end tests: the server in process on a loopback port (SQLite in a temporary data
/// directory) and agents as real <c>heorot agent</c> processes. Jobs run as real Unix users (created once when
/// the tests run as root; otherwise the current user).
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly List<Process> agents = [];
    private readonly Dictionary<string, (string Name, string? Prolog)> agentSpecs = [];

    private TestCluster(string directory, ServerOptions options)
    {
        Directory = directory;
        Options = options;
    }

    public string Directory { get; }

    public ServerOptions Options { get; private set; }

    public HeorotServer? Server { get; private set; }

    public string Url { get; private set; } = string.Empty;

    /// <summary>A Unix user jobs run as (not root).</summary>
    public static string Alice { get; } = EnsureUser("heorot-alice");

    /// <summary>A second user: a Unix user when root, else a token-only user (whose jobs the tests never run).</summary>
    public static string Bob { get; } = UnixAccounts.CurrentUid() == 0 ? EnsureUser("heorot-bob") : "heorot-bob";

    public const string Operator = "heorot-ops";

    public static async Task<TestCluster> StartAsync(int agentCount = 3, Func<ServerOptions, ServerOptions>? configure = null, Func<int, string?>? prologFor = null, IReadOnlyDictionary<string, string[]>? agentArguments = null)
    {
        var directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "heorot-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory);
        var options = new ServerOptions
        {
            DataDirectory = System.IO.Path.Combine(directory, "data"),
            Urls = ["http://127.0.0.1:0"],
            Heartbeat = TimeSpan.FromMilliseconds(500),
            SuspectAfter = TimeSpan.FromSeconds(3),
            DownAfter = TimeSpan.FromSeconds(2),
            GraceSeconds = 1,
            SchedulingInterval = TimeSpan.FromMilliseconds(20),
            Operators = new HashSet<string>([Operator]),
        };
        options = configure?.Invoke(options) ?? options;
        var cluster = new TestCluster(directory, options) { ExtraAgentArguments = agentArguments ?? new Dictionary<string, string[]>() };
        await cluster.StartServerAsync();
        for (var i = 1; i <= agentCount; i++)
        {
            cluster.agentSpecs[$"n{i}"] = ($"n{i}", prologFor?.Invoke(i));
            cluster.StartAgent($"n{i}");
        }

        // The agents started here (power-managed nodes that are off count as Alive too, but are not waited for).
        await TestCluster.WaitAsync(async () => (await cluster.Client(Operator).GetFromJsonAsync<List<NodeView>>("v1/nodes", WireJson.Options))!.Count(n => n.State == "Alive" && cluster.agentSpecs.ContainsKey(n.Name)) == agentCount, TimeSpan.FromSeconds(60), "agents to register");
        return cluster;
    }

    public async Task StartServerAsync()
    {
        Server = await HeorotServer.StartAsync(Options);
        Url = Server.Addresses[0];
        Options = Options with { Urls = [Url] }; // a restart binds the same port
        foreach (var user in new[] { Alice, Bob, Operator })
        {
            if (await Server.Store.GetUserAsync(user) == null)
            {
                await Server.Store.AddUserAsync(new UserRecord(user, DateTimeOffset.UtcNow));
                await Server.Store.AddTokenAsync(new ApiTokenRecord(ApiTokens.Hash(TokenOf(user)), user, "test", DateTimeOffset.UtcNow));
            }
        }
    }

    public static string TokenOf(string user) => "test-token-" + user;

    /// <summary>An API client authenticated as <paramref name="user"/> by token.</summary>
    public HttpClient Client(string user)
    {
        var client = new HttpClient { BaseAddress = new Uri(Url.EndsWith('/') ? Url : Url + "/"), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TokenOf(user));
        return client;
    }

    public void StartAgent(string name)
    {
        var spec = agentSpecs[name];
        var args = new List<string>
        {
            "agent", "--server", Url, "--name", name, "--secret-file", System.IO.Path.Combine(Options.DataDirectory, "agent.secret"),
            "--state", System.IO.Path.Combine(Directory, "agent-" + name), "--cores", "2", "--memory", "1024", "--property", $"index={name[1..]}",
        };
        if (spec.Prolog != null)
        {
            args.AddRange(["--prolog", spec.Prolog]);
        }

        if (ExtraAgentArguments.TryGetValue(name, out var extra))
        {
            args.AddRange(extra);
        }

        var logFile = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "heorot-e2e-logs", System.IO.Path.GetFileName(Directory) + "-" + name + ".log");
        var process = Spawn(args, logFile);
        agents.Add(process);
        AgentProcesses[name] = process;
    }

    /// <summary>Starts <c>heorot ARGS</c> as a real process; its standard error goes to <paramref name="logFile"/> when given.</summary>
    public static Process Spawn(IEnumerable<string> args, string? logFile = null)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(CliDll());
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start)!;
        if (logFile != null)
        {
            System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(logFile)!);
        }

        var gate = new object();
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data != null && logFile != null)
            {
                lock (gate)
                {
                    File.AppendAllText(logFile, e.Data + "\n");
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public Dictionary<string, Process> AgentProcesses { get; } = [];

    /// <summary>More <c>heorot agent</c> options per node.</summary>
    public IReadOnlyDictionary<string, string[]> ExtraAgentArguments { get; private set; } = new Dictionary<string, string[]>();

    public async Task<long> SubmitAsync(string user, string script, params string[] args) =>
        (await SubmitAsync(user, new SubmitRequest { Args = args, Script = script, WorkingDirectory = "/tmp" }))[0];

    public async Task<IReadOnlyList<long>> SubmitAsync(string user, SubmitRequest request)
    {
        using var client = Client(user);
        using var response = await client.PostAsJsonAsync("v1/jobs", request, WireJson.Options);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"submission refused: {(int)response.StatusCode} {body}");
        return JsonSerializer.Deserialize<SubmitResponse>(body, WireJson.Options)!.Ids;
    }

    public async Task<JobView> JobAsync(long id)
    {
        using var client = Client(Operator);
        return (await client.GetFromJsonAsync<JobView>($"v1/jobs/{id}", WireJson.Options))!;
    }

    public async Task<JobView> WaitForStateAsync(long id, TimeSpan timeout, params string[] states)
    {
        JobView? view = null;
        var wanted = states.ToList();
        var watch = Stopwatch.StartNew();
        while (!wanted.Contains((view = await JobAsync(id)).State))
        {
            if (watch.Elapsed > timeout)
            {
                using var client = Client(Operator);
                var nodeStates = (await client.GetFromJsonAsync<List<NodeView>>("v1/nodes", WireJson.Options))!.Select(n => $"{n.Name}:{n.State}");
                Assert.Fail($"gave up after {timeout.TotalSeconds} s waiting for job {id} to be {string.Join(" or ", states)}: it is {view.State} ({view.Reason}; {view.Explain?.Reason}) on {string.Join(",", view.Nodes)}, attempt {view.Attempt}; nodes {string.Join(" ", nodeStates)}");
            }

            await Task.Delay(50);
        }

        return view;
    }

    public async Task<string> LogsAsync(long id, string user = Operator)
    {
        using var client = Client(user);
        return await client.GetStringAsync($"v1/jobs/{id}/logs");
    }

    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout)
            {
                Assert.Fail($"gave up after {timeout.TotalSeconds} s waiting for {what}");
            }

            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in agents)
        {
            try
            {
                agent.Kill(entireProcessTree: true);
                await agent.WaitForExitAsync();
            }
            catch (InvalidOperationException)
            {
            }

            agent.Dispose();
        }

        if (Server != null)
        {
            await Server.DisposeAsync();
        }

        // VMs outlive their agent by design (they are re-attached after a restart): a torn-down test cluster
        // kills those of its jobs that were not ended, as an operator would.
        foreach (var pid in Heorot.Agent.Vms.VmRunner.ProcessesUsing(Directory))
        {
            Heorot.Protocol.Hooks.Signals.Send(pid, Heorot.Protocol.Hooks.Signals.Kill);
        }

        // So do jobs orphaned by a killed agent; then the agents' cgroups go (each test cluster makes its own).
        foreach (var name in agentSpecs.Keys)
        {
            await RemoveCgroupAsync(Heorot.Agent.JobLauncher.AgentCgroupOf(name, System.IO.Path.Combine(Directory, "agent-" + name)));
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Kills what is left in an agent's cgroup and removes it with its jobs' cgroups, best effort.</summary>
    private static async Task RemoveCgroupAsync(string? cgroup)
    {
        if (cgroup == null || !System.IO.Directory.Exists(cgroup))
        {
            return;
        }

        try
        {
            File.WriteAllText(System.IO.Path.Combine(cgroup, "cgroup.kill"), "1");
            for (var i = 0; i < 100 && File.ReadAllText(System.IO.Path.Combine(cgroup, "cgroup.events")).Contains("populated 1", StringComparison.Ordinal); i++)
            {
                await Task.Delay(20);
            }

            foreach (var job in System.IO.Directory.GetDirectories(cgroup))
            {
                System.IO.Directory.Delete(job);
            }

            System.IO.Directory.Delete(cgroup);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The heorot CLI built beside the tests (same configuration).</summary>
    public static string CliDll()
    {
        var configuration = AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        var path = System.IO.Path.Combine(SharedFiles.RepositoryRoot, "src", "Heorot.Cli", "bin", configuration, "net10.0", "heorot.dll");
        Assert.True(File.Exists(path), $"{path} is missing: build the solution first");
        return path;
    }

    /// <summary>A Unix user for jobs: created (no home, no login) when the tests run as root, else the current user.</summary>
    private static string EnsureUser(string name)
    {
        if (UnixAccounts.CurrentUid() != 0)
        {
            return UnixAccounts.CurrentUserName();
        }

        if (UnixAccounts.ByName(name) == null)
        {
            using var process = Process.Start(new ProcessStartInfo("useradd", ["--no-create-home", "--shell", "/bin/sh", name]) { RedirectStandardError = true })!;
            process.WaitForExit();
            Assert.True(UnixAccounts.ByName(name) != null, $"could not create the test user {name}: {process.StandardError.ReadToEnd()}");
        }

        return name;
    }

    /// <summary>Writes an executable script into the cluster's directory.</summary>
    public static string Script(string directory, string name, string text)
    {
        System.IO.Directory.CreateDirectory(directory);
        var path = System.IO.Path.Combine(directory, name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }
}
