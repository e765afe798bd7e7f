using System.Diagnostics;
using Heorot.Model.Power;
using Heorot.Scheduling;
using Heorot.Scheduling.Power;
using Heorot.Scheduling.Policies;
using Heorot.Scheduling.Timeline;
using Heorot.Simulation.Swf;

namespace Heorot.Simulation.Replay;

/// <summary>How the virtual clock drives the engine.</summary>
public enum SimulationMode
{
    /// <summary>
    /// Heorot's own semantics, as the live loop behaves: at each instant, jobs that ended are freed first, then
    /// the newly submitted jobs are queued, then one scheduling pass runs.
    /// </summary>
    Tick,

    /// <summary>
    /// The reference simulator's semantics (pyss): one pass per submission and per termination, events at the
    /// same instant ordered submissions, terminations, starts; matches its schedules job for job.
    /// </summary>
    Pyss,
}

public sealed record SimulationOptions(PolicyKind Policy, int Processors, SimulationMode Mode = SimulationMode.Tick)
{
    /// <summary>
    /// Processors per node: the machine is <c>Processors / ProcsPerNode</c> whole nodes and a job of P processors
    /// takes <c>ceil(P / ProcsPerNode)</c> of them. 1 (the default) is the processor pool of the reference simulator.
    /// </summary>
    public int ProcsPerNode { get; init; } = 1;

    /// <summary>Nodes of the machine.</summary>
    public int Nodes => Processors / ProcsPerNode;

    /// <summary>Nodes a job of <paramref name="procs"/> processors takes.</summary>
    public int NodesOf(int procs) => (procs + ProcsPerNode - 1) / ProcsPerNode;

    /// <summary>Called now and then with (events processed, events expected) so a caller can draw progress.</summary>
    public Action<long, long>? Progress { get; init; }
}

/// <summary>
/// An elastic replay: the schedule (a job's start is when its run began, after any boot), each job's wait for
/// boots (in the same order; the job held its nodes from <c>Start - BootWaits[i]</c>) and what the power side measured.
/// </summary>
public sealed record ElasticOutcome(IReadOnlyList<JobOutcome> Jobs, IReadOnlyList<long> BootWaits, PowerReport Power);

/// <summary>One job's outcome, the columns of <c>jobs.csv</c>.</summary>
public readonly record struct JobOutcome(long JobId, long Submit, long Wait, long Start, long Run, int Procs, long RequestedTime);

/// <summary>
/// Replays a workload through <see cref="SchedulingEngine{TDemand, TAlloc}"/> on a <see cref="PoolGantt"/> with a
/// virtual clock. Pure: no I/O, no wall clock.
/// </summary>
public static class Simulator
{
    private const int SubmitKind = 0;
    private const int EndKind = 1;
    private const int StartKind = 2;

    public static IReadOnlyList<JobOutcome> Run(IReadOnlyList<SimJob> jobs, SimulationOptions options) => Run(jobs, options, null, null).Jobs;

    /// <summary>
    /// Replays on nodes that an elastic <paramref name="policy"/> powers on and off under the power
    /// <paramref name="model"/> (default tick clock only). Nodes start on at the first submission. A job may be given
    /// nodes that are off: it holds them from its start decision and its run begins when the last is ready. With a
    /// policy that never powers off (<c>none</c>), the schedule is exactly that of <see cref="Run(IReadOnlyList{SimJob}, SimulationOptions)"/>.
    /// </summary>
    public static ElasticOutcome RunElastic(IReadOnlyList<SimJob> jobs, SimulationOptions options, PowerModel model, IPowerPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(policy);
        if (options.Mode != SimulationMode.Tick)
        {
            throw new ArgumentException("the power model runs on the default (tick) clock only", nameof(options));
        }

        return Run(jobs, options, model, policy);
    }

