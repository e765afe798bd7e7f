namespace Heorot.Scheduling;

/// <summary>
/// How long resources take to become ready once a job is given them: powered-off nodes boot first (Slurm's power
/// save). The engine plans against all resources, powered or not; a job that starts holds its resources from its
/// start decision, and its walltime counts from the moment the last of them is ready, so its slot is the walltime
/// plus this delay.
/// </summary>
/// <remarks>
/// Pure: answers from the caller's picture of the resources at one instant, never from a clock.
/// </remarks>
public interface IReadiness<TDemand>
{
    /// <summary>
    /// The wait, in seconds, of a job starting at <paramref name="now"/> on <paramref name="demand"/>, after the
    /// starts already decided at that instant took the readiest resources (the caller reads those off its Gantt).
    /// </summary>
    long DelayNow(in TDemand demand, long now);

    /// <summary>
    /// An upper bound of any start's wait (boot after a shutdown in progress): a slot planned for later reserves
    /// it, so that whatever the resources' state at that start, the job ends inside its slot.
    /// </summary>
    long MaxDelay { get; }
}
