using System.Net.Http.Json;
using System.Security.Cryptography;
using Heorot.Drivers.Hypervisor;
using Heorot.Protocol;
using Heorot.Protocol.Images;
using Heorot.Tests.Drivers.Hypervisor;

namespace Heorot.Tests.Server;

/// <summary>
/// Jobs in virtual machines end to end: the real server with its image registry, real agent processes with
/// their image caches, real QEMU guests (TCG) built by scripts/guest/build.sh, on the job's private network.
/// </summary>
public sealed class VmJobTests
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Registers the test guest (vmlinux + initramfs) as a public image, as an operator would; with
    /// <paramref name="disk"/>, its disk image (qcow2, digest returned) with the initramfs that can mount it.
    /// </summary>
    private static async Task<string?> RegisterGuestAsync(TestCluster cluster, string name = "guest", string? cmdline = null, bool disk = false)
    {
        var guest = await GuestImage.EnsureAsync();
        using var client = cluster.Client(TestCluster.Operator);
        client.Timeout = TimeSpan.FromMinutes(2);
        async Task<string> Upload(string file)
        {
            await using (var hashing = File.OpenRead(file))
            {
                var digest = "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(hashing));
                await using var body = File.OpenRead(file);
                using var response = await client.PutAsync($"v1/blobs/{digest}", new StreamContent(body));
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
                return digest;
            }
        }

        var kernel = await Upload(guest.Kernel);
        var initrd = await Upload(disk ? guest.DiskInitrd : guest.Initrd);
        var rootDisk = disk ? await Upload(guest.RootDisk) : null;
        using var registered = await client.PostAsJsonAsync("v1/images", new ImageRequest { Name = name, Kernel = kernel, Initrd = initrd, Cmdline = cmdline ?? QemuHypervisor.DefaultKernelCommandLine, Disk = rootDisk, Format = disk ? "qcow2" : null, Public = true }, WireJson.Options);
        Assert.True(registered.IsSuccessStatusCode, await registered.Content.ReadAsStringAsync());
        return rootDisk;
    }

    private static async Task<string> Sha256Async(string file)
    {
        await using var stream = File.OpenRead(file);
        return "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(stream));
    }

    private static string AgentSocket(TestCluster cluster, string node, long job, string vm) =>
        Path.Combine(cluster.Directory, "agent-" + node, "vms", $"{job}.0", vm, QemuHypervisor.AgentSocketName);

    private static bool AnyQemuOf(TestCluster cluster) =>
        Directory.GetDirectories("/proc").Any(p =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(p, "cmdline")).Contains(cluster.Directory, StringComparison.Ordinal) && File.ReadAllText(Path.Combine(p, "comm")).StartsWith("qemu", StringComparison.Ordinal)
                    && !File.ReadAllText(Path.Combine(p, "stat")).Contains(") Z ", StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false;
            }
        });

    [Fact]
    public async Task VmJob_ScriptRunsInTheFirstVmAsTheUser_OutputAndExitCodeReturn_NothingLeftAfter()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 2);
        await RegisterGuestAsync(cluster);
        var id = (await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest
        {
            Args = ["-l", "/nodes=2/core=1,walltime=0:10:00"],
            Image = "guest",
            VNodes = 3,
            SshKeys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHeorotTestKeyHeorotTestKeyHeorotTestKey alice@test"],
            Script = "#!/bin/sh\necho \"me=$(id -un) host=$(hostname) job=$HEOROT_JOB_ID nodes=$(tr '\\n' ' ' < $HEOROT_NODEFILE)\"\ngrep -c vm /etc/hosts\ncat ~/.ssh/authorized_keys\necho to-stderr >&2\nexit 4\n",
        }))[0];

        var done = await cluster.WaitForStateAsync(id, Boot, "Terminated", "Error");

        Assert.True(done.State == "Terminated", $"{done.State}: {done.Reason}");
        Assert.Equal(4, done.ExitCode);
        var output = await cluster.LogsAsync(id);
        Assert.Contains($"me={TestCluster.Alice} host=vm0 job={id} nodes=vm0 vm1 vm2 ", output, StringComparison.Ordinal);
        Assert.Contains("3\n", output, StringComparison.Ordinal); // the job's VMs in /etc/hosts
        Assert.Contains("alice@test", output, StringComparison.Ordinal); // the user's key from the seed
        using var client = cluster.Client(TestCluster.Alice);
        Assert.Equal("to-stderr\n", await client.GetStringAsync($"v1/jobs/{id}/logs?stream=err", TestContext.Current.CancellationToken));

        // The epilog ran on both nodes: no QEMU, no overlay, seed or run directory left.
        await TestCluster.WaitAsync(() => Task.FromResult(!AnyQemuOf(cluster)), TimeSpan.FromSeconds(30), "the VMs to be gone");
        foreach (var node in new[] { "n1", "n2" })
        {
            var vms = Path.Combine(cluster.Directory, "agent-" + node, "vms");
            Assert.True(!Directory.Exists(vms) || Directory.GetFileSystemEntries(vms).Length == 0, $"{node} kept {string.Join(", ", Directory.Exists(vms) ? Directory.GetFileSystemEntries(vms) : [])}");
        }
    }

    [Fact]
    public async Task VmJob_DiskImage_EachVmBootsFromItsOwnOverlay_BaseUnchanged_OverlaysGoneAfter()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        var guest = await GuestImage.EnsureAsync();
        var shipped = await Sha256Async(guest.RootDisk);
        var digest = await RegisterGuestAsync(cluster, "disk", QemuHypervisor.DefaultKernelCommandLine + " root=/dev/vda", disk: true);
        Assert.Equal(shipped, digest);

        // vm0 (the job's script, as alice) writes to its disk, then waits until vm1 has looked and written to its own.
        var id = (await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest
        {
            Args = ["-l", "/nodes=1/core=1,walltime=0:10:00"],
            Image = "disk",
            VNodes = 2,
            Script = "#!/bin/sh\n"
                + "echo \"marker: $(head -c 22 /etc/heorot-rootfs)\"\n"
                + "awk '$2 == \"/\" { print \"root: \" $1 \" \" $3 }' /proc/mounts\n"
                + "echo \"written in $(hostname)\" > ~/on-disk && sync\n"
                + "timeout 120 nc -l -p 7777 > /dev/null\n"
                + "echo \"after: $(cat ~/on-disk); $(ls /vm1-was-here 2>&1)\"\n",
        }))[0];
        var job = await cluster.WaitForStateAsync(id, Boot, "Running", "Terminated", "Error");
        Assert.True(job.State == "Running", $"{job.State}: {job.Reason}");
        var jobVms = Path.Combine(cluster.Directory, "agent-n1", "vms", $"{id}.0");
        var cached = Path.Combine(cluster.Directory, "agent-n1", "images", "sha256", digest![7..]);

        // One qcow2 overlay per VM, each over the cached image.
        foreach (var vm in new[] { "vm0", "vm1" })
        {
            var info = await ProcessRunner.RunAsync("qemu-img", ["info", "-U", "--output=json", Path.Combine(jobVms, vm + ".qcow2")], TestContext.Current.CancellationToken);
            Assert.True(info.ExitCode == 0, info.Stderr);
            Assert.Contains($"\"backing-filename\": \"{cached}\"", info.Stdout, StringComparison.Ordinal);
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromMinutes(2)); // a busy channel must fail the test, not hang it
        await using (var vm1 = await GuestChannel.ConnectAsync(AgentSocket(cluster, "n1", id, "vm1"), limit.Token))
        {
            var look = await vm1.RunAsync(["sh", "-c", "head -c 22 /etc/heorot-rootfs; echo; awk '$2 == \"/\" { print $1 }' /proc/mounts; echo vm1 > /vm1-was-here && sync"], user: "root", timeout: TimeSpan.FromSeconds(20), cancellationToken: limit.Token);
            Assert.Equal("heorot test guest root\n/dev/vda\n", look.StdoutText);

            // The listener answers once vm0 has written its file.
            var connected = false;
            for (var attempt = 0; attempt < 60 && !connected; attempt++)
            {
                connected = (await vm1.RunAsync(["sh", "-c", "echo go | timeout 10 nc vm0 7777"], user: "root", timeout: TimeSpan.FromSeconds(20), cancellationToken: limit.Token)).ExitCode == 0;
                if (!connected)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(500), limit.Token); // polling another machine: no event to wait on
                }
            }

            Assert.True(connected, "vm0's script never listened");
            var theirs = await vm1.RunAsync(["sh", "-c", "ls /home/alice/on-disk 2>&1"], user: "root", timeout: TimeSpan.FromSeconds(20), cancellationToken: limit.Token);
            Assert.Contains("No such file", theirs.StdoutText, StringComparison.Ordinal);
        }

        var done = await cluster.WaitForStateAsync(id, TimeSpan.FromMinutes(2), "Terminated", "Error");

        Assert.True(done.State == "Terminated" && done.ExitCode == 0, $"{done.State} {done.ExitCode}: {done.Reason}");
        var output = await cluster.LogsAsync(id);
        Assert.Contains("marker: heorot test guest root\n", output, StringComparison.Ordinal);
        Assert.Contains("root: /dev/vda ext4\n", output, StringComparison.Ordinal);
        Assert.Contains("after: written in vm0; ls: /vm1-was-here: No such file or directory\n", output, StringComparison.Ordinal);

        // The epilog removed the overlays and the VMs; the cached base and the shipped image are untouched.
        await TestCluster.WaitAsync(() => Task.FromResult(!AnyQemuOf(cluster)), TimeSpan.FromSeconds(30), "the VMs to be gone");
        Assert.False(Directory.Exists(jobVms), $"{jobVms} is left");
        Assert.Empty(Heorot.Agent.Vms.VmRunner.ProcessesUsing(jobVms));
        Assert.Equal(digest, await Sha256Async(cached));
        Assert.Equal(shipped, await Sha256Async(guest.RootDisk));
    }

    [Fact]
    public async Task VmJob_VmsReachEachOtherAcrossNodes_AnotherJobsVmsCannot()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 2);
        await RegisterGuestAsync(cluster);
        var a = (await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest { Args = ["-l", "/nodes=2/core=1,walltime=0:10:00"], Image = "guest", VNodes = 4 }))[0];
        var b = (await cluster.SubmitAsync(TestCluster.Bob, new SubmitRequest { Args = ["-l", "/nodes=1/core=1,walltime=0:10:00"], Image = "guest" }))[0];
        var jobA = await cluster.WaitForStateAsync(a, Boot, "Running");
        var jobB = await cluster.WaitForStateAsync(b, Boot, "Running");
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromMinutes(3)); // a busy channel must fail the test, not hang it

        // All to all inside job A (vm0, vm2 on one node, vm1, vm3 on the other), as root through each VM's channel.
        string[] addresses = ["10.123.0.11", "10.123.0.12", "10.123.0.13", "10.123.0.14"];
        for (var k = 0; k < 4; k++)
        {
            await using var channel = await GuestChannel.ConnectAsync(AgentSocket(cluster, jobA.Nodes[k % 2], a, $"vm{k}"), limit.Token);
            foreach (var (address, j) in addresses.Select((x, j) => (x, j)).Where(p => p.j != k))
            {
                var ping = await channel.RunAsync(["ping", "-c", "1", "-W", "5", address], user: "root", timeout: TimeSpan.FromSeconds(20), cancellationToken: limit.Token);
                Assert.True(ping.ExitCode == 0, $"job {a}: vm{k} cannot reach vm{j} ({address}): {ping.StdoutText}{ping.StderrText}");
            }
        }

        // Job B's VM has the same private address as job A's vm0 (every job gets 10.123/16), on its own network.
        await using (var other = await GuestChannel.ConnectAsync(AgentSocket(cluster, jobB.Nodes[0], b, "vm0"), limit.Token))
        {
            var ping = await other.RunAsync(["ping", "-c", "2", "-W", "2", addresses[1]], user: "root", timeout: TimeSpan.FromSeconds(20), cancellationToken: limit.Token);
            Assert.NotEqual(0, ping.ExitCode);
        }

        using var operatorClient = cluster.Client(TestCluster.Operator);
        await operatorClient.DeleteAsync($"v1/jobs/{a}", TestContext.Current.CancellationToken);
        await operatorClient.DeleteAsync($"v1/jobs/{b}", TestContext.Current.CancellationToken);
        await cluster.WaitForStateAsync(a, TimeSpan.FromSeconds(60), "Terminated");
        await cluster.WaitForStateAsync(b, TimeSpan.FromSeconds(60), "Terminated");
        await TestCluster.WaitAsync(() => Task.FromResult(!AnyQemuOf(cluster)), TimeSpan.FromSeconds(30), "cancelled jobs' VMs to be gone");
    }

    [Fact]
    public async Task Ssh_IntoTheSecondVm_LogsInAsTheUser_ExitEndsTheSessionWithItsStatus()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        await RegisterGuestAsync(cluster);
        var id = (await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest { Args = ["-l", "/nodes=1/core=1,walltime=0:10:00"], Image = "guest", VNodes = 2 }))[0];
        await cluster.WaitForStateAsync(id, Boot, "Running");

        using var client = new Heorot.Cli.Client.HeorotClient(cluster.Url, TestCluster.TokenOf(TestCluster.Alice));
        using var output = new MemoryStream();
        using var input = new MemoryStream("echo \"in=$(id -un)@$(hostname) tty=$(tty)\"; exit 3\n"u8.ToArray());
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromMinutes(2));
        int code;
        try
        {
            code = await Heorot.Cli.Commands.ShellCommand.RunAsync(client, id, "1", input, output, terminal: false, limit.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the session did not end; output: {System.Text.Encoding.UTF8.GetString(output.ToArray())}");
            throw;
        }

        var text = System.Text.Encoding.UTF8.GetString(output.ToArray());
        Assert.True(code == 3, $"exit {code}; output: {text}");
        Assert.Contains($"in={TestCluster.Alice}@vm1 tty=/dev/hvc", text, StringComparison.Ordinal);
        Assert.DoesNotContain("heorot-exit", text, StringComparison.Ordinal); // the end marker is the agent's, not the user's

        using var bob = new Heorot.Cli.Client.HeorotClient(cluster.Url, TestCluster.TokenOf(TestCluster.Bob));
        var refused = await Assert.ThrowsAsync<Heorot.Cli.Client.ClientException>(() => Heorot.Cli.Commands.ShellCommand.RunAsync(bob, id, "0", new MemoryStream(), new MemoryStream(), terminal: false, limit.Token));
        Assert.Equal(403, refused.Status);
        var badVm = await Assert.ThrowsAsync<Heorot.Cli.Client.ClientException>(() => Heorot.Cli.Commands.ShellCommand.RunAsync(client, id, "7", new MemoryStream(), new MemoryStream(), terminal: false, limit.Token));
        Assert.Equal(400, badVm.Status);
    }

    [Fact]
    public async Task AgentRestart_VmsKeepRunningAndAreReattached_CancelThenDestroysThem()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1, configure: o => o with { SuspectAfter = TimeSpan.FromSeconds(30), DownAfter = TimeSpan.FromSeconds(30) });
        await RegisterGuestAsync(cluster);
        var id = (await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest { Args = ["-l", "/nodes=1/core=1,walltime=0:10:00"], Image = "guest", VNodes = 2 }))[0];
        await cluster.WaitForStateAsync(id, Boot, "Running");
        var jobVms = Path.Combine(cluster.Directory, "agent-n1", "vms", $"{id}.0");
        var before = Heorot.Agent.Vms.VmRunner.ProcessesUsing(jobVms).Order().ToList();
        Assert.Equal(2, before.Count);

        // SIGKILL the agent: its VMs are daemonized and stay; a new agent process takes over the same state.
        var killed = cluster.AgentProcesses["n1"];
        killed.Kill(entireProcessTree: false);
        await TestCluster.WaitAsync(() => Task.FromResult(killed.HasExited), TimeSpan.FromSeconds(10), "the agent to die"); // its job's processes keep its output pipes open
        cluster.StartAgent("n1");
        using var operatorClient = cluster.Client(TestCluster.Operator);
        await TestCluster.WaitAsync(
            async () => (await operatorClient.GetFromJsonAsync<List<EventView>>("v1/events?since=0&limit=10000", WireJson.Options))!.Any(e => e.Kind == "node.agent_restarted"),
            TimeSpan.FromSeconds(60),
            "the new agent's first sync");

        Assert.Equal("Running", (await cluster.JobAsync(id)).State);
        Assert.Equal(before, Heorot.Agent.Vms.VmRunner.ProcessesUsing(jobVms).Order().ToList());
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromMinutes(1));
        foreach (var vm in new[] { "vm0", "vm1" })
        {
            await using var channel = await GuestChannel.ConnectAsync(AgentSocket(cluster, "n1", id, vm), limit.Token);
            var hostname = await channel.RunAsync(["hostname"], cancellationToken: limit.Token);
            Assert.Equal(vm, hostname.StdoutText.Trim());
        }

        // The cancel, not anything the new agent judged ended, ends the job; the new agent destroys the VMs.
        Assert.Equal("Running", (await cluster.JobAsync(id)).State);
        using var client = cluster.Client(TestCluster.Alice);
        await client.DeleteAsync($"v1/jobs/{id}", TestContext.Current.CancellationToken);
        var done = await cluster.WaitForStateAsync(id, TimeSpan.FromSeconds(60), "Terminated");
        Assert.Contains("cancelled", done.Reason ?? string.Empty, StringComparison.Ordinal);
        Assert.Empty(Heorot.Agent.Vms.VmRunner.ProcessesUsing(jobVms));
        Assert.False(Directory.Exists(jobVms));
        Assert.Equal("Alive", (await operatorClient.GetFromJsonAsync<NodeView>("v1/nodes/n1", WireJson.Options, TestContext.Current.CancellationToken))!.State);
        await TestCluster.WaitAsync(() => Task.FromResult(!AnyQemuOf(cluster)), TimeSpan.FromSeconds(30), "the re-attached VMs to be destroyed by the new agent");
    }

    [Fact]
    public async Task VmJob_WalltimeExceeded_VmsDestroyed_JobEndsWithTheWalltimeReason()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        await RegisterGuestAsync(cluster);
        var id = (await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest { Args = ["-l", "/nodes=1/core=1,walltime=0:00:03"], Image = "guest", Script = "#!/bin/sh\nsleep 300\n" }))[0];
        var jobVms = Path.Combine(cluster.Directory, "agent-n1", "vms", $"{id}.0");

        var done = await cluster.WaitForStateAsync(id, Boot, "Terminated", "Error");

        Assert.True(done.State == "Terminated", $"{done.State}: {done.Reason}");
        Assert.Contains("walltime of 3 s exceeded", done.Reason ?? string.Empty, StringComparison.Ordinal);
        Assert.Contains(done.ExitCode, new int?[] { 143, 137 }); // stopped by TERM (or KILL after the grace), not crashed
        using var client = cluster.Client(TestCluster.Alice);
        Assert.DoesNotContain("Unhandled exception", await client.GetStringAsync($"v1/jobs/{id}/logs?stream=err", TestContext.Current.CancellationToken), StringComparison.Ordinal);

        // The epilog ran before the job could end: the VM and its files are gone, the node did not fail it.
        Assert.Empty(Heorot.Agent.Vms.VmRunner.ProcessesUsing(jobVms));
        Assert.False(Directory.Exists(jobVms));
        using var operatorClient = cluster.Client(TestCluster.Operator);
        Assert.Equal("Alive", (await operatorClient.GetFromJsonAsync<NodeView>("v1/nodes/n1", WireJson.Options, TestContext.Current.CancellationToken))!.State);
    }

    [Fact]
    public async Task VmJob_GuestNeverReady_JobFailsWithTheConsoleLog()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        await RegisterGuestAsync(cluster, "broken", QemuHypervisor.DefaultKernelCommandLine + " rdinit=/no/such/init");
        var id = (await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest { Args = ["-l", "/nodes=1/core=1,walltime=0:10:00"], Image = "broken", Script = "#!/bin/sh\ntrue\n" }))[0];

        var done = await cluster.WaitForStateAsync(id, Boot, "Terminated", "Error");

        Assert.Equal("Error", done.State);
        Assert.Contains("--- console ---", done.Reason ?? string.Empty, StringComparison.Ordinal);
        Assert.Contains("Kernel panic", done.Reason ?? string.Empty, StringComparison.Ordinal);
        await TestCluster.WaitAsync(() => Task.FromResult(!AnyQemuOf(cluster)), TimeSpan.FromSeconds(30), "the VM to be gone");
    }

    [Fact]
    public async Task Submit_UnknownImage_RefusedWithTheField()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        using var client = cluster.Client(TestCluster.Alice);

        using var response = await client.PostAsJsonAsync("v1/jobs", new SubmitRequest { Args = ["-l", "/nodes=1"], Image = "nope:3" }, WireJson.Options, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains("\"field\":\"image\"", body, StringComparison.Ordinal);
        Assert.Contains("no image nope:3", body, StringComparison.Ordinal);
    }
}
