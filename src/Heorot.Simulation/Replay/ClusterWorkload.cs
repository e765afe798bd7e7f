using System.Globalization;
using Heorot.Model.Requests;

namespace Heorot.Simulation.Replay;

/// <summary>A job of a hierarchical workload: when it arrives, how long it really runs, who asks, and its request.</summary>
public sealed record ClusterWorkloadJob(long Id, long Submit, long Run, string User, JobRequest Request, int Line);

/// <summary>A bad line of a workload file: names the file, the line and what is wrong.</summary>
public sealed class WorkloadFormatException : Exception
{
    public WorkloadFormatException(string file, int line, string problem, string? caret = null)
        : base($"{file}:{line}: {problem}" + (caret == null ? string.Empty : "\n" + caret))
    {
        File = file;
        LineNumber = line;
    }

    public WorkloadFormatException()
    {
        File = string.Empty;
    }

    public WorkloadFormatException(string message)
        : base(message)
    {
        File = string.Empty;
    }

    public WorkloadFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        File = string.Empty;
    }

    public string File { get; }

    public int LineNumber { get; }
}

/// <summary>
/// Reads a hierarchical workload, one job per line: <c>SUBMIT RUN USER ARGUMENTS…</c>, where SUBMIT and RUN are
/// seconds and ARGUMENTS are the request as <c>heorot sub</c> takes it in OAR style
/// (<c>-l "/switch=1/nodes=4/core=2,walltime=2:00:00" -p "gpu &gt;= 2" --after 3</c>). Blank lines and lines starting
/// with <c>#</c> are ignored. Job ids are line order (1, 2, …) so that <c>--after</c> can name earlier jobs.
/// </summary>
public static class ClusterWorkload
{
    /// <summary>About 31 700 years: times stay far from the 64-bit range the engine computes in.</summary>
    public const long MaxSeconds = 1_000_000_000_000;

    public static IReadOnlyList<ClusterWorkloadJob> Parse(string text, string fileName)
    {
        var jobs = new List<ClusterWorkloadJob>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            var trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] == '#')
            {
                continue;
            }

            var parts = trimmed.Split((char[]?)null, 4, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3)
            {
                throw new WorkloadFormatException(fileName, i + 1, "expected SUBMIT RUN USER [ARGUMENTS]");
            }

            if (!long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var submit) || submit > MaxSeconds)
            {
                throw new WorkloadFormatException(fileName, i + 1, $"SUBMIT must be a whole number of seconds up to {MaxSeconds}, got '{parts[0]}'");
            }

            if (!long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var run) || run <= 0 || run > MaxSeconds)
            {
                throw new WorkloadFormatException(fileName, i + 1, $"RUN must be a positive number of seconds up to {MaxSeconds}, got '{parts[1]}'");
            }

            JobRequest request;
            try
            {
                request = JobRequest.Parse(parts.Length > 3 ? parts[3] : string.Empty);
            }
            catch (RequestParseException e)
            {
                throw new WorkloadFormatException(fileName, i + 1, e.Message, e.Caret);
            }

            foreach (var after in request.After)
            {
                if (after < 1 || after > jobs.Count)
                {
                    throw new WorkloadFormatException(fileName, i + 1, $"--after {after}: no earlier job has that id (jobs are numbered by line order from 1)");
                }
            }

            jobs.Add(new ClusterWorkloadJob(jobs.Count + 1, submit, run, parts[2], request, i + 1));
        }

        return jobs;
    }
}
