using System.Runtime.InteropServices;
using Heorot.Model.Lifecycle;
using Heorot.Model.Power;
using Heorot.Scheduling;
using Heorot.Scheduling.Power;
using Heorot.Scheduling.Timeline;

namespace Heorot.Simulation.Replay;

/// <summary>What the power side of a replay measured, over <c>[From, To]</c> (first submission to last end).</summary>
/// <param name="Nodes">Nodes of the machine.</param>
/// <param name="From">Start of the horizon: the first submission.</param>
/// <param name="To">End of the horizon: the last job's end.</param>
/// <param name="EnergyJoules">Energy drawn by every node over the horizon, by the power model.</param>
/// <param name="OffNodeSeconds">Node-time spent off.</param>
/// <param name="IdleNodeSeconds">Node-time on and free.</param>
/// <param name="TransitionNodeSeconds">Node-time booting or shutting down (free or given to a job).</param>
/// <param name="WaitingNodeSeconds">Node-time on, given to a job whose other nodes were still booting.</param>
/// <param name="BusyNodeSeconds">Node-time running jobs.</param>
/// <param name="Boots">Node boots (on demand and ahead of time).</param>
/// <param name="Shutdowns">Node shutdowns.</param>
/// <param name="DelayedJobs">Jobs whose run waited for a boot.</param>
/// <param name="DelaySeconds">Their waits for boots, summed.</param>
public sealed record PowerReport(
    int Nodes,
    long From,
    long To,
    double EnergyJoules,
    double OffNodeSeconds,
    double IdleNodeSeconds,
    double TransitionNodeSeconds,
    double WaitingNodeSeconds,
    double BusyNodeSeconds,
    long Boots,
    long Shutdowns,
    long DelayedJobs,
    double DelaySeconds)
{
    public double EnergyKilowattHours => EnergyJoules / 3.6e6;

    public double OffNodeHours => OffNodeSeconds / 3600;

    /// <summary>Node-time not spent running a job: what an ideal manager could have powered off.</summary>
    public double NotBusyNodeSeconds => (double)Nodes * (To - From) - BusyNodeSeconds;
}

/// <summary>
/// The nodes of a processor pool, each off, booting, on (free or given to a job) or shutting down, driven through
/// <see cref="SimulatedPowerLifecycle"/>; integrates the energy of the power model over time; answers the engine's
/// readiness question; asks an <see cref="IPowerPolicy"/> what to power on or off. Nodes are interchangeable: a job
/// takes the readiest free ones (idle, most recently used first; then booting, soonest ready first; then off; then
/// shutting down), and the engine's wait for a start now is the readiness of the last node it would take.
/// </summary>
/// <remarks>
/// Consistency with the engine rests on one fact: at an instant, the nodes the Gantt shows taken but this class
/// does not yet (the starts decided at this instant) are exactly the readiest free ones, because starts are applied
/// in the order they were decided, each taking the readiest nodes left.
/// </remarks>
internal sealed class PoolPower : IReadiness<int>
{
    /// <summary>Beyond this, a free node's next planned use is not looked for (it reads as never).</summary>
    private const long PlanHorizon = 86_400;

    private static readonly TransitionTable<SimulatedPowerState, SimulatedPowerTrigger> Table = SimulatedPowerLifecycle.Table;

    private readonly PowerModel _model;
    private readonly IPowerPolicy _policy;
    private readonly CapacityProfile _profile;
    private readonly int _nodes;

    /// <summary>Free nodes on, by the time they became idle, oldest first; jobs take the newest.</summary>
    private readonly List<Group> _idle = [];

    private readonly Fifo _booting = new();
    private readonly Fifo _shutting = new();
    private int _off;

    /// <summary>Changes of nodes given to jobs, in time order (phase orders changes at one instant).</summary>
    private readonly PriorityQueue<HeldChange, (long Time, int Phase, long Seq)> _held = new();

    private long _seq;

    private int _idleCount;
    private int _bootingFree;
    private int _shuttingFree;
    private int _heldShutting;
    private int _heldBooting;
    private int _heldWaiting;
    private int _busy;

    private readonly long _from;
    private long _clock;
    private double _energy;
    private double _offSeconds;
    private double _idleSeconds;
    private double _transitionSeconds;
    private double _waitingSeconds;
    private double _busySeconds;
    private long _boots;
    private long _shutdowns;
    private long _delayedJobs;
    private double _delaySeconds;

