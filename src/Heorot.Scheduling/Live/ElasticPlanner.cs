using System.Globalization;
using Heorot.Model.Lifecycle;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;

namespace Heorot.Scheduling.Live;

/// <summary>The elastic manager's settings (the <c>elastic:</c> part of the server's power file).</summary>
public sealed record ElasticOptions
{
    /// <summary>A node idle this long may be powered off (as Slurm's SuspendTime).</summary>
    public long IdleSeconds { get; init; } = 600;

    /// <summary>
    /// Power a node off only when its next planned use is further away than its boot time plus its shutdown time
    /// plus this (below it, the off time saves less energy than the boot and the shutdown spend, and risks delay).
    /// </summary>
    public long BreakEvenSeconds { get; init; } = 300;

    /// <summary>Assumed time from a graceful power-off to off.</summary>
    public long ShutdownSeconds { get; init; } = 30;

    /// <summary>Boot time assumed until a node's own is learned.</summary>
    public long DefaultBootSeconds { get; init; } = 120;

    /// <summary>Idle nodes kept powered on per partition, for jobs that arrive unannounced.</summary>
    public int KeepWarm { get; init; }

    /// <summary>Power nodes on this much before their planned use, on top of their boot time.</summary>
    public long LeadSeconds { get; init; } = 10;

    /// <summary>Power commands at most per minute (ons, offs and cycles together).</summary>
    public int MaxActionsPerMinute { get; init; } = 20;

    /// <summary>A node booting longer than Factor × boot + Slack seconds did not come up in time.</summary>
    public double BootTimeoutFactor { get; init; } = 2;

    public long BootTimeoutSlackSeconds { get; init; } = 60;

    /// <summary>Automatic power-cycles of a node that did not come up (or went Suspected) before giving up on it.</summary>
    public int MaxCycles { get; init; } = 1;

    /// <summary>Whether the manager powers nodes off at all (off: it only powers on what the plan needs).</summary>
    public bool PowerOffIdle { get; init; } = true;

    public long BootTimeout(long bootSeconds) => (long)Math.Ceiling(BootTimeoutFactor * bootSeconds) + BootTimeoutSlackSeconds;
}

/// <summary>One power-managed node as the elastic manager sees it.</summary>
public sealed record ElasticNode(int Index, string Name, NodePowerState Power)
{
    /// <summary>Health Alive (a Suspected, Down, Dead or Drained node is neither woken for work nor counted warm).</summary>
    public bool Healthy { get; init; } = true;

    /// <summary>Runs or holds work now.</summary>
    public bool Busy { get; init; }

    /// <summary>When it last became idle (or powered on).</summary>
    public long IdleSince { get; init; }

    /// <summary>Learned boot time (power-on to agent registered); 0: not learned yet.</summary>
    public long BootSeconds { get; init; }

    /// <summary>When its current power transition (PoweringOn or PoweringOff) began.</summary>
    public long TransitionSince { get; init; }

    /// <summary>Partition the node belongs to, for keep-warm.</summary>
    public string Partition { get; init; } = "default";

    /// <summary>Automatic cycles spent on its current trouble.</summary>
    public int Cycles { get; init; }

    /// <summary>The driver can power it off (Wake-on-LAN cannot).</summary>
    public bool CanPowerOff { get; init; } = true;

    /// <summary>Its resources are not known yet (never registered): boot it once to learn them.</summary>
    public bool Undiscovered { get; init; }
}

public enum ElasticAction
{
    PowerOn,
    PowerOff,
    Cycle,

    /// <summary>Not up after its cycles: power it off and mark it Suspected.</summary>
    GiveUp,
}

public sealed record ElasticDecision(ElasticAction Action, string Node, string Reason);

/// <summary>A planned use of a node: the job and when it is planned to start there.</summary>
public sealed record PlannedUse(int Node, long Start, long JobId);

