using Heorot.Model.Requests;

namespace Heorot.Tests.Model.Requests;

public class OarRequestParserTests
{
    private static LevelCount L(ResourceLevel level, int count) => new(level, count);

    [Fact]
    public void Parse_TwoGroupsWithWalltime_BuildsTree()
    {
        var request = OarRequestParser.Parse(["/switch=1/nodes=4/core=2+/nodes=1/gpu=2,walltime=2:00:00"], null);

        var expected = new JobRequest([
            new ResourceAlternative(
                [
                    new ResourceGroup([L(ResourceLevel.Switch, 1), L(ResourceLevel.Node, 4), L(ResourceLevel.Core, 2)]),
                    new ResourceGroup([L(ResourceLevel.Node, 1), L(ResourceLevel.Gpu, 2)]),
                ],
                TimeSpan.FromHours(2)),
        ]);
        Assert.Equal(expected, request);
        Assert.Equal("-l /switch=1/node=4/core=2+/node=1/gpu=2,walltime=2:00:00", request.ToString());
    }

    [Theory]
    [InlineData("nodes=2,walltime=1:30", 5400)]
    [InlineData("/host=2,walltime=3", 10800)]
    [InlineData("/NODE=2 , WALLTIME = 0:00:05", 5)]
    public void Parse_WalltimeFormats_AreRead(string dashL, int seconds)
    {
        var alternative = OarRequestParser.Parse([dashL], null).Alternatives[0];
        Assert.Equal(TimeSpan.FromSeconds(seconds), alternative.Walltime);
        Assert.Equal([L(ResourceLevel.Node, 2)], alternative.Groups[0].Levels);
    }

    [Fact]
    public void Parse_RepeatedDashL_GivesMoldableAlternativesSharingFilter()
    {
        var request = OarRequestParser.Parse(["/nodes=4,walltime=1:00:00", "/nodes=2,walltime=2:00:00"], "gpu_model = 'A100'");

        Assert.Equal(2, request.Alternatives.Count);
        Assert.All(request.Alternatives, a => Assert.Equal(PropertyExpr.Parse("gpu_model='A100'"), a.Filter));
        Assert.Equal(TimeSpan.FromHours(2), request.Alternatives[1].Walltime);
    }

    [Fact]
    public void Parse_GroupFilterAndConsumables_AreKeptPerGroup()
    {
        var request = OarRequestParser.Parse(["{cluster='a'}/nodes=2{gpu_model='A100'}/core=ALL:mem=4G:gpus=2+/core=1"], " ");

        var group = request.Alternatives[0].Groups[0];
        Assert.Equal(PropertyExpr.Parse("cluster = 'a' and gpu_model = 'A100'"), group.Filter);
        Assert.Equal(4096, group.MemoryPerNodeMb);
        Assert.Equal(2, group.GpusPerNode);
        Assert.True(group.Levels[1].IsAll);
        Assert.Null(request.Alternatives[0].Filter);
        Assert.Null(request.Alternatives[0].Groups[1].Filter);
    }

    [Fact]
    public void Parse_NoDashL_GivesOneCore()
    {
        var request = OarRequestParser.Parse([], null);
        Assert.Equal([L(ResourceLevel.Core, 1)], request.Alternatives[0].Groups[0].Levels);
        Assert.Equal("-l /core=1", request.ToString());
    }

    [Fact]
    public void Parse_BadCount_ReportsColumnEight()
    {
        var e = Assert.Throws<RequestParseException>(() => OarRequestParser.Parse(["/nodes=x"], null));

        Assert.Contains("expected a number at column 8", e.Message, StringComparison.Ordinal);
        Assert.Equal("-l", e.Source);
        Assert.Equal("/nodes=x", e.Text);
        Assert.Equal("/nodes=x\n       ^", e.Caret);
    }