    private readonly List<FreeNodes> _view = [];
    private readonly List<int> _viewGroups = [];
    private readonly List<(int UpToRank, long Time)> _needs = [];
    private readonly PowerDecision _decision = new();
    private long _policyWake = CapacityProfile.Never;

    public PoolPower(PowerModel model, IPowerPolicy policy, CapacityProfile profile, long from)
    {
        _model = model;
        _policy = policy;
        _profile = profile;
        _nodes = profile.Capacity;
        _from = from;
        _clock = from;
        if (_nodes > 0)
        {
            _idle.Add(new Group(from, _nodes));
            _idleCount = _nodes;
        }
    }

    public IPowerPolicy Policy => _policy;

    public long MaxDelay => _model.MaxReadyDelay;

    /// <summary>Free nodes (given to no job), whatever their power state.</summary>
    public int FreeCount => _idleCount + _bootingFree + _off + _shuttingFree;

    /// <summary>Nodes given to jobs (booting for them, waiting for their other nodes, or running them).</summary>
    public int HeldCount => _heldShutting + _heldBooting + _heldWaiting + _busy;

    public int OffCount => _off;

    public int BusyCount => _busy;

    /// <summary>The next instant the power side needs the replay to stop at: a boot or shutdown ends, or the policy asked.</summary>
    public long NextWake
    {
        get
        {
            var wake = _policyWake;
            if (_booting.Count > 0)
            {
                wake = Math.Min(wake, _booting.Peek().Time);
            }

            if (_shutting.Count > 0)
            {
                wake = Math.Min(wake, _shutting.Peek().Time);
            }

            return wake;
        }
    }

    public long DelayNow(in int demand, long now)
    {
        // The starts decided at this instant took the readiest free nodes: skip them.
        var taken = FreeCount - _profile.FreeAt(now);
        var rank = taken + demand;
        return rank > FreeCount || rank <= 0 ? MaxDelay : ReadyAt(rank, now) - now;
    }

    /// <summary>Integrates energy up to <paramref name="time"/>, ending the boots and shutdowns due by then.</summary>
    public void AdvanceTo(long time)
    {
        while (true)
        {
            var next = CapacityProfile.Never;
            var which = 0;
            if (_held.TryPeek(out _, out var key))
            {
                next = key.Time;
                which = 1;
            }

            if (_booting.Count > 0 && _booting.Peek().Time < next)
            {
                next = _booting.Peek().Time;
                which = 2;
            }

            if (_shutting.Count > 0 && _shutting.Peek().Time < next)
            {
                next = _shutting.Peek().Time;
                which = 3;
            }

            if (next > time)
            {
                break;
            }

            Integrate(next);
            if (which == 1)
            {
                Apply(_held.Dequeue());
            }
            else if (which == 2)
            {
                var g = _booting.Dequeue();
                Table.Fire(SimulatedPowerState.Booting, SimulatedPowerTrigger.Booted);
                _bootingFree -= g.Count;
                AddIdle(g.Time, g.Count);
            }
            else
            {
                var g = _shutting.Dequeue();
                Table.Fire(SimulatedPowerState.ShuttingDown, SimulatedPowerTrigger.Halted);
                _shuttingFree -= g.Count;
                _off += g.Count;
            }
        }

        Integrate(time);
    }

