using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Heorot.Model.Lifecycle;
using Heorot.Protocol.Sessions;
using Heorot.Server.Api;
using Heorot.Server.Identity;
using Heorot.Storage;

namespace Heorot.Server.Control;

/// <summary>
/// Interactive sessions (<c>heorot shell JOB</c>, <c>sub -I</c>): the server relays a user's WebSocket to one the
/// job's head agent opens back when its next sync carries the order. Only the job's owner or an operator may
/// open one, only on a running job; the agent starts the shell as the job's user inside the job.
/// </summary>
public sealed partial class ControlPlane
{
    private readonly ConcurrentDictionary<string, PendingSession> sessions = new();

    /// <summary>How long the user waits for the agent to connect back.</summary>
    public static TimeSpan SessionConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Orders a session on the job's head node and waits for its agent to connect back; returns the agent's
    /// socket and the order. The caller accepts the user's socket only then, so a refusal is a plain HTTP error.
    /// </summary>
    public async Task<(WebSocket Agent, SessionOrder Order, TaskCompletionSource Done)> OpenSessionAsync(Caller caller, long id, int rows, int cols, string? term, string? vm, CancellationToken cancellationToken)
    {
        var job = await ActiveOrThrowAsync(caller, id, cancellationToken);
        if (job.State != JobState.Running || job.Runtime == null)
        {
            throw new ApiException(409, "illegal_transition", $"job {id} is {job.State}: a shell opens only in a running job");
        }

        // A job in VMs is entered through a VM's login console (the first VM by default), on the node that holds it.
        var target = job.Runtime.Head;
        if (job.Attributes.Vm is { } attributes)
        {
            var vms = VmSpecOf(job, attributes, job.Runtime).Vms;
            var name = vm == null ? vms[0].Name : vm.StartsWith("vm", StringComparison.Ordinal) ? vm : "vm" + vm;
            var placement = vms.FirstOrDefault(v => v.Name == name)
                ?? throw ApiException.BadInput("vm", $"job {id} has VMs vm0 to vm{vms.Count - 1}, not '{vm}'");
            vm = placement.Name;
            target = placement.Node;
        }
        else if (vm != null)
        {
            throw ApiException.BadInput("vm", $"job {id} runs on its nodes, not in VMs: drop --vm");
        }

        if (!nodes.TryGetValue(target, out var head))
        {
            throw new ApiException(409, "illegal_transition", $"node {target} of job {id} is unknown");
        }

        var order = new SessionOrder(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), id, job.Attempt, rows, cols, term) { Vm = vm };
        var pending = new PendingSession(order, head.Name);
        sessions[order.SessionId] = pending;
        lock (head.Gate)
        {
            head.PendingSessions.Add(order);
        }

        head.Wake();
        try
        {
            var agent = await pending.Agent.Task.WaitAsync(SessionConnectTimeout, time, cancellationToken);
            await store.AppendEventAsync(new NewEvent(Now, caller.User, "job.session_opened", $"job/{id}", $"shell opened by {caller.User} on {head.Name}", "{}"), cancellationToken);
            NotifyEvents();
            return (agent, order, pending.Done);
        }
        catch (TimeoutException)
        {
            pending.Done.TrySetResult();
            throw new ApiException(504, "agent_unreachable", $"the agent of {head.Name} did not open the session within {SessionConnectTimeout.TotalSeconds:0} s");
        }
        catch
        {
            pending.Done.TrySetResult(); // an agent that connected late is let go
            throw;
        }
        finally
        {
            lock (head.Gate)
            {
                head.PendingSessions.Remove(order);
            }

            if (!pending.Agent.Task.IsCompletedSuccessfully)
            {
                sessions.TryRemove(order.SessionId, out _);
            }
        }
    }

    /// <summary>The agent's side arrives: hands its socket to the waiting user; false for an unknown session.</summary>
    public bool AttachSession(string sessionId, string node, WebSocket agent, out Task done)
    {
        done = Task.CompletedTask;
        if (!sessions.TryRemove(sessionId, out var pending) || pending.Node != node)
        {
            return false;
        }

        done = pending.Done.Task;
        return pending.Agent.TrySetResult(agent);
    }

    /// <summary>
    /// The session is over. An interactive job ends with it: its placeholder gets TERM and exits 0, and the
    /// job's nodes go back to the pool.
    /// </summary>
    public async Task SessionEndedAsync(Caller caller, long id, CancellationToken cancellationToken)
    {
        if (active.TryGetValue(id, out var job) && job.Attributes.Interactive && job.State == JobState.Running)
        {
            try
            {
                await SignalAsync(caller, id, "TERM", cancellationToken);
            }
            catch (ApiException)
            {
                // it ended meanwhile
            }
        }
    }

    /// <summary>The placeholder an interactive job runs on its first node while its session lasts.</summary>
    internal const string InteractivePlaceholder = "#!/bin/sh\n# heorot: an interactive job holds its nodes while its shell session lasts\ntrap 'exit 0' TERM HUP\nsleep infinity &\nwait $!\n";

    private sealed class PendingSession(SessionOrder order, string node)
    {
        public SessionOrder Order { get; } = order;

        public string Node { get; } = node;

        public TaskCompletionSource<WebSocket> Agent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
