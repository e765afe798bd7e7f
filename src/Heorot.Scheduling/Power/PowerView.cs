using Heorot.Model.Lifecycle;
using Heorot.Model.Power;
using Heorot.Scheduling.Timeline;

namespace Heorot.Scheduling.Power;

/// <summary>
/// Free nodes (given to no job) that share a power state, its time and their next planned use: one node of a real
/// cluster, or several interchangeable ones of a processor pool.
/// </summary>
/// <param name="State"><see cref="SimulatedPowerState.Idle"/>, <see cref="SimulatedPowerState.Booting"/>, <see cref="SimulatedPowerState.Off"/> or <see cref="SimulatedPowerState.ShuttingDown"/>.</param>
/// <param name="Since">Idle: idle since; Booting: ready at; ShuttingDown: off at; Off: off since (or any earlier time).</param>
/// <param name="NextUse">
/// When the current plan (running jobs until their walltime, reservations, the first waiting job's earliest start)
/// first needs these nodes; <see cref="CapacityProfile.Never"/> when it does not.
/// </param>
/// <param name="Count">How many nodes (at least 1).</param>
public readonly record struct FreeNodes(SimulatedPowerState State, long Since, long NextUse, int Count);

/// <summary>
/// What an elastic policy sees at one instant: the free nodes in the order a starting job takes them (the readiest
/// first: idle, most recently used first; then booting, soonest ready first; then off; then shutting down), so that
/// <see cref="FreeNodes.NextUse"/> never decreases along the list.
/// </summary>
public sealed class PowerView(long now, PowerModel model, int nodes, IReadOnlyList<FreeNodes> free)
{
    public long Now { get; } = now;

    public PowerModel Model { get; } = model;

    /// <summary>All nodes, free or not.</summary>
    public int Nodes { get; } = nodes;

    public IReadOnlyList<FreeNodes> Free { get; } = free;
}

public enum PowerCommandKind
{
    /// <summary>Boot nodes that are off.</summary>
    PowerOn,

    /// <summary>Shut down nodes that are idle.</summary>
    PowerOff,
}

/// <summary>Power <paramref name="Count"/> nodes of <see cref="PowerView.Free"/>[<paramref name="Run"/>] on or off.</summary>
public readonly record struct PowerCommand(int Run, int Count, PowerCommandKind Kind);

/// <summary>A policy's answer: commands for now, and when to ask again if nothing else happens before.</summary>
public sealed class PowerDecision
{
    public List<PowerCommand> Commands { get; } = [];

    /// <summary>When the policy wants to decide again (<see cref="CapacityProfile.Never"/>: only on the next event).</summary>
    public long WakeAt { get; set; } = CapacityProfile.Never;

    public void Clear()
    {
        Commands.Clear();
        WakeAt = CapacityProfile.Never;
    }

    /// <summary>Asks to be woken at <paramref name="time"/> if that is earlier than what was asked so far.</summary>
    public void WakeNoLaterThan(long time) => WakeAt = Math.Min(WakeAt, time);
}

/// <summary>
/// An elastic power policy, a small named extension point: given the free nodes and the plan, which nodes to power
/// on or off now. Deterministic: its decisions depend only on the views and submissions it was given (no clock, no
/// unseeded randomness), so the simulator and the live elastic manager can share it. A policy never powers on a
/// node for a job starting now: the job is given the node and the host boots it (power on demand).
/// </summary>
public interface IPowerPolicy
{
    /// <summary>The name and parameters, as <c>--elastic</c> takes them (<c>idle-timeout:600s</c>).</summary>
    string Name { get; }

    /// <summary>False for a policy that keeps every node on: the scheduler then plans exactly as without power.</summary>
    bool PowersOff { get; }

    /// <summary>Whether <see cref="Decide"/> reads <see cref="FreeNodes.NextUse"/> (the host may skip computing it).</summary>
    bool ReadsPlan { get; }

    /// <summary>A job was submitted (what an adaptive policy learns the arrival pattern from).</summary>
    void Submitted(long time, int nodes, long walltime);

    /// <summary>Fills <paramref name="decision"/> (cleared by the caller) for <see cref="PowerView.Now"/>.</summary>
    void Decide(PowerView view, PowerDecision decision);
}
