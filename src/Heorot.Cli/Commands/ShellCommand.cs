using System.CommandLine;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Runtime.InteropServices;
using Heorot.Cli.Client;
using Heorot.Protocol;
using Heorot.Protocol.Sessions;

namespace Heorot.Cli.Commands;

/// <summary>
/// <c>heorot shell JOB</c>: a shell in a running job, as its user, on its first node, relayed through the server
/// and the node's agent (no route to the node needed). On a terminal the local terminal goes raw for the
/// session and window sizes follow; with redirected input the bytes are passed through as they are.
/// </summary>
internal static class ShellCommand
{
    /// <summary>The <c>shell</c> or the <c>ssh</c> verb (the same session, on the node or in a VM).</summary>
    public static Command Create(Option<string?> serverOption, string name)
    {
        var description = name == "ssh"
            ? "Log into a VM of one of your running jobs (the first, or --vm K), through its node's agent: no route to the VM needed."
            : "Open a shell in one of your running jobs: on its first node, or in its first VM (--vm K for another).";
        var id = new Argument<long>("job") { Description = "The running job." };
        var vm = new Option<string?>("--vm") { Description = "For a job in VMs: which VM (K or vmK; default: the first)." };
        var command = new Command(name, description) { id, vm };
        command.SetAction((parse, ct) => UserCommands.Guard(async () =>
        {
            using var client = new HeorotClient(parse.GetValue(serverOption));
            return await RunAsync(client, parse.GetValue(id), parse.GetValue(vm), ct);
        }));
        return command;
    }

    /// <summary>Runs a session on the console; returns the remote shell's exit code.</summary>
    public static async Task<int> RunAsync(HeorotClient client, long id, string? vm, CancellationToken cancellationToken)
    {
        var terminal = !Console.IsInputRedirected && !Console.IsOutputRedirected;
        await using var input = Console.OpenStandardInput();
        await using var output = Console.OpenStandardOutput();
        return await RunAsync(client, id, vm, input, output, terminal, cancellationToken);
    }

    public static async Task<int> RunAsync(HeorotClient client, long id, string? vm, Stream input, Stream output, bool terminal, CancellationToken cancellationToken)
    {
        var job = await client.GetAsync<JobView>($"v1/jobs/{id}", cancellationToken);
        if (job.State != "Running")
        {
            throw new ClientException($"job {id} is {job.State}: a shell opens only in a running job", 409);
        }

        var (rows, cols) = terminal && Console.WindowHeight > 0 && Console.WindowWidth > 0 ? (Console.WindowHeight, Console.WindowWidth) : (24, 80);
        var term = Environment.GetEnvironmentVariable("TERM");
        WebSocket socket;
        try
        {
            socket = await client.ConnectWebSocketAsync($"v1/jobs/{id}/shell?rows={rows}&cols={cols}" + (term != null ? "&term=" + Uri.EscapeDataString(term) : string.Empty) + (vm != null ? "&vm=" + Uri.EscapeDataString(vm) : string.Empty), cancellationToken);
        }
        catch (ClientException e) when (e.Status == 403)
        {
            throw new ClientException($"job {id} belongs to {job.User}: only its owner or an operator may open a shell in it", 403);
        }
        catch (ClientException e) when (e.Status == 504)
        {
            throw new ClientException($"the agent of {(job.Nodes.Count > 0 ? job.Nodes[0] : "its first node")} did not open the session in time", 504);
        }

        using (socket)
        {
            var saved = terminal ? Stty("-g")?.Trim() : null;
            using var resize = terminal ? PosixSignalRegistration.Create(PosixSignal.SIGWINCH, context => { context.Cancel = true; _ = SendResizeAsync(socket); }) : null;
            try
            {
                if (saved != null)
                {
                    Stty("raw", "-echo");
                }

                return await PumpAsync(socket, input, output, cancellationToken);
            }
            finally
            {
                if (saved != null)
                {
                    Stty(saved);
                }
            }
        }
    }

    private static async Task SendResizeAsync(WebSocket socket)
    {
        try
        {
            await SessionControl.Resize(Console.WindowHeight, Console.WindowWidth).SendAsync(socket, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or InvalidOperationException or ObjectDisposedException)
        {
        }
    }

    private static async Task<int> PumpAsync(WebSocket socket, Stream input, Stream output, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _ = Task.Run(
            async () =>
            {
                var buffer = new byte[4096];
                try
                {
                    int read;
                    while ((read = await input.ReadAsync(buffer, stop.Token)) > 0)
                    {
                        await socket.SendAsync(buffer.AsMemory(0, read), WebSocketMessageType.Binary, true, stop.Token);
                    }

                    // End of redirected input: the remote shell reads an end of file (^D), as over ssh.
                    await socket.SendAsync(new byte[] { 4 }, WebSocketMessageType.Binary, true, stop.Token);
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
                {
                }
            },
            stop.Token);

        var code = 255;
        var receive = new byte[16 * 1024];
        try
        {
            while (await WebSockets.ReceiveAsync(socket, receive, cancellationToken) is { } message)
            {
                if (message.Type == WebSocketMessageType.Binary)
                {
                    await output.WriteAsync(message.Data, cancellationToken);
                    await output.FlushAsync(cancellationToken);
                }
                else if (SessionControl.Parse(message.Data) is { } control)
                {
                    if (control is { Type: "exit", Code: { } exit })
                    {
                        code = exit;
                    }
                    else if (control is { Type: "error", Message: { } why })
                    {
                        await Console.Error.WriteLineAsync($"heorot: {why}");
                    }
                }
            }
        }
        catch (WebSocketException e)
        {
            await Console.Error.WriteLineAsync($"heorot: the session was cut: {e.Message}");
        }

        await stop.CancelAsync();
        await WebSockets.CloseQuietlyAsync(socket, "done");
        return code;
    }

    /// <summary>Runs stty on the controlling terminal; its output, or null when it failed.</summary>
    internal static string? Stty(params string[] arguments)
    {
        var start = new ProcessStartInfo("stty") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var text = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? text : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