    [Theory]
    [InlineData("/core=2/nodes=1", 9, "level 'node' must come before 'core'")]
    [InlineData("/nodes=1/host=2", 10, "level 'node' given twice")]
    [InlineData("/rack=1", 2, "unknown resource level 'rack' (cluster, switch, node, gpu, cpu, core)")]
    [InlineData("/nodes=0", 8, "expected a positive number")]
    [InlineData("/nodes=99999999999", 8, "number too large")]
    [InlineData("/nodes=2,walltime=1:75", 21, "expected minutes or seconds below 60")]
    [InlineData("/nodes=2,walltime=0", 19, "walltime must be positive")]
    [InlineData("/nodes=2,mem=3", 10, "expected 'walltime='")]
    [InlineData("/nodes=2{gpu", 13, "expected '}'")]
    [InlineData("/nodes=2:disk=3", 10, "unknown or repeated group option 'disk'")]
    [InlineData("", 1, "expected a resource level")]
    [InlineData("/nodes=2+", 10, "expected a resource level")]
    [InlineData("/nodes=2 x", 10, "expected ','")]
    public void Parse_BadDashL_ThrowsAtColumn(string dashL, int column, string reason)
    {
        var e = Assert.Throws<RequestParseException>(() => OarRequestParser.Parse([dashL], null));
        Assert.Equal((column, reason), (e.Column, e.Reason));
    }

    [Fact]
    public void Parse_BadDashP_NamesDashP()
    {
        var e = Assert.Throws<RequestParseException>(() => OarRequestParser.Parse(["/nodes=1"], "mem >"));
        Assert.Equal("-p", e.Source);
        Assert.Equal("mem >\n     ^", e.Caret);
    }

    [Fact]
    public void ParseArguments_AllFlags_FillJobLevelFields()
    {
        var request = OarRequestParser.ParseArguments(
            ["-l", "/nodes=1", "-q", "production", "-n", "my job", "-t", "besteffort", "--after", "42", "--after=7", "-pgpu"]);

        Assert.Equal("production", request.Queue);
        Assert.Equal("my job", request.Name);
        Assert.Equal(["besteffort"], request.Types);
        Assert.Equal([42L, 7L], request.After);
        Assert.Equal(new TruthTest("gpu"), request.Alternatives[0].Filter);
    }

    [Fact]
    public void ParseArguments_UnknownFlag_Throws()
    {
        var e = Assert.Throws<RequestParseException>(() => OarRequestParser.ParseArguments(["-z", "1"]));
        Assert.Equal("unknown option '-z'", e.Reason);
    }

    [Fact]
    public void ParseArguments_OnePerAlternativeFilters_RoundTrip()
    {
        var request = OarRequestParser.ParseArguments(["-l", "/node=1", "-l", "/node=2", "-p", "a", "-p", ""]);

        Assert.Equal(new TruthTest("a"), request.Alternatives[0].Filter);
        Assert.Null(request.Alternatives[1].Filter);
        Assert.Equal("-l /node=1 -l /node=2 -p a -p \"\"", request.ToString());
        Assert.Equal(request, JobRequest.Parse(request.ToString()));
    }

    [Fact]
    public void ParseArguments_FilterCountMismatch_Throws()
    {
        var e = Assert.Throws<RequestParseException>(
            () => OarRequestParser.ParseArguments(["-l", "/node=1", "-l", "/node=2", "-l", "/node=3", "-p", "a", "-p", "b"]));
        Assert.Equal("-p", e.Source);
    }

    [Fact]
    public void ToString_FullRequest_ParsesBackEqual()
    {
        var request = OarRequestParser.ParseArguments(
            ["-l", "/switch=1/nodes=2{x = 'a}b'}:mem=100:gpus=1,walltime=100:00:01", "-p", "mem > 3 or name like 'a\"b%'", "-n", "a \\ b"]);

        var text = request.ToString();

        Assert.Equal(request, JobRequest.Parse(text));
    }
}
