using System.Globalization;
using Heorot.Model.Lifecycle;
using Heorot.Model.Power;
using Heorot.Scheduling.Timeline;

namespace Heorot.Scheduling.Power;

/// <summary>Parameters of <see cref="PlanAwarePolicy"/>; the defaults are those measured in <c>bench/README.md</c>.</summary>
/// <param name="Warm">Idle nodes kept on beyond what the plan needs, for jobs not submitted yet; null: adaptive.</param>
/// <param name="BreakEven">
/// Least time off worth a shutdown and a boot, beyond their own durations. Planned starts come earlier than planned
/// when jobs end before their walltime, so this is a margin against the plan's optimism as much as an energy figure.
/// </param>
/// <param name="Lead">Extra time, beyond the boot, by which nodes are booted ahead of a planned use.</param>
/// <param name="Window">Adaptive warm pool: how far back the submissions are looked at.</param>
/// <param name="MaxWarm">Adaptive warm pool: at most this many nodes (null: <paramref name="MaxWarmShare"/> of the nodes).</param>
/// <param name="MaxWarmShare">Adaptive warm pool: at most this share of the nodes, when no count is given.</param>
/// <param name="Linger">
/// A node the plan does not need at all (no planned use) and beyond the warm pool is powered off once idle this long
/// (Slurm's SuspendTime, for the part of the future the plan cannot see: a user's next job often follows the last);
/// nodes the plan needs only later are powered off at once.
/// </param>
/// <param name="Short">
/// Adaptive warm pool: only jobs asking for at most this walltime count (a wait for a boot matters to a short job's
/// slowdown; a long job hardly notices it).
/// </param>
public sealed record PlanPolicyOptions(
    int? Warm = null,
    long BreakEven = 1800,
    long Lead = 0,
    long Window = 3600,
    int? MaxWarm = null,
    long Linger = 120,
    long Short = 3600,
    double MaxWarmShare = 0.125);

/// <summary>
/// <c>plan</c>, Heorot's plan-aware policy. It reads the scheduler's plan — when each free node is next needed by a
/// running job's end, a reservation or the first waiting job's earliest start — and never the future submissions:
/// <list type="bullet">
/// <item>a free node whose next planned use is farther than shutdown + boot + break-even is powered off at once,
/// unless it is one of the warm nodes; a node the plan does not use at all goes off once idle for
/// <see cref="PlanPolicyOptions.Linger"/>;</item>
/// <item>a node that is off is booted when its next planned use is within boot + lead, so that it is ready then;</item>
/// <item>the first <c>warm</c> free nodes beyond the planned needs are kept on (booted when too few are), so that jobs
/// submitted next start at once. Fixed, or adaptive: the most nodes asked for by short jobs submitted within one
/// boot time of each other, over the last <see cref="PlanPolicyOptions.Window"/> seconds, at most
/// <see cref="PlanPolicyOptions.MaxWarm"/> (by default an eighth of the nodes).</item>
/// </list>
/// A job given nodes that are off boots them itself (power on demand), as with every policy.
/// </summary>
public sealed class PlanAwarePolicy : IPowerPolicy
{
    private readonly PowerModel _model;
    private readonly PlanPolicyOptions _options;

    /// <summary>Recent submissions (time, nodes), oldest first, for the adaptive warm pool.</summary>
    private readonly Queue<(long Time, int Nodes)> _recent = new();

    /// <summary>Nodes of the submissions within one boot time before (and at) each recent submission, oldest first.</summary>
    private readonly LinkedList<(long Time, long Burst)> _bursts = new();

    private long _burst;

    public PlanAwarePolicy(PowerModel model, PlanPolicyOptions options)
    {
        _model = model;
        _options = options;
    }

    public PlanPolicyOptions Options => _options;

