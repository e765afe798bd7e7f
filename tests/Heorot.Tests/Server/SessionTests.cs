using System.Net;
using System.Text;
using Heorot.Cli.Client;
using Heorot.Cli.Commands;
using Heorot.Protocol;

namespace Heorot.Tests.Server;

/// <summary>
/// Interactive sessions end to end: the CLI's shell client, the real server's relay and a real agent process
/// that opens the shell on a pseudo-terminal as the job's user, inside the job.
/// </summary>
public sealed class SessionTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    private static async Task<(int Code, string Output)> ShellAsync(TestCluster cluster, string user, long id, string input)
    {
        using var client = new HeorotClient(cluster.Url, TestCluster.TokenOf(user));
        using var output = new MemoryStream();
        using var stdin = new MemoryStream(Encoding.UTF8.GetBytes(input));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Long);
        var code = await ShellCommand.RunAsync(client, id, null, stdin, output, terminal: false, timeout.Token);
        return (code, Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public async Task Shell_OwnerInRunningJob_RunsAsTheUserOnATerminalInsideTheJob()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nsleep 300\n", "-l", "/nodes=1,walltime=0:10:00");
        await cluster.WaitForStateAsync(id, Long, "Running");

        var (code, output) = await ShellAsync(cluster, TestCluster.Alice, id, "echo \"who=$(id -un) job=$HEOROT_JOB_ID\"; tty; grep -c . /proc/self/cgroup >/dev/null && cat /proc/self/cgroup; exit 7\n");

        Assert.Equal(7, code);
        Assert.Contains($"who={TestCluster.Alice} job={id}", output, StringComparison.Ordinal);
        Assert.Contains("/dev/pts/", output, StringComparison.Ordinal);
        if (Directory.Exists("/sys/fs/cgroup/unified") || File.Exists("/sys/fs/cgroup/cgroup.controllers"))
        {
            Assert.Matches($"heorot/n1-[0-9a-f]{{8}}/{id}\\.0", output); // the shell lives (and dies) with the job
        }

        Assert.Equal("Running", (await cluster.JobAsync(id)).State); // a batch job outlives its sessions
    }

    [Fact]
    public async Task Shell_AnotherUsersJob_RefusedWithoutOpeningAnything()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nsleep 300\n", "-l", "/nodes=1,walltime=0:10:00");
        await cluster.WaitForStateAsync(id, Long, "Running");

        var refused = await Assert.ThrowsAsync<ClientException>(() => ShellAsync(cluster, TestCluster.Bob, id, "id\n"));

        Assert.Equal(403, refused.Status);
        Assert.Contains($"belongs to {TestCluster.Alice}", refused.Message, StringComparison.Ordinal);
        var (code, output) = await ShellAsync(cluster, TestCluster.Operator, id, "echo operator-was-here; exit 0\n");
        Assert.Equal(0, code);
        Assert.Contains("operator-was-here", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Shell_JobNotRunning_RefusedWithItsState()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\ntrue\n", "-l", "/nodes=1,walltime=0:10:00");
        await cluster.WaitForStateAsync(id, Long, "Terminated");

        var refused = await Assert.ThrowsAsync<ClientException>(() => ShellAsync(cluster, TestCluster.Alice, id, "id\n"));

        Assert.Equal(409, refused.Status);
        Assert.Contains("Terminated", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InteractiveJob_HoldsItsNodeUntilTheShellExits_ThenTerminates()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 1);
        var id = (await cluster.SubmitAsync(TestCluster.Alice, new SubmitRequest { Args = ["-l", "/nodes=1,walltime=0:10:00"], Interactive = true, WorkingDirectory = "/tmp" }))[0];
        await cluster.WaitForStateAsync(id, Long, "Running");
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.Equal("Running", (await cluster.JobAsync(id)).State); // the placeholder holds the node

        var (code, output) = await ShellAsync(cluster, TestCluster.Alice, id, "echo \"inside $HEOROT_JOB_ID\"\n"); // then end of input

        Assert.Equal(0, code);
        Assert.Contains($"inside {id}", output, StringComparison.Ordinal);
        var done = await cluster.WaitForStateAsync(id, Long, "Terminated", "Error");
        Assert.Equal("Terminated", done.State);
        Assert.Equal(0, done.ExitCode);
    }

    [Fact]
    public async Task AgentSessionEndpoint_WithoutTheClusterSecret_Refused()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var client = cluster.Client(TestCluster.Alice);

        using var response = await client.GetAsync("agent/v1/sessions/0123?node=n1", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