    /// <summary>
    /// Gives <paramref name="count"/> free nodes to a job starting now, the readiest first, booting those that are
    /// off; returns when its run begins (the last one ready).
    /// </summary>
    public long Allocate(int count, long now)
    {
        if (count > FreeCount)
        {
            throw new InvalidOperationException($"a job needs {count} nodes at {now}; only {FreeCount} are free");
        }

        var ready = now;
        var left = count;
        while (left > 0 && _idleCount > 0)
        {
            ref var g = ref CollectionsMarshal.AsSpan(_idle)[^1];
            var n = Math.Min(left, g.Count);
            Table.Fire(SimulatedPowerState.Idle, SimulatedPowerTrigger.Allocate);
            g.Count -= n;
            _idleCount -= n;
            _heldWaiting += n;
            left -= n;
            if (g.Count == 0)
            {
                _idle.RemoveAt(_idle.Count - 1);
            }
        }

        while (left > 0 && _booting.Count > 0)
        {
            var g = _booting.Peek();
            var n = Math.Min(left, g.Count);
            Table.Fire(SimulatedPowerState.Booting, SimulatedPowerTrigger.Allocate);
            _booting.TakeFromHead(n);
            _bootingFree -= n;
            _heldBooting += n;
            Schedule(g.Time, 0, HeldChangeKind.Booted, n);
            ready = Math.Max(ready, g.Time);
            left -= n;
        }

        if (left > 0 && _off > 0)
        {
            var n = Math.Min(left, _off);
            Table.Fire(SimulatedPowerState.Off, SimulatedPowerTrigger.Allocate);
            _off -= n;
            _heldBooting += n;
            _boots += n;
            Schedule(now + _model.BootSeconds, 0, HeldChangeKind.Booted, n);
            ready = Math.Max(ready, now + _model.BootSeconds);
            left -= n;
        }

        while (left > 0 && _shutting.Count > 0)
        {
            var g = _shutting.Peek();
            var n = Math.Min(left, g.Count);
            Table.Fire(SimulatedPowerState.ShuttingDown, SimulatedPowerTrigger.Allocate);
            _shutting.TakeFromHead(n);
            _shuttingFree -= n;
            _heldShutting += n;
            Schedule(g.Time, 0, HeldChangeKind.Halted, n);
            Schedule(g.Time + _model.BootSeconds, 0, HeldChangeKind.Booted, n);
            ready = Math.Max(ready, g.Time + _model.BootSeconds);
            left -= n;
        }

        if (left != 0)
        {
            throw new InvalidOperationException("free node counts disagree with the free groups");
        }

        if (ready > now)
        {
            _delayedJobs++;
            _delaySeconds += ready - now;
        }

        Schedule(ready, 1, HeldChangeKind.RunBegins, count);
        return ready;
    }

    /// <summary>A job's run ended: its nodes are idle from now.</summary>
    public void Release(int count, long now)
    {
        Table.Fire(SimulatedPowerState.Busy, SimulatedPowerTrigger.Release);
        if (count > _busy)
        {
            throw new InvalidOperationException($"{count} nodes released at {now}; only {_busy} are busy");
        }

        _busy -= count;
        AddIdle(now, count);
    }

    /// <summary>
    /// Asks the policy what to do at <paramref name="now"/> and does it. <paramref name="shadow"/> is a slot the
    /// plan holds beyond the Gantt (the first waiting job's earliest start under EASY or FCFS), if any.
    /// </summary>
    public void Decide(long now, (long Start, long End, int Nodes)? shadow)
    {
        BuildView(now, shadow);
        _decision.Clear();
        _policy.Decide(new PowerView(now, _model, _nodes, _view), _decision);
        foreach (var command in _decision.Commands)
        {
            Execute(command, now);
        }

        _idle.RemoveAll(g => g.Count == 0);
        _policyWake = _decision.WakeAt > now ? _decision.WakeAt : CapacityProfile.Never;
        if (_policy.ReadsPlan)
        {
            // Needs beyond the plan horizon were read as never: look again before they come near.
            _policyWake = Math.Min(_policyWake, now + (PlanHorizon / 2));
        }
    }

    public PowerReport Report(long to)
    {
        AdvanceTo(to);
        return new PowerReport(_nodes, _from, to, _energy, _offSeconds, _idleSeconds, _transitionSeconds, _waitingSeconds, _busySeconds, _boots, _shutdowns, _delayedJobs, _delaySeconds);
    }

    /// <summary>When the free node of rank <paramref name="rank"/> (1 = readiest) is ready, if taken now.</summary>
    private long ReadyAt(int rank, long now)
    {
        if (rank <= _idleCount)
        {
            return now;
        }

        rank -= _idleCount;
        foreach (var g in _booting.Items)
        {
            if (rank <= g.Count)
            {
                return Math.Max(now, g.Time);
            }

            rank -= g.Count;
        }

        if (rank <= _off)
        {
            return now + _model.BootSeconds;
        }

        rank -= _off;
        foreach (var g in _shutting.Items)
        {
            if (rank <= g.Count)
            {
                return Math.Max(now, g.Time) + _model.BootSeconds;
            }

            rank -= g.Count;
        }

        return now + MaxDelay;
    }