    private static ElasticOutcome Run(IReadOnlyList<SimJob> jobs, SimulationOptions options, PowerModel? model, IPowerPolicy? policy)
    {
        if (options.ProcsPerNode < 1 || options.Processors % options.ProcsPerNode != 0)
        {
            throw new ArgumentException($"{options.Processors} processors do not make whole nodes of {options.ProcsPerNode}", nameof(options));
        }

        var order = new int[jobs.Count];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        // Submissions in time order, ties in file order (a stable sort).
        var submits = new long[jobs.Count];
        for (var i = 0; i < submits.Length; i++)
        {
            submits[i] = jobs[i].Submit;
        }

        Array.Sort(submits, order);
        StableFix(order, jobs);

        var gantt = new PoolGantt(options.Nodes);
        PoolPower? power = null;
        if (model != null && policy != null)
        {
            power = new PoolPower(model, policy, gantt.Profile, jobs.Count == 0 ? 0 : jobs[order[0]].Submit);
        }

        // A policy that never powers off leaves every node ready: the engine plans exactly as without power.
        var engine = new SchedulingEngine<int, int>(gantt, options.Policy) { Readiness = power?.Policy.PowersOff == true ? power : null };
        var state = new Replay(jobs, engine, options, power);
        if (options.Mode == SimulationMode.Pyss)
        {
            state.RunPyss(order);
        }
        else
        {
            state.RunTick(order);
        }

        var outcomes = state.Outcomes(order);
        return power == null
            ? new ElasticOutcome(outcomes, [], null!)
            : new ElasticOutcome(outcomes, state.BootWaits(outcomes), power.Report(state.LastEnd));
    }

    private static void StableFix(int[] order, IReadOnlyList<SimJob> jobs)
    {
        // Array.Sort is not stable: restore file order among equal submit times.
        var i = 0;
        while (i < order.Length)
        {
            var j = i + 1;
            while (j < order.Length && jobs[order[j]].Submit == jobs[order[i]].Submit)
            {
                j++;
            }

            if (j - i > 1)
            {
                Array.Sort(order, i, j - i);
            }

            i = j;
        }
    }

    private readonly record struct EventKey(long Time, int Kind, long Seq) : IComparable<EventKey>
    {
        public int CompareTo(EventKey other)
        {
            var c = Time.CompareTo(other.Time);
            if (c != 0)
            {
                return c;
            }

            c = Kind.CompareTo(other.Kind);
            return c != 0 ? c : Seq.CompareTo(other.Seq);
        }
    }

    private sealed class ByJobId : IComparer<JobOutcome>
    {
        public static readonly ByJobId Instance = new();

        public int Compare(JobOutcome x, JobOutcome y) => x.JobId.CompareTo(y.JobId);
    }

    private sealed class Replay
    {
        private readonly IReadOnlyList<SimJob> _jobs;
        private readonly SchedulingEngine<int, int> _engine;
        private readonly SimulationOptions _options;
        private readonly EngineJob<int, int>[] _engineJobs;
        private readonly long[] _starts;
        private readonly long[] _bootWaits;
        private readonly PriorityQueue<int, EventKey> _events = new();
        private readonly List<EngineJob<int, int>> _changed = [];
        private readonly PoolPower? _power;
        private long _seq;
        private long _processed;
        private int _ended;

        public Replay(IReadOnlyList<SimJob> jobs, SchedulingEngine<int, int> engine, SimulationOptions options, PoolPower? power)
        {
            _jobs = jobs;
            _engine = engine;
            _options = options;
            _power = power;
            _engineJobs = new EngineJob<int, int>[jobs.Count];
            _starts = new long[jobs.Count];
            _bootWaits = new long[power == null ? 0 : jobs.Count];
            for (var i = 0; i < jobs.Count; i++)
            {
                var j = jobs[i];
                // The engine job's id is its index here; the outcome carries the trace's job number.
                _engineJobs[i] = new EngineJob<int, int>(i, j.Submit, j.RequestedTime, options.NodesOf(j.Procs));
                _starts[i] = -1;
            }
        }

