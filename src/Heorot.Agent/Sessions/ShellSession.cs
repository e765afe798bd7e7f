using System.Diagnostics;
using System.Net.WebSockets;
using Heorot.Protocol.Sessions;
using Heorot.Protocol.Unix;

namespace Heorot.Agent.Sessions;

/// <summary>
/// The agent's side of an interactive session: it connects back to the server (as for syncs, so NAT is no
/// obstacle), opens a pseudo-terminal, starts the user's shell in the job and pumps bytes both ways until the
/// shell exits, then sends its exit code. The server pairs this WebSocket with the user's.
/// </summary>
internal static class ShellSession
{
    public static async Task RunAsync(AgentOptions options, SessionOrder order, Func<Pty, Process> start, CancellationToken stopping)
    {
        using var socket = await ConnectAsync(options, order, stopping);

        Pty pty;
        Process shell;
        try
        {
            pty = Pty.Open(order.Rows, order.Cols);
        }
        catch (IOException e)
        {
            await SessionControl.Error($"cannot open a terminal: {e.Message}").SendAsync(socket, stopping);
            await WebSockets.CloseQuietlyAsync(socket, "no terminal");
            return;
        }

        using (pty)
        {
            try
            {
                shell = start(pty);
            }
#pragma warning disable CA1031 // whatever stops the shell from starting is told to the user, not thrown at the agent
            catch (Exception e)
#pragma warning restore CA1031
            {
                await SessionControl.Error($"cannot start the shell: {e.Message}").SendAsync(socket, stopping);
                await WebSockets.CloseQuietlyAsync(socket, "no shell");
                return;
            }

            using (shell)
            {
                await PumpAsync(socket, pty, shell, stopping);
            }
        }
    }

    /// <summary>The agent's side of a session: a WebSocket back to the server, with the cluster secret.</summary>
    internal static async Task<ClientWebSocket> ConnectAsync(AgentOptions options, SessionOrder order, CancellationToken stopping)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Agent " + options.Secret);
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(20);
        var builder = new UriBuilder(new Uri(options.Server, $"agent/v1/sessions/{Uri.EscapeDataString(order.SessionId)}?node={Uri.EscapeDataString(options.Name)}"));
        builder.Scheme = builder.Scheme == "https" ? "wss" : "ws";
        try
        {
            await socket.ConnectAsync(builder.Uri, stopping);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task PumpAsync(ClientWebSocket socket, Pty pty, Process shell, CancellationToken stopping)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var send = new SemaphoreSlim(1, 1);
        await using var master = new FileStream(pty.Master, FileAccess.ReadWrite, 0, isAsync: false);

        // Terminal → user. A blocking read on a thread of its own: it ends with EIO once no process holds the
        // terminal, or when the pty is closed after the shell exits.
        var output = Task.Factory.StartNew(
            async () =>
            {
                var buffer = new byte[16 * 1024];
                while (true)
                {
                    int read;
                    try
                    {
                        read = master.Read(buffer, 0, buffer.Length);
                    }
                    catch (IOException)
                    {
                        return;
                    }

                    if (read <= 0)
                    {
                        return;
                    }

                    await send.WaitAsync(done.Token);
                    try
                    {
                        await socket.SendAsync(buffer.AsMemory(0, read), WebSocketMessageType.Binary, true, done.Token);
                    }
                    finally
                    {
                        send.Release();
                    }
                }
            },
            done.Token,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap();

        // User → terminal: keystrokes, and resize orders.
        var input = Task.Run(
            async () =>
            {
                var buffer = new byte[16 * 1024];
                while (await WebSockets.ReceiveAsync(socket, buffer, done.Token) is { } message)
                {
                    if (message.Type == WebSocketMessageType.Binary)
                    {
                        master.Write(message.Data);
                        master.Flush();
                    }
                    else if (SessionControl.Parse(message.Data) is { Type: "resize", Rows: { } rows, Cols: { } cols })
                    {
                        pty.Resize(rows, cols);
                    }
                }
            },
            done.Token);

        var exited = shell.WaitForExitAsync(done.Token);
        var first = await Task.WhenAny(exited, input);
        if (first == input && !shell.HasExited)
        {
            // The user went away: the shell's session gets a hangup, then a kill.
            Protocol.Hooks.Signals.KillGroup(shell.Id, Protocol.Hooks.Signals.Hangup);
            if (!shell.WaitForExit(2000))
            {
                Protocol.Hooks.Signals.KillGroup(shell.Id, Protocol.Hooks.Signals.Kill);
            }
        }

        try
        {
            await shell.WaitForExitAsync(stopping);
        }
        catch (OperationCanceledException)
        {
        }

        // What the shell wrote last is still in the terminal: give the reader a moment to send it.
        await Task.WhenAny(output, Task.Delay(500, stopping));
        if (socket.State == WebSocketState.Open && shell.HasExited)
        {
            await send.WaitAsync(stopping);
            try
            {
                await SessionControl.Exit(shell.ExitCode).SendAsync(socket, stopping);
            }
            catch (WebSocketException)
            {
            }
            finally
            {
                send.Release();
            }
        }

        await WebSockets.CloseQuietlyAsync(socket, "session ended");
        await done.CancelAsync();
        send.Dispose();
    }
}
