using Heorot.Simulation.Swf;
using Heorot.Tests.Support;

namespace Heorot.Tests.Simulation.Swf;

public class SwfReaderTests
{
    private const string Header = """
        ; Version: 2.2
        ; Computer: IBM SP2
        ; MaxJobs: 79302
        ; MaxRecords: 79302
        ; MaxNodes: 338 (batch partition; 512 total)
        ; MaxProcs: 338
        ; Note: free text: with a colon
        ;
        """;

    [Fact]
    public void Read_RealHeaderQuirks_ParsesLeadingIntegersAndKeepsFields()
    {
        var trace = SwfReader.Read(new StringReader(Header + "\n    1        0 588530    937  306 142.00    -1   -1  35100    -1  1  97  -1 307  3 -1 -1 -1\n"), "t.swf");

        Assert.Equal(338, trace.Header.MaxNodes);
        Assert.Equal(338, trace.Header.MaxProcs);
        Assert.Equal(79302, trace.Header.MaxJobs);
        Assert.Equal("IBM SP2", trace.Header.Computer);
        var r = Assert.Single(trace.Records);
        Assert.Equal((1L, 0L, 937L, 306L, -1L, 35100L), (r.JobNumber, r.SubmitTime, r.RunTime, r.AllocatedProcessors, r.RequestedProcessors, r.RequestedTime));
        Assert.Equal(142.0, r.AverageCpuTime);
        Assert.Equal(9, r.Line);
    }

    [Theory]
    [InlineData("1 0 0 10 2 -1 -1 2 20 -1 1 1 1 1 1 1 -1", "t.swf:2: expected 18 fields, found 17")]
    [InlineData("1 0 0 10 2 -1 -1 2 20 -1 1 1 1 1 1 1 -1 -1 7", "t.swf:2: expected 18 fields, found more")]
    [InlineData("1 0 0 ten 2 -1 -1 2 20 -1 1 1 1 1 1 1 -1 -1", "t.swf:2: field 4 is not a number: 'ten'")]
    public void Read_MalformedLine_ErrorNamesFileAndLine(string line, string message)
    {
        var e = Assert.Throws<SwfFormatException>(() => SwfReader.Read(new StringReader("; MaxProcs: 8\n" + line + "\n"), "t.swf"));

        Assert.Equal(message, e.Message);
        Assert.Equal(2, e.LineNumber);
    }

    [Fact]
    public void Read_SkipMalformed_KeepsOnlyFullLines()
    {
        var text = "; options dump\nnot a job line\n1 0 0 10 2 -1 -1 2 20 -1 1 1 1 1 1 1 -1 -1\n";

        var trace = SwfReader.Read(new StringReader(text), "out.swf", skipMalformed: true);

        Assert.Equal(3, Assert.Single(trace.Records).Line);
    }

    [Fact]
    public void StrongFilter_AppliesTheReferenceRulesInOrder()
    {
        SwfRecord R(long id, long submit, long run, long alloc, long req, long reqTime) =>
            new(id, submit, -1, run, alloc, -1, -1, req, reqTime, -1, 1, 1, 1, 1, 1, 1, -1, -1);
        var records = new[]
        {
            R(1, 0, 100, 4, -1, 200),   // requested copied from allocated
            R(2, 0, 100, 9, 4, 200),    // allocated > P: dropped
            R(3, 0, 0, 4, 4, 200),      // no run time: dropped
            R(4, 0, 100, 4, 4, -1),     // no requested time: dropped
            R(5, 0, 300, -1, 2, 200),   // run truncated to the requested time; allocated copied from requested
            R(6, -5, 100, 4, 4, 200),   // negative submit: dropped
            R(7, 0, 100, -1, -1, 200),  // no processors: dropped
        };

        var jobs = StrongFilter.Apply(records, 8);

        Assert.Equal([1L, 5L], jobs.Select(j => j.Id));
        Assert.Equal(4, jobs[0].Procs);
        Assert.Equal((200L, 2), (jobs[1].Run, jobs[1].Procs));
    }

    /// <summary>Every real trace shipped beside the repository reads without error, header or not.</summary>
    [Fact]
    public void ReadFile_EveryRealTrace_Reads()
    {
        var folder = Path.GetDirectoryName(SharedFiles.Path("traces", "KTH-SP2-1996-2.swf.gz"))!;
        var files = Directory.GetFiles(folder, "*.swf.gz");
        Assert.True(files.Length >= 20, $"expected the archive's traces in {folder}, found {files.Length}");
        foreach (var file in files)
        {
            var trace = SwfReader.ReadFile(file);
            Assert.True(trace.Records.Count > 10_000, $"{Path.GetFileName(file)}: only {trace.Records.Count} records");
        }
    }
}
