using System.Diagnostics;
using Heorot.Scheduling;
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
    /// <summary>Called now and then with (events processed, events expected) so a caller can draw progress.</summary>
    public Action<long, long>? Progress { get; init; }
}

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

    public static IReadOnlyList<JobOutcome> Run(IReadOnlyList<SimJob> jobs, SimulationOptions options)
    {
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

        var engine = new SchedulingEngine<int, int>(new PoolGantt(options.Processors), options.Policy);
        var state = new Replay(jobs, engine, options);
        if (options.Mode == SimulationMode.Pyss)
        {
            state.RunPyss(order);
        }
        else
        {
            state.RunTick(order);
        }

        return state.Outcomes(order);
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
        private readonly PriorityQueue<int, EventKey> _events = new();
        private readonly List<EngineJob<int, int>> _changed = [];
        private long _seq;
        private long _processed;

        public Replay(IReadOnlyList<SimJob> jobs, SchedulingEngine<int, int> engine, SimulationOptions options)
        {
            _jobs = jobs;
            _engine = engine;
            _options = options;
            _engineJobs = new EngineJob<int, int>[jobs.Count];
            _starts = new long[jobs.Count];
            for (var i = 0; i < jobs.Count; i++)
            {
                var j = jobs[i];
                // The engine job's id is its index here; the outcome carries the trace's job number.
                _engineJobs[i] = new EngineJob<int, int>(i, j.Submit, j.RequestedTime, j.Procs);
                _starts[i] = -1;
            }
        }

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
                var now = long.MaxValue;
                if (next < order.Length)
                {
                    now = _jobs[order[next]].Submit;
                }

                if (_events.TryPeek(out _, out var top) && top.Time < now)
                {
                    now = top.Time;
                }

                // 1. jobs that ended now free their resources
                var ended = false;
                while (_events.TryPeek(out var jobIndex, out var key) && key.Time == now && key.Kind == EndKind)
                {
                    _events.Dequeue();
                    _engine.Finish(_engineJobs[jobIndex], now);
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
            }
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

            _starts[index] = now;
            Push(index, now + _jobs[index].Run, EndKind);
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
