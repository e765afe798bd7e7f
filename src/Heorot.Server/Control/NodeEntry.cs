using System.Text.Json;
using Heorot.Model.Lifecycle;
using Heorot.Protocol;

namespace Heorot.Server.Control;

/// <summary>What a node record stores besides its state: resources as registered, properties, the last reason.</summary>
public sealed record NodeDescription
{
    public int Cores { get; init; }

    public long MemoryMb { get; init; }

    public int Gpus { get; init; }

    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    /// <summary>The resources are the power file's declaration (<c>cores:</c>, <c>memory:</c>): the agent has not registered yet.</summary>
    public bool Declared { get; init; }

    /// <summary>Operator-set properties, which win over the agent's.</summary>
    public IReadOnlyDictionary<string, string> OperatorProperties { get; init; } = new Dictionary<string, string>();

    public string? Reason { get; init; }

    /// <summary>Whether the node was made Suspected by a lost heartbeat (it heals when the agent is back).</summary>
    public bool SuspectedByHeartbeat { get; init; }

    /// <summary>Whether the node was made Suspected by its failing health check (it heals when the check passes).</summary>
    public bool SuspectedByCheck { get; init; }

    /// <summary>Whether the node was made Suspected by its power (a BMC failure, a boot that never came up): it heals when its agent registers.</summary>
    public bool SuspectedByPower { get; init; }

    /// <summary>The node's power; null when it has no power driver (always on as far as Heorot knows).</summary>
    public NodePowerState? Power { get; init; }

    /// <summary>When the current power state began (the learned boot time is measured from a power-on).</summary>
    public DateTimeOffset? PowerSince { get; init; }

    /// <summary>Learned boot time: power-on accepted to agent registered (a moving average).</summary>
    public double? BootSeconds { get; init; }

    /// <summary>Automatic power-cycles spent since the node last came up.</summary>
    public int PowerCycles { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, WireJson.Options);

    public static NodeDescription FromJson(string json) => JsonSerializer.Deserialize<NodeDescription>(json, WireJson.Options) ?? new NodeDescription();

    public IReadOnlyDictionary<string, string> EffectiveProperties()
    {
        var all = new Dictionary<string, string>(Properties, StringComparer.Ordinal);
        foreach (var (k, v) in OperatorProperties)
        {
            all[k] = v;
        }

        return all;
    }
}

/// <summary>
/// A node as the control plane holds it: its stored state and description, and what its agent last said
/// (in memory only: the agent repeats everything on every sync). Guarded by its own lock.
/// </summary>
public sealed class NodeEntry(string name)
{
    private TaskCompletionSource wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name { get; } = name;

    public object Gate { get; } = new();

    /// <summary>Held while the node's desired state is computed and numbered, so numbers follow computation order.</summary>
    public object DesiredGate { get; } = new();

    /// <summary>Starts from the server's start time (in µs), so that answers after a server restart still count as newer.</summary>
    public long Generation { get; set; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

    public NodeState State { get; set; } = NodeState.Alive;

    public NodeDescription Description { get; set; } = new();

    public DateTimeOffset LastSeen { get; set; }

    public DateTimeOffset? AgentStart { get; set; }

    /// <summary>The serial and agent start of the newest report applied (older requests are not applied).</summary>
    public (DateTimeOffset Start, long Serial) ReportedAt { get; set; }

    /// <summary>The attempts the agent reported in its last sync.</summary>
    public Dictionary<JobAttempt, AgentJobStatus> Reports { get; set; } = [];

    /// <summary>When the node entered its health state (in memory: the server's start after a restart).</summary>
    public DateTimeOffset StateSince { get; set; }

    /// <summary>When the node last became idle (for the elastic manager; in memory only).</summary>
    public DateTimeOffset IdleSince { get; set; }

    /// <summary>Whether the agent has synced since the server started.</summary>
    public bool Connected { get; set; }

    public List<SignalOrder> PendingSignals { get; } = [];

    /// <summary>Sessions ordered and not yet opened by the agent.</summary>
    public List<Protocol.Sessions.SessionOrder> PendingSessions { get; } = [];

    /// <summary>Attempts whose epilog failure has already suspected the node.</summary>
    public HashSet<JobAttempt> EpilogFailuresSeen { get; } = [];

    /// <summary>Completes when something the agent should act on changed.</summary>
    public Task Changed
    {
        get
        {
            lock (Gate)
            {
                return wake.Task;
            }
        }
    }

    /// <summary>Wakes a waiting long poll.</summary>
    public void Wake()
    {
        TaskCompletionSource old;
        lock (Gate)
        {
            old = wake;
            wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        old.TrySetResult();
    }
}