        /// <summary>Each job's wait for boots, in the order of <paramref name="outcomes"/>.</summary>
        public long[] BootWaits(JobOutcome[] outcomes)
        {
            var byId = new Dictionary<long, long>(_jobs.Count);
            for (var i = 0; i < _jobs.Count; i++)
            {
                byId[_jobs[i].Id] = _bootWaits[i];
            }

            return [.. outcomes.Select(o => byId[o.JobId])];
        }

        /// <summary>When the last job ended.</summary>
        public long LastEnd { get; private set; }

        public void RunPyss(int[] order)
        {
            var next = 0;
            while (next < order.Length || _events.Count > 0)
            {
                ReportProgress();
                if (next < order.Length && (_events.Count == 0 || !_events.TryPeek(out _, out var top) || _jobs[order[next]].Submit <= top.Time))
                {
                    var index = order[next++];
                    OnSubmitPyss(index, _jobs[index].Submit);
                    continue;
                }

                _events.TryDequeue(out var jobIndex, out var key);
                if (key.Kind == EndKind)
                {
                    _engine.Finish(_engineJobs[jobIndex], key.Time);
                    PassAndSchedule(key.Time);
                }
                else
                {
                    OnStart(jobIndex, key.Time);
                }
            }
        }

        public void RunTick(int[] order)
        {
            var next = 0;
            var conservative = _engine.Policy == PolicyKind.Conservative;
            while (next < order.Length || _events.Count > 0)
            {
                ReportProgress();
                if (_power != null && _ended == _jobs.Count)
                {
                    break; // only superseded starts are left: the power side must not run past the last end
                }

                var now = long.MaxValue;
                if (next < order.Length)
                {
                    now = _jobs[order[next]].Submit;
                }

                if (_events.TryPeek(out _, out var top) && top.Time < now)
                {
                    now = top.Time;
                }

                if (_power != null)
                {
                    // 0. boots and shutdowns due by now end; the policy may have asked to decide now
                    now = Math.Min(now, _power.NextWake);
                    _power.AdvanceTo(now);
                }

                // 1. jobs that ended now free their resources
                var ended = false;
                while (_events.TryPeek(out var jobIndex, out var key) && key.Time == now && key.Kind == EndKind)
                {
                    _events.Dequeue();
                    _engine.Finish(_engineJobs[jobIndex], now);
                    _power?.Release(_engineJobs[jobIndex].Demand, now);
                    _ended++;
                    ended = true;
                }

                // 2. conservative: earlier jobs compress before newcomers take their reservations
                if (conservative && ended)
                {
                    PassAndSchedule(now);
                }

                // 3. newly submitted jobs join the queue
                var submitted = false;
                while (next < order.Length && _jobs[order[next]].Submit == now)
                {
                    var index = order[next++];
                    _power?.Policy.Submitted(now, _engineJobs[index].Demand, _engineJobs[index].Walltime);
                    if (_engine.Submit(_engineJobs[index], now) && conservative)
                    {
                        Push(index, _engineJobs[index].Start, StartKind);
                    }

                    submitted = true;
                }

                // 4. one pass
                if (!conservative && (ended || submitted))
                {
                    PassAndSchedule(now);
                }

                // 5. jobs whose slot begins now start (every end at this instant was drained in step 1)
                while (_events.TryPeek(out var jobIndex, out var key) && key.Time == now)
                {
                    _events.Dequeue();
                    OnStart(jobIndex, now);
                }

                // 6. the elastic policy sees the new plan
                _power?.Decide(now, Shadow(now));
            }
        }

