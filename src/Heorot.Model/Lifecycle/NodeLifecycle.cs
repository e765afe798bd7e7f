namespace Heorot.Model.Lifecycle;

public enum NodeState
{
    Alive,
    Suspected,
    Down,
    Dead,
    Drained,
}

public enum NodeTrigger
{
    HeartbeatLost,
    HeartbeatBack,
    Timeout,
    PrologFailed,
    EpilogFailed,
    CheckPassed,
    Drain,
    Resume,
    Revive,
    PowerFailed,
}

/// <summary>The node health lifecycle (issue 3, item 6), one declared table.</summary>
public static class NodeLifecycle
{
    public static TransitionTable<NodeState, NodeTrigger> Table { get; } = new("node",
    [
        new(NodeState.Alive, NodeTrigger.HeartbeatLost, NodeState.Suspected, "a heartbeat is late: no new work; jobs keep their nodes"),
        new(NodeState.Suspected, NodeTrigger.HeartbeatBack, NodeState.Alive, "the agent answers again"),
        new(NodeState.Suspected, NodeTrigger.Timeout, NodeState.Down, "no heartbeat for the timeout: its jobs are requeued or end in Error"),
        new(NodeState.Down, NodeTrigger.HeartbeatBack, NodeState.Suspected, "the agent is back; a health check decides"),
        new(NodeState.Down, NodeTrigger.Timeout, NodeState.Dead, "down for too long, or failed repeatedly: an operator must revive it"),
        new(NodeState.Alive, NodeTrigger.PrologFailed, NodeState.Suspected, "a job's prolog failed on the node"),
        new(NodeState.Alive, NodeTrigger.EpilogFailed, NodeState.Suspected, "a job's epilog failed on the node"),
        new(NodeState.Suspected, NodeTrigger.CheckPassed, NodeState.Alive, "the health check passed"),
        new(NodeState.Alive, NodeTrigger.Drain, NodeState.Drained, "an operator drains the node: running jobs finish, no new ones"),
        new(NodeState.Suspected, NodeTrigger.Drain, NodeState.Drained, "an operator drains a suspected node"),
        new(NodeState.Down, NodeTrigger.Drain, NodeState.Drained, "an operator drains a down node"),
        new(NodeState.Drained, NodeTrigger.Resume, NodeState.Alive, "an operator puts the node back in service"),
        new(NodeState.Dead, NodeTrigger.Revive, NodeState.Suspected, "an operator revives a dead node; a health check decides"),
        new(NodeState.Alive, NodeTrigger.PowerFailed, NodeState.Suspected, "its BMC failed a power command, or it did not boot in time: planned work goes elsewhere"),
    ]);

    /// <summary>Whether the scheduler may place new work on a node in this state.</summary>
    public static bool Schedulable(NodeState state) => state == NodeState.Alive;
}
