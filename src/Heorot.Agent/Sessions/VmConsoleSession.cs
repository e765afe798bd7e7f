using System.Globalization;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Heorot.Drivers.Hypervisor;
using Heorot.Protocol.Sessions;

namespace Heorot.Agent.Sessions;

/// <summary>
/// <c>heorot ssh</c> into a VM: the agent bridges the server's WebSocket to the VM's login console (a virtconsole
/// port; host end <c>shell.sock</c> in the VM's run directory), so no network route to the guest is needed. The
/// guest marks the end of the user's shell with an OSC sequence carrying its exit status; a session the user
/// leaves without exiting is hung up through the command channel, so the next one gets a fresh login.
/// </summary>
internal static class VmConsoleSession
{
    private static readonly byte[] ExitMarker = Encoding.ASCII.GetBytes("\u001b]7770;heorot-exit;");

    public static async Task RunAsync(AgentOptions options, SessionOrder order, string shellSocket, string channelSocket, Action<string> log, CancellationToken stopping)
    {
        using var socket = await ShellSession.ConnectAsync(options, order, stopping);

        using var console = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await console.ConnectAsync(new UnixDomainSocketEndPoint(shellSocket), timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            await SessionControl.Error($"the console of {order.Vm} is not available: {e.Message}").SendAsync(socket, stopping);
            await WebSockets.CloseQuietlyAsync(socket, "no console");
            return;
        }

        await using var stream = new NetworkStream(console, ownsSocket: false);
        await stream.WriteAsync("\n"u8.ToArray(), stopping); // the prompt was printed while nobody listened
        using var done = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        int? exit = null;

        // Keystrokes wait for a prompt: a login that is still starting (just after boot, or after the last
        // session's exit) flushes what was typed before it.
        var early = await WaitForPromptAsync(stream, stopping);
        if (early.Length > 0)
        {
            await socket.SendAsync(early, WebSocketMessageType.Binary, true, stopping);
        }

        var output = Task.Run(
            async () =>
            {
                var buffer = new byte[16 * 1024];
                var pending = Array.Empty<byte>();
                int read;
                while ((read = await stream.ReadAsync(buffer, done.Token)) > 0)
                {
                    var data = pending.Concat(buffer.Take(read)).ToArray();
                    var (send, rest, code) = Scan(data);
                    pending = rest;
                    if (send.Length > 0)
                    {
                        await socket.SendAsync(send, WebSocketMessageType.Binary, true, done.Token);
                    }

                    if (code != null)
                    {
                        exit = code;
                        return;
                    }
                }
            },
            done.Token);
        var input = Task.Run(
            async () =>
            {
                var buffer = new byte[16 * 1024];
                while (await WebSockets.ReceiveAsync(socket, buffer, done.Token) is { } message)
                {
                    if (message.Type == WebSocketMessageType.Binary)
                    {
                        await stream.WriteAsync(message.Data, done.Token);
                    }
                }
            },
            done.Token);

        var first = await Task.WhenAny(output, input);
        log($"session {order.SessionId[..8]} on {order.Vm}: {(first == output ? "console" : "user")} side ended first ({first.Status}{(first.Exception is { } failure ? ": " + failure.InnerException?.Message : string.Empty)}), exit {exit?.ToString(CultureInfo.InvariantCulture) ?? "none"}");
        // Before anything is cancelled: cancelling a pending WebSocket receive aborts the socket.
        if (exit is { } code && socket.State == WebSocketState.Open)
        {
            await SessionControl.Exit(code).SendAsync(socket, CancellationToken.None);
        }

        await WebSockets.CloseQuietlyAsync(socket, "session ended");
        await done.CancelAsync();
        if (exit == null)
        {
            // The user went away without exiting: end that shell, or the next session would resume it.
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                await using var channel = await GuestChannel.ConnectAsync(channelSocket, timeout.Token);
                await channel.HangUpShellAsync(timeout.Token);
            }
            catch (Exception e) when (e is HypervisorException or OperationCanceledException or IOException or SocketException)
            {
            }
        }
    }

    /// <summary>Reads the console until a shell prompt shows (at most 30 s); returns what it read.</summary>
    private static async Task<byte[]> WaitForPromptAsync(NetworkStream stream, CancellationToken stopping)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        var seen = new List<byte>();
        var buffer = new byte[4096];
        try
        {
            var text = new StringBuilder();
            while (!text.ToString().Contains("$ ", StringComparison.Ordinal) && !text.ToString().Contains("# ", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer, limit.Token);
                if (read == 0)
                {
                    break;
                }

                seen.AddRange(buffer.AsSpan(0, read));
                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
        }

        return [.. seen];
    }

    /// <summary>Splits console bytes into what to send now, what to hold (a possible marker's start) and the exit status if the marker is complete.</summary>
    internal static (byte[] Send, byte[] Held, int? Code) Scan(byte[] data)
    {
        var at = data.AsSpan().IndexOf(ExitMarker);
        if (at >= 0)
        {
            var end = Array.IndexOf(data, (byte)7, at + ExitMarker.Length);
            if (end < 0)
            {
                return (data[..at], data[at..], null);
            }

            var text = Encoding.ASCII.GetString(data, at + ExitMarker.Length, end - at - ExitMarker.Length);
            return (data[..at], [], int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var code) ? code : 0);
        }

        // Hold back a tail that could be the start of a marker split across reads.
        for (var keep = Math.Min(ExitMarker.Length - 1, data.Length); keep > 0; keep--)
        {
            if (data.AsSpan(data.Length - keep).SequenceEqual(ExitMarker.AsSpan(0, keep)))
            {
                return (data[..^keep], data[^keep..], null);
            }
        }

        return (data, [], null);
    }
}