        /// <summary>
        /// Under FCFS and EASY, the slot the first waiting job would take at its earliest (the engine does not keep
        /// it in the Gantt between passes); conservative reservations are all in the Gantt.
        /// </summary>
        private (long Start, long End, int Nodes)? Shadow(long now)
        {
            if (_engine.Policy == PolicyKind.Conservative || _engine.Waiting.Count == 0 || !_power!.Policy.ReadsPlan)
            {
                return null;
            }

            var head = _engine.Waiting[0];
            var profile = ((PoolGantt)_engine.Gantt).Profile;
            var hold = head.Walltime + _power.MaxDelay;
            var start = profile.EarliestFit(head.Demand, Math.Max(now, head.Submit), hold);
            return start == CapacityProfile.Never ? null : (start, start + hold, head.Demand);
        }

        /// <summary>The outcomes by submit time, then job number; <paramref name="order"/> is by submit time.</summary>
        public JobOutcome[] Outcomes(int[] order)
        {
            for (var i = 0; i < _starts.Length; i++)
            {
                if (_starts[i] < 0)
                {
                    throw new InvalidOperationException($"job {_jobs[i].Id} never started: the simulation lost it");
                }
            }

            var outcomes = new JobOutcome[_jobs.Count];
            for (var r = 0; r < order.Length; r++)
            {
                var i = order[r];
                var j = _jobs[i];
                outcomes[r] = new JobOutcome(j.Id, j.Submit, _starts[i] - j.Submit, _starts[i], j.Run, j.Procs, j.RequestedTime);
            }

            // Already by submit time: order each run of equal submits by job number (usually it already is).
            for (var i = 0; i < outcomes.Length;)
            {
                var j = i + 1;
                var sorted = true;
                while (j < outcomes.Length && outcomes[j].Submit == outcomes[i].Submit)
                {
                    sorted &= outcomes[j - 1].JobId <= outcomes[j].JobId;
                    j++;
                }

                if (!sorted)
                {
                    Array.Sort(outcomes, i, j - i, ByJobId.Instance);
                }

                i = j;
            }

            return outcomes;
        }

        private void OnSubmitPyss(int index, long now)
        {
            var job = _engineJobs[index];
            var placed = _engine.Submit(job, now);
            switch (_engine.Policy)
            {
                case PolicyKind.Conservative:
                    if (placed)
                    {
                        Push(index, job.Start, StartKind);
                    }

                    break;
                case PolicyKind.Easy when !_engine.FreeNowCovers(job, now):
                    // pyss skips the pass when the newcomer could not start anyway.
                    break;
                default:
                    PassAndSchedule(now);
                    break;
            }
        }

        private void PassAndSchedule(long now)
        {
            _changed.Clear();
            _engine.Pass(now, _changed);
            foreach (var job in _changed)
            {
                Push((int)job.Id, job.Start, StartKind);
            }
        }

        private void OnStart(int index, long now)
        {
            var job = _engineJobs[index];
            if (_starts[index] >= 0 || job.Start != now)
            {
                return; // superseded: the reservation moved earlier and that start already happened
            }

            var begin = now;
            if (_power != null)
            {
                begin = _power.Allocate(job.Demand, now);
                if (begin + job.Walltime > job.ReservedEnd)
                {
                    throw new InvalidOperationException($"job {_jobs[index].Id} waits {begin - now} s for boots, beyond its slot ending at {job.ReservedEnd}");
                }

                // A slot planned earlier reserved the longest wait for boots: give back what this start does not need.
                _engine.Trim(job, begin + job.Walltime);
            }

            _starts[index] = begin;
            if (_power != null)
            {
                _bootWaits[index] = begin - now;
            }

            LastEnd = Math.Max(LastEnd, begin + _jobs[index].Run);
            Push(index, begin + _jobs[index].Run, EndKind);
        }

        private void Push(int index, long time, int kind)
        {
            Debug.Assert(time != EngineJob<int, int>.Unplanned, "only planned jobs get events");
            _events.Enqueue(index, new EventKey(time, kind, _seq++));
        }

        private void ReportProgress()
        {
            if (_options.Progress != null && (++_processed & 0x3FFF) == 0)
            {
                _options.Progress(_processed, 3L * _jobs.Count);
            }
        }
    }
}
