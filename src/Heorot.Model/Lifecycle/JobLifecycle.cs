namespace Heorot.Model.Lifecycle;

public enum JobState
{
    Waiting,
    Hold,
    Launching,
    Running,
    Finishing,
    Terminated,
    Error,
    Cancelled,
}

public enum JobTrigger
{
    Hold,
    Release,
    Launch,
    Started,
    PrologFailed,
    Ended,
    EpilogDone,
    Cancel,
    NodeLost,
    Requeue,
    Fail,
}

/// <summary>The job lifecycle, as the control plane (issue 3) drives it.</summary>
public static class JobLifecycle
{
    public static TransitionTable<JobState, JobTrigger> Table { get; } = new("job",
    [
        new(JobState.Waiting, JobTrigger.Hold, JobState.Hold, "the owner or an operator holds the job"),
        new(JobState.Hold, JobTrigger.Release, JobState.Waiting, "held job is queued again"),
        new(JobState.Waiting, JobTrigger.Launch, JobState.Launching, "the plan applier starts it on its nodes; prologs run"),
        new(JobState.Launching, JobTrigger.Started, JobState.Running, "every node's prolog succeeded and the job runs"),
        new(JobState.Launching, JobTrigger.PrologFailed, JobState.Waiting, "a node prolog failed: the node becomes Suspected, the job is queued again"),
        new(JobState.Running, JobTrigger.Ended, JobState.Finishing, "the job exited (or hit its walltime); epilogs run"),
        new(JobState.Finishing, JobTrigger.EpilogDone, JobState.Terminated, "epilogs finished; the exit status is recorded"),
        new(JobState.Waiting, JobTrigger.Cancel, JobState.Cancelled, "cancelled before it started"),
        new(JobState.Hold, JobTrigger.Cancel, JobState.Cancelled, "cancelled while held"),
        new(JobState.Launching, JobTrigger.Cancel, JobState.Finishing, "cancelled while starting: epilogs still run"),
        new(JobState.Running, JobTrigger.Cancel, JobState.Finishing, "cancelled while running: signal, grace period, kill, then epilogs"),
        new(JobState.Launching, JobTrigger.NodeLost, JobState.Waiting, "a node was lost before the job started: queued again"),
        new(JobState.Running, JobTrigger.NodeLost, JobState.Error, "a node was lost under a job that is not idempotent"),
        new(JobState.Running, JobTrigger.Requeue, JobState.Waiting, "a node was lost under an idempotent job: queued again"),
        new(JobState.Waiting, JobTrigger.Fail, JobState.Error, "the job can never run (a dependency failed, the request fits no node)"),
        new(JobState.Launching, JobTrigger.Fail, JobState.Error, "the job cannot start on its nodes (unknown user, bad working directory): not the node's fault"),
    ]);
}
