using System.Globalization;
using Heorot.Simulation.Workloads;

namespace Heorot.Tests.Simulation.Workloads;

public class SwfWriterTests
{
    [Fact]
    public void Write_GeneratedJobs_HeaderAndEighteenNumericFields()
    {
        var jobs = LublinFeitelsonModel.Generate(200, 64, 5);
        using var text = new StringWriter(CultureInfo.InvariantCulture);

        SwfWriter.Write(text, jobs, 64, "Lublin-Feitelson batch model,\nseed 5");

        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var header = lines.Where(l => l.StartsWith(';')).ToList();
        var data = lines.Where(l => !l.StartsWith(';')).ToList();
        Assert.Contains("; Version: 2.2", header);
        Assert.Contains("; MaxProcs: 64", header);
        Assert.Contains("; MaxJobs: 200", header);
        Assert.Contains("; MaxRecords: 200", header);
        Assert.Contains("; Note: Lublin-Feitelson batch model, seed 5", header);
        Assert.Equal(200, data.Count);
        foreach (string line in data)
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(18, fields.Length);
            Assert.All(fields, f => Assert.True(long.TryParse(f, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _), f));
        }
    }

    [Fact]
    public void Write_OneJob_FieldsInSwfOrder()
    {
        var job = new GeneratedJob(3, 100, 60, 4, 300, 2);
        using var text = new StringWriter(CultureInfo.InvariantCulture);

        SwfWriter.Write(text, [job], 8, "n");

        string data = text.ToString().Split('\n').Single(l => l.Length > 0 && !l.StartsWith(';'));
        Assert.Equal("3 100 -1 60 4 -1 -1 4 300 -1 1 2 -1 -1 1 -1 -1 -1", data);
    }
}