/// <summary>
/// The elastic manager's brain, pure and deterministic (time is an input): from the power-managed nodes and the
/// planned uses of every node, which to power on (early enough to be ready when their job is planned to start,
/// by each node's learned boot time), which to power off (idle long enough and not needed before a boot and a
/// shutdown could pay off), which to cycle or give up on (not up in time), within a rate limit.
/// The plan it reads comes from <see cref="WithPowerDelays"/>: the scheduler plans against powered-off capacity.
/// </summary>
public static class ElasticPlanner
{
    /// <summary>
    /// The snapshot planned against powered-off capacity: nodes that are not ready (off, booting) are held by a
    /// pseudo-job until they would be ready, so the scheduler places work there no sooner. With
    /// <paramref name="conservative"/> (the elastic manager's what-if plan) every queue is planned conservatively,
    /// so that every waiting job (up to the planning depth) has a planned slot, not only EASY's head.
    /// <paramref name="readyAt"/> holds, per node index, when it would be ready (null: ready now).
    /// </summary>
    public static SchedulingSnapshot WithPowerDelays(SchedulingSnapshot snapshot, long?[] readyAt, bool conservative = true)
    {
        var running = new List<RunningJob>(snapshot.Running);
        var available = snapshot.NodeAvailable is { } given ? (bool[])given.Clone() : Enumerable.Repeat(true, snapshot.Cluster.NodeCount).ToArray();
        for (var i = 0; i < readyAt.Length && i < snapshot.Cluster.NodeCount; i++)
        {
            if (readyAt[i] is { } ready && ready > snapshot.Now)
            {
                available[i] = true;
                var alloc = new NodeAlloc([i], [snapshot.Cluster.Cores[i]], [snapshot.Cluster.Memory[i]], [snapshot.Cluster.Gpus[i]]);
                running.Add(new RunningJob(-1 - i, "(power)", snapshot.Now, ready, alloc));
            }
        }

        // A slot kept from an earlier pass on a node that will not be ready by then cannot be kept: the node's
        // readiness slides with the clock until it is powered on. Then the whole queue is planned afresh, in queue
        // order: keeping the later jobs' slots would let them overtake the one that lost its slot.
        var lost = snapshot.Pending.Any(p => p.Previous is { } previous && previous.Alloc.Nodes.Any(n => n < readyAt.Length && readyAt[n] is { } ready && ready > previous.Start));
        var pending = lost ? snapshot.Pending.Select(p => p with { Previous = null }).ToList() : snapshot.Pending;

        return snapshot with
        {
            NodeAvailable = available,
            Running = running,
            Pending = pending,
            Queues = conservative ? snapshot.Queues.Select(q => q with { Policy = PolicyKind.Conservative }).ToList() : snapshot.Queues,
        };
    }

    /// <summary>Every planned use of a node in a plan: starts now and planned slots.</summary>
    public static IReadOnlyList<PlannedUse> Uses(Plan plan)
    {
        var uses = new List<PlannedUse>();
        foreach (var start in plan.Starts)
        {
            foreach (var node in start.Alloc.Nodes)
            {
                uses.Add(new PlannedUse(node, long.MinValue, start.JobId));
            }
        }

        foreach (var record in plan.Explain)
        {
            if (record.Planned is { } slot)
            {
                foreach (var node in slot.Alloc.Nodes)
                {
                    uses.Add(new PlannedUse(node, slot.Start, record.JobId));
                }
            }
        }

        return uses;
    }

