using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Heorot.Protocol;
using Heorot.Protocol.Unix;

namespace Heorot.Tests.Server;

/// <summary>
/// End to end: the real server, three real agent processes, jobs run as a real user. Each test builds its own
/// cluster (about 2 s) so node states never leak between tests.
/// </summary>
public sealed class EndToEndTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task MultiNodeJob_RunsAsItsUserOnEveryNode_OutputAndExitStatusReported()
    {
        await using var cluster = await TestCluster.StartAsync();
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\necho \"user=$(id -un) node=$HEOROT_NODE\"\ncat \"$HEOROT_NODEFILE\"\necho oops >&2\nexit 3\n", "-l", "/nodes=3,walltime=0:01:00");

        var done = await cluster.WaitForStateAsync(id, Long, "Terminated", "Error");

        Assert.Equal("Terminated", done.State);
        Assert.Equal(3, done.ExitCode);
        Assert.Equal(["n1", "n2", "n3"], done.Nodes.Order());
        var output = await cluster.LogsAsync(id);
        Assert.Contains($"user={TestCluster.Alice} node={done.Nodes[0]}", output, StringComparison.Ordinal);
        Assert.Contains("n1\nn2\nn3", string.Join("\n", output.Split('\n').Where(l => l.StartsWith('n')).Order()), StringComparison.Ordinal);
        using var client = cluster.Client(TestCluster.Alice);
        Assert.Equal("oops\n", await client.GetStringAsync($"v1/jobs/{id}/logs?stream=err", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Cancel_RunningJob_KillsItsProcessesAndEnds()
    {
        await using var cluster = await TestCluster.StartAsync();
        var marker = $"/tmp/heorot-cancel-{Guid.NewGuid():N}";
        var id = await cluster.SubmitAsync(TestCluster.Alice, $"#!/bin/sh\nsleep 300 &\necho $! > {marker}\nwait\n", "-l", "/nodes=1,walltime=0:10:00");
        await cluster.WaitForStateAsync(id, Long, "Running");
        await TestCluster.WaitAsync(() => Task.FromResult(File.Exists(marker) && File.ReadAllText(marker).Trim().Length > 0), Long, "the job to start its sleep");
        var sleeper = int.Parse(File.ReadAllText(marker).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        using var client = cluster.Client(TestCluster.Alice);
        using var response = await client.DeleteAsync($"v1/jobs/{id}", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var done = await cluster.WaitForStateAsync(id, Long, "Terminated");

        Assert.Contains("cancelled", done.Reason ?? string.Empty, StringComparison.Ordinal);
        Assert.False(Directory.Exists($"/proc/{sleeper}") && !File.ReadAllText($"/proc/{sleeper}/stat").Contains(") Z ", StringComparison.Ordinal), "the job's background process survived the cancel");
        File.Delete(marker);
    }

    [Fact]
    public async Task TwoClustersOnOneHost_SameNodeNameAndJobId_OnesCleanupSparesTheOthersJob()
    {
        // Test clusters run side by side, and each has a node n1 and a job 1: a job's processes must be known
        // by something of its own agent's, not by those two names.
        await using var first = await TestCluster.StartAsync(agentCount: 1);
        await using var second = await TestCluster.StartAsync(agentCount: 1);
        var marker = $"/tmp/heorot-twin-{Guid.NewGuid():N}";
        var id = await first.SubmitAsync(TestCluster.Alice, $"#!/bin/sh\necho $$ > {marker}\nexec sleep 300\n", "-l", "/nodes=1,walltime=0:10:00");
        await first.WaitForStateAsync(id, Long, "Running");
        await TestCluster.WaitAsync(() => Task.FromResult(File.Exists(marker) && File.ReadAllText(marker).EndsWith('\n')), Long, "the first cluster's job to start");
        var sleeper = int.Parse(File.ReadAllText(marker).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        var twin = await second.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nexit 0\n", "-l", "/nodes=1,walltime=0:01:00");
        Assert.Equal(id, twin); // the same job on the same node name: what this test is about
        await second.WaitForStateAsync(twin, Long, "Terminated"); // its node cleaned up

        Assert.True(Directory.Exists($"/proc/{sleeper}") && !File.ReadAllText($"/proc/{sleeper}/stat").Contains(") Z ", StringComparison.Ordinal), "the other cluster's cleanup killed this cluster's job");
        Assert.Equal("Running", (await first.JobAsync(id)).State);
        File.Delete(marker);
    }

    [Fact]
    public async Task Walltime_Exceeded_JobIsKilledWithReason()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 3);
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\necho started\nsleep 300\n", "-l", "/nodes=1,walltime=0:00:02");

        var done = await cluster.WaitForStateAsync(id, Long, "Terminated", "Error");

        Assert.Equal("Terminated", done.State);
        Assert.Contains("walltime", done.Reason ?? string.Empty, StringComparison.Ordinal);
        Assert.NotEqual(0, done.ExitCode);
        Assert.True(done.EndTime - done.StartTime < TimeSpan.FromSeconds(20), $"ran {done.EndTime - done.StartTime}");
    }

    [Fact]
    public async Task NodePrologFailure_NodeSuspected_JobRunsOnAnotherNode()
    {
        var directory = Path.Combine(Path.GetTempPath(), "heorot-prolog-" + Guid.NewGuid().ToString("N")[..8]);
        var failing = TestCluster.Script(directory, "fail.sh", "#!/bin/sh\necho 'scratch disk missing'\nexit 1\n");
        await using var cluster = await TestCluster.StartAsync(prologFor: i => i == 1 ? failing : null);

        // Ask for node n1 first (a property filter keeps it the only candidate), then let it go anywhere.
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\necho ran on $HEOROT_NODE\n", "-l", "/nodes=1,walltime=0:01:00", "-p", "index = 1 or index = 2");
        var done = await cluster.WaitForStateAsync(id, Long, "Terminated", "Error");

        using var client = cluster.Client(TestCluster.Operator);
        var n1 = await client.GetFromJsonAsync<NodeView>("v1/nodes/n1", WireJson.Options, TestContext.Current.CancellationToken);
        if (done.Attempt == 0)
        {
            // The scheduler happened to pick n2 first: then n1 was never tried, and the test proves nothing yet.
            Assert.Equal("n2", done.Nodes[0]);
            id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\necho ran on $HEOROT_NODE\n", "-l", "/nodes=1,walltime=0:01:00", "-p", "index = 1");
            await TestCluster.WaitAsync(async () => (await cluster.JobAsync(id)).Attempt > 0, Long, "the prolog failure on n1");
            n1 = await client.GetFromJsonAsync<NodeView>("v1/nodes/n1", WireJson.Options, TestContext.Current.CancellationToken);
            Assert.Equal("Suspected", n1!.State);
            Assert.Contains("scratch disk missing", n1.Reason ?? string.Empty, StringComparison.Ordinal);
            return;
        }

        Assert.Equal("Terminated", done.State);
        Assert.Equal("n2", done.Nodes[0]);
        Assert.Equal(1, done.Attempt);
        Assert.Equal("Suspected", n1!.State);
        Assert.Contains("scratch disk missing", n1.Reason ?? string.Empty, StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task AgentKilled_NodeSuspectedThenDown_IdempotentJobRequeuedAndRunsElsewhere_ThenDeadUntilRevived()
    {
        await using var cluster = await TestCluster.StartAsync(configure: o => o with { DeadAfter = TimeSpan.FromSeconds(2) });
        var ids = await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest
        {
            Args = ["-l", "/nodes=1,walltime=0:01:00", "-p", "index = 1 or index = 3"],
            Script = "#!/bin/sh\necho attempt $HEOROT_ATTEMPT on $HEOROT_NODE\nsleep 4\n",
            WorkingDirectory = "/tmp",
            Idempotent = true,
        });
        var running = await cluster.WaitForStateAsync(ids[0], Long, "Running");
        var node = running.Nodes[0];

        cluster.AgentProcesses[node].Kill(entireProcessTree: false); // SIGKILL the agent only: its job keeps running, orphaned
        using var client = cluster.Client(TestCluster.Operator);
        await TestCluster.WaitAsync(async () => (await client.GetFromJsonAsync<NodeView>($"v1/nodes/{node}", WireJson.Options))!.State == "Suspected", Long, $"{node} to be Suspected");
        var done = await cluster.WaitForStateAsync(ids[0], Long, "Terminated", "Error");

        Assert.Equal("Terminated", done.State);
        Assert.Equal(1, done.Attempt);
        Assert.NotEqual(node, done.Nodes[0]);
        var events = await client.GetFromJsonAsync<List<EventView>>("v1/events?since=0&limit=10000", WireJson.Options, TestContext.Current.CancellationToken);
        Assert.Contains(events!, e => e.Subject == $"node/{node}" && e.Kind == "node.down");
        Assert.Contains(events!, e => e.Subject == $"job/{ids[0]}" && e.Kind == "job.waiting" && e.Reason.Contains("idempotent", StringComparison.Ordinal));

        // Silent for longer still: Dead. Its agent coming back does not revive it; an operator does.
        await TestCluster.WaitAsync(async () => (await client.GetFromJsonAsync<NodeView>($"v1/nodes/{node}", WireJson.Options))!.State == "Dead", Long, $"{node} to be Dead");
        // Revived before its agent answers, a node is silent for longer than the timeouts again and goes back to
        // Dead at once: revive once the new agent has synced (a process start can take seconds under load).
        cluster.StartAgent(node);
        await TestCluster.WaitAsync(
            async () => (await client.GetFromJsonAsync<List<EventView>>("v1/events?since=0&limit=10000", WireJson.Options))!.Any(e => e.Subject == $"node/{node}" && e.Kind == "node.agent_restarted"),
            Long,
            $"the new agent on {node} to sync");
        Assert.Equal("Dead", (await client.GetFromJsonAsync<NodeView>($"v1/nodes/{node}", WireJson.Options, TestContext.Current.CancellationToken))!.State);
        using (var revive = await client.PostAsJsonAsync($"v1/nodes/{node}/actions", new NodeActionRequest { Action = "resume" }, WireJson.Options, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.OK, revive.StatusCode);
        }

        await TestCluster.WaitAsync(async () => (await client.GetFromJsonAsync<NodeView>($"v1/nodes/{node}", WireJson.Options))!.State == "Alive", Long, $"{node} to be Alive again");
    }

    [Fact]
    public async Task ServerKilledDuringSubmissions_EveryAcknowledgedJobPresentAndFinishesOnce()
    {
        // The server runs as its own process here, so that it can be killed with SIGKILL.
        var directory = Path.Combine(Path.GetTempPath(), "heorot-kill9-" + Guid.NewGuid().ToString("N")[..8]);
        var data = Path.Combine(directory, "data");
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}";
        Directory.CreateDirectory(data);
        using var server = StartServerProcess(data, url);
        await using var agents = await TestCluster.StartAsync(agentCount: 0);
        _ = agents; // only for its users and helpers
        var ok = await WaitForServerAsync(url);
        Assert.True(ok, "the server process did not come up");
        var secret = Path.Combine(data, "agent.secret");
        var token = await LoginAsOperatorAsync(data, TestCluster.Alice);

        var agentProcesses = Enumerable.Range(1, 3).Select(i => StartAgentProcess(url, $"k{i}", secret, Path.Combine(directory, $"agent{i}"))).ToList();
        using var client = new HttpClient { BaseAddress = new Uri(url + "/") };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        var marker = Path.Combine(directory, "runs");
        Directory.CreateDirectory(marker);
        File.SetUnixFileMode(marker, (UnixFileMode)0b111_111_111);

        var acknowledged = new List<long>();
        var killed = false;
        Process? current = server;
        for (var i = 0; i < 60; i++)
        {
            if (i == 30)
            {
                current.Kill(); // SIGKILL, mid-stream
                await current.WaitForExitAsync(TestContext.Current.CancellationToken);
                killed = true;
                current = StartServerProcess(data, url);
                Assert.True(await WaitForServerAsync(url), "the restarted server did not come up");
            }

            try
            {
                using var response = await client.PostAsJsonAsync("v1/jobs", new SubmitRequest
                {
                    Args = ["-l", "/core=1,walltime=0:01:00"],
                    Script = $"#!/bin/sh\necho x >> {marker}/$HEOROT_JOB_ID\n",
                    WorkingDirectory = "/tmp",
                }, WireJson.Options, TestContext.Current.CancellationToken);
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    acknowledged.AddRange((await response.Content.ReadFromJsonAsync<SubmitResponse>(WireJson.Options, TestContext.Current.CancellationToken))!.Ids);
                }
            }
            catch (HttpRequestException)
            {
                // not acknowledged: the client would retry
            }
        }

        Assert.True(killed);
        try
        {
            foreach (var id in acknowledged)
            {
                var deadline = DateTime.UtcNow.AddSeconds(90);
                JobView? view = null;
                while (DateTime.UtcNow < deadline)
                {
                    view = await client.GetFromJsonAsync<JobView>($"v1/jobs/{id}", WireJson.Options, TestContext.Current.CancellationToken);
                    if (view!.State is "Terminated" or "Error" or "Cancelled")
                    {
                        break;
                    }

                    await Task.Delay(100, TestContext.Current.CancellationToken);
                }

                Assert.True(view!.State == "Terminated", $"job {id}: {view.State} ({view.Reason}) on {string.Join(",", view.Nodes)}");
                Assert.Equal(0, view.ExitCode);
                Assert.Equal(["x"], File.ReadAllLines(Path.Combine(marker, id.ToString(System.Globalization.CultureInfo.InvariantCulture))));
            }

            Assert.True(acknowledged.Count >= 50, $"only {acknowledged.Count} of 60 submissions were acknowledged");
        }
        finally
        {
            foreach (var agent in agentProcesses)
            {
                agent.Kill();
                agent.Dispose();
            }

            current.Kill();
            current.Dispose();
        }
    }

    [Fact]
    public async Task BadInput_GetsProblemDetails_AndChangesNothing()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        using var client = cluster.Client(TestCluster.Alice);
        var before = await cluster.Server!.Store.CountJobsAsync(TestContext.Current.CancellationToken);

        async Task Expect(HttpContent content, HttpStatusCode status, string code, string? inDetail = null)
        {
            // Expect: 100-continue, as a careful client sends a large body: the server refuses by the declared length
            // before reading the body, and the client does not send it (without it, the client may still be writing
            // when the server answers and closes, and gets a broken pipe instead of the answer).
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/jobs") { Content = content };
            request.Headers.ExpectContinue = true;
            using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
            Assert.Equal(status, response.StatusCode);
            Assert.True("application/problem+json" == response.Content.Headers.ContentType?.MediaType, $"{code}: content type {response.Content.Headers.ContentType}");
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
            Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
            if (inDetail != null)
            {
                Assert.Contains(inDetail, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }
        }

        await Expect(new StringContent("{\"script\": \"x\", ", Encoding.UTF8, "application/json"), HttpStatusCode.BadRequest, "malformed_json");
        await Expect(new StringContent("{\"script\": \"x\", \"colour\": 1}", Encoding.UTF8, "application/json"), HttpStatusCode.BadRequest, "malformed_json", "colour");
        await Expect(new StringContent("{\"script\": \"x\"}", Encoding.UTF8, "text/plain"), HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await Expect(new StringContent("{\"script\": \"" + new string('x', 2 << 20) + "\"}", Encoding.UTF8, "application/json"), HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        await Expect(JsonContent.Create(new SubmitRequest { Args = ["-l", "/nodes=2,walltime=1:00:00", "-p", "cluster = 'a' and"] }, options: WireJson.Options), HttpStatusCode.BadRequest, "invalid_field");
        await Expect(JsonContent.Create(new SubmitRequest { Args = ["-l", "/nodes=5"] }, options: WireJson.Options), HttpStatusCode.BadRequest, "unsatisfiable");
        await Expect(JsonContent.Create(new SubmitRequest { Args = ["-l", "/nodes=1"], Queue = "nosuch" }, options: WireJson.Options), HttpStatusCode.BadRequest, "invalid_field", "nosuch");

        using (var response = await client.PostAsync("v1/jobs", JsonContent.Create(new SubmitRequest { Args = ["-l", "/nodes=1", "-p", "cluster = 'a' and"] }, options: WireJson.Options), TestContext.Current.CancellationToken))
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            Assert.Contains("^", problem.RootElement.GetProperty("caret").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(before, await cluster.Server.Store.CountJobsAsync(TestContext.Current.CancellationToken));
    }

    private static Process StartServerProcess(string data, string url) =>
        TestCluster.Spawn(["server", "--data", data, "--listen", url, "--heartbeat", "0.5", "--suspect-after", "5", "--down-after", "5", "--grace", "1", "--scheduling-interval", "0.02"]);

    private static Process StartAgentProcess(string url, string name, string secretFile, string state) =>
        TestCluster.Spawn(["agent", "--server", url, "--name", name, "--secret-file", secretFile, "--state", state, "--cores", "4", "--memory", "1024"], state + ".log");

    private static async Task<bool> WaitForServerAsync(string url)
    {
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 300; i++)
        {
            try
            {
                using var response = await probe.GetAsync(url + "/v1/health");
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        return false;
    }

    /// <summary>A token for <paramref name="user"/>, asked for as root over the local socket (peer credentials).</summary>
    private static async Task<string> LoginAsOperatorAsync(string data, string user)
    {
        var socket = Path.Combine(data, "heorot.sock");
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socket), ct);
                return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
            },
        };
        using var local = new HttpClient(handler) { BaseAddress = new Uri("http://localhost/") };
        var request = UnixAccounts.CurrentUid() == 0 ? new TokenRequest { User = user } : new TokenRequest();
        using var response = await local.PostAsJsonAsync("v1/tokens", request, WireJson.Options);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<TokenResponse>(WireJson.Options))!.Token;
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
