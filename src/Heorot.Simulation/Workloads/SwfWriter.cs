using System.Globalization;

namespace Heorot.Simulation.Workloads;

/// <summary>
/// Writes generated jobs in the Standard Workload Format, version 2.2
/// (Parallel Workloads Archive): header comments, then 18 whitespace-separated fields per job,
/// -1 where a field is unknown.
/// </summary>
public static class SwfWriter
{
    /// <summary>Writes the header and one line per job.</summary>
    public static void Write(TextWriter writer, IEnumerable<GeneratedJob> jobs, int maxProcs, string note)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxProcs);
        var list = jobs as IReadOnlyCollection<GeneratedJob> ?? jobs.ToList();
        string oneLineNote = (note ?? string.Empty).ReplaceLineEndings(" ");

        writer.Write("; Version: 2.2\n");
        writer.Write("; Computer: Heorot synthetic machine\n");
        writer.Write(FormattableString.Invariant($"; MaxJobs: {list.Count}\n"));
        writer.Write(FormattableString.Invariant($"; MaxRecords: {list.Count}\n"));
        writer.Write(FormattableString.Invariant($"; MaxNodes: {maxProcs}\n"));
        writer.Write(FormattableString.Invariant($"; MaxProcs: {maxProcs}\n"));
        writer.Write("; UnixStartTime: 0\n");
        writer.Write("; TimeZoneString: UTC\n");
        writer.Write("; Queues: 1 batch\n");
        writer.Write($"; Note: {oneLineNote}\n");

        foreach (var job in list)
        {
            // 1 id, 2 submit, 3 wait, 4 run, 5 allocated procs, 6 avg CPU, 7 used memory,
            // 8 requested procs, 9 requested time, 10 requested memory, 11 status (1 = completed),
            // 12 user, 13 group, 14 executable, 15 queue, 16 partition, 17 preceding job, 18 think time.
            writer.Write(string.Create(
                CultureInfo.InvariantCulture,
                $"{job.Id} {job.Submit} -1 {job.RunTime} {job.Procs} -1 -1 {job.Procs} {job.RequestedTime} -1 1 {job.User} -1 -1 1 -1 -1 -1\n"));
        }
    }
}
