namespace Heorot.Protocol;

/// <summary>Where one node stands with one attempt of a job, as its agent reports it.</summary>
public enum AgentPhase
{
    /// <summary>The node prolog is running.</summary>
    Preparing,

    /// <summary>The prolog succeeded; the node is ready and holds the job.</summary>
    Prepared,

    PrologFailed,

    /// <summary>The job could not be started (unknown user, bad working directory): not the node's fault.</summary>
    Failed,

    Running,

    /// <summary>The batch script ended; see the exit code.</summary>
    Exited,

    /// <summary>Killing what is left and running the epilog.</summary>
    Cleaning,

    Cleaned,
}

/// <summary>What the server wants of a node for one attempt of a job.</summary>
public enum DesiredAction
{
    /// <summary>Run the prolog and hold the node.</summary>
    Prepare,

    /// <summary>Run the prolog if not done, then the batch script (the job's first node only).</summary>
    Run,

    /// <summary>Keep what runs; start nothing (the attempt has started: a node without it lost it).</summary>
    Keep,
}

/// <summary>Everything an agent needs to run its part of a job.</summary>
public sealed record JobSpec
{
    public long JobId { get; init; }

    public int Attempt { get; init; }

    public string User { get; init; } = string.Empty;

    public string? Name { get; init; }

    public string Script { get; init; } = string.Empty;

    public string? WorkingDirectory { get; init; }

    public long WalltimeSeconds { get; init; }

    public IReadOnlyList<string> Nodes { get; init; } = [];

    /// <summary>Cores allocated on this node.</summary>
    public int Cores { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>For a job in virtual machines: the image and every VM of the job; null for a job on the host.</summary>
    public VmJobSpec? Vm { get; init; }
}

/// <summary>
/// A job in virtual machines: the image's blobs (fetched through the agent's cache), and every VM of the job —
/// the agent starts those placed on its node; the first VM runs the batch script.
/// </summary>
public sealed record VmJobSpec
{
    /// <summary>NAME:VERSION, for messages.</summary>
    public string Image { get; init; } = string.Empty;

    public Images.BlobView? Kernel { get; init; }

    public Images.BlobView? Initrd { get; init; }

    public Images.BlobView? Disk { get; init; }

    /// <summary>The disk's format (qcow2 or raw).</summary>
    public string? Format { get; init; }

    public string? Cmdline { get; init; }

    public IReadOnlyList<VmPlacement> Vms { get; init; } = [];

    public IReadOnlyList<string> SshKeys { get; init; } = [];

    /// <summary>The job's private network: a multicast group and port only its VMs share.</summary>
    public string Network { get; init; } = string.Empty;
}

/// <summary>One VM of a job: its host name, physical node, private address, vCPUs and memory.</summary>
public sealed record VmPlacement(string Name, string Node, string Address, int Cores, long MemoryMb);

public sealed record Assignment(JobSpec Spec, DesiredAction Action);

/// <summary>A piece of a job's output: bytes from <see cref="Offset"/>, base64 in JSON.</summary>
public sealed record LogChunk(long Offset, byte[] Data);

/// <summary>One local attempt of a job, as reported by the agent on every sync (level-triggered, idempotent).</summary>
public sealed record AgentJobStatus
{
    public long JobId { get; init; }

    public int Attempt { get; init; }

    public AgentPhase Phase { get; init; }

    public int? ExitCode { get; init; }

    public string? Reason { get; init; }

    public DateTimeOffset? StartTime { get; init; }

    public DateTimeOffset? EndTime { get; init; }

    public bool EpilogFailed { get; init; }

    /// <summary>A step (prolog, launch, cleanup) is under way: the agent will report when it ends.</summary>
    public bool Busy { get; init; }

    public LogChunk? Stdout { get; init; }

    public LogChunk? Stderr { get; init; }
}

/// <summary>
/// The agent's heartbeat and report in one: its resources, and every job attempt it knows. The server answers
/// with the node's whole desired state (<see cref="SyncResponse"/>), holding the answer up to
/// <see cref="WaitMilliseconds"/> when nothing changes — a long poll on a connection the agent opens.
/// </summary>
public sealed record SyncRequest
{
    public string Node { get; init; } = string.Empty;

    public int Cores { get; init; }

    public long MemoryMb { get; init; }

    public int Gpus { get; init; }

    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    /// <summary>The agent process's start; a change tells the server the agent restarted.</summary>
    public DateTimeOffset AgentStart { get; init; }

    public IReadOnlyList<AgentJobStatus> Jobs { get; init; } = [];

    public int WaitMilliseconds { get; init; }

    /// <summary>Grows with every request an agent builds: a request overtaken by a newer one reports old news.</summary>
    public long Serial { get; init; }

    /// <summary>The last result of the operator's health check on the node; null when none is configured or run yet.</summary>
    public HealthReport? Health { get; init; }
}

/// <summary>What the node's health check (an operator's script the agent runs now and then) last said.</summary>
public sealed record HealthReport(bool Ok, string Output, DateTimeOffset Checked);

public sealed record LogOffsets(long JobId, int Attempt, long Stdout, long Stderr);

public sealed record SyncResponse
{
    /// <summary>Every job attempt this node should hold; anything else it holds is to be cleaned up.</summary>
    public IReadOnlyList<Assignment> Assignments { get; init; } = [];

    /// <summary>Attempts the server has recorded as cleaned, with all their output: the agent may forget them.</summary>
    public IReadOnlyList<JobAttempt> Forget { get; init; } = [];

    /// <summary>Output the server already holds, per attempt the agent reported: send from these offsets.</summary>
    public IReadOnlyList<LogOffsets> Logs { get; init; } = [];

    /// <summary>Signals to send to running jobs (job id, attempt, signal name).</summary>
    public IReadOnlyList<SignalOrder> Signals { get; init; } = [];

    /// <summary>Interactive sessions to open (the agent connects back for each).</summary>
    public IReadOnlyList<Sessions.SessionOrder> Sessions { get; init; } = [];

    public int HeartbeatMilliseconds { get; init; }

    /// <summary>Grows with every answer computed for this node: an agent drops answers older than one it applied.</summary>
    public long Generation { get; init; }

    /// <summary>Walltime grace period: seconds between SIGTERM and SIGKILL.</summary>
    public int GraceSeconds { get; init; }
}

public sealed record SignalOrder(long JobId, int Attempt, string Signal, long Serial);

public sealed record JobAttempt(long JobId, int Attempt);