    private void BuildView(long now, (long Start, long End, int Nodes)? shadow)
    {
        _view.Clear();
        _viewGroups.Clear();
        _needs.Clear();
        var free = FreeCount;
        if (_policy.ReadsPlan)
        {
            FindNeeds(now, shadow, free);
        }

        var rank = 0;
        var need = 0;
        for (var i = _idle.Count - 1; i >= 0; i--)
        {
            AddRuns(SimulatedPowerState.Idle, _idle[i].Time, _idle[i].Count, i, ref rank, ref need);
        }

        var k = 0;
        foreach (var g in _booting.Items)
        {
            AddRuns(SimulatedPowerState.Booting, g.Time, g.Count, k++, ref rank, ref need);
        }

        if (_off > 0)
        {
            AddRuns(SimulatedPowerState.Off, _from, _off, 0, ref rank, ref need);
        }

        k = 0;
        foreach (var g in _shutting.Items)
        {
            AddRuns(SimulatedPowerState.ShuttingDown, g.Time, g.Count, k++, ref rank, ref need);
        }
    }

    /// <summary>
    /// How many of the free nodes the plan uses from each time on: the plan's free capacity drops below the free
    /// nodes now by that much (running jobs' nodes, freed by their walltime, are counted as reused first).
    /// </summary>
    private void FindNeeds(long now, (long Start, long End, int Nodes)? shadow, int free)
    {
        var freeNow = _profile.FreeAt(now);
        if (freeNow != free)
        {
            throw new InvalidOperationException($"at {now} the plan has {freeNow} free nodes, the power side {free}");
        }

        var most = 0;
        var t = now;
        var limit = now + PlanHorizon;
        while (most < free && t <= limit)
        {
            var f = _profile.FreeAt(t);
            if (shadow is { } s && s.Start <= t && t < s.End)
            {
                f -= s.Nodes;
            }

            var used = Math.Min(free, free - f);
            if (used > most)
            {
                most = used;
                _needs.Add((most, t));
            }

            var next = _profile.NextBoundary(t);
            if (shadow is { } s2)
            {
                if (s2.Start > t)
                {
                    next = Math.Min(next, s2.Start);
                }
                else if (s2.End > t)
                {
                    next = Math.Min(next, s2.End);
                }
            }

            if (next == CapacityProfile.Never)
            {
                break;
            }

            t = next;
        }
    }

    /// <summary>Appends a free group to the view, split where its nodes' next planned use changes.</summary>
    private void AddRuns(SimulatedPowerState state, long since, int count, int index, ref int rank, ref int need)
    {
        while (count > 0)
        {
            while (need < _needs.Count && _needs[need].UpToRank <= rank)
            {
                need++;
            }

            var nextUse = need < _needs.Count ? _needs[need].Time : CapacityProfile.Never;
            var n = need < _needs.Count ? Math.Min(count, _needs[need].UpToRank - rank) : count;
            _view.Add(new FreeNodes(state, since, nextUse, n));
            _viewGroups.Add(index);
            rank += n;
            count -= n;
        }
    }

    private void Execute(PowerCommand command, long now)
    {
        if ((uint)command.Run >= (uint)_view.Count || command.Count <= 0 || command.Count > _view[command.Run].Count)
        {
            throw new ArgumentException($"power command {command} does not match the view");
        }

        var run = _view[command.Run];
        var index = _viewGroups[command.Run];
        if (command.Kind == PowerCommandKind.PowerOff)
        {
            Table.Fire(run.State, SimulatedPowerTrigger.PowerOff); // only idle nodes: anything else is an illegal transition
            CollectionsMarshal.AsSpan(_idle)[index].Count -= command.Count;
            _idleCount -= command.Count;
            _shutdowns += command.Count;
            if (_model.ShutdownSeconds == 0)
            {
                Table.Fire(SimulatedPowerState.ShuttingDown, SimulatedPowerTrigger.Halted);
                _off += command.Count;
            }
            else
            {
                _shuttingFree += command.Count;
                _shutting.Enqueue(new Group(now + _model.ShutdownSeconds, command.Count));
            }
        }
        else
        {
            Table.Fire(run.State, SimulatedPowerTrigger.PowerOn); // only nodes that are off (one group)
            _off -= command.Count;
            _boots += command.Count;
            if (_model.BootSeconds == 0)
            {
                Table.Fire(SimulatedPowerState.Booting, SimulatedPowerTrigger.Booted);
                AddIdle(now, command.Count);
            }
            else
            {
                _bootingFree += command.Count;
                _booting.Enqueue(new Group(now + _model.BootSeconds, command.Count));
            }
        }
    }

