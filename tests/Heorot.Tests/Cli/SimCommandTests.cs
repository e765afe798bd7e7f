using System.Text.Json;
using Heorot.Cli;
using Heorot.Cli.Output;
using Heorot.Tests.Support;

namespace Heorot.Tests.Cli;

/// <summary>The <c>heorot sim</c> interface other checks depend on: flags, JSON keys, CSV columns, clear errors.</summary>
public class SimCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        // Never Console.SetOut: the test runner talks to its host over the process's standard output.
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = Terminal.Capture(stdout, stderr, () => Program.Main(args));
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Sim_TraceWithJsonAndOut_PrintsTheSevenKeysAndWritesSortedCsv()
    {
        var csv = Path.Combine(Path.GetTempPath(), $"heorot-sim-{Guid.NewGuid():N}.csv");
        try
        {
            var (code, output, error) = Run("sim", "--trace", SharedFiles.Path("traces", "KTH-SP2-1996-2.swf.gz"), "--policy", "easy", "--compat", "pyss", "--out", csv, "--json");

            Assert.True(code == 0, error);
            using var json = JsonDocument.Parse(output);
            var keys = json.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
            Assert.Equal(["jobs", "mean_wait", "mean_bsld", "max_bsld", "utilization", "makespan", "seconds"], keys);
            Assert.Equal(28481, json.RootElement.GetProperty("jobs").GetInt32());
            Assert.Equal(6836.87, json.RootElement.GetProperty("mean_wait").GetDouble(), 2);
            var lines = File.ReadAllLines(csv);
            Assert.Equal("job_id,submit,wait,start,run,procs,req_time", lines[0]);
            Assert.Equal(28482, lines.Length);
            var submits = lines.Skip(1).Select(l => long.Parse(l.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(submits.Order(), submits);
        }
        finally
        {
            File.Delete(csv);
        }
    }

    [Fact]
    public void Sim_Generated_RunsTheEmbeddedDefault()
    {
        var (code, output, error) = Run("sim", "--generate", "2000", "--procs", "64", "--policy", "conservative", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(2000, json.RootElement.GetProperty("jobs").GetInt32());
        Assert.InRange(json.RootElement.GetProperty("utilization").GetDouble(), 0.01, 1.0);
    }

    [Theory]
    [InlineData(new[] { "sim", "--trace", "/nonexistent/x.swf", "--policy", "easy" }, "no such file")]
    [InlineData(new[] { "sim", "--generate", "10", "--policy", "sjf" }, "--policy: unknown policy 'sjf'")]
    [InlineData(new[] { "sim", "--generate", "10", "--procs", "0" }, "--procs: expected a positive number")]
    [InlineData(new[] { "sim", "--generate", "10", "--compat", "slurm" }, "--compat: unknown simulator 'slurm'")]
    public void Sim_BadInput_ClearErrorAndExitCode2(string[] args, string message)
    {
        var (code, _, error) = Run(args);

        Assert.Equal(2, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Sim_ElasticJson_AlwaysOnFirstThenEachPolicyWithItsShareOfTheIdeal()
    {
        var (code, output, error) = Run("sim", "--generate", "500", "--procs", "32", "--policy", "easy", "--json",
            "--power", "boot=120s,idle=100W,busy=250W,off=5W", "--elastic", "idle-timeout:600", "--elastic", "plan");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(32, root.GetProperty("nodes").GetInt32());
        Assert.True(root.GetProperty("ideal_off_node_hours").GetDouble() > 0);
        var runs = root.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(["none", "idle-timeout:600s", "plan"], runs.Select(r => r.GetProperty("elastic").GetString()));
        Assert.Equal(0, runs[0].GetProperty("off_node_hours").GetDouble());
        Assert.Equal(0, runs[0].GetProperty("mean_bsld_change").GetDouble());
        foreach (var run in runs.Skip(1))
        {
            Assert.Equal(500, run.GetProperty("jobs").GetInt32());
            Assert.InRange(run.GetProperty("share_of_ideal").GetDouble(), 0.01, 1.0);
            Assert.True(run.GetProperty("energy_kwh").GetDouble() < runs[0].GetProperty("energy_kwh").GetDouble());
        }
    }

    [Fact]
    public void Sim_ElasticTable_PrintsEveryPolicy()
    {
        var (code, output, error) = Run("sim", "--generate", "200", "--procs", "16", "--power", "boot=60s,idle=100W,busy=200W,off=5W", "--elastic", "idle-timeout:5m");

        Assert.True(code == 0, error);
        Assert.Contains("share of ideal", output, StringComparison.Ordinal);
        Assert.Contains("idle-timeout:300s", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "sim", "--generate", "10", "--elastic", "plan" }, "--elastic needs a power model")]
    [InlineData(new[] { "sim", "--generate", "10", "--power", "boot=120s,idle=100W,busy=250W" }, "--power: missing 'off='")]
    [InlineData(new[] { "sim", "--generate", "10", "--power", "boot=2x,idle=100W,busy=250W,off=5W" }, "boot: unknown time unit 'x'; expected s, m or h at column 7\nboot=2x,idle=100W,busy=250W,off=5W\n      ^")]
    [InlineData(new[] { "sim", "--generate", "10", "--power", "boot=2s,idle=1W,busy=2W,off=0W", "--elastic", "plan:warm=x" }, "--elastic: warm: expected a whole number")]
    [InlineData(new[] { "sim", "--generate", "10", "--power", "boot=2s,idle=1W,busy=2W,off=0W", "--elastic", "sleepy" }, "--elastic: unknown policy 'sleepy'")]
    [InlineData(new[] { "sim", "--generate", "10", "--compat", "pyss", "--power", "boot=2s,idle=1W,busy=2W,off=0W" }, "drop --compat pyss")]
    [InlineData(new[] { "sim", "--generate", "10", "--procs", "10", "--procs-per-node", "4" }, "10 processors do not make whole nodes of 4")]
    [InlineData(new[] { "sim", "--generate", "10", "--procs-per-node", "0" }, "--procs-per-node: expected a positive number")]
    [InlineData(new[] { "sim", "--cluster", "x.yaml", "--power", "boot=2s,idle=1W,busy=2W,off=0W" }, "not supported yet")]
    public void Sim_BadElasticInput_ClearErrorAndExitCode2(string[] args, string message)
    {
        var (code, _, error) = Run(args);

        Assert.Equal(2, code);
        Assert.Contains(message.Replace("\\n", "\n", StringComparison.Ordinal), error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Sim_MalformedTraceLine_ErrorNamesTheLine()
    {
        var path = Path.Combine(Path.GetTempPath(), $"heorot-bad-{Guid.NewGuid():N}.swf");
        File.WriteAllText(path, "; MaxProcs: 8\n1 0 0 10 2 -1 -1 2 20 -1 1 1 1 1 1 1 -1 -1\n2 5 0 10 2 -1 -1 2 20 -1 1 1 1\n");
        try
        {
            var (code, _, error) = Run("sim", "--trace", path, "--policy", "fcfs");

            Assert.Equal(2, code);
            Assert.Contains(":3: expected 18 fields, found 13", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
