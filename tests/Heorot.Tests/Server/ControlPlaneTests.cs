using Heorot.Protocol;
using Heorot.Server;
using Heorot.Server.Control;
using Heorot.Server.Identity;
using Heorot.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Heorot.Tests.Server;

/// <summary>The control plane driven directly, as an agent would, over a real SQLite store.</summary>
public sealed class ControlPlaneTests
{
    private static readonly Caller Alice = new("alice", false, "test");

    [Fact]
    public async Task SyncAsync_ReportOvertakenByANewerOne_IsNotApplied_RunningJobIsNotLost()
    {
        var directory = Path.Combine(Path.GetTempPath(), "heorot-cp-" + Guid.NewGuid().ToString("N")[..8]);
        await using var store = await SqliteStore.OpenInDirectoryAsync(directory, cancellationToken: TestContext.Current.CancellationToken);
        using var control = new ControlPlane(store, new ServerOptions { DataDirectory = directory }, TimeProvider.System, NullLogger.Instance);
        var agentStart = DateTimeOffset.UtcNow;
        SyncRequest Sync(long serial, params AgentJobStatus[] jobs) => new() { Node = "n1", Cores = 4, MemoryMb = 1024, AgentStart = agentStart, Serial = serial, Jobs = jobs };

        await control.SyncAsync(Sync(1), TestContext.Current.CancellationToken);
        var id = (await control.SubmitAsync(Alice, new SubmitRequest { Args = ["-l", "/core=1"], Script = "true" }, TestContext.Current.CancellationToken))[0];
        Assert.Equal(1, await control.SchedulePassAsync(TestContext.Current.CancellationToken));
        var assigned = await control.SyncAsync(Sync(2), TestContext.Current.CancellationToken);
        Assert.Equal(DesiredAction.Run, Assert.Single(assigned.Assignments).Action);

        // The reporter says it runs (serial 4); the poll built earlier (serial 3, nothing held yet) arrives after.
        await control.SyncAsync(Sync(4, new AgentJobStatus { JobId = id, Attempt = 0, Phase = AgentPhase.Running, StartTime = DateTimeOffset.UtcNow }), TestContext.Current.CancellationToken);
        Assert.Equal("Running", (await control.GetJobAsync(id, TestContext.Current.CancellationToken))!.State);
        await control.SyncAsync(Sync(3), TestContext.Current.CancellationToken);

        Assert.Equal("Running", (await control.GetJobAsync(id, TestContext.Current.CancellationToken))!.State);

        // A newer report without the job does mean it is lost (its state was wiped): never started again.
        await control.SyncAsync(Sync(5), TestContext.Current.CancellationToken);
        var lost = (await control.GetJobAsync(id, TestContext.Current.CancellationToken))!;
        Assert.Equal("Error", lost.State);
        Assert.Contains("no longer knows", lost.Reason, StringComparison.Ordinal);
    }
}
