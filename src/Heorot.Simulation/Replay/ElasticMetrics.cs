using Heorot.Model.Power;

namespace Heorot.Simulation.Replay;

/// <summary>
/// One elastic replay against the always-on one. The ideal manager powers off every node for all the time it does
/// not run a job, at no cost in boot time: its off node-time is the always-on run's idle node-time, and its energy
/// the floor (busy node-time at the busy draw, the rest at the off draw).
/// </summary>
/// <param name="Schedule">The replay's schedule metrics (waits include the waits for boots).</param>
/// <param name="Power">What its power side measured.</param>
/// <param name="IdealOffNodeSeconds">Idle node-time of the always-on replay.</param>
/// <param name="FloorJoules">The always-on replay's busy node-time at the busy draw, the rest of its node-time off.</param>
/// <param name="ShareOfIdeal">Off node-time over the ideal.</param>
/// <param name="EnergySavingShare">Energy saved against always-on, over what the ideal saves.</param>
/// <param name="MeanWaitChange">Relative change of the mean wait against always-on (0.05 = 5 % longer).</param>
/// <param name="MeanBoundedSlowdownChange">Relative change of the mean bounded slowdown against always-on.</param>
/// <param name="BootBoundedSlowdown">
/// The part of the mean bounded slowdown the waits for boots add directly (each job's bounded slowdown with and
/// without its own wait for boots); the rest of the change is the schedule shifting around the delays.
/// </param>
public sealed record ElasticComparison(
    ScheduleMetrics Schedule,
    PowerReport Power,
    double IdealOffNodeSeconds,
    double FloorJoules,
    double ShareOfIdeal,
    double EnergySavingShare,
    double MeanWaitChange,
    double MeanBoundedSlowdownChange,
    double BootBoundedSlowdown)
{
    /// <summary>Compares <paramref name="run"/> with the always-on replay of the same workload on <paramref name="processors"/>.</summary>
    public static ElasticComparison Compute(PowerModel model, ScheduleMetrics alwaysOnSchedule, PowerReport alwaysOn, ElasticOutcome run, int processors)
    {
        var schedule = ScheduleMetrics.Compute(run.Jobs, processors);
        var power = run.Power;
        var boot = 0.0;
        for (var i = 0; i < run.Jobs.Count; i++)
        {
            var j = run.Jobs[i];
            boot += ScheduleMetrics.BoundedSlowdown(j.Wait, j.Run) - ScheduleMetrics.BoundedSlowdown(j.Wait - run.BootWaits[i], j.Run);
        }

        var ideal = alwaysOn.NotBusyNodeSeconds;
        var floor = (alwaysOn.BusyNodeSeconds * model.BusyWatts) + (ideal * model.OffWatts);
        var idealSaving = alwaysOn.EnergyJoules - floor;
        return new ElasticComparison(
            schedule,
            power,
            ideal,
            floor,
            ideal > 0 ? power.OffNodeSeconds / ideal : 0,
            idealSaving > 0 ? (alwaysOn.EnergyJoules - power.EnergyJoules) / idealSaving : 0,
            Change(alwaysOnSchedule.MeanWait, schedule.MeanWait),
            Change(alwaysOnSchedule.MeanBoundedSlowdown, schedule.MeanBoundedSlowdown),
            run.Jobs.Count > 0 ? boot / run.Jobs.Count : 0);
    }

    private static double Change(double before, double after) => before > 0 ? (after - before) / before : 0;
}
