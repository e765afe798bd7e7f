using System.Globalization;

namespace Heorot.Scheduling.Timeline;

/// <summary>
/// The Gantt of a real cluster: per node, a profile of free cores, memory and GPUs over time. Places groups of
/// nodes under the hierarchy's constraints (all under one switch, eligible by property) and finds the earliest
/// start by advancing from a lower bound: a group of N nodes cannot start before the N-th smallest of the
/// nodes' own earliest fits.
/// </summary>
public sealed class NodeGantt : IGantt<NodeDemand, NodeAlloc>
{
    private readonly ClusterShape _shape;
    private readonly CapacityProfile[] _cores;
    private readonly CapacityProfile?[] _memory;
    private readonly CapacityProfile?[] _gpus;
    private readonly bool[] _available;
    private readonly int[] _all;
    private readonly long[] _select;
    private readonly int[] _usedStamp;
    private readonly RunSummary[] _runs;
    private readonly bool[] _avoid;
    private int _avoidCount;

    // Nodes ordered by when they go idle for good, and by their longest earlier idle run (negated: longest
    // first): a whole-node group visits only the nodes that can matter instead of every eligible node.
    private readonly SortedSet<(long Tail, int Node)> _byTail = [];
    private readonly SortedSet<(long NegativeRun, int Node)> _byIdleRun = [];

    // The same for runs with at least one free core, for jobs that share nodes.
    private readonly SortedSet<(long Tail, int Node)> _byPartialTail = [];
    private readonly SortedSet<(long NegativeRun, int Node)> _byPartialRun = [];
    private readonly Dictionary<int[], bool[]> _masks = new(ReferenceEqualityComparer.Instance);
    private readonly List<int> _feasible = [];
    private readonly List<int>[] _bySwitch;
    private readonly List<(long First, long Last)> _windows = [];
    private long[] _eventKeys = new long[64];
    private int[] _eventNodes = new int[64];
    private int _eventCount;
    private int[] _activeBySwitch = [];
    private int _stamp;
    private long _archivedAt;
    private long _version;
    private long _countVersion = -1;
    private readonly Dictionary<(int[]? Eligible, int Cores, long Memory, int Gpus, long Now), (int Matching, int FreeNow)> _counts = [];

    public NodeGantt(ClusterShape shape, long origin = 0, long gap = 0)
    {
        _shape = shape;
        Gap = gap;
        var n = shape.NodeCount;
        _cores = new CapacityProfile[n];
        _memory = new CapacityProfile?[n];
        _gpus = new CapacityProfile?[n];
        _available = new bool[n];
        _all = new int[n];
        _select = new long[n];
        _usedStamp = new int[n];
        _runs = new RunSummary[n];
        _avoid = new bool[n];
        _archivedAt = origin;
        for (var i = 0; i < n; i++)
        {
            _cores[i] = new CapacityProfile(shape.Cores[i], origin);
            _memory[i] = shape.Memory[i] > 0 ? new CapacityProfile((int)Math.Min(int.MaxValue, shape.Memory[i]), origin) : null;
            _gpus[i] = shape.Gpus[i] > 0 ? new CapacityProfile(shape.Gpus[i], origin) : null;
            _available[i] = true;
            _all[i] = i;
            _runs[i] = _cores[i].Summarise();
            _byTail.Add((_runs[i].FullTail, i));
            _byIdleRun.Add((-_runs[i].MaxFullRun, i));
            _byPartialTail.Add((_runs[i].PartialTail, i));
            _byPartialRun.Add((-_runs[i].MaxPartialRun, i));
        }

        _bySwitch = new List<int>[Math.Max(1, shape.SwitchCount)];
        for (var s = 0; s < _bySwitch.Length; s++)
        {
            _bySwitch[s] = [];
        }
    }

    public ClusterShape Shape => _shape;

    /// <summary>Seconds every slot is extended by on its nodes (VM teardown, a reboot) before the next job.</summary>
    public long Gap { get; }

    /// <summary>Takes a node out of (or back into) planning: drained, dead or powered off without a way back.</summary>
    /// <summary>
    /// Marks a node to use last among equally early choices, such as a node running preemptible work: placement
    /// prefers other nodes, so that work is preempted only when the plan really needs its node.
    /// </summary>
    public void Avoid(int node)
    {
        if (!_avoid[node])
        {
            _avoid[node] = true;
            _avoidCount++;
        }
    }

    public void SetAvailable(int node, bool available)
    {
        _available[node] = available;
        _version++;
    }

