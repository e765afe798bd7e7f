using System.Net.WebSockets;
using System.Text.Json;

namespace Heorot.Protocol.Sessions;

/// <summary>
/// An interactive session the agent is to open: a shell (or a command) as the job's user, inside the job, on a
/// pseudo-terminal, relayed by the server between the user's WebSocket and the agent's. The agent opens its
/// side itself (<c>/agent/v1/sessions/{SessionId}</c>), so no route from the server to the node is needed.
/// </summary>
public sealed record SessionOrder(string SessionId, long JobId, int Attempt, int Rows, int Cols, string? Term)
{
    /// <summary>For a job in VMs: the VM whose login console to open (its agent holds it); null: a shell on the node.</summary>
    public string? Vm { get; init; }
}

/// <summary>
/// A control message of the relay, sent as a WebSocket text frame; terminal bytes travel as binary frames.
/// <c>resize</c> (user → agent: rows, cols), <c>exit</c> (agent → user: the shell's exit code),
/// <c>error</c> (either way: why the session could not go on).
/// </summary>
public sealed record SessionControl
{
    public string Type { get; init; } = string.Empty;

    public int? Rows { get; init; }

    public int? Cols { get; init; }

    public int? Code { get; init; }

    public string? Message { get; init; }

    public static SessionControl Resize(int rows, int cols) => new() { Type = "resize", Rows = rows, Cols = cols };

    public static SessionControl Exit(int code) => new() { Type = "exit", Code = code };

    public static SessionControl Error(string message) => new() { Type = "error", Message = message };

    public Task SendAsync(WebSocket socket, CancellationToken cancellationToken) =>
        socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(this, WireJson.Options), WebSocketMessageType.Text, true, cancellationToken);

    /// <summary>Parses a text frame; null when it is not a control message this side understands.</summary>
    public static SessionControl? Parse(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return JsonSerializer.Deserialize<SessionControl>(utf8, WireJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Reading whole WebSocket messages (a control message may span frames).</summary>
public static class WebSockets
{
    /// <summary>The next message (its type and bytes), or null once the peer closed.</summary>
    public static async Task<(WebSocketMessageType Type, byte[] Data)?> ReceiveAsync(WebSocket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            message.Write(buffer, 0, result.Count);
            if (message.Length > 1 << 20)
            {
                throw new WebSocketException("a session message over 1 MiB");
            }

            if (result.EndOfMessage)
            {
                return (result.MessageType, message.ToArray());
            }
        }
    }

    /// <summary>Closes politely if still open; never throws (the peer may be gone).</summary>
    public static async Task CloseQuietlyAsync(WebSocket socket, string reason)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, reason, timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
        }
    }
}