    /// <summary><c>plan</c> and the parameters that differ from the defaults.</summary>
    public string Name
    {
        get
        {
            var defaults = new PlanPolicyOptions();
            var parts = new List<string>();
            if (_options.Warm is { } warm)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"warm={warm}"));
            }
            else
            {
                Add("window", _options.Window, defaults.Window, "s");
                if (_options.MaxWarm is { } maxWarm)
                {
                    parts.Add(string.Create(CultureInfo.InvariantCulture, $"maxwarm={maxWarm}"));
                }
                else if (_options.MaxWarmShare != defaults.MaxWarmShare)
                {
                    parts.Add(string.Create(CultureInfo.InvariantCulture, $"maxwarm={_options.MaxWarmShare * 100:0.###}%"));
                }

                Add("short", _options.Short, defaults.Short, "s");
            }

            Add("breakeven", _options.BreakEven, defaults.BreakEven, "s");
            Add("lead", _options.Lead, defaults.Lead, "s");
            Add("linger", _options.Linger, defaults.Linger, "s");
            return parts.Count == 0 ? "plan" : "plan:" + string.Join(',', parts);

            void Add(string key, long value, long byDefault, string unit)
            {
                if (value != byDefault)
                {
                    parts.Add(string.Create(CultureInfo.InvariantCulture, $"{key}={value}{unit}"));
                }
            }
        }
    }

    public bool PowersOff => true;

    public bool ReadsPlan => true;

    /// <summary>The warm pool the policy keeps now on a machine of <paramref name="nodes"/> nodes.</summary>
    public int WarmNow(long now, int nodes)
    {
        if (_options.Warm is { } fixedWarm)
        {
            return fixedWarm;
        }

        Forget(now);
        var peak = 0L;
        foreach (var (_, burst) in _bursts)
        {
            peak = Math.Max(peak, burst);
        }

        var cap = _options.MaxWarm ?? (int)Math.Ceiling(_options.MaxWarmShare * nodes);
        return (int)Math.Min(peak, cap);
    }

    public void Submitted(long time, int nodes, long walltime)
    {
        if (_options.Warm != null || walltime > _options.Short)
        {
            return;
        }

        // The burst ending at this submission: every node asked for within one boot time before it.
        _recent.Enqueue((time, nodes));
        _burst += nodes;
        while (_recent.TryPeek(out var old) && old.Time <= time - Math.Max(1, _model.BootSeconds))
        {
            _recent.Dequeue();
            _burst -= old.Nodes;
        }

        // A sliding-window maximum: a burst no larger than a later one can never be the peak again.
        while (_bursts.Last != null && _bursts.Last.Value.Burst <= _burst)
        {
            _bursts.RemoveLast();
        }

        _bursts.AddLast((time, _burst));
        Forget(time);
    }

    public void Decide(PowerView view, PowerDecision decision)
    {
        var now = view.Now;
        var model = view.Model;
        var soon = now + model.BootSeconds + _options.Lead;
        var worthOff = now + model.ShutdownSeconds + model.BootSeconds + _options.BreakEven;
        var warmLeft = (long)WarmNow(now, view.Nodes);
        for (var i = 0; i < view.Free.Count; i++)
        {
            var run = view.Free[i];
            var bootBy = run.NextUse == CapacityProfile.Never ? CapacityProfile.Never : run.NextUse - model.BootSeconds - _options.Lead;
            if (run.NextUse <= worthOff)
            {
                // Planned soon: keep it; boot it in time.
                if (run.State == SimulatedPowerState.Off)
                {
                    if (run.NextUse <= soon)
                    {
                        decision.Commands.Add(new PowerCommand(i, run.Count, PowerCommandKind.PowerOn));
                    }
                    else
                    {
                        decision.WakeNoLaterThan(bootBy);
                    }
                }
                else if (run.State == SimulatedPowerState.ShuttingDown)
                {
                    decision.WakeNoLaterThan(Math.Max(run.Since, bootBy));
                }

                continue;
            }

            // Not planned soon: the first warm ones stay (or are made) ready, the others go off.
            var warm = (int)Math.Min(run.Count, warmLeft);
            warmLeft -= warm;
            var rest = run.Count - warm;
            switch (run.State)
            {
                case SimulatedPowerState.Idle when rest > 0:
                    if (run.NextUse != CapacityProfile.Never || run.Since + _options.Linger <= now)
                    {
                        decision.Commands.Add(new PowerCommand(i, rest, PowerCommandKind.PowerOff));
                    }
                    else
                    {
                        decision.WakeNoLaterThan(run.Since + _options.Linger);
                    }

                    break;
                case SimulatedPowerState.Off:
                    if (warm > 0)
                    {
                        decision.Commands.Add(new PowerCommand(i, warm, PowerCommandKind.PowerOn));
                    }

                    if (rest > 0 && bootBy != CapacityProfile.Never)
                    {
                        decision.WakeNoLaterThan(bootBy);
                    }

                    break;
                case SimulatedPowerState.ShuttingDown:
                    if (warm > 0)
                    {
                        decision.WakeNoLaterThan(run.Since);
                    }
                    else if (bootBy != CapacityProfile.Never)
                    {
                        decision.WakeNoLaterThan(Math.Max(run.Since, bootBy));
                    }

                    break;
            }
        }

        if (_options.Warm == null && _bursts.First != null)
        {
            // The adaptive pool may shrink when its peak leaves the window.
            decision.WakeNoLaterThan(_bursts.First.Value.Time + _options.Window);
        }
    }

    private void Forget(long now)
    {
        while (_bursts.First != null && _bursts.First.Value.Time + _options.Window <= now)
        {
            _bursts.RemoveFirst();
        }
    }
}
