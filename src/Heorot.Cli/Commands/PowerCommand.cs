using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Heorot.Cli.Client;
using Heorot.Cli.Output;
using Heorot.Protocol;
using Spectre.Console;

namespace Heorot.Cli.Commands;

/// <summary>
/// <c>heorot power on|off|soft|cycle|reset|status NODESET</c> (operators): one power command over a node set
/// (<c>node[1-16,20]</c>), at most <c>--window</c> BMCs at once, with progress and one result per node.
/// Exit status 0 when every node succeeded, 1 otherwise.
/// </summary>
internal static partial class UserCommands
{
    private static Command Power()
    {
        var command = new Command("power", "Node power through the BMCs (operators): on, off, soft, cycle, reset, status NODESET.");
        foreach (var (verb, description) in new[]
        {
            ("on", "Power nodes on."),
            ("off", "Power nodes off at once (hard)."),
            ("soft", "Shut nodes down gracefully (ACPI power button)."),
            ("cycle", "Power-cycle nodes (off, then on)."),
            ("reset", "Hard-reset nodes."),
            ("status", "Ask each node's BMC for its power."),
        })
        {
            var nodes = new Argument<string>("nodes") { Description = "Node set, e.g. node[1-16,20] or a1,b[2-3]." };
            var window = new Option<int?>("--window") { Description = "At most this many BMCs at once (default: the server's, 8)." };
            var force = new Option<bool>("--force") { Description = "Also nodes that hold jobs (their jobs are lost)." };
            var reason = new Option<string?>("--reason") { Description = "Why (kept in the journal)." };
            var sub = new Command(verb, description) { nodes, window, force, reason };
            sub.SetAction((parse, ct) => Guard(async () =>
            {
                var request = new PowerRequest { Nodes = parse.GetValue(nodes)!, Action = verb, Window = parse.GetValue(window), Force = parse.GetValue(force), Reason = parse.GetValue(reason) };
                var json = parse.GetValue(JsonOption);
                var results = new List<PowerResult>();
                using var client = new HeorotClient(parse.GetValue(ServerOption));

                async Task Collect(Action<PowerResult>? onEach)
                {
                    await client.PostLinesAsync("v1/power", request, line =>
                    {
                        var result = JsonSerializer.Deserialize<PowerResult>(line, WireJson.Options)!;
                        results.Add(result);
                        onEach?.Invoke(result);
                        return Task.CompletedTask;
                    }, ct);
                }

                if (!json && Terminal.ShowsProgress)
                {
                    await Terminal.Error.Progress().AutoClear(true).StartAsync(async progress =>
                    {
                        var task = progress.AddTask($"power {verb}", maxValue: 1);
                        task.IsIndeterminate = true;
                        await Collect(r =>
                        {
                            task.IsIndeterminate = false;
                            task.Description = $"power {verb}: {r.Node} {(r.Ok ? "ok" : r.Code)}";
                            task.Increment(1);
                            task.MaxValue = Math.Max(task.MaxValue, results.Count + 1);
                        });
                    });
                }
                else
                {
                    await Collect(null);
                }

                results.Sort((a, b) => string.CompareOrdinal(a.Node, b.Node));
                if (json)
                {
                    Terminal.Out.WriteLine(JsonSerializer.Serialize(results, WireJson.Options));
                }
                else
                {
                    var table = NewTable("NODE", "RESULT", "POWER", "SECONDS", "ERROR");
                    foreach (var r in results)
                    {
                        table.AddRow(
                            Markup.Escape(r.Node),
                            r.Ok ? "[green]ok[/]" : $"[red]{Markup.Escape(r.Code ?? "failed")}[/]",
                            Markup.Escape(r.State ?? "-"),
                            r.Seconds.ToString("0.00", CultureInfo.InvariantCulture),
                            Markup.Escape(r.Error ?? string.Empty));
                    }

                    Terminal.Rich.Write(table);
                    var failed = results.Count(r => !r.Ok);
                    Terminal.Err.WriteLine($"power {verb}: {results.Count - failed} of {results.Count} node(s) ok");
                }

                return results.All(r => r.Ok) ? 0 : 1;
            }));
            command.Subcommands.Add(sub);
        }

        return command;
    }
}
