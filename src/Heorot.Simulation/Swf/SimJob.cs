namespace Heorot.Simulation.Swf;

/// <summary>A job as a simulation replays it: submit, actual run, processors and requested time.</summary>
public sealed record SimJob(long Id, long Submit, long Run, int Procs, long RequestedTime, int User = -1, int Group = -1, int Queue = -1);

/// <summary>
/// The reference simulator's input filter ("strong filter"), applied line by line in this order
/// (P = machine size), exactly as <c>shared/reference-schedules/README.md</c> states it.
/// </summary>
public static class StrongFilter
{
    public static List<SimJob> Apply(IEnumerable<SwfRecord> records, int processors)
    {
        var jobs = new List<SimJob>();
        foreach (var r in records)
        {
            // 1. more processors than the machine has, allocated or requested
            if (r.AllocatedProcessors > processors || r.RequestedProcessors > processors)
            {
                continue;
            }

            // 2. one of the two processor counts, or drop
            var allocated = r.AllocatedProcessors;
            var requested = r.RequestedProcessors;
            if (allocated <= 0 && requested <= 0)
            {
                continue;
            }

            if (requested <= 0)
            {
                requested = allocated;
            }

            // 3.-4. run and requested times must be positive
            if (r.RunTime <= 0 || r.RequestedTime <= 0)
            {
                continue;
            }

            // 5. a job is killed at its requested time
            var run = Math.Min(r.RunTime, r.RequestedTime);

            // 6. no negative submit times
            if (r.SubmitTime < 0)
            {
                continue;
            }

            jobs.Add(new SimJob(r.JobNumber, r.SubmitTime, run, (int)requested, r.RequestedTime, r.UserId, r.GroupId, r.Queue));
        }

        return jobs;
    }
}
