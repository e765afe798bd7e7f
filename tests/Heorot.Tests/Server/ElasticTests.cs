using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Heorot.Drivers.Power;
using Heorot.Protocol;
using Heorot.Scheduling.Live;
using Heorot.Server.Power;

namespace Heorot.Tests.Server;

/// <summary>
/// The elastic manager and the power verbs with real agent processes behind fake BMCs: a fake machine's power-on
/// starts its node's agent (the node "boots" and registers), its power-off kills it. The decisions are the pure
/// planner's (tested on its own); these tests check the loop around it: states, events, scheduling against
/// powered-off capacity, BMC failures.
/// </summary>
public sealed class ElasticTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private static PowerConfig Config(bool elastic = true) => new()
    {
        ElasticEnabled = elastic,
        CallTimeout = TimeSpan.FromSeconds(2),
        Elastic = new ElasticOptions { IdleSeconds = 3, BreakEvenSeconds = 0, ShutdownSeconds = 1, DefaultBootSeconds = 3, LeadSeconds = 0, BootTimeoutSlackSeconds = 30 },
    };

    /// <summary>A cluster of <paramref name="count"/> nodes, each behind a fake BMC whose machine is its agent process.</summary>
    private static async Task<(TestCluster Cluster, Dictionary<string, FakeMachine> Machines)> StartAsync(int count, PowerConfig config)
    {
        var machines = Enumerable.Range(1, count).ToDictionary(i => $"n{i}", _ => new FakeMachine());
        TestCluster? cluster = null;
        foreach (var (name, machine) in machines)
        {
            machine.Set(true);
            machine.PowerChanged += on =>
            {
                if (cluster == null)
                {
                    return;
                }

                // A power-on (or cycle) boots the node afresh: whatever ran is gone.
                if (cluster.AgentProcesses.TryGetValue(name, out var agent))
                {
                    agent.Kill(entireProcessTree: true);
                }

                if (on)
                {
                    cluster.StartAgent(name);
                }
            };
        }

        cluster = await TestCluster.StartAsync(count, o => o with
        {
            Power = config,
            PowerDrivers = machines.ToDictionary(m => m.Key, m => (IPowerDriver)new FakePowerDriver(m.Value)),
        });
        return (cluster, machines);
    }

    private static async Task<Dictionary<string, NodeView>> NodesAsync(TestCluster cluster)
    {
        using var client = cluster.Client(TestCluster.Operator);
        return (await client.GetFromJsonAsync<List<NodeView>>("v1/nodes", WireJson.Options, TestContext.Current.CancellationToken))!.ToDictionary(n => n.Name);
    }

    private static async Task<List<EventView>> PowerEventsAsync(TestCluster cluster)
    {
        using var client = cluster.Client(TestCluster.Operator);
        var events = (await client.GetFromJsonAsync<List<EventView>>("v1/events?limit=10000", WireJson.Options, TestContext.Current.CancellationToken))!;
        return events.Where(e => e.Kind == "node.power").ToList();
    }

    private static string Journal(List<EventView> events) => string.Join("\n", events.Select(e => $"{e.Time:HH:mm:ss} {e.Actor} {e.Subject}: {e.Reason}"));

    [Fact(Timeout = 240_000)]
    public async Task Elastic_IdleNodesPowerOff_QueuedJobsWakeThem_ThenTheyPowerOffAgain()
    {
        var (cluster, machines) = await StartAsync(3, Config());
        await using var _ = cluster;

        // Idle for 3 s with nothing planned: every node is powered off and its agent is gone.
        await TestCluster.WaitAsync(async () => (await NodesAsync(cluster)).Values.All(n => n.Power == "Off"), Patience, "idle nodes to power off");
        Assert.All(machines.Values, m => Assert.False(m.IsOn));
        Assert.All((await NodesAsync(cluster)).Values, n => Assert.Equal("Alive", n.State)); // silence of an off node is expected

        // Two 2-node jobs: the plan needs 2 of the off nodes now (ready after their boot) and all 3 for the second
        // job later; the nodes are woken, boot (their agents register), the jobs run.
        var a = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nsleep 1\necho ran on $(hostname)\n", "-l", "/nodes=2,walltime=0:05:00");
        var b = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nsleep 1\n", "-l", "/nodes=2,walltime=0:05:00");
        var jobA = await cluster.WaitForStateAsync(a, Patience, "Terminated", "Error");
        var jobB = await cluster.WaitForStateAsync(b, Patience, "Terminated", "Error");

        Assert.Equal(("Terminated", 0), (jobA.State, jobA.ExitCode));
        Assert.Equal(("Terminated", 0), (jobB.State, jobB.ExitCode));
        var events = await PowerEventsAsync(cluster);
        Assert.True(events.Any(e => e.Actor == "elastic" && e.Reason.StartsWith("Off -> PoweringOn", StringComparison.Ordinal) && e.Reason.Contains($"job {a} is planned", StringComparison.Ordinal)), $"a={a} b={b}\n" + Journal(events));
        Assert.True(events.Any(e => e.Reason.StartsWith("PoweringOn -> On", StringComparison.Ordinal) && e.Reason.Contains("after power-on", StringComparison.Ordinal)), Journal(events));
        Assert.True((await NodesAsync(cluster)).Values.Where(n => n.BootSeconds != null).All(n => n.BootSeconds > 0), "boot times are learned");

        // Idle again: powered off again.
        await TestCluster.WaitAsync(async () => (await NodesAsync(cluster)).Values.All(n => n.Power == "Off"), Patience, "the nodes to power off after the jobs");
        Assert.All(machines.Values, m => Assert.False(m.IsOn));
        Assert.True(machines.Values.Sum(m => m.Boots) >= 3, $"boots: {string.Join(", ", machines.Select(m => $"{m.Key}={m.Value.Boots}"))}");
    }

    [Fact(Timeout = 240_000)]
    public async Task Elastic_BmcHangs_NodeIsSuspected_AndTheJobRunsElsewhere()
    {
        var (cluster, machines) = await StartAsync(3, Config());
        await using var _ = cluster;
        await TestCluster.WaitAsync(async () => (await NodesAsync(cluster)).Values.All(n => n.Power == "Off"), Patience, "idle nodes to power off");

        // n1's BMC now hangs on every call; the planner prefers n1 (the first node), so it is the one woken.
        machines["n1"].Hang = true;
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\ntrue\n", "-l", "/nodes=1,walltime=0:05:00");
        var job = await cluster.WaitForStateAsync(id, Patience, "Terminated", "Error");

        var nodes = await NodesAsync(cluster);
        Assert.Equal(("Terminated", 0), (job.State, job.ExitCode));
        Assert.Equal("Suspected", nodes["n1"].State);
        Assert.Contains("did not answer within 2 s", nodes["n1"].Reason, StringComparison.Ordinal);
        Assert.NotEqual("n1", Assert.Single(job.Nodes));
        Assert.False(machines["n1"].IsOn);
    }

    [Fact(Timeout = 240_000)]
    public async Task Elastic_NodeThatNeverBoots_IsCycledOnce_ThenGivenUp_AndTheJobRunsElsewhere()
    {
        var config = Config() with { Elastic = Config().Elastic with { BootTimeoutFactor = 1, BootTimeoutSlackSeconds = 2 } };
        var (cluster, machines) = await StartAsync(2, config);
        await using var _ = cluster;
        await TestCluster.WaitAsync(async () => (await NodesAsync(cluster)).Values.All(n => n.Power == "Off"), Patience, "idle nodes to power off");

        // n1's BMC lies: it accepts power-on, says On, but the machine never boots (no agent comes up).
        machines["n1"].Lie = Heorot.Drivers.Power.PowerState.On;
        machines["n1"].PowerChanged += on =>
        {
            if (on && cluster.AgentProcesses.TryGetValue("n1", out var agent))
            {
                agent.Kill(entireProcessTree: true);
            }
        };
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\ntrue\n", "-l", "/nodes=1,walltime=0:05:00");
        var job = await cluster.WaitForStateAsync(id, Patience, "Terminated", "Error");

        // The job waited for n1 (planned there) through its boot timeout, its cycle and its second timeout.
        Assert.Equal(("Terminated", "n2"), (job.State, Assert.Single(job.Nodes)));
        var events = await PowerEventsAsync(cluster);
        Assert.True(events.Any(e => e.Subject == "node/n1" && e.Reason.Contains("power-cycled", StringComparison.Ordinal)), Journal(events));
        Assert.True(events.Any(e => e.Subject == "node/n1" && e.Reason.Contains("given up", StringComparison.Ordinal)), Journal(events));
        Assert.Equal("Suspected", (await NodesAsync(cluster))["n1"].State);
    }

    [Fact(Timeout = 240_000)]
    public async Task Power_OperatorCommandsOnANodeSet_ReportPerNode_AndRefuseWhatTheyMust()
    {
        var (cluster, machines) = await StartAsync(2, Config(elastic: false));
        await using var _ = cluster;
        using var ops = cluster.Client(TestCluster.Operator);
        using var alice = cluster.Client(TestCluster.Alice);

        async Task<List<PowerResult>> PowerAsync(HttpClient client, PowerRequest request)
        {
            using var response = await client.PostAsJsonAsync("v1/power", request, WireJson.Options, TestContext.Current.CancellationToken);
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {body}");
            return body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonSerializer.Deserialize<PowerResult>(l, WireJson.Options)!).OrderBy(r => r.Node).ToList();
        }

        var status = await PowerAsync(ops, new PowerRequest { Nodes = "n[1-2],n9", Action = "status" });
        Assert.Equal(["n1", "n2", "n9"], status.Select(r => r.Node));
        Assert.Equal([(true, "On"), (true, "On"), (false, (string?)null)], status.Select(r => (r.Ok, r.State)));
        Assert.Equal("no_driver", status[2].Code);

        var off = await PowerAsync(ops, new PowerRequest { Nodes = "n[1-2]", Action = "soft", Window = 1 });
        Assert.All(off, r => Assert.True(r.Ok, r.Error));
        Assert.All(machines.Values, m => Assert.False(m.IsOn));
        await TestCluster.WaitAsync(async () => (await NodesAsync(cluster)).Values.All(n => n.Power == "Off"), Patience, "soft-off nodes to be Off");

        var on = await PowerAsync(ops, new PowerRequest { Nodes = "n1", Action = "on" });
        Assert.Equal("PoweringOn", Assert.Single(on).State);
        await TestCluster.WaitAsync(async () => (await NodesAsync(cluster))["n1"].Power == "On", Patience, "n1 to boot");

        // A node holding a job is not powered off without --force.
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nsleep 60\n", "-l", "/nodes=1,walltime=0:05:00");
        await cluster.WaitForStateAsync(id, Patience, "Running");
        var busy = Assert.Single(await PowerAsync(ops, new PowerRequest { Nodes = "n1", Action = "off" }));
        Assert.Equal(("busy", true), (busy.Code, machines["n1"].IsOn));

        using var refused = await alice.PostAsJsonAsync("v1/power", new PowerRequest { Nodes = "n2", Action = "on" }, WireJson.Options, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        using var bad = await ops.PostAsJsonAsync("v1/power", new PowerRequest { Nodes = "n[1-", Action = "on" }, WireJson.Options, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.False(machines["n2"].IsOn);
    }

    [Fact(Timeout = 240_000)]
    public async Task Health_FailingCheck_NodeIsSuspected_CycledOnce_ThenGivenUp_AndAPassingCheckHeals()
    {
        var dir = Directory.CreateTempSubdirectory("health-").FullName;
        var broken = Path.Combine(dir, "broken");
        var check = TestCluster.Script(dir, "check.sh", $"#!/bin/sh\nif [ -e {broken} ]; then echo disk on fire; exit 1; fi\n");
        var machine = new FakeMachine();
        machine.Set(true);
        TestCluster? cluster = null;
        machine.PowerChanged += on =>
        {
            if (cluster != null && cluster.AgentProcesses.TryGetValue("n1", out var agent))
            {
                agent.Kill(entireProcessTree: true);
            }

            if (on)
            {
                cluster?.StartAgent("n1");
            }
        };
        var config = Config(elastic: false) with { CycleSuspectedAfter = TimeSpan.FromSeconds(2), Elastic = Config().Elastic with { MaxCycles = 1 } };
        cluster = await TestCluster.StartAsync(
            1,
            o => o with { Power = config, PowerDrivers = new Dictionary<string, IPowerDriver> { ["n1"] = new FakePowerDriver(machine) }, SuspectAfter = TimeSpan.FromSeconds(15) },
            agentArguments: new Dictionary<string, string[]> { ["n1"] = ["--health-check", check, "--health-interval", "1"] });
        await using var _ = cluster;

        // A failing check makes the node Suspected; passing again heals it (no cycle: that would take 2 s).
        await File.WriteAllTextAsync(broken, string.Empty, TestContext.Current.CancellationToken);
        await TestCluster.WaitAsync(
            async () => (await NodesAsync(cluster))["n1"] is { State: "Suspected", Reason: { } why } && why.StartsWith("health check failed:", StringComparison.Ordinal),
            Patience,
            "the failing check to suspect n1");
        Assert.Matches("^health check failed: .*disk on fire", (await NodesAsync(cluster))["n1"].Reason);
        File.Delete(broken);
        await TestCluster.WaitAsync(async () => (await NodesAsync(cluster))["n1"].State == "Alive", Patience, "the passing check to heal n1");

        // Still failing: cycled once (the machine reboots, its agent starts again), then given up: Down, then Dead.
        await File.WriteAllTextAsync(broken, string.Empty, TestContext.Current.CancellationToken);
        await TestCluster.WaitAsync(async () => (await NodesAsync(cluster))["n1"].State == "Dead", Patience, "n1 to be given up");
        Assert.Equal(2, machine.Boots);
        using var client = cluster.Client(TestCluster.Operator);
        var events = (await client.GetFromJsonAsync<List<EventView>>("v1/events?limit=10000", WireJson.Options, TestContext.Current.CancellationToken))!;
        Assert.True(events.Any(e => e.Actor == "health" && e.Reason.Contains("power-cycled (1 of 1)", StringComparison.Ordinal)), Journal(events));
        Assert.True(events.Any(e => e.Kind == "node.dead" && e.Reason.Contains("still Suspected after 1 power-cycle(s)", StringComparison.Ordinal)), Journal(events));
        Directory.Delete(dir, recursive: true);
    }
}
