using System.Reflection;
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

    [Fact]
    public async Task SyncAsync_OlderReportStillWriting_WhenANewerOneStartsAJob_DoesNotDeclareItLost()
    {
        var directory = Path.Combine(Path.GetTempPath(), "heorot-cp-" + Guid.NewGuid().ToString("N")[..8]);
        await using var real = await SqliteStore.OpenInDirectoryAsync(directory, cancellationToken: TestContext.Current.CancellationToken);
        var store = GatedStore.Wrap(real);
        using var control = new ControlPlane(store, new ServerOptions { DataDirectory = directory }, TimeProvider.System, NullLogger.Instance);
        var agentStart = DateTimeOffset.UtcNow;
        SyncRequest Sync(long serial, params AgentJobStatus[] jobs) => new() { Node = "n1", Cores = 4, MemoryMb = 1024, AgentStart = agentStart, Serial = serial, Jobs = jobs };
        var ct = TestContext.Current.CancellationToken;

        await control.SyncAsync(Sync(1), ct);
        var a = (await control.SubmitAsync(Alice, new SubmitRequest { Args = ["-l", "/core=1"], Script = "true" }, ct))[0];
        var b = (await control.SubmitAsync(Alice, new SubmitRequest { Args = ["-l", "/core=1"], Script = "true" }, ct))[0];
        Assert.Equal(2, await control.SchedulePassAsync(ct));
        await control.SyncAsync(Sync(2), ct);
        var now = DateTimeOffset.UtcNow;
        await control.SyncAsync(Sync(3, new AgentJobStatus { JobId = a, Phase = AgentPhase.Running, StartTime = now }), ct);
        Assert.Equal("Running", (await control.GetJobAsync(a, ct))!.State);

        // Report 4 (A exited; B not started yet when it was composed) stalls in its write; report 5 (A exited,
        // B running) overtakes it and is applied; then report 4's write completes.
        var exited = new AgentJobStatus { JobId = a, Phase = AgentPhase.Exited, ExitCode = 0, StartTime = now, EndTime = now };
        var gate = ((GatedStore)(object)store).Arm();
        var older = control.SyncAsync(Sync(4, exited), ct);
        await ((GatedStore)(object)store).Blocked.WaitAsync(ct);
        await control.SyncAsync(Sync(5, exited, new AgentJobStatus { JobId = b, Phase = AgentPhase.Running, StartTime = now }), ct);
        Assert.Equal("Running", (await control.GetJobAsync(b, ct))!.State);
        gate.SetResult();
        await older;

        Assert.Equal("Running", (await control.GetJobAsync(b, ct))!.State);
    }

    /// <summary>A store whose first job update after <see cref="Arm"/> waits for the test to let it through.</summary>
    public class GatedStore : DispatchProxy
    {
        private IHeorotStore inner = null!;
        private TaskCompletionSource? gate;

        public SemaphoreSlim Blocked { get; } = new(0);

        public static IHeorotStore Wrap(IHeorotStore inner)
        {
            var proxy = Create<IHeorotStore, GatedStore>();
            ((GatedStore)(object)proxy).inner = inner;
            return proxy;
        }

        public TaskCompletionSource Arm() => gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name == nameof(IHeorotStore.TryUpdateJobAsync) && Interlocked.Exchange(ref gate, null) is { } armed)
            {
                Blocked.Release();
                return Delayed(armed.Task, () => (Task<bool>)targetMethod.Invoke(inner, args)!);
            }

            return targetMethod.Invoke(inner, args);
        }

        private static async Task<bool> Delayed(Task gate, Func<Task<bool>> call)
        {
            await gate;
            return await call();
        }
    }
}
