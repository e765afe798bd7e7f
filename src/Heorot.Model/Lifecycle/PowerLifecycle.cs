namespace Heorot.Model.Lifecycle;

/// <summary>A node's power, beside its health (<see cref="NodeState"/>): only nodes with a power driver have one.</summary>
public enum NodePowerState
{
    Off,
    PoweringOn,
    On,
    PoweringOff,
}

public enum PowerTrigger
{
    /// <summary>The BMC accepted a power-on.</summary>
    PowerOn,

    /// <summary>The node's agent registered (a new agent start).</summary>
    Booted,

    /// <summary>The BMC accepted a (graceful or hard) power-off.</summary>
    PowerOff,

    /// <summary>The BMC reports the node off.</summary>
    Halted,

    /// <summary>The BMC accepted a power cycle or reset.</summary>
    Cycle,

    /// <summary>The node did not come up within its boot timeout, even after a cycle: given up.</summary>
    GiveUp,
}

/// <summary>
/// The power lifecycle (issue 5, item 4), one declared table. The node is usable only when On (and its health
/// Alive); Off and PoweringOn nodes are planned as capacity that is ready after their (learned) boot time.
/// </summary>
public static class PowerLifecycle
{
    public static TransitionTable<NodePowerState, PowerTrigger> Table { get; } = new("power",
    [
        new(NodePowerState.Off, PowerTrigger.PowerOn, NodePowerState.PoweringOn, "powered on by the elastic manager or an operator: booting"),
        new(NodePowerState.PoweringOn, PowerTrigger.Booted, NodePowerState.On, "the node's agent registered: the boot time is learned"),
        new(NodePowerState.PoweringOn, PowerTrigger.Cycle, NodePowerState.PoweringOn, "the node did not come up in time (or an operator asked): cycled, booting again"),
        new(NodePowerState.PoweringOn, PowerTrigger.PowerOff, NodePowerState.PoweringOff, "an operator powers off a booting node"),
        new(NodePowerState.PoweringOn, PowerTrigger.GiveUp, NodePowerState.Off, "still not up after a cycle: powered off, the node is Suspected"),
        new(NodePowerState.On, PowerTrigger.PowerOff, NodePowerState.PoweringOff, "idle long enough and not needed soon (or an operator asked): shutting down"),
        new(NodePowerState.On, PowerTrigger.Cycle, NodePowerState.PoweringOn, "power-cycled by an operator or by the health manager"),
        new(NodePowerState.On, PowerTrigger.Halted, NodePowerState.Off, "the BMC reports the node off although it was on: it lost power"),
        new(NodePowerState.PoweringOff, PowerTrigger.Halted, NodePowerState.Off, "the BMC reports the node off"),
        new(NodePowerState.PoweringOff, PowerTrigger.PowerOn, NodePowerState.PoweringOn, "needed again while shutting down: powered on as soon as it is off"),
        new(NodePowerState.Off, PowerTrigger.Booted, NodePowerState.On, "the agent registered although the node was off: powered on outside Heorot"),
        new(NodePowerState.Off, PowerTrigger.Cycle, NodePowerState.PoweringOn, "a cycle of an off node powers it on"),
    ]);

    /// <summary>Whether the scheduler may start work on the node now (power-wise).</summary>
    public static bool Usable(NodePowerState? state) => state is null or NodePowerState.On;

    /// <summary>Whether the node's agent is expected to be silent (no heartbeat monitoring).</summary>
    public static bool Silent(NodePowerState? state) => state is NodePowerState.Off or NodePowerState.PoweringOn or NodePowerState.PoweringOff;
}