    /// <summary>
    /// Drops what ended before <paramref name="now"/> once the clock has moved on by an hour since the last time:
    /// long replays keep profiles short, and past idle runs stop inflating the run summaries.
    /// </summary>
    public void Archive(long now)
    {
        if (now - _archivedAt < 3600)
        {
            return;
        }

        _archivedAt = now;
        for (var n = 0; n < _cores.Length; n++)
        {
            _cores[n].Archive(now);
            _memory[n]?.Archive(now);
            _gpus[n]?.Archive(now);
            Resummarise(n);
        }

        _version++;
    }

    public bool TryAt(in NodeDemand demand, long start, long duration, out NodeAlloc alloc)
    {
        var d = duration + Gap;
        var stamp = NextStamp();
        var picked = new List<(int Node, NodeGroupDemand Group, int Cores)>();
        // Groups draw on distinct nodes: the most constrained (fewest eligible nodes) picks first, so that a
        // group that could go anywhere does not take the only nodes another group may use.
        var groups = demand.Groups.Count == 1 ? demand.Groups : demand.Groups.OrderBy(g => g.Eligible?.Length ?? _shape.NodeCount).ToList();
        foreach (var group in groups)
        {
            if (!PickGroup(group, start, d, stamp, picked))
            {
                alloc = NodeAlloc.Empty;
                return false;
            }
        }

        alloc = Build(picked);
        return true;
    }

    public bool TryEarliest(in NodeDemand demand, long notBefore, long duration, out long start, out NodeAlloc alloc)
    {
        var d = duration + Gap;
        if (demand.Groups.Count == 1 && Sweepable(demand.Groups[0]) && Sweep(demand.Groups[0], notBefore, d, out start, out alloc))
        {
            return true;
        }

        var t = notBefore;
        for (var iteration = 0; iteration < 1_000_000; iteration++)
        {
            // No start in [t, bound) can work: every group needs its N nodes each individually free by then.
            var bound = t;
            var next = CapacityProfile.Never;
            foreach (var group in demand.Groups)
            {
                var (lower, after) = LowerBound(group, t, d);
                if (lower == CapacityProfile.Never)
                {
                    start = CapacityProfile.Never;
                    alloc = NodeAlloc.Empty;
                    return false;
                }

                bound = Math.Max(bound, lower);
                next = Math.Min(next, after);
            }

            if (bound > t)
            {
                t = bound;
                continue;
            }

            if (TryAt(demand, t, duration, out alloc))
            {
                start = t;
                return true;
            }

            if (next == CapacityProfile.Never)
            {
                break;
            }

            t = next;
        }

        start = CapacityProfile.Never;
        alloc = NodeAlloc.Empty;
        return false;
    }

    /// <summary>Whether exactly these resources are free during <c>[start, start + duration)</c>.</summary>
    public bool AllocFits(in NodeAlloc alloc, long start, long duration)
    {
        var end = start + duration + Gap;
        for (var i = 0; i < alloc.Nodes.Length; i++)
        {
            var n = alloc.Nodes[i];
            if (!_available[n]
                || _cores[n].MinFree(start, end) < alloc.Cores[i]
                || (alloc.Memory[i] > 0 && _memory[n] != null && _memory[n]!.MinFree(start, end) < alloc.Memory[i])
                || (alloc.Gpus[i] > 0 && _gpus[n] != null && _gpus[n]!.MinFree(start, end) < alloc.Gpus[i]))
            {
                return false;
            }
        }

        return true;
    }

    public void Reserve(in NodeAlloc alloc, long start, long end) => Apply(alloc, start, end + Gap, +1);

    public void Release(in NodeAlloc alloc, long start, long end) => Apply(alloc, start, end + Gap, -1);

    public void ReleaseTail(in NodeAlloc alloc, long from, long end) => Apply(alloc, from + Gap, end + Gap, -1);

    public bool FreeAtCovers(in NodeDemand demand, long now) => TryAt(demand, now, 1, out _);

