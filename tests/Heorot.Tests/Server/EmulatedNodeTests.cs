using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using Heorot.Drivers.Power.Emulation;
using Heorot.Protocol;
using Heorot.Scheduling.Live;
using Heorot.Server.Power;
using Heorot.Tests.Drivers.Hypervisor;
using Heorot.Tests.Drivers.Power;

namespace Heorot.Tests.Server;

/// <summary>
/// Emulated physical nodes end to end: the real server in process, two QEMU guests (TCG) booting this host's own
/// heorot agent (docs/power.md, "Emulated physical nodes"), each behind a real ipmi_sim BMC that the server drives
/// with the IPMI driver (ipmitool), both off at start. Nothing is faked between the elastic manager and the job.
/// </summary>
public sealed class EmulatedNodeTests
{
    /// <summary>Two TCG guests booting .NET at once on two shared cores: 20-60 s each, more under a loaded suite.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    private static readonly string[] Names = ["e1", "e2"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 600_000)]
    public async Task Elastic_EmulatedNodesOff_QueuedJobsWakeThem_JobsRunAsTheUser_IdleNodesPowerOff()
    {
        await IpmiTools.EnsureAsync();
        var guest = await GuestImage.EnsureAsync();
        var clock = Stopwatch.StartNew();
        var root = Directory.CreateTempSubdirectory("heorot-emu-").FullName;
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var port = FreeTcpPort();
        var starts = Names.Select(name => EmulatedNode.StartAsync(
            new EmulatedNodeOptions
            {
                Name = name,
                Directory = Path.Combine(root, name),
                Kernel = guest.Kernel,
                Initrd = guest.NodeInitrd,
                HeorotDll = TestCluster.CliDll(),
                ServerPort = port,
                AgentSecret = secret,
            },
            Ct)).ToList();
        var nodes = new List<EmulatedNode>();
        try
        {
            try
            {
                await Task.WhenAll(starts);
            }
            finally
            {
                nodes.AddRange(starts.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }

            var config = new PowerConfig
            {
                ElasticEnabled = true,
                Elastic = new ElasticOptions { IdleSeconds = 5, BreakEvenSeconds = 0, ShutdownSeconds = 15, DefaultBootSeconds = 30, LeadSeconds = 0, BootTimeoutSlackSeconds = 300 },
                Nodes = nodes.ToDictionary(n => n.Name, n => n.ToPowerSettings()),
            };

            // A silent agent in a slow guest must not be taken for a dead node: generous heartbeat timeouts.
            await using var cluster = await TestCluster.StartAsync(0, o => o with
            {
                Urls = [$"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"],
                AgentSecret = secret,
                Power = config,
                Heartbeat = TimeSpan.FromSeconds(2),
                SuspectAfter = TimeSpan.FromSeconds(30),
                DownAfter = TimeSpan.FromSeconds(60),
            });
            using var ops = cluster.Client(TestCluster.Operator);

            // Both off, yet planned on: the power file declares their resources.
            var before = await NodesAsync(ops);
            Assert.Equal([("e1", "Off", 2), ("e2", "Off", 2)], before.Values.OrderBy(n => n.Name).Select(n => (n.Name, n.Power, n.Cores)));
            Assert.All(nodes, n => Assert.False(n.IsRunning));

            // Two whole-node jobs: the plan puts one on each off node, so the elastic manager wakes both.
            const string Script = "#!/bin/sh\necho \"job $HEOROT_JOB_ID ran as $(id -un) on $(hostname) with kernel $(uname -r)\"\n";
            var a = await cluster.SubmitAsync(TestCluster.Alice, Script, "-l", "/nodes=1,walltime=0:05:00");
            var b = await cluster.SubmitAsync(TestCluster.Alice, Script, "-l", "/nodes=1,walltime=0:05:00");
            var jobA = await cluster.WaitForStateAsync(a, Patience, "Terminated", "Error");
            var jobB = await cluster.WaitForStateAsync(b, Patience, "Terminated", "Error");

            var hostKernel = (await File.ReadAllTextAsync("/proc/sys/kernel/osrelease", Ct)).Trim();
            foreach (var job in new[] { jobA, jobB })
            {
                Assert.True((job.State, job.ExitCode) == ("Terminated", 0), $"job {job.Id}: {job.State} {job.ExitCode} {job.Reason}\n{await cluster.LogsAsync(job.Id)}");
                var output = await cluster.LogsAsync(job.Id);
                var node = Assert.Single(job.Nodes);
                Assert.Contains($"job {job.Id} ran as {TestCluster.Alice} on {node} with kernel ", output, StringComparison.Ordinal);
                Assert.DoesNotContain($"with kernel {hostKernel}\n", output, StringComparison.Ordinal); // the guest's kernel, not the host's
            }

            // Each node was woken for a job, booted, and its agent registered from inside the guest.
            await TestCluster.WaitAsync(async () => (await PowerEventsAsync(ops)).Count(e => e.Reason.StartsWith("PoweringOn -> On", StringComparison.Ordinal)) == 2, Patience, "both agents to register");
            var events = await PowerEventsAsync(ops);
            foreach (var name in Names)
            {
                Assert.True(
                    events.Any(e => e.Subject == $"node/{name}" && e.Actor == "elastic" && e.Reason.StartsWith("Off -> PoweringOn: job ", StringComparison.Ordinal)),
                    $"{name} was not woken for a job:\n{Journal(events)}");
            }

            // Idle: both powered off through their BMCs (ACPI), their QEMU gone.
            await TestCluster.WaitAsync(async () => (await NodesAsync(ops)).Values.All(n => n.Power == "Off"), Patience, "the idle nodes to power off");
            Assert.All(nodes, n => Assert.False(n.IsRunning, $"{n.Name}'s QEMU still runs"));
            Assert.All(nodes, n => Assert.Equal(["start default"], n.Bmc.BootLog())); // one boot each, no cycle

            // The server kept each boot's console: it holds the node's readiness line.
            foreach (var node in nodes)
            {
                var console = await ops.GetStringAsync($"v1/nodes/{node.Name}/console/logs/current", Ct);
                Assert.Contains($"{EmulatedNode.ReadyLine} {node.Name}", console, StringComparison.Ordinal);
            }

            events = await PowerEventsAsync(ops);
            TestContext.Current.TestOutputHelper?.WriteLine($"two emulated nodes, {clock.Elapsed.TotalSeconds:0} s in all:\n{Journal(events)}");
        }
        finally
        {
            var directories = nodes.Select(n => n.Directory).ToList();
            await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
            Assert.All(directories, d => Assert.False(Directory.Exists(d), $"{d} is left"));
            Assert.Empty(ProcessesNaming(root));
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData("e 1", "/tmp/x", "name 'e 1'")]
    [InlineData("-e1", "/tmp/x", "name '-e1'")]
    [InlineData("e1;reboot", "/tmp/x", "name 'e1;reboot'")]
    [InlineData("e1", "/tmp/with space", "directory '/tmp/with space'")]
    [InlineData("e1", "/tmp/with,comma", "directory '/tmp/with,comma'")]
    public void Validate_NameOrDirectoryUnfitForTheGeneratedFiles_Refused(string name, string directory, string problem)
    {
        var validation = EmulatedNode.Validate(Options(name, directory));

        Assert.Contains(validation.Problems, p => p.Contains(problem, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_AgentArgumentWithALineBreak_Refused()
    {
        var validation = EmulatedNode.Validate(Options("e1", "/tmp/x") with { ExtraAgentArguments = ["--property", "a=b\n--cores"] });

        Assert.Contains(validation.Problems, p => p.Contains("line break", StringComparison.Ordinal));
    }

    [Fact]
    public void QemuArguments_Node_SharesTheHostRootReadOnlyAndItsStateReadWrite_ResetsOnReboot_LeavesTheMonitorToTheBmc()
    {
        var args = EmulatedNode.QemuArguments(Options("e1", "/run/n/e1"), "/run/n/e1", null, "tcg");

        Assert.Contains("local,path=/,mount_tag=hostroot,security_model=none,multidevs=remap,readonly=on", args);
        Assert.Contains("local,path=/run/n/e1/state,mount_tag=nodestate,security_model=none,multidevs=remap", args);
        Assert.Contains("socket,id=s0,path=/run/n/e1/serial.sock,server=on,wait=off,logfile=/run/n/e1/console.log", args);
        Assert.Equal("console=ttyS0 quiet panic=-1 no_timer_check nodename=e1 heorot.boot={boot}", args[args.ToList().IndexOf("-append") + 1]);
        Assert.Equal("tcg,tb-size=128", args[args.ToList().IndexOf("-accel") + 1]);
        Assert.DoesNotContain("-no-reboot", args);
        Assert.DoesNotContain("-qmp", args);
        Assert.DoesNotContain("-daemonize", args);
        Assert.DoesNotContain("-pidfile", args);
    }

    [Fact]
    public void QemuArguments_Sol_SerialOnALoopbackTcpPort()
    {
        var args = EmulatedNode.QemuArguments(Options("e1", "/run/n/e1"), "/run/n/e1", 40123, "tcg");

        Assert.Contains("socket,id=s0,host=127.0.0.1,port=40123,server=on,wait=off,logfile=/run/n/e1/console.log", args);
    }

    [Fact]
    public void AgentArguments_Node_ReachTheServerThroughQemusHostAddress_WithTheDeclaredResources()
    {
        var args = EmulatedNode.AgentArguments(Options("e1", "/run/n/e1") with { ExtraAgentArguments = ["--property", "rack=a"] }, "/usr/bin/dotnet");

        Assert.Equal(
            ["/usr/bin/dotnet", "/opt/heorot/heorot.dll", "agent", "--server", "http://10.0.2.2:6817", "--name", "e1", "--secret-file", "/var/lib/heorot-node/agent.secret",
             "--state", "/var/lib/heorot-node/state", "--cores", "2", "--memory", "512", "--property", "rack=a"],
            args);
    }

    [Fact]
    public void ToString_Options_HidesThePasswordAndTheSecret()
    {
        var text = (Options("e1", "/tmp/x") with { BmcPassword = "pw-hidden-2" }).ToString();

        Assert.DoesNotContain("pw-hidden-2", text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-hidden-1", text, StringComparison.Ordinal);
    }

    private static EmulatedNodeOptions Options(string name, string directory) => new()
    {
        Name = name,
        Directory = directory,
        Kernel = "/nonexistent/vmlinux",
        Initrd = "/nonexistent/node-initramfs.cpio.gz",
        HeorotDll = "/opt/heorot/heorot.dll",
        ServerPort = 6817,
        AgentSecret = "secret-hidden-1",
    };

    private static async Task<Dictionary<string, NodeView>> NodesAsync(HttpClient client) =>
        (await client.GetFromJsonAsync<List<NodeView>>("v1/nodes", WireJson.Options, Ct))!.ToDictionary(n => n.Name);

    private static async Task<List<EventView>> PowerEventsAsync(HttpClient client) =>
        (await client.GetFromJsonAsync<List<EventView>>("v1/events?limit=10000", WireJson.Options, Ct))!.Where(e => e.Kind == "node.power").ToList();

    private static string Journal(List<EventView> events) => string.Join("\n", events.Select(e => $"{e.Time:HH:mm:ss.f} {e.Actor} {e.Subject}: {e.Reason}"));

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Live processes whose command line or environment names the directory.</summary>
    private static List<string> ProcessesNaming(string directory)
    {
        var found = new List<string>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(entry, "cmdline"));
                var environ = File.ReadAllText(Path.Combine(entry, "environ"));
                var stat = File.ReadAllText(Path.Combine(entry, "stat"));
                if ((cmdline.Contains(directory, StringComparison.Ordinal) || environ.Contains(directory, StringComparison.Ordinal)) && !stat.Contains(") Z ", StringComparison.Ordinal))
                {
                    found.Add($"{pid}: {cmdline.Replace('\0', ' ')}");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return found;
    }
}
