using System.IO.Compression;
using Heorot.Scheduling.Policies;
using Heorot.Simulation.Replay;
using Heorot.Simulation.Swf;
using Heorot.Tests.Support;

namespace Heorot.Tests.Simulation;

/// <summary>
/// Job-for-job validation against schedules produced by an independent simulator (pyss): the engine in its
/// pyss-compatible mode must give every job the same start time.
/// </summary>
public class ReferenceScheduleTests
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        (string Trace, string Reference)[] traces =
        [
            ("KTH-SP2-1996-2.swf.gz", "KTH-v2"),
            ("KTH-SP2-1996-2.1-cln.swf.gz", "KTH-cln"),
            ("CTC-SP2-1996-3.1-cln.swf.gz", "CTC"),
            ("LANL-CM5-1994-4.1-cln.swf.gz", "LANL-CM5"),
        ];
        foreach (var (trace, reference) in traces)
        {
            foreach (var policy in new[] { "fcfs", "easy", "cons" })
            {
                data.Add(trace, reference, policy);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Run_PyssMode_MatchesReferenceStartForEveryJob(string trace, string reference, string policy)
    {
        var swf = SwfReader.ReadFile(SharedFiles.Path("traces", trace));
        var processors = swf.Header.MaxProcs!.Value;
        var jobs = StrongFilter.Apply(swf.Records, processors);
        Assert.True(PolicyKinds.TryParse(policy, out var kind));

        var outcomes = Simulator.Run(jobs, new SimulationOptions(kind, processors, SimulationMode.Pyss));

        var expected = ReadReference(SharedFiles.Path("reference-schedules", "pyss-run-here", $"{reference}.{policy}.csv.gz"));
        Assert.Equal(expected.Count, outcomes.Count);
        var differences = new List<string>();
        for (var i = 0; i < expected.Count; i++)
        {
            if (expected[i] != outcomes[i])
            {
                differences.Add($"expected {expected[i]}, got {outcomes[i]}");
            }
        }

        Assert.True(differences.Count == 0, $"{differences.Count} of {expected.Count} jobs differ; first: {string.Join("; ", differences.Take(3))}");
    }

    private static List<JobOutcome> ReadReference(string path)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        return ScheduleCsv.Read(reader);
    }
}