    /// <param name="now">Unix seconds.</param>
    /// <param name="nodes">The power-managed nodes.</param>
    /// <param name="uses">Planned uses (from <see cref="Uses"/>, on the snapshot of <see cref="WithPowerDelays"/>).</param>
    /// <param name="options">Settings.</param>
    /// <param name="recentActions">Power commands issued in the last minute (for the rate limit).</param>
    public static IReadOnlyList<ElasticDecision> Decide(long now, IReadOnlyList<ElasticNode> nodes, IReadOnlyList<PlannedUse> uses, ElasticOptions options, int recentActions = 0)
    {
        var next = new Dictionary<int, PlannedUse>();
        foreach (var use in uses)
        {
            if (!next.TryGetValue(use.Node, out var seen) || use.Start < seen.Start)
            {
                next[use.Node] = use;
            }
        }

        long Boot(ElasticNode n) => n.BootSeconds > 0 ? n.BootSeconds : options.DefaultBootSeconds;

        var urgent = new List<(long Key, ElasticDecision Decision)>();
        var later = new List<(long Key, ElasticDecision Decision)>();
        var poweringOn = new HashSet<int>();

        // Nodes that did not come up in time: cycle them, then give up.
        foreach (var node in nodes.Where(n => n.Power == NodePowerState.PoweringOn))
        {
            var limit = options.BootTimeout(Boot(node));
            if (now - node.TransitionSince < limit)
            {
                continue;
            }

            var decision = node.Cycles < options.MaxCycles
                ? new ElasticDecision(ElasticAction.Cycle, node.Name, $"not up {now - node.TransitionSince} s after power-on (timeout {limit} s): power-cycled")
                : new ElasticDecision(ElasticAction.GiveUp, node.Name, $"not up {now - node.TransitionSince} s after power-on, after {node.Cycles} cycle(s): given up");
            urgent.Add((node.TransitionSince, decision));
        }

        // Nodes the plan needs: on early enough to be ready for their job.
        foreach (var node in nodes.Where(n => n.Power is NodePowerState.Off && n.Healthy))
        {
            if (node.Undiscovered)
            {
                urgent.Add((now, new ElasticDecision(ElasticAction.PowerOn, node.Name, "resources unknown: booted once to register")));
                poweringOn.Add(node.Index);
            }
            else if (next.TryGetValue(node.Index, out var use) && use.Start - Boot(node) - options.LeadSeconds <= now)
            {
                var when = use.Start == long.MinValue ? "now" : $"at {Format(use.Start)}";
                urgent.Add((use.Start, new ElasticDecision(ElasticAction.PowerOn, node.Name, $"job {use.JobId} is planned on it {when} (boot ≈ {Boot(node)} s)")));
                poweringOn.Add(node.Index);
            }
        }

        // Keep-warm: idle powered nodes per partition (booting ones count, they will be idle when up).
        foreach (var partition in nodes.GroupBy(n => n.Partition, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var warm = partition.Count(n => n.Healthy && !n.Busy && !next.ContainsKey(n.Index)
                && (n.Power is NodePowerState.On or NodePowerState.PoweringOn || poweringOn.Contains(n.Index)));
            var spare = partition.Where(n => n.Healthy && n.Power == NodePowerState.Off && !poweringOn.Contains(n.Index))
                .OrderBy(Boot).ThenBy(n => n.Index).ToList();
            for (var i = 0; warm < options.KeepWarm && i < spare.Count; i++, warm++)
            {
                later.Add((now, new ElasticDecision(ElasticAction.PowerOn, spare[i].Name, $"keeps {options.KeepWarm} idle node(s) warm in partition {partition.Key}")));
                poweringOn.Add(spare[i].Index);
            }

            if (!options.PowerOffIdle)
            {
                continue;
            }

            // Idle nodes: off when idle long enough and not needed before a shutdown and a boot could pay off.
            var candidates = partition.Where(n => n.Power == NodePowerState.On && n.Healthy && !n.Busy && n.CanPowerOff && now - n.IdleSince >= options.IdleSeconds)
                .OrderBy(n => n.IdleSince).ThenBy(n => n.Index).ToList();
            foreach (var node in candidates)
            {
                var needed = next.TryGetValue(node.Index, out var use) ? use.Start : long.MaxValue;
                var horizon = Boot(node) + options.ShutdownSeconds + options.BreakEvenSeconds;
                if (needed != long.MaxValue && needed - now <= horizon)
                {
                    continue;
                }

                // The idle node counted warm only if no job is planned on it.
                if (!next.ContainsKey(node.Index) && warm <= options.KeepWarm)
                {
                    continue;
                }

                if (!next.ContainsKey(node.Index))
                {
                    warm--;
                }

                var why = needed == long.MaxValue ? "no job planned on it" : $"next planned use at {Format(needed)}";
                later.Add((node.IdleSince, new ElasticDecision(ElasticAction.PowerOff, node.Name, $"idle for {now - node.IdleSince} s, {why}")));
            }
        }

        var budget = Math.Max(0, options.MaxActionsPerMinute - recentActions);
        return urgent.OrderBy(d => d.Key).ThenBy(d => d.Decision.Node, StringComparer.Ordinal)
            .Concat(later.OrderBy(d => d.Decision.Action).ThenBy(d => d.Key).ThenBy(d => d.Decision.Node, StringComparer.Ordinal))
            .Select(d => d.Decision)
            .Take(budget)
            .ToList();
    }

    private static string Format(long unixSeconds) =>
        DateTimeOffset.FromUnixTimeSeconds(unixSeconds).ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
