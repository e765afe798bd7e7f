using System.Globalization;
using System.Text.Json;
using Heorot.Protocol;

namespace Heorot.Agent;

/// <summary>
/// The durable record of one attempt of a job on this node (<c>STATE/jobs/ID.ATTEMPT.json</c>): the agent
/// writes it before each step, so after a restart it knows what it launched (and never launches it again),
/// what to report and what to clean up.
/// </summary>
public sealed record LocalJobRecord
{
    public required JobSpec Spec { get; init; }

    public AgentPhase Phase { get; init; } = AgentPhase.Preparing;

    /// <summary>Whether the batch script was started (set before the start, so a crash never starts it twice).</summary>
    public bool Launched { get; init; }

    public int? WrapperPid { get; init; }

    public DateTimeOffset? StartTime { get; init; }

    public DateTimeOffset? EndTime { get; init; }

    public int? ExitCode { get; init; }

    public string? Reason { get; init; }

    public bool EpilogFailed { get; init; }

    /// <summary>When the job was first signalled to stop (walltime or cleanup), for the grace period.</summary>
    public DateTimeOffset? TerminateSent { get; init; }
}

/// <summary>Paths of one attempt's files.</summary>
public sealed class LocalJobPaths(string stateDirectory, long jobId, int attempt)
{
    public string Key { get; } = string.Create(CultureInfo.InvariantCulture, $"{jobId}.{attempt}");

    public string Record => Path.Combine(stateDirectory, "jobs", Key + ".json");

    public string ExitFile => Path.Combine(stateDirectory, "jobs", Key + ".exit");

    public string NodeFile => Path.Combine(stateDirectory, "jobs", Key + ".nodes");

    /// <summary>Owned by the job's user: the script and its output.</summary>
    public string WorkDirectory => Path.Combine(stateDirectory, "work", Key);

    public string Script => Path.Combine(WorkDirectory, "script");

    public string Stdout => Path.Combine(WorkDirectory, "stdout");

    public string Stderr => Path.Combine(WorkDirectory, "stderr");

    /// <summary>
    /// Replaces the record atomically (write, then rename). Not flushed to disk: the records guard against the
    /// agent process dying, and the page cache outlives it; a machine crash takes the jobs down with it anyway.
    /// </summary>
    public static void Save(string path, LocalJobRecord record)
    {
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(record, WireJson.Options));
        File.Move(temporary, path, overwrite: true);
    }
}
