using Heorot.Model.Lifecycle;

namespace Heorot.Scheduling.Power;

/// <summary><c>none</c>: every node stays on (the always-on cluster every other policy is compared with).</summary>
public sealed class AlwaysOnPolicy : IPowerPolicy
{
    public string Name => "none";

    public bool PowersOff => false;

    public bool ReadsPlan => false;

    public void Submitted(long time, int nodes, long walltime)
    {
    }

    /// <summary>Boots any node found off (none is, in a replay: nodes start on).</summary>
    public void Decide(PowerView view, PowerDecision decision)
    {
        for (var i = 0; i < view.Free.Count; i++)
        {
            if (view.Free[i].State == SimulatedPowerState.Off)
            {
                decision.Commands.Add(new PowerCommand(i, view.Free[i].Count, PowerCommandKind.PowerOn));
            }
        }
    }
}

/// <summary>
/// <c>idle-timeout[:T]</c>, Slurm's <c>SuspendTime</c>: a node idle for <see cref="Timeout"/> is powered off; nodes
/// are powered on only on demand, when a job is given them.
/// </summary>
public sealed class IdleTimeoutPolicy(long timeout) : IPowerPolicy
{
    public const long DefaultTimeout = 600;

    public long Timeout { get; } = timeout >= 0 ? timeout : throw new ArgumentOutOfRangeException(nameof(timeout));

    public string Name => $"idle-timeout:{Timeout}s";

    public bool PowersOff => true;

    public bool ReadsPlan => false;

    public void Submitted(long time, int nodes, long walltime)
    {
    }

    public void Decide(PowerView view, PowerDecision decision)
    {
        for (var i = 0; i < view.Free.Count; i++)
        {
            var run = view.Free[i];
            if (run.State != SimulatedPowerState.Idle)
            {
                continue;
            }

            if (run.Since + Timeout <= view.Now)
            {
                decision.Commands.Add(new PowerCommand(i, run.Count, PowerCommandKind.PowerOff));
            }
            else
            {
                decision.WakeNoLaterThan(run.Since + Timeout);
            }
        }
    }
}
