using System.Diagnostics;
using System.Net.WebSockets;
using Heorot.Protocol;
using Heorot.Protocol.Sessions;
using Heorot.Server.Control;
using Heorot.Server.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Heorot.Server.Api;

/// <summary>Node consoles: attach over a WebSocket (binary frames both ways), and the kept boot logs.</summary>
internal static class ConsoleEndpoints
{
    public static void Map(IEndpointRouteBuilder app, ControlPlane control, Authenticator authenticator)
    {
        app.Map("/v1/nodes/{name}/console", async (HttpContext context, string name) =>
        {
            var caller = await Endpoints.CallerAsync(context, authenticator);
            var hub = control.ConsoleFor(caller, name);
            if (!context.WebSockets.IsWebSocketRequest)
            {
                throw new ApiException(400, "websocket_required", "a console opens over a WebSocket (heorot console NODE)");
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var reader = hub.Attach();
            var clock = Stopwatch.StartNew();
            await control.ConsoleEventAsync(caller, name, $"{caller.User} attached to the console");
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            try
            {
                if (!hub.Connected)
                {
                    await SessionControl.Error($"the console of {name} is not connected now (node off?); waiting for it").SendAsync(socket, stop.Token);
                }

                var down = Task.Run(
                    async () =>
                    {
                        await foreach (var chunk in reader.ReadAllAsync(stop.Token))
                        {
                            await socket.SendAsync(chunk, WebSocketMessageType.Binary, true, stop.Token);
                        }
                    },
                    stop.Token);
                var buffer = new byte[4096];
                while (await WebSockets.ReceiveAsync(socket, buffer, stop.Token) is { } message)
                {
                    if (message.Type == WebSocketMessageType.Binary && !await hub.WriteAsync(message.Data, stop.Token))
                    {
                        await SessionControl.Error($"the console of {name} is not connected: input dropped").SendAsync(socket, stop.Token);
                    }
                }

                await stop.CancelAsync();
                await down.ContinueWith(_ => { }, TaskScheduler.Default);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
            }
            finally
            {
                hub.Detach(reader);
                await WebSockets.CloseQuietlyAsync(socket, "detached");
                await control.ConsoleEventAsync(caller, name, $"{caller.User} detached from the console after {clock.Elapsed.TotalSeconds:0} s");
            }
        }).WithSummary("Attach to a node's serial console (operators; the owner of a job holding the whole node): binary WebSocket frames both ways.");

        app.MapGet("/v1/nodes/{name}/console/logs", async (HttpContext context, string name) =>
        {
            var caller = await Endpoints.CallerAsync(context, authenticator);
            var hub = control.ConsoleFor(caller, name);
            return Results.Json(hub.Logs().Select(l => new ConsoleLogView(l.Name, l.Bytes)).ToList(), WireJson.Options);
        }).Produces<List<ConsoleLogView>>().WithSummary("The console logs kept for a node: the current boot's and the previous ones'.");

        app.MapGet("/v1/nodes/{name}/console/logs/{log}", async (HttpContext context, string name, string log) =>
        {
            var caller = await Endpoints.CallerAsync(context, authenticator);
            var hub = control.ConsoleFor(caller, name);
            var found = hub.Logs().FirstOrDefault(l => l.Name == log) ?? throw ApiException.NotFound($"console log {log} of {name}");
            var stream = new FileStream(found.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return Results.Stream(stream, "text/plain; charset=utf-8");
        }).WithSummary("One kept console log (current, or a previous boot's name from the list).");
    }
}
