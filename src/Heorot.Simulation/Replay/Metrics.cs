using System.Globalization;
using System.Text;

namespace Heorot.Simulation.Replay;

/// <summary>
/// The usual schedule metrics. Bounded slowdown uses τ = 10 s; utilization = Σ run·procs / (P · makespan);
/// makespan = last end − first submit (as in <c>shared/reference-schedules/README.md</c>).
/// </summary>
public sealed record ScheduleMetrics(int Jobs, double MeanWait, double MeanBoundedSlowdown, double MaxBoundedSlowdown, double Utilization, long Makespan)
{
    public const double Tau = 10;

    public static ScheduleMetrics Compute(IReadOnlyList<JobOutcome> jobs, int processors)
    {
        if (jobs.Count == 0)
        {
            return new ScheduleMetrics(0, 0, 0, 0, 0, 0);
        }

        double waitSum = 0, bsldSum = 0, bsldMax = 0, area = 0;
        long firstSubmit = long.MaxValue, lastEnd = long.MinValue;
        foreach (var j in jobs)
        {
            waitSum += j.Wait;
            var bsld = BoundedSlowdown(j.Wait, j.Run);
            bsldSum += bsld;
            bsldMax = Math.Max(bsldMax, bsld);
            area += (double)j.Run * j.Procs;
            firstSubmit = Math.Min(firstSubmit, j.Submit);
            lastEnd = Math.Max(lastEnd, j.Start + j.Run);
        }

        var makespan = lastEnd - firstSubmit;
        var utilization = makespan > 0 ? area / ((double)processors * makespan) : 0;
        return new ScheduleMetrics(jobs.Count, waitSum / jobs.Count, bsldSum / jobs.Count, bsldMax, utilization, makespan);
    }

    public static double BoundedSlowdown(long wait, long run) => Math.Max(1.0, (wait + run) / Math.Max(run, Tau));
}

/// <summary>Writes and reads the per-job schedule CSV shared with the reference schedules.</summary>
public static class ScheduleCsv
{
    public const string Header = "job_id,submit,wait,start,run,procs,req_time";

    public static void Write(TextWriter writer, IEnumerable<JobOutcome> jobs)
    {
        writer.Write(Header);
        writer.Write('\n');
        var line = new StringBuilder(64);
        foreach (var j in jobs)
        {
            line.Clear();
            line.Append(CultureInfo.InvariantCulture, $"{j.JobId},{j.Submit},{j.Wait},{j.Start},{j.Run},{j.Procs},{j.RequestedTime}\n");
            writer.Write(line);
        }
    }

    public static List<JobOutcome> Read(TextReader reader)
    {
        var result = new List<JobOutcome>();
        var first = reader.ReadLine();
        if (first != Header)
        {
            throw new FormatException($"expected the header '{Header}', got '{first}'");
        }

        var lineNumber = 1;
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            lineNumber++;
            var parts = line.Split(',');
            if (parts.Length != 7)
            {
                throw new FormatException($"line {lineNumber}: expected 7 columns, found {parts.Length}");
            }

            result.Add(new JobOutcome(
                long.Parse(parts[0], CultureInfo.InvariantCulture),
                long.Parse(parts[1], CultureInfo.InvariantCulture),
                long.Parse(parts[2], CultureInfo.InvariantCulture),
                long.Parse(parts[3], CultureInfo.InvariantCulture),
                long.Parse(parts[4], CultureInfo.InvariantCulture),
                int.Parse(parts[5], CultureInfo.InvariantCulture),
                long.Parse(parts[6], CultureInfo.InvariantCulture)));
        }

        return result;
    }
}
