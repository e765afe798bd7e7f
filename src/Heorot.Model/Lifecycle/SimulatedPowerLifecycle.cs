namespace Heorot.Model.Lifecycle;

/// <summary>A node's power state as the elastic manager sees it.</summary>
public enum SimulatedPowerState
{
    Off,

    /// <summary>Powered on, not ready yet (ready at the power-on time plus the boot time).</summary>
    Booting,

    /// <summary>On and free.</summary>
    Idle,

    /// <summary>On and given to a job (running it, or waiting for the job's other nodes to boot).</summary>
    Busy,

    /// <summary>Powered off, not off yet (off at the power-off time plus the shutdown time).</summary>
    ShuttingDown,
}

public enum SimulatedPowerTrigger
{
    PowerOn,
    Booted,
    Allocate,
    Release,
    PowerOff,
    Halted,
}

/// <summary>
/// The node power lifecycle (issue 5), one declared table. As in Slurm's power save, a job may be given nodes that
/// are off, booting or shutting down: they boot for it, and its run begins when the last one is ready. Only an idle
/// node is ever powered off; a boot or a shutdown under way is never cancelled.
/// </summary>
public static class SimulatedPowerLifecycle
{
    public static TransitionTable<SimulatedPowerState, SimulatedPowerTrigger> Table { get; } = new("simulated node power",
    [
        new(SimulatedPowerState.Off, SimulatedPowerTrigger.PowerOn, SimulatedPowerState.Booting, "the manager powers it on, ahead of a planned start or to keep nodes warm"),
        new(SimulatedPowerState.Off, SimulatedPowerTrigger.Allocate, SimulatedPowerState.Booting, "a job is given the node while it is off: it boots for the job (power on demand)"),
        new(SimulatedPowerState.Booting, SimulatedPowerTrigger.Allocate, SimulatedPowerState.Booting, "a job is given a node still booting: its run waits for the boot"),
        new(SimulatedPowerState.Booting, SimulatedPowerTrigger.Booted, SimulatedPowerState.Idle, "the boot finished; a node given to a job is allocated to it at once"),
        new(SimulatedPowerState.Idle, SimulatedPowerTrigger.Allocate, SimulatedPowerState.Busy, "a job is given the node; its run begins when all its nodes are ready"),
        new(SimulatedPowerState.Busy, SimulatedPowerTrigger.Release, SimulatedPowerState.Idle, "its job ended"),
        new(SimulatedPowerState.Idle, SimulatedPowerTrigger.PowerOff, SimulatedPowerState.ShuttingDown, "the manager powers off an idle node"),
        new(SimulatedPowerState.ShuttingDown, SimulatedPowerTrigger.Allocate, SimulatedPowerState.ShuttingDown, "a job is given a node shutting down: it boots again once off"),
        new(SimulatedPowerState.ShuttingDown, SimulatedPowerTrigger.Halted, SimulatedPowerState.Off, "the shutdown finished; a node given to a job boots at once"),
    ]);
}