    private void AddIdle(long since, int count)
    {
        if (count == 0)
        {
            return;
        }

        _idleCount += count;
        if (_idle.Count > 0 && _idle[^1].Time == since)
        {
            CollectionsMarshal.AsSpan(_idle)[^1].Count += count;
            return;
        }

        // Idle times arrive in time order (boots and releases are processed as the clock advances).
        _idle.Add(new Group(since, count));
    }

    private void Schedule(long time, int phase, HeldChangeKind kind, int count)
    {
        var change = new HeldChange(kind, count);
        if (time <= _clock)
        {
            Apply(change);
            return;
        }

        _held.Enqueue(change, (time, phase, _seq++));
    }

    private void Apply(HeldChange change)
    {
        switch (change.Kind)
        {
            case HeldChangeKind.Halted:
                Table.Fire(SimulatedPowerState.ShuttingDown, SimulatedPowerTrigger.Halted);
                Table.Fire(SimulatedPowerState.Off, SimulatedPowerTrigger.Allocate);
                _heldShutting -= change.Count;
                _heldBooting += change.Count;
                _boots += change.Count;
                break;
            case HeldChangeKind.Booted:
                Table.Fire(SimulatedPowerState.Booting, SimulatedPowerTrigger.Booted);
                Table.Fire(SimulatedPowerState.Idle, SimulatedPowerTrigger.Allocate);
                _heldBooting -= change.Count;
                _heldWaiting += change.Count;
                break;
            default:
                _heldWaiting -= change.Count;
                _busy += change.Count;
                break;
        }

        if (_heldShutting < 0 || _heldBooting < 0 || _heldWaiting < 0)
        {
            throw new InvalidOperationException($"held node counts went negative at {_clock}");
        }
    }

    private void Integrate(long time)
    {
        if (time <= _clock)
        {
            return;
        }

        double dt = time - _clock;
        var transition = _bootingFree + _shuttingFree + _heldShutting + _heldBooting;
        _offSeconds += dt * _off;
        _idleSeconds += dt * _idleCount;
        _transitionSeconds += dt * transition;
        _waitingSeconds += dt * _heldWaiting;
        _busySeconds += dt * _busy;
        _energy += dt * ((_model.IdleWatts * (_idleCount + transition + _heldWaiting)) + (_model.BusyWatts * _busy) + (_model.OffWatts * _off));
        _clock = time;
    }

    private record struct Group(long Time, int Count);

    private enum HeldChangeKind
    {
        /// <summary>A node given to a job while shutting down is off: it boots for the job.</summary>
        Halted,

        /// <summary>A node given to a job finished booting: it waits for the job's other nodes.</summary>
        Booted,

        /// <summary>Every node of the job is ready: its run begins.</summary>
        RunBegins,
    }

    private readonly record struct HeldChange(HeldChangeKind Kind, int Count);

    /// <summary>A first-in first-out list of groups whose head can be taken from in part.</summary>
    private sealed class Fifo
    {
        private readonly List<Group> _items = [];
        private int _head;

        public int Count => _items.Count - _head;

        public ReadOnlySpan<Group> Items => CollectionsMarshal.AsSpan(_items)[_head..];

        public Group Peek() => _items[_head];

        public void Enqueue(Group g)
        {
            if (Count > 0 && _items[^1].Time == g.Time)
            {
                CollectionsMarshal.AsSpan(_items)[^1].Count += g.Count;
                return;
            }

            _items.Add(g);
        }

        public Group Dequeue()
        {
            var g = _items[_head++];
            if (_head > 64 && _head * 2 > _items.Count)
            {
                _items.RemoveRange(0, _head);
                _head = 0;
            }
            else if (_head == _items.Count)
            {
                _items.Clear();
                _head = 0;
            }

            return g;
        }

        public void TakeFromHead(int count)
        {
            ref var g = ref CollectionsMarshal.AsSpan(_items)[_head];
            g.Count -= count;
            if (g.Count == 0)
            {
                Dequeue();
            }
        }
    }
}
