using Heorot.Model.Requests;

namespace Heorot.Tests.Model.Requests;

public class ScriptDirectivesTests
{
    [Fact]
    public void Parse_SbatchHeader_UsesSlurmFrontEnd()
    {
        const string script = """
            #!/bin/bash
            # a comment
            #SBATCH --nodes=2 --ntasks-per-node=4
            #SBATCH --job-name "my run"   # trailing comment

            #SBATCH --time=10:00
            srun ./app
            #SBATCH --partition=ignored-after-first-command
            """;

        var request = ScriptDirectives.Parse(script);

        Assert.Equal("-l /node=2/core=4,walltime=0:10:00 -n \"my run\"", request.ToString());
    }

    [Fact]
    public void Parse_OarAndHeorotHeader_CombineOarStyleFlags()
    {
        const string script = """
            #!/bin/sh
            #OAR -l /nodes=2,walltime=1:00:00
            #OAR -p "gpu_model = 'A100'"
            #HEOROT -q besteffort -t besteffort --after 9
            hostname
            """;

        var request = ScriptDirectives.Parse(script);

        Assert.Equal("besteffort", request.Queue);
        Assert.Equal(["besteffort"], request.Types);
        Assert.Equal([9L], request.After);
        Assert.Equal(PropertyExpr.Parse("gpu_model = 'A100'"), request.Alternatives[0].Filter);
    }

    [Fact]
    public void Parse_NoDirectives_GivesDefaultRequest() =>
        Assert.Equal("-l /core=1", ScriptDirectives.Parse("#!/bin/sh\necho hi\n").ToString());

    [Fact]
    public void Parse_BadValue_NamesScriptLineAndColumn()
    {
        var e = Assert.Throws<RequestParseException>(
            () => ScriptDirectives.Parse("#!/bin/sh\n#SBATCH -N 2\n#SBATCH --time=1:xx\n"));

        Assert.Equal("script line 3", e.Source);
        Assert.Equal(18, e.Column);
        Assert.Equal("#SBATCH --time=1:xx\n                 ^", e.Caret);
        Assert.Contains("--time: expected a number", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BadDashLInQuotes_PointsInsideTheQuotes()
    {
        var e = Assert.Throws<RequestParseException>(() => ScriptDirectives.Parse("#OAR -l \"/nodes=x\"\n"));

        Assert.Equal("script line 1", e.Source);
        Assert.Equal(17, e.Column);
        Assert.Contains("expected a number at column 17", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("#SBATCH -N 1\n#OAR -l /nodes=1\n", "script line 2", "#SBATCH cannot be mixed with #OAR or #HEOROT directives")]
    [InlineData("#OAR -l '/nodes=1\n", "script line 1", "unterminated single quote")]
    [InlineData("#HEOROT --bogus\n", "script line 1", "unknown option '--bogus'")]
    public void Parse_BadDirective_Throws(string script, string source, string reason)
    {
        var e = Assert.Throws<RequestParseException>(() => ScriptDirectives.Parse(script));
        Assert.Equal((source, reason), (e.Source, e.Reason));
    }
}