    public string DescribeWait(in NodeDemand demand, long now, long duration)
    {
        var parts = new List<string>();
        foreach (var group in demand.Groups)
        {
            if (group.Nodes == 0)
            {
                // Cores anywhere: what matters is how many cores the eligible nodes have free.
                var free = Eligible(group).Where(n => _available[n]).Sum(n => (long)_cores[n].FreeAt(now));
                var total = Eligible(group).Where(n => _available[n]).Sum(n => (long)_shape.Cores[n]);
                parts.Add(total < group.TotalCores
                    ? string.Create(CultureInfo.InvariantCulture, $"needs {group.Description}; the eligible nodes have only {total} cores")
                    : string.Create(CultureInfo.InvariantCulture, $"needs {group.Description}; {free} of {total} eligible cores free now"));
                continue;
            }

            var (matching, freeNow) = CountFreeAt(group, now);

            var need = group.Nodes;
            if (matching < need)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"needs {group.Description}; only {matching} node{(matching == 1 ? string.Empty : "s")} match"));
                continue;
            }

            if (freeNow >= need && group.MaxSwitches > 0)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"needs {group.Description}; {freeNow} eligible nodes free now but not under {group.MaxSwitches} switch{(group.MaxSwitches == 1 ? string.Empty : "es")}"));
                continue;
            }

            if (freeNow >= need)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"needs {group.Description}; {freeNow} eligible nodes free now, but the slot would delay jobs ahead of it"));
                continue;
            }

            parts.Add(string.Create(CultureInfo.InvariantCulture, $"needs {group.Description}; {freeNow} of {matching} eligible nodes free now"));
        }

        return string.Join("; ", parts);
    }

    private static bool Sweepable(NodeGroupDemand g) => g.Nodes > 0 && g.MemoryPerNode <= 0 && g.GpusPerNode <= 0;

    /// <summary>
    /// Exact earliest start of one group of nodes, by a sweep over each eligible node's start windows: the first
    /// instant at which N windows overlap (within one switch when asked). Fully idle tails bound the search, and
    /// nodes whose earlier free runs are all too short contribute only their tail, so most nodes cost O(1).
    /// </summary>
    private bool Sweep(NodeGroupDemand g, long t, long d, out long start, out NodeAlloc alloc)
    {
        start = CapacityProfile.Never;
        alloc = NodeAlloc.Empty;
        var eligible = Eligible(g);
        if (g.Nodes == 1 && g.MaxSwitches <= 1)
        {
            return EarliestSingle(g, t, d, out start, out alloc);
        }

        if (g.MaxSwitches <= 1 && g.CoresPerNode == 0)
        {
            return SweepWholeNodes(g, t, d, out start, out alloc);
        }

        // Upper bound: with N nodes idle for good by U, the group can start at U (without a switch constraint).
        var count = 0;
        var idleNow = 0;
        foreach (var n in eligible)
        {
            if (ShapeFits(n, g))
            {
                var tail = Math.Max(t, _runs[n].FullTail);
                idleNow += tail == t ? 1 : 0;
                _select[count++] = tail;
            }
        }

        if (count < g.Nodes)
        {
            return false;
        }

        if (g.MaxSwitches == 0 && idleNow >= g.Nodes)
        {
            start = t;
            return TryAt(new NodeDemand([g]), t, d - Gap, out alloc);
        }

        var upper = g.MaxSwitches > 0 ? CapacityProfile.Never : Select(_select, count, g.Nodes - 1);
        var horizon = upper == CapacityProfile.Never ? CapacityProfile.Never : upper + 1;

        _eventCount = 0;
        foreach (var n in eligible)
        {
            if (!ShapeFits(n, g))
            {
                continue;
            }

            var runs = _runs[n];
            var cores = CoresFor(n, g);
            var tail = Math.Max(t, runs.FullTail);
            if (runs.FullTail > t && (cores == _shape.Cores[n] ? runs.MaxFullRun >= d : runs.MaxPartialRun >= d || runs.PartialTail < runs.FullTail))
            {
                // Earlier windows may exist: read them off the profile, up to the idle tail.
                var from = cores < _shape.Cores[n] && runs.MaxPartialRun < d ? Math.Max(t, runs.PartialTail) : t;
                _windows.Clear();
                _cores[n].StartWindows(cores, from, d, Math.Min(horizon, tail), _windows);
                foreach (var (first, last) in _windows)
                {
                    if (last == CapacityProfile.Never)
                    {
                        tail = Math.Min(tail, first);
                        break;
                    }

                    AddEvent(first, n, +1);
                    AddEvent(last + 1, n, -1);
                }
            }

            if (tail < horizon)
            {
                AddEvent(tail, n, +1);
            }
        }

        return SweepEvents(g, out start, out alloc);
    }

    /// <summary>Sorts the window events and finds the first instant at which the group's N windows overlap.</summary>
    private bool SweepEvents(NodeGroupDemand g, out long start, out NodeAlloc alloc)
    {
        start = CapacityProfile.Never;
        alloc = NodeAlloc.Empty;

        // Keys are time × 2 + (1 for an addition): removals sort before additions at the same instant, as a
        // window [a, b] holds at b but not at b + 1.
        Array.Sort(_eventKeys, _eventNodes, 0, _eventCount);
        if (_activeBySwitch.Length < _bySwitch.Length)
        {
            _activeBySwitch = new int[_bySwitch.Length];
        }

        Array.Clear(_activeBySwitch);
        var active = 0;
        for (var i = 0; i < _eventCount; i++)
        {
            var key = _eventKeys[i];
            var time = key >> 1;
            var delta = (key & 1) == 1 ? 1 : -1;
            active += delta;
            _activeBySwitch[_shape.SwitchOf[_eventNodes[i]]] += delta;
            var lastAtThisTime = i + 1 == _eventCount || (_eventKeys[i + 1] >> 1) != time;
            if (lastAtThisTime && active >= g.Nodes && (g.MaxSwitches == 0 || EnoughUnderSwitches(g)))
            {
                start = time;
                alloc = PickActive(g, i, time);
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The sweep for N whole nodes, anywhere or under one switch, visiting only the nodes that can matter: in
    /// order of their idle tails until N eligible ones are found (under one switch, when asked) — that tail
    /// bounds the answer — plus the nodes whose longest earlier idle run could hold the job.
    /// </summary>
    private bool SweepWholeNodes(NodeGroupDemand g, long t, long d, out long start, out NodeAlloc alloc)
    {
        start = CapacityProfile.Never;
        alloc = NodeAlloc.Empty;
        var mask = Mask(g);
        _eventCount = 0;
        var found = false;
        var upper = CapacityProfile.Never;
        var total = 0;
        if (g.MaxSwitches == 1)
        {
            if (_activeBySwitch.Length < _bySwitch.Length)
            {
                _activeBySwitch = new int[_bySwitch.Length];
            }

            Array.Clear(_activeBySwitch);
        }

        foreach (var (tail, n) in _byTail)
        {
            if ((mask != null && !mask[n]) || !ShapeFits(n, g))
            {
                continue;
            }

            var at = Math.Max(t, tail);
            if (found && at > upper)
            {
                break;
            }

            AddEvent(at, n, +1);
            var enough = g.MaxSwitches == 1 ? ++_activeBySwitch[_shape.SwitchOf[n]] >= g.Nodes : ++total >= g.Nodes;
            if (enough && !found)
            {
                found = true;
                upper = at;
            }
        }

        if (!found)
        {
            return false;
        }

        foreach (var (negativeRun, n) in _byIdleRun)
        {
            if (-negativeRun < d)
            {
                break;
            }

            var runs = _runs[n];
            if (runs.FullTail <= t || (mask != null && !mask[n]) || !ShapeFits(n, g))
            {
                continue;
            }

            _windows.Clear();
            _cores[n].StartWindows(_shape.Cores[n], t, d, Math.Min(upper + 1, runs.FullTail), _windows);
            foreach (var (first, last) in _windows)
            {
                if (last != CapacityProfile.Never)
                {
                    AddEvent(first, n, +1);
                    AddEvent(last + 1, n, -1);
                }
            }
        }

        return SweepEvents(g, out start, out alloc);
    }

    private bool[]? Mask(NodeGroupDemand g)
    {
        if (g.Eligible == null)
        {
            return null;
        }

        if (!_masks.TryGetValue(g.Eligible, out var mask))
        {
            mask = new bool[_shape.NodeCount];
            foreach (var n in g.Eligible)
            {
                mask[n] = true;
            }

            _masks[g.Eligible] = mask;
        }

        return mask;
    }

    /// <summary>Chooses the group's nodes among those whose windows are open after event <paramref name="last"/>.</summary>
    private NodeAlloc PickActive(NodeGroupDemand g, int last, long time)
    {
        var open = new Dictionary<int, int>();
        for (var i = 0; i <= last; i++)
        {
            var n = _eventNodes[i];
            open[n] = open.GetValueOrDefault(n) + ((_eventKeys[i] & 1) == 1 ? 1 : -1);
        }

        _feasible.Clear();
        foreach (var (n, count) in open)
        {
            if (count > 0)
            {
                _feasible.Add(n);
            }
        }

        _feasible.Sort();
        List<int> candidates = _feasible;
        if (g.MaxSwitches > 0)
        {
            var switches = PickSwitches(g)!;
            candidates = switches.SelectMany(s => _bySwitch[s]).ToList();
        }

        var chosen = BestFit(candidates, g.Nodes, time, g.GpusPerNode == 0);
        var cores = new int[chosen.Count];
        for (var i = 0; i < cores.Length; i++)
        {
            cores[i] = CoresFor(chosen[i], g);
        }

        return new NodeAlloc([.. chosen], cores, new long[chosen.Count], new int[chosen.Count]);
    }

    private void AddEvent(long time, int node, int delta)
    {
        if (_eventCount == _eventKeys.Length)
        {
            Array.Resize(ref _eventKeys, _eventCount * 2);
            Array.Resize(ref _eventNodes, _eventCount * 2);
        }

        // Engine times are far from the long range's ends, so doubling cannot overflow.
        _eventKeys[_eventCount] = (time << 1) | (delta > 0 ? 1L : 0L);
        _eventNodes[_eventCount] = node;
        _eventCount++;
    }

    /// <summary>One node: the node with the earliest own fit wins; ties go to the node with the fewest free cores then (packing).</summary>
    private bool EarliestSingle(NodeGroupDemand g, long t, long d, out long start, out NodeAlloc alloc)
    {
        // Branch and bound: a node whose earlier runs with free cores are all shorter than the job cannot start
        // it before its final such run begins, so nodes are visited in that order until they cannot beat the
        // best; the nodes with a long enough earlier run are visited first.
        var mask = Mask(g);
        var best = CapacityProfile.Never;
        var bestNode = -1;
        var bestFree = int.MaxValue;
        void Consider(int n)
        {
            if (mask != null && !mask[n])
            {
                return;
            }

            var e = NodeEarliest(n, g, t, d, best);
            if (e == CapacityProfile.Never || e > best)
            {
                return;
            }

            // Ties: nodes not to avoid first, then nodes without GPUs (for work that needs none), then the fewest
            // free cores, then the index.
            var free = _cores[n].FreeAt(e) + (g.GpusPerNode == 0 && _shape.Gpus[n] > 0 ? 1 << 20 : 0) + (_avoid[n] ? 1 << 21 : 0);
            if (e < best || free < bestFree || (free == bestFree && n < bestNode))
            {
                best = e;
                bestNode = n;
                bestFree = free;
            }
        }

        foreach (var (negativeRun, n) in _byPartialRun)
        {
            if (-negativeRun < d)
            {
                break;
            }

            Consider(n);
        }

        foreach (var (tail, n) in _byPartialTail)
        {
            if (Math.Max(t, tail) > best)
            {
                break;
            }

            Consider(n);
        }

        start = best;
        if (bestNode < 0)
        {
            alloc = NodeAlloc.Empty;
            return false;
        }

        alloc = new NodeAlloc([bestNode], [CoresFor(bestNode, g)], [g.MemoryPerNode], [g.GpusPerNode]);
        return true;
    }

    private bool EnoughUnderSwitches(NodeGroupDemand g)
    {
        if (g.MaxSwitches == 1)
        {
            foreach (var c in _activeBySwitch)
            {
                if (c >= g.Nodes)
                {
                    return true;
                }
            }

            return false;
        }

        var best = _activeBySwitch.OrderByDescending(c => c).Take(g.MaxSwitches).Sum();
        return best >= g.Nodes;
    }

    /// <summary>
    /// How many eligible nodes could ever hold one share of the group, and how many have it free at the instant
    /// <paramref name="now"/>. Cached per group shape until the Gantt changes: explaining a long queue after a
    /// pass costs one scan per distinct shape, not one per job.
    /// </summary>
    private (int Matching, int FreeNow) CountFreeAt(NodeGroupDemand g, long now)
    {
        var key = (g.Eligible, g.Nodes == 0 ? 1 : g.CoresPerNode, g.MemoryPerNode, g.GpusPerNode, now);
        if (_countVersion == _version && _counts.TryGetValue(key, out var cached))
        {
            return cached;
        }

        if (_countVersion != _version)
        {
            _counts.Clear();
            _countVersion = _version;
        }

        var matching = 0;
        var freeNow = 0;
        foreach (var n in Eligible(g))
        {
            if (!ShapeFits(n, g))
            {
                continue;
            }

            matching++;
            if (_cores[n].FreeAt(now) >= CoresFor(n, g)
                && (g.MemoryPerNode <= 0 || _memory[n] == null || _memory[n]!.FreeAt(now) >= g.MemoryPerNode)
                && (g.GpusPerNode <= 0 || _gpus[n] == null || _gpus[n]!.FreeAt(now) >= g.GpusPerNode))
            {
                freeNow++;
            }
        }

        _counts[key] = (matching, freeNow);
        return (matching, freeNow);
    }

    private int NextStamp()
    {
        if (++_stamp == int.MaxValue)
        {
            Array.Clear(_usedStamp);
            _stamp = 1;
        }

        return _stamp;
    }

    private int[] Eligible(NodeGroupDemand group) => group.Eligible ?? _all;

    private bool ShapeFits(int n, NodeGroupDemand g) =>
        _available[n]
        && _shape.Cores[n] >= Math.Max(1, g.Nodes > 0 ? g.CoresPerNode : 1)
        && (g.MemoryPerNode <= 0 || _shape.Memory[n] >= g.MemoryPerNode)
        && (g.GpusPerNode <= 0 || _shape.Gpus[n] >= g.GpusPerNode);

    /// <summary>The earliest time at or after <paramref name="t"/> when node n alone can host one share of the group.</summary>
    private long NodeEarliest(int n, NodeGroupDemand g, long t, long d, long prune = CapacityProfile.Never)
    {
        if (!ShapeFits(n, g))
        {
            return CapacityProfile.Never;
        }

        var runs = _runs[n];
        if (runs.FullTail <= t)
        {
            return t; // nothing reserved on the node from t on
        }

        var cores = CoresFor(n, g);
        if (cores == _shape.Cores[n] && runs.MaxFullRun < d)
        {
            return runs.FullTail; // no earlier idle window is long enough: exactly when the node goes idle for good
        }

        if (runs.MaxPartialRun < d && runs.PartialTail > t)
        {
            // Any window must lie in the final run with free cores; when that is already past the best
            // candidate, this lower bound is as good as the exact value.
            if (runs.PartialTail > prune)
            {
                return runs.PartialTail;
            }

            t = runs.PartialTail;
        }

        var mem = _memory[n];
        var gpus = _gpus[n];

        while (true)
        {
            var a = _cores[n].EarliestFit(cores, t, d);
            if (g.MemoryPerNode > 0 && mem != null)
            {
                a = mem.EarliestFit((int)g.MemoryPerNode, a, d);
            }

            if (g.GpusPerNode > 0 && gpus != null)
            {
                a = gpus.EarliestFit(g.GpusPerNode, a, d);
            }

            if (a == t || a == CapacityProfile.Never)
            {
                return a;
            }

            t = a; // a later resource pushed the start: re-check the earlier ones from there
        }
    }

    /// <summary>Cores one node gives the group: a fixed count, all of the node's (whole-node requests), or one (core requests).</summary>
    private int CoresFor(int n, NodeGroupDemand g) => g.Nodes == 0 ? 1 : g.CoresPerNode > 0 ? g.CoresPerNode : _shape.Cores[n];

    private bool NodeFits(int n, NodeGroupDemand g, long t, long d)
    {
        if (!ShapeFits(n, g))
        {
            return false;
        }

        var runs = _runs[n];
        if (runs.FullTail <= t)
        {
            return true;
        }

        // A window starting before a final run must lie inside one earlier run of the same kind.
        if (runs.MaxPartialRun < d && t < runs.PartialTail)
        {
            return false;
        }

        if (runs.MaxFullRun < d && CoresFor(n, g) == _shape.Cores[n])
        {
            return false;
        }

        return NodeFitsReserved(n, g, t, d);
    }

    private bool NodeFitsReserved(int n, NodeGroupDemand g, long t, long d) =>
        _cores[n].Fits(CoresFor(n, g), t, d)
        && (g.MemoryPerNode <= 0 || _memory[n] == null || _memory[n]!.Fits((int)g.MemoryPerNode, t, d))
        && (g.GpusPerNode <= 0 || _gpus[n] == null || _gpus[n]!.Fits(g.GpusPerNode, t, d));

    private (long Lower, long Next) LowerBound(NodeGroupDemand g, long t, long d)
    {
        var eligible = Eligible(g);
        var count = 0;
        var next = CapacityProfile.Never;
        var need = g.Nodes > 0 ? g.Nodes : 1;
        var best = CapacityProfile.Never;
        foreach (var n in eligible)
        {
            // With one node needed, the best value so far prunes any node that cannot beat it.
            var e = NodeEarliest(n, g, t, d, need == 1 ? best : CapacityProfile.Never);
            if (e == CapacityProfile.Never)
            {
                continue;
            }

            if (e < best)
            {
                best = e;
            }

            _select[count++] = e;
            if (e > t && e < next)
            {
                next = e;
            }
            else if (e == t)
            {
                // Feasible now but not chosen (switch or packing constraints): the picture changes at the node's next boundary.
                var b = _cores[n].NextBoundary(t);
                if (b < next)
                {
                    next = b;
                }
            }
        }

        if (count < need)
        {
            return (CapacityProfile.Never, CapacityProfile.Never);
        }

        return (Select(_select, count, need - 1), next);
    }

    private bool PickGroup(NodeGroupDemand g, long t, long d, int stamp, List<(int Node, NodeGroupDemand Group, int Cores)> picked)
    {
        _feasible.Clear();
        foreach (var n in Eligible(g))
        {
            if (_usedStamp[n] != stamp && NodeFits(n, g, t, d))
            {
                _feasible.Add(n);
            }
        }

        if (g.Nodes == 0)
        {
            return PickCores(g, t, d, stamp, picked);
        }

        if (_feasible.Count < g.Nodes)
        {
            return false;
        }

        IEnumerable<int> chosen;
        if (g.MaxSwitches > 0)
        {
            var switches = PickSwitches(g);
            if (switches == null)
            {
                return false;
            }

            chosen = BestFit(switches.SelectMany(s => _bySwitch[s]).ToList(), g.Nodes, t, g.GpusPerNode == 0);
        }
        else
        {
            chosen = BestFit(_feasible, g.Nodes, t, g.GpusPerNode == 0);
        }

        foreach (var n in chosen)
        {
            _usedStamp[n] = stamp;
            picked.Add((n, g, CoresFor(n, g)));
        }

        return true;
    }

    private List<int>? PickSwitches(NodeGroupDemand g)
    {
        foreach (var list in _bySwitch)
        {
            list.Clear();
        }

        foreach (var n in _feasible)
        {
            _bySwitch[_shape.SwitchOf[n]].Add(n);
        }

        // Best fit: the switch with the fewest feasible nodes that still holds the group, leaving big blocks
        // intact; a group that needs no GPUs prefers the switch whose nodes it could fill without GPU nodes.
        if (g.MaxSwitches == 1)
        {
            var best = -1;
            var bestKey = (Gpu: int.MaxValue, Count: int.MaxValue);
            for (var s = 0; s < _bySwitch.Length; s++)
            {
                if (_bySwitch[s].Count < g.Nodes)
                {
                    continue;
                }

                var plain = g.GpusPerNode > 0 ? _bySwitch[s].Count : _bySwitch[s].Count(n => _shape.Gpus[n] == 0);
                var key = (Gpu: plain >= g.Nodes ? 0 : 1, _bySwitch[s].Count);
                if (key.CompareTo(bestKey) < 0)
                {
                    best = s;
                    bestKey = key;
                }
            }

            return best < 0 ? null : [best];
        }

        var order = Enumerable.Range(0, _bySwitch.Length).OrderByDescending(s => _bySwitch[s].Count).ThenBy(s => s).Take(g.MaxSwitches).ToList();
        return order.Sum(s => _bySwitch[s].Count) >= g.Nodes ? order : null;
    }

    /// <summary>Picks the nodes with the fewest free cores at <paramref name="t"/> (ties by index): packs partial nodes first.</summary>
    private List<int> BestFit(List<int> candidates, int count, long t, bool spareGpus, bool sortAvoided = true)
    {
        if (candidates.Count <= count)
        {
            return [.. candidates];
        }

        if (sortAvoided && _avoidCount > 0 && candidates.Any(n => _avoid[n]))
        {
            // Nodes to avoid (running preemptible work) last: their work is preempted only when nothing else fits.
            var preferred = BestFit(candidates.Where(n => !_avoid[n]).ToList(), count, t, spareGpus, false);
            if (preferred.Count < count)
            {
                preferred.AddRange(BestFit(candidates.Where(n => _avoid[n]).ToList(), count - preferred.Count, t, spareGpus, false));
            }

            return preferred;
        }

        if (spareGpus && candidates.Any(n => _shape.Gpus[n] > 0))
        {
            // Nodes without GPUs first, so that work that needs no GPU leaves the GPU nodes to work that does.
            var plain = candidates.Where(n => _shape.Gpus[n] == 0).ToList();
            var result2 = BestFit(plain, Math.Min(count, plain.Count), t, false);
            if (result2.Count < count)
            {
                result2.AddRange(BestFit(candidates.Where(n => _shape.Gpus[n] > 0).ToList(), count - result2.Count, t, false));
            }

            return result2;
        }

        // Counting sort on free cores: O(candidates).
        var maxFree = 0;
        foreach (var n in candidates)
        {
            maxFree = Math.Max(maxFree, _shape.Cores[n]);
        }

        var buckets = new List<int>?[maxFree + 1];
        foreach (var n in candidates)
        {
            var f = _cores[n].FreeAt(t);
            (buckets[f] ??= []).Add(n);
        }

        var result = new List<int>(count);
        foreach (var bucket in buckets)
        {
            if (bucket == null)
            {
                continue;
            }

            foreach (var n in bucket)
            {
                result.Add(n);
                if (result.Count == count)
                {
                    return result;
                }
            }
        }

        return result;
    }

    private bool PickCores(NodeGroupDemand g, long t, long d, int stamp, List<(int Node, NodeGroupDemand Group, int Cores)> picked)
    {
        // Fewest nodes: take the nodes with the most cores free over the whole window first.
        var offers = new List<(int Node, int Free)>();
        var total = 0;
        foreach (var n in _feasible)
        {
            var free = _cores[n].MinFree(t, t + d);
            if (free > 0)
            {
                offers.Add((n, free));
                total += free;
            }
        }

        if (g.TotalCores <= 0 || total < g.TotalCores)
        {
            return false;
        }

        offers.Sort(static (a, b) => a.Free != b.Free ? b.Free.CompareTo(a.Free) : a.Node.CompareTo(b.Node));
        var remaining = g.TotalCores;
        foreach (var (node, free) in offers)
        {
            var take = Math.Min(free, remaining);
            _usedStamp[node] = stamp;
            picked.Add((node, g with { MemoryPerNode = 0, GpusPerNode = 0 }, take));
            remaining -= take;
            if (remaining == 0)
            {
                break;
            }
        }

        return true;
    }

    private static NodeAlloc Build(List<(int Node, NodeGroupDemand Group, int Cores)> picked)
    {
        var nodes = new int[picked.Count];
        var cores = new int[picked.Count];
        var memory = new long[picked.Count];
        var gpus = new int[picked.Count];
        for (var i = 0; i < picked.Count; i++)
        {
            nodes[i] = picked[i].Node;
            cores[i] = picked[i].Cores;
            memory[i] = picked[i].Group.MemoryPerNode;
            gpus[i] = picked[i].Group.GpusPerNode;
        }

        return new NodeAlloc(nodes, cores, memory, gpus);
    }

    private void Apply(NodeAlloc alloc, long start, long end, int sign)
    {
        _version++;
        for (var i = 0; i < alloc.Nodes.Length; i++)
        {
            var n = alloc.Nodes[i];
            _cores[n].Add(start, end, sign * alloc.Cores[i]);
            if (alloc.Memory[i] > 0 && _memory[n] != null)
            {
                _memory[n]!.Add(start, end, sign * (int)alloc.Memory[i]);
            }

            if (alloc.Gpus[i] > 0 && _gpus[n] != null)
            {
                _gpus[n]!.Add(start, end, sign * alloc.Gpus[i]);
            }

            Resummarise(n);
        }
    }

    /// <summary>Recomputes a node's run summary and moves it in the orders that index it.</summary>
    private void Resummarise(int n)
    {
        var before = _runs[n];
        var after = _cores[n].Summarise();
        _runs[n] = after;
        Move(_byTail, before.FullTail, after.FullTail, n);
        Move(_byIdleRun, -before.MaxFullRun, -after.MaxFullRun, n);
        Move(_byPartialTail, before.PartialTail, after.PartialTail, n);
        Move(_byPartialRun, -before.MaxPartialRun, -after.MaxPartialRun, n);

        static void Move(SortedSet<(long Key, int Node)> order, long from, long to, int node)
        {
            if (from != to)
            {
                order.Remove((from, node));
                order.Add((to, node));
            }
        }
    }

    /// <summary>The k-th smallest (0-based) of values[0..count) by quickselect; reorders the prefix.</summary>
    private static long Select(long[] values, int count, int k)
    {
        int lo = 0, hi = count - 1;
        while (lo < hi)
        {
            var pivot = values[(lo + hi) >>> 1];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (values[i] < pivot)
                {
                    i++;
                }

                while (values[j] > pivot)
                {
                    j--;
                }

                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }

            if (k <= j)
            {
                hi = j;
            }
            else if (k >= i)
            {
                lo = i;
            }
            else
            {
                return values[k];
            }
        }

        return values[k];
    }
}
