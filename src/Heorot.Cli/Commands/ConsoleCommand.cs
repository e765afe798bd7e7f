using System.CommandLine;
using System.Net.WebSockets;
using System.Text.Json;
using Heorot.Cli.Client;
using Heorot.Cli.Output;
using Heorot.Protocol;
using Heorot.Protocol.Sessions;
using Spectre.Console;

namespace Heorot.Cli.Commands;

/// <summary>
/// <c>heorot console NODE</c>: attach to a node's serial console through the server (read-write; Ctrl-] detaches),
/// or read the console logs of its recent boots (<c>--log [NAME]</c>, <c>--list</c>).
/// </summary>
internal static partial class UserCommands
{
    /// <summary>Ctrl-], as telnet: detaches from the console.</summary>
    private const byte DetachKey = 0x1d;

    private static Command NodeConsole()
    {
        var node = new Argument<string>("node") { Description = "The node." };
        var log = new Option<string?>("--log") { Description = "Print a kept console log instead of attaching: current (this boot; the default) or a previous boot's name from --list.", Arity = ArgumentArity.ZeroOrOne };
        var list = new Option<bool>("--list") { Description = "List the console logs kept for the node (its recent boots)." };
        var command = new Command("console", "Attach to a node's serial console (operators; the owner of a job holding the whole node). Ctrl-] detaches.") { node, log, list };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(ServerOption));
            var name = Uri.EscapeDataString(parse.GetValue(node)!);
            if (parse.GetValue(list))
            {
                var logs = await client.GetAsync<List<ConsoleLogView>>($"v1/nodes/{name}/console/logs", ct);
                if (parse.GetValue(JsonOption))
                {
                    Terminal.Out.WriteLine(JsonSerializer.Serialize(logs, WireJson.Options));
                    return 0;
                }

                var table = NewTable("LOG", "BYTES");
                foreach (var l in logs)
                {
                    table.AddRow(Markup.Escape(l.Name), l.Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }

                Terminal.Rich.Write(table);
                return 0;
            }

            if (parse.GetResult(log) != null)
            {
                var which = parse.GetValue(log) ?? "current";
                await client.StreamAsync($"v1/nodes/{name}/console/logs/{Uri.EscapeDataString(which)}", text =>
                {
                    Terminal.Out.Write(text);
                    return Task.CompletedTask;
                }, ct);
                return 0;
            }

            return await AttachConsoleAsync(client, name, ct);
        }));
        return command;
    }

    private static async Task<int> AttachConsoleAsync(HeorotClient client, string node, CancellationToken cancellationToken)
    {
        var terminal = !System.Console.IsInputRedirected && !System.Console.IsOutputRedirected;
        using var socket = await client.ConnectWebSocketAsync($"v1/nodes/{node}/console", cancellationToken);
        if (terminal)
        {
            await System.Console.Error.WriteLineAsync($"heorot: attached to the console of {Uri.UnescapeDataString(node)}; Ctrl-] detaches");
        }

        var saved = terminal ? ShellCommand.Stty("-g")?.Trim() : null;
        try
        {
            if (saved != null)
            {
                ShellCommand.Stty("raw", "-echo");
            }

            await using var input = System.Console.OpenStandardInput();
            await using var output = System.Console.OpenStandardOutput();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var lastOutput = DateTime.UtcNow;
            var receive = Task.Run(
                async () =>
                {
                    var buffer = new byte[16 * 1024];
                    try
                    {
                        while (await WebSockets.ReceiveAsync(socket, buffer, stop.Token) is { } message)
                        {
                            if (message.Type == WebSocketMessageType.Binary)
                            {
                                lastOutput = DateTime.UtcNow;
                                await output.WriteAsync(message.Data, stop.Token);
                                await output.FlushAsync(stop.Token);
                            }
                            else if (SessionControl.Parse(message.Data) is { Type: "error", Message: { } why })
                            {
                                await System.Console.Error.WriteLineAsync($"heorot: {why}");
                            }
                        }
                    }
                    catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
                    {
                    }
                },
                stop.Token);

            var keys = new byte[4096];
            int read;
            while (!receive.IsCompleted && (read = await input.ReadAsync(keys, stop.Token)) > 0)
            {
                var detach = Array.IndexOf(keys, DetachKey, 0, read);
                var count = detach >= 0 ? detach : read;
                if (count > 0)
                {
                    await socket.SendAsync(keys.AsMemory(0, count), WebSocketMessageType.Binary, true, stop.Token);
                }

                if (detach >= 0)
                {
                    break;
                }
            }

            if (!terminal)
            {
                // Input came from a pipe and ended: show what the console answers until it has been quiet a moment.
                var started = DateTime.UtcNow;
                bool Quiet() => DateTime.UtcNow - lastOutput >= TimeSpan.FromSeconds(1) && DateTime.UtcNow - started >= TimeSpan.FromSeconds(1);
                while (!receive.IsCompleted && !Quiet() && DateTime.UtcNow - started < TimeSpan.FromSeconds(15))
                {
                    await Task.Delay(100, stop.Token);
                }
            }

            await stop.CancelAsync();
            await WebSockets.CloseQuietlyAsync(socket, "detached");
        }
        finally
        {
            if (saved != null)
            {
                ShellCommand.Stty(saved);
            }
        }

        if (terminal)
        {
            await System.Console.Error.WriteLineAsync("\r\nheorot: detached");
        }

        return 0;
    }
}
