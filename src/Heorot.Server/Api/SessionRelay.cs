using System.Net.WebSockets;
using Heorot.Protocol.Sessions;

namespace Heorot.Server.Api;

/// <summary>Copies messages both ways between the user's and the agent's sockets until either side closes.</summary>
internal static class SessionRelay
{
    public static async Task RunAsync(WebSocket user, WebSocket agent, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var up = CopyAsync(user, agent, stop.Token);
        var down = CopyAsync(agent, user, stop.Token);
        await Task.WhenAny(up, down);

        // One side is gone: the other is told, and gets a moment to say its last words (the exit code).
        await WebSockets.CloseQuietlyAsync(up.IsCompleted ? agent : user, "the other side closed");
        await Task.WhenAny(Task.WhenAll(up, down), Task.Delay(TimeSpan.FromSeconds(2), cancellationToken));
        await stop.CancelAsync();
        await WebSockets.CloseQuietlyAsync(user, "session ended");
        await WebSockets.CloseQuietlyAsync(agent, "session ended");
    }

    private static async Task CopyAsync(WebSocket from, WebSocket to, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (await WebSockets.ReceiveAsync(from, buffer, cancellationToken) is { } message)
            {
                await to.SendAsync(message.Data, message.Type, true, cancellationToken);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }
}
