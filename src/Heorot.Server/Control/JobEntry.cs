using System.Text.Json;
using Heorot.Model.Lifecycle;
using Heorot.Model.Requests;
using Heorot.Protocol;
using Heorot.Storage;

namespace Heorot.Server.Control;

/// <summary>The runtime record of one attempt of a job: where it runs, for how long, and how it ended.</summary>
public sealed record JobRuntime
{
    public IReadOnlyList<string> Nodes { get; init; } = [];

    public int[] Cores { get; init; } = [];

    public long[] Memory { get; init; } = [];

    public int[] Gpus { get; init; } = [];

    /// <summary>The walltime of the alternative chosen, extensions included.</summary>
    public long Walltime { get; init; }

    public DateTimeOffset LaunchTime { get; init; }

    public DateTimeOffset? StartTime { get; init; }

    public DateTimeOffset? EndTime { get; init; }

    public int? ExitCode { get; init; }

    public string? Reason { get; init; }

    public string Head => Nodes.Count > 0 ? Nodes[0] : string.Empty;
}

/// <summary>What a submission carries besides the request: stored as the job's attributes.</summary>
public sealed record JobAttributes
{
    public bool Idempotent { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    public long? ArrayId { get; init; }

    public int? ArrayIndex { get; init; }

    /// <summary>An advance reservation's start: the job waits with its resources set aside until then.</summary>
    public DateTimeOffset? ReservationStart { get; init; }

    /// <summary>An interactive job: it runs a placeholder and ends with its shell session.</summary>
    public bool Interactive { get; init; }

    /// <summary>A job in virtual machines: the image as resolved at submission, and the VM count.</summary>
    public VmAttributes? Vm { get; init; }
}

/// <summary>What a VM job keeps from its submission: the image's blobs are fixed then (a later version changes nothing).</summary>
public sealed record VmAttributes
{
    public string Image { get; init; } = string.Empty;

    public Protocol.Images.BlobView? Kernel { get; init; }

    public Protocol.Images.BlobView? Initrd { get; init; }

    public Protocol.Images.BlobView? Disk { get; init; }

    public string? Format { get; init; }

    public string? Cmdline { get; init; }

    public int? VNodes { get; init; }

    public IReadOnlyList<string> SshKeys { get; init; } = [];
}

/// <summary>An unfinished job as the control plane holds it in memory: the stored record, parsed once.</summary>
public sealed record JobEntry(JobRecord Record, JobState State, int Attempt, JobRuntime? Runtime, JobRequest Request, JobAttributes Attributes)
{
    public long Id => Record.Id;

    public string User => Record.User;

    public bool BestEffort => Request.Types.Contains("besteffort");

    /// <summary>A waiting advance reservation: its runtime holds the resources set aside.</summary>
    public bool IsReservation => Attributes.ReservationStart != null;

    public static JobEntry From(JobRecord record) => new(
        record,
        Enum.Parse<JobState>(record.State),
        record.Attempt,
        record.RuntimeJson == null ? null : JsonSerializer.Deserialize<JobRuntime>(record.RuntimeJson, WireJson.Options),
        JobRequest.Parse(record.Request),
        record.AttributesJson == null ? new JobAttributes() : JsonSerializer.Deserialize<JobAttributes>(record.AttributesJson, WireJson.Options) ?? new JobAttributes());

    public static bool IsFinal(JobState state) => state is JobState.Terminated or JobState.Error or JobState.Cancelled;

    /// <summary>Whether the job holds resources (from its launch until its epilogs are done).</summary>
    public bool HoldsNodes => State is JobState.Launching or JobState.Running or JobState.Finishing && Runtime != null;
}
