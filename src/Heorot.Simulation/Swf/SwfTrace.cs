namespace Heorot.Simulation.Swf;

/// <summary>One data line of a Standard Workload Format file: the 18 fields, -1 where unknown.</summary>
public readonly record struct SwfRecord(
    long JobNumber,
    long SubmitTime,
    long WaitTime,
    long RunTime,
    long AllocatedProcessors,
    double AverageCpuTime,
    long UsedMemory,
    long RequestedProcessors,
    long RequestedTime,
    long RequestedMemory,
    int Status,
    int UserId,
    int GroupId,
    int Executable,
    int Queue,
    int Partition,
    long PrecedingJob,
    long ThinkTime)
{
    /// <summary>1-based line of the file this record came from.</summary>
    public int Line { get; init; }
}

/// <summary>The header keys a simulator needs, parsed leniently (trailing text after the number is ignored).</summary>
public sealed record SwfHeader
{
    public int? MaxProcs { get; init; }

    public int? MaxNodes { get; init; }

    public long? MaxJobs { get; init; }

    public long? MaxRecords { get; init; }

    public long? UnixStartTime { get; init; }

    public string? Version { get; init; }

    public string? Computer { get; init; }

    public IReadOnlyDictionary<string, string> Fields { get; init; } = new Dictionary<string, string>();
}

/// <summary>A parsed trace: its header and its data lines in file order.</summary>
public sealed record SwfTrace(string Name, SwfHeader Header, IReadOnlyList<SwfRecord> Records);

/// <summary>A malformed line: says which file and line, and what is wrong.</summary>
public sealed class SwfFormatException : Exception
{
    public SwfFormatException(string file, int line, string problem)
        : base($"{file}:{line}: {problem}")
    {
        File = file;
        LineNumber = line;
        Problem = problem;
    }

    public SwfFormatException()
    {
        File = string.Empty;
        Problem = string.Empty;
    }

    public SwfFormatException(string message)
        : base(message)
    {
        File = string.Empty;
        Problem = message;
    }

    public SwfFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        File = string.Empty;
        Problem = message;
    }

    public string File { get; }

    public int LineNumber { get; }

    public string Problem { get; }
}
