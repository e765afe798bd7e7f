using System.CommandLine;
using System.Text.Json;
using Heorot.Cli.Output;
using Heorot.Model.Requests;
using Heorot.Model.Resources;
using Heorot.Scheduling.Live;

namespace Heorot.Cli.Commands;

/// <summary>
/// <c>heorot request</c>: parses a resource request with any front-end and prints its canonical form, so a user
/// can check what a script's directives or Slurm flags mean before submitting; with <c>--cluster</c>, also what
/// it asks of that cluster.
/// </summary>
internal static class RequestCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Front-end of the arguments: oar (-l/-p/-q/-t/--after) or slurm (--nodes, --ntasks, --gres, …).", DefaultValueFactory = _ => "oar" };
        var script = new Option<FileInfo?>("--script") { Description = "Read the #HEOROT, #SBATCH or #OAR directives at the top of a batch script." };
        var cluster = new Option<FileInfo?>("--cluster") { Description = "Also show what the request asks of this cluster (eligible nodes per group)." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("request", "Parse a resource request (OAR, Slurm or script directives) and print its canonical form.")
        {
            from, script, cluster, json,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse => Run(parse.GetValue(from)!, parse.GetValue(script), parse.GetValue(cluster), parse.GetValue(json), parse.UnmatchedTokens));
        return command;
    }

    private static int Run(string from, FileInfo? script, FileInfo? clusterFile, bool json, IReadOnlyList<string> args)
    {
        JobRequest request;
        try
        {
            if (script != null)
            {
                if (!script.Exists)
                {
                    return Terminal.Fail($"--script: no such file: {script.FullName}");
                }

                request = ScriptDirectives.Parse(File.ReadAllText(script.FullName));
            }
            else
            {
                request = from.ToLowerInvariant() switch
                {
                    "oar" => OarRequestParser.ParseArguments(args),
                    "slurm" => SlurmRequestParser.Parse(args),
                    _ => throw new RequestParseException("--from", from, 1, "expected oar or slurm"),
                };
            }
        }
        catch (RequestParseException e)
        {
            return Terminal.Fail(e.Message + "\n" + e.Caret);
        }

        var groups = new List<string>();
        if (clusterFile != null)
        {
            try
            {
                var compiler = new RequestCompiler(ClusterDescription.Load(clusterFile.FullName));
                foreach (var alternative in compiler.Compile(request, TimeSpan.FromHours(1)))
                {
                    groups.AddRange(alternative.Demand.Groups.Select(g => $"{g.Description} for {alternative.Walltime} s: {g.Eligible?.Length ?? compiler.Shape.NodeCount} eligible node(s)"));
                }
            }
            catch (ClusterDescriptionException e)
            {
                return Terminal.Fail(e.Message);
            }
        }

        if (json)
        {
            Terminal.Out.WriteLine(JsonSerializer.Serialize(new RequestView(request.ToString(), request.ToArguments(), groups), JsonOptions));
        }
        else
        {
            Terminal.Out.WriteLine(request.ToString());
            foreach (var g in groups)
            {
                Terminal.Out.WriteLine("  " + g);
            }
        }

        return 0;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // terminal output, not HTML
    };

    private sealed record RequestView(string Canonical, IReadOnlyList<string> Arguments, IReadOnlyList<string> OnCluster);
}
