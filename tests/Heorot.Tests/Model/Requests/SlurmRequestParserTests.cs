using Heorot.Model;
using Heorot.Model.Requests;

namespace Heorot.Tests.Model.Requests;

public class SlurmRequestParserTests
{
    [Theory]
    [InlineData("-N 2 --ntasks-per-node=4 -c 2", "/node=2/core=8")]
    [InlineData("--nodes=2-4", "/node=2")]
    [InlineData("-n 8 -c 2", "/core=16")]
    [InlineData("-n 8", "/core=8")]
    [InlineData("", "/core=1")]
    [InlineData("-N 2 -n 5", "/node=2/core=3")]
    [InlineData("-N 3 -c 4", "/node=3/core=4")]
    [InlineData("-n 8 --ntasks-per-node 4", "/node=2/core=4")]
    [InlineData("-N1 --mem=4G --gres=gpu:2", "/node=1:mem=4096:gpus=2")]
    [InlineData("-N1 --mem 512K", "/node=1:mem=1")]
    [InlineData("-N1 --mem=2t", "/node=1:mem=2097152")]
    [InlineData("-N1 --gres=gpu:a100:4", "/node=1{gpu_model = 'a100'}:gpus=4")]
    [InlineData("-N1 --gres=gpu", "/node=1:gpus=1")]
    public void Parse_ResourceFlags_MapToResourceString(string args, string expected)
    {
        var request = SlurmRequestParser.Parse(Split(args));
        Assert.Equal(expected, request.Alternatives[0].ToResourceString());
    }

    [Theory]
    [InlineData("30", 1800)]
    [InlineData("30:15", 1815)]
    [InlineData("2:00:00", 7200)]
    [InlineData("1-2", 93600)]
    [InlineData("1-2:30", 95400)]
    [InlineData("1-2:30:05", 95405)]
    public void ParseTime_SlurmFormats_AreRead(string text, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), SlurmRequestParser.ParseTime(text));

    [Theory]
    [InlineData("0")]
    [InlineData("UNLIMITED")]
    [InlineData("infinite")]
    public void ParseTime_NoLimit_IsNull(string text) => Assert.Null(SlurmRequestParser.ParseTime(text));

    [Fact]
    public void Parse_JobLevelFlags_FillRequest()
    {
        var request = SlurmRequestParser.Parse(
            ["-p", "gpu", "-J", "train", "--dependency=afterok:12:13,afterok:14", "-t", "1-0", "-C", "a&b|c", "-o", "out.log", "--exclusive"]);

        Assert.Equal("gpu", request.Queue);
        Assert.Equal("train", request.Name);
        Assert.Equal([12L, 13L, 14L], request.After);
        Assert.Equal(TimeSpan.FromDays(1), request.Alternatives[0].Walltime);
        Assert.Equal(PropertyExpr.Parse("a and b or c"), request.Alternatives[0].Filter);
    }

    [Fact]
    public void ParseConstraint_Parentheses_GroupFeatures()
    {
        var expr = SlurmRequestParser.ParseConstraint("(a|b)&c");
        Assert.Equal("(a or b) and c", expr.ToString());
        Assert.True(expr.Evaluate(PropertyBag.Of(("b", true), ("c", true))));
        Assert.False(expr.Evaluate(PropertyBag.Of(("a", true))));
    }

    [Theory]
    [InlineData("--time=1:xx", "--time", 3, "expected a number")]
    [InlineData("--time=1-2:75", "--time", 5, "expected minutes or seconds below 60")]
    [InlineData("--nodes=4-2", "--nodes", 3, "range maximum below its minimum")]
    [InlineData("--mem=4X", "--mem", 2, "unexpected 'X'")]
    [InlineData("--gres=nic:1", "--gres", 1, "only 'gpu' generic resources are supported")]
    [InlineData("--dependency=afterany:1", "--dependency", 1, "only 'afterok:ID[:ID]' dependencies are supported")]
    [InlineData("--constraint=a&", "--constraint", 3, "expected a feature name")]
    [InlineData("--constraint=(a", "--constraint", 3, "expected ')'")]
    [InlineData("-c 0", "--cpus-per-task", 1, "expected a positive number")]
    public void Parse_BadValue_ThrowsNamingFlag(string args, string source, int column, string reason)
    {
        var e = Assert.Throws<RequestParseException>(() => SlurmRequestParser.Parse(Split(args)));
        Assert.Equal((source, column, reason), (e.Source, e.Column, e.Reason));
    }

    [Theory]
    [InlineData("--bogus", "unknown option '--bogus'")]
    [InlineData("-N", "option '-N' needs a value")]
    [InlineData("stray", "unexpected argument 'stray'")]
    [InlineData("--exclusive=yes", "option '--exclusive' takes no value")]
    public void Parse_BadArgument_Throws(string args, string reason)
    {
        var e = Assert.Throws<RequestParseException>(() => SlurmRequestParser.Parse(Split(args)));
        Assert.Equal(reason, e.Reason);
    }

    [Fact]
    public void Parse_Output_RoundTripsThroughOarForm()
    {
        var request = SlurmRequestParser.Parse(
            ["-N", "2", "--ntasks-per-node=4", "--mem=8G", "--gres=gpu:v100:2", "-C", "ib&(a|b)", "-t", "90", "-p", "q", "-d", "afterok:5"]);

        Assert.Equal(request, JobRequest.Parse(request.ToString()));
        Assert.Equal(PropertyValue.Of("v100"), ((Comparison)request.Alternatives[0].Groups[0].Filter!).Right.Resolve(PropertyBag.Of()));
    }

    private static string[] Split(string args) => args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
