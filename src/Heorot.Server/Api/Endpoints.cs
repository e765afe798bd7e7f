using System.Globalization;
using System.Text;
using System.Text.Json;
using Heorot.Model.Lifecycle;
using Heorot.Protocol;
using Heorot.Server.Control;
using Heorot.Server.Identity;
using Heorot.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Heorot.Server.Api;

/// <summary>The REST API, version 1 (described at <c>/openapi/v1.json</c>), and the agents' sync endpoint.</summary>
public static class Endpoints
{
    private const int DefaultListLimit = 1000;

    public static void Map(WebApplication app, ControlPlane control, Authenticator authenticator)
    {
        var v1 = app.MapGroup("/v1");

        v1.MapGet("/health", () => Results.Json(new { status = "ok", nodes = control.ListNodes().Count, passes = control.Passes, syncs = control.Syncs }, WireJson.Options))
            .WithSummary("Liveness: answers without authentication.");

        v1.MapGet("/whoami", async (HttpContext context) =>
        {
            var caller = await CallerAsync(context, authenticator);
            return Results.Json(new WhoAmIResponse(caller.User, caller.IsOperator, caller.Via), WireJson.Options);
        }).Produces<WhoAmIResponse>().WithSummary("Who the server thinks you are.");

        v1.MapPost("/jobs", async (HttpContext context) =>
        {
            var caller = await CallerAsync(context, authenticator);
            var submission = await ReadAsync<SubmitRequest>(context);
            var ids = await control.SubmitAsync(caller, submission, context.RequestAborted);
            return Results.Json(new SubmitResponse(ids), WireJson.Options, statusCode: 201);
        }).Accepts<SubmitRequest>("application/json").Produces<SubmitResponse>(201).ProducesProblem(400)
          .WithSummary("Submit a job (or an array): acknowledged once durable.");

        v1.MapGet("/jobs", async (HttpContext context) =>
        {
            await CallerAsync(context, authenticator);
            var query = context.Request.Query;
            var states = query["state"].ToString() is { Length: > 0 } s ? s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null;
            foreach (var state in states ?? [])
            {
                if (!Enum.TryParse<JobState>(state, ignoreCase: true, out _))
                {
                    throw ApiException.BadInput("state", $"unknown state '{state}' (states: {string.Join(", ", Enum.GetNames<JobState>())})");
                }
            }

            var normalized = states?.Select(x => Enum.Parse<JobState>(x, ignoreCase: true).ToString()).ToList();
            var (jobs, next) = await control.ListJobsAsync(
                NullIfEmpty(query["user"]),
                NullIfEmpty(query["queue"]),
                normalized,
                LongQuery(context, "after", 0),
                (int)Math.Clamp(LongQuery(context, "limit", DefaultListLimit), 1, 100_000),
                context.RequestAborted);
            return Results.Json(new JobListResponse(jobs, next), WireJson.Options);
        }).Produces<JobListResponse>().WithSummary("List jobs: unfinished ones by default; ?state= reads any, with keyset paging (?after=).");

        v1.MapGet("/jobs/{id:long}", async (HttpContext context, long id) =>
        {
            await CallerAsync(context, authenticator);
            var job = await control.GetJobAsync(id, context.RequestAborted) ?? throw ApiException.NotFound($"job {id}");
            return Results.Json(job, WireJson.Options);
        }).Produces<JobView>().ProducesProblem(404).WithSummary("A job, with its explain record while it waits.");

        v1.MapDelete("/jobs/{id:long}", async (HttpContext context, long id) =>
        {
            var caller = await CallerAsync(context, authenticator);
            await control.CancelAsync(caller, id, null, context.RequestAborted);
            return Results.Json(await control.GetJobAsync(id, context.RequestAborted), WireJson.Options, statusCode: 202);
        }).Produces<JobView>(202).ProducesProblem(403).ProducesProblem(409).WithSummary("Cancel a job (owner or operator).");

        v1.MapPost("/jobs/{id:long}/actions", async (HttpContext context, long id) =>
        {
            var caller = await CallerAsync(context, authenticator);
            var action = await ReadAsync<JobActionRequest>(context);
            switch (action.Action)
            {
                case "hold":
                    await control.HoldAsync(caller, id, context.RequestAborted);
                    break;
                case "release":
                    await control.ReleaseAsync(caller, id, context.RequestAborted);
                    break;
                case "signal":
                    await control.SignalAsync(caller, id, action.Signal ?? throw ApiException.BadInput("signal", "name the signal"), context.RequestAborted);
                    break;
                case "extend":
                    await control.ExtendAsync(caller, id, action.ExtendSeconds ?? throw ApiException.BadInput("extendSeconds", "give the seconds to add"), context.RequestAborted);
                    break;
                default:
                    throw ApiException.BadInput("action", $"unknown job action '{action.Action}': expected hold, release, signal or extend");
            }

            return Results.Json(await control.GetJobAsync(id, context.RequestAborted), WireJson.Options);
        }).Accepts<JobActionRequest>("application/json").Produces<JobView>().ProducesProblem(403).ProducesProblem(409)
          .WithSummary("Hold, release, signal a job, or extend its walltime.");

        v1.MapGet("/jobs/{id:long}/logs", (HttpContext context, long id) => LogsAsync(context, id, control, authenticator))
            .WithSummary("A job's output (?stream=out|err, ?offset=, ?follow=true streams until the job ends).");

        v1.MapGet("/nodes", async (HttpContext context) =>
        {
            await CallerAsync(context, authenticator);
            return Results.Json(control.ListNodes(), WireJson.Options);
        }).Produces<IReadOnlyList<NodeView>>().WithSummary("Every node, its state and jobs.");

        v1.MapGet("/nodes/{name}", async (HttpContext context, string name) =>
        {
            await CallerAsync(context, authenticator);
            return Results.Json(control.GetNode(name) ?? throw ApiException.NotFound($"node {name}"), WireJson.Options);
        }).Produces<NodeView>().ProducesProblem(404);

        v1.MapPost("/nodes/{name}/actions", async (HttpContext context, string name) =>
        {
            var caller = await CallerAsync(context, authenticator);
            var action = await ReadAsync<NodeActionRequest>(context);
            await control.NodeActionAsync(caller, name, action, context.RequestAborted);
            return Results.Json(control.GetNode(name), WireJson.Options);
        }).Accepts<NodeActionRequest>("application/json").Produces<NodeView>().ProducesProblem(403)
          .WithSummary("Drain, resume or set properties of a node (operators).");

        v1.MapPost("/power", async (HttpContext context) =>
        {
            var caller = await CallerAsync(context, authenticator);
            var request = await ReadAsync<PowerRequest>(context);
            using var gate = new SemaphoreSlim(1, 1);

            // One JSON line per node as its BMC answers, so the CLI shows progress; refusals come before the first line.
            await control.PowerCommandAsync(caller, request, async result =>
            {
                await gate.WaitAsync(context.RequestAborted);
                try
                {
                    if (!context.Response.HasStarted)
                    {
                        context.Response.ContentType = "application/x-ndjson";
                    }

                    await context.Response.WriteAsync(JsonSerializer.Serialize(result, WireJson.Options) + "\n", context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                }
                finally
                {
                    gate.Release();
                }
            }, context.RequestAborted);
            return Results.Empty;
        }).Accepts<PowerRequest>("application/json").Produces<PowerResult>(200, "application/x-ndjson").ProducesProblem(400).ProducesProblem(403)
          .WithSummary("Power on, off, soft-off, cycle, reset or read the power of a node set (operators); one result line per node.");

        v1.MapGet("/queues", async (HttpContext context) =>
        {
            await CallerAsync(context, authenticator);
            return Results.Json(control.ListQueues(), WireJson.Options);
        }).Produces<IReadOnlyList<QueueView>>();

        v1.MapGet("/events", async (HttpContext context) =>
        {
            await CallerAsync(context, authenticator);
            var events = await control.Store.ReadEventsAsync(LongQuery(context, "since", 0), (int)Math.Clamp(LongQuery(context, "limit", 1000), 1, 10_000), context.RequestAborted);
            return Results.Json(events.Select(View).ToList(), WireJson.Options);
        }).Produces<IReadOnlyList<EventView>>().WithSummary("The journal: every state change with time, actor and reason (?since=ID).");

        v1.MapGet("/events/stream", (HttpContext context) => StreamEventsAsync(context, control, authenticator))
            .WithSummary("The journal as server-sent events, from ?since=ID (or Last-Event-ID).");

        v1.MapPost("/users", async (HttpContext context) =>
        {
            var caller = await CallerAsync(context, authenticator);
            if (!caller.IsOperator)
            {
                throw ApiException.Forbidden("only operators may add users");
            }

            var user = await ReadAsync<UserRequest>(context);
            if (!ValidUserName(user.Name))
            {
                throw ApiException.BadInput("name", $"'{user.Name}' is not a user name");
            }

            try
            {
                await control.Store.AddUserAsync(new UserRecord(user.Name, DateTimeOffset.UtcNow), context.RequestAborted);
            }
            catch (StoreException e) when (e.Code == StoreErrorCode.Constraint)
            {
                throw ApiException.Conflict($"user {user.Name} exists");
            }

            return Results.Json(user, WireJson.Options, statusCode: 201);
        }).Accepts<UserRequest>("application/json").Produces<UserRequest>(201).ProducesProblem(403);

        v1.MapPost("/tokens", async (HttpContext context) =>
        {
            var caller = await CallerAsync(context, authenticator);
            var request = await ReadAsync<TokenRequest>(context);
            var user = request.User ?? caller.User;
            if (user != caller.User && !caller.IsOperator)
            {
                throw ApiException.Forbidden("only operators may create tokens for other users");
            }

            if (!ValidUserName(user))
            {
                throw ApiException.BadInput("user", $"'{user}' is not a user name");
            }

            if (await control.Store.GetUserAsync(user, context.RequestAborted) == null)
            {
                await control.Store.AddUserAsync(new UserRecord(user, DateTimeOffset.UtcNow), context.RequestAborted);
            }

            var token = Authenticator.NewToken();
            await control.Store.AddTokenAsync(new ApiTokenRecord(ApiTokens.Hash(token), user, request.Description ?? $"created by {caller.User}", DateTimeOffset.UtcNow), context.RequestAborted);
            return Results.Json(new TokenResponse(user, token), WireJson.Options, statusCode: 201);
        }).Accepts<TokenRequest>("application/json").Produces<TokenResponse>(201)
          .WithSummary("A new API token for yourself (or, for operators, anyone).");

        app.Map("/v1/jobs/{id:long}/shell", async (HttpContext context, long id, int? rows, int? cols, string? term, string? vm) =>
        {
            var caller = await CallerAsync(context, authenticator);
            if (!context.WebSockets.IsWebSocketRequest)
            {
                throw new ApiException(400, "websocket_required", "a shell opens over a WebSocket (heorot shell JOB)");
            }

            var (agent, _, done) = await control.OpenSessionAsync(caller, id, rows ?? 24, cols ?? 80, term, vm, context.RequestAborted);
            try
            {
                using var user = await context.WebSockets.AcceptWebSocketAsync();
                await SessionRelay.RunAsync(user, agent, context.RequestAborted);
            }
            finally
            {
                done.TrySetResult();
                await control.SessionEndedAsync(caller, id, CancellationToken.None);
            }
        }).WithSummary("An interactive shell in a running job, as its user: on its first node, or for a job in VMs on a VM's login console (?vm=K, default the first) (WebSocket: binary frames are terminal bytes, text frames control messages).");

        app.Map("/agent/v1/sessions/{session}", async (HttpContext context, string session, string node) =>
        {
            if (!authenticator.IsAgent(context))
            {
                throw new ApiException(401, "unauthenticated", "agents present the cluster secret: Authorization: Agent <secret>");
            }

            if (!context.WebSockets.IsWebSocketRequest)
            {
                throw new ApiException(400, "websocket_required", "the agent's side of a session is a WebSocket");
            }

            var socket = await context.WebSockets.AcceptWebSocketAsync();
            if (!control.AttachSession(session, node, socket, out var done))
            {
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, "no such session", context.RequestAborted);
                socket.Dispose();
                return;
            }

            // The user's request relays this socket; it stays open until the session is over.
            await done;
            socket.Dispose();
        }).ExcludeFromDescription();

        app.MapPost("/agent/v1/sync", async (HttpContext context) =>
        {
            if (!authenticator.IsAgent(context))
            {
                throw new ApiException(401, "unauthenticated", "agents present the cluster secret: Authorization: Agent <secret>");
            }

            var sync = await ReadAsync<SyncRequest>(context);
            return Results.Json(await control.SyncAsync(sync, context.RequestAborted), WireJson.Options);
        }).Accepts<SyncRequest>("application/json").Produces<SyncResponse>().ExcludeFromDescription();
    }

    internal static async Task<Caller> CallerAsync(HttpContext context, Authenticator authenticator) =>
        await authenticator.AuthenticateAsync(context)
        ?? throw new ApiException(401, "unauthenticated", "no valid credentials: use the local socket, or a token (heorot login)");

    /// <summary>Reads a JSON body strictly: the right content type, valid JSON, no unknown fields.</summary>
    internal static async Task<T> ReadAsync<T>(HttpContext context)
        where T : class
    {
        if (context.Request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(415, "unsupported_media_type", "send the body as application/json");
        }

        try
        {
            return await JsonSerializer.DeserializeAsync<T>(context.Request.Body, WireJson.Options, context.RequestAborted)
                ?? throw new ApiException(400, "malformed_json", "the body is JSON null; expected an object");
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 1 } path ? $" at {path}" : string.Empty;
            var line = e.LineNumber is { } l ? $" (line {l + 1}, byte {e.BytePositionInLine + 1})" : string.Empty;
            var message = e.Message.Split(" Path:", 2)[0];
            throw new ApiException(400, "malformed_json", $"invalid JSON{where}{line}: {message}", e.Path);
        }
    }

    private static async Task LogsAsync(HttpContext context, long id, ControlPlane control, Authenticator authenticator)
    {
        var caller = await CallerAsync(context, authenticator);
        var job = await control.GetJobAsync(id, context.RequestAborted) ?? throw ApiException.NotFound($"job {id}");
        if (!caller.MayActOn(job.User))
        {
            throw ApiException.Forbidden($"only {job.User} and operators may read the output of job {id}");
        }

        var streamName = context.Request.Query["stream"].ToString();
        var stream = streamName switch
        {
            "" or "out" or "stdout" => LogKind.Stdout,
            "err" or "stderr" => LogKind.Stderr,
            _ => throw ApiException.BadInput("stream", $"unknown stream '{streamName}': expected out or err"),
        };
        var follow = context.Request.Query["follow"] == "true";
        var offset = LongQuery(context, "offset", 0);
        context.Response.ContentType = "text/plain; charset=utf-8";
        while (true)
        {
            var current = await control.GetJobAsync(id, context.RequestAborted);
            var attempt = current?.Attempt ?? job.Attempt;
            var changed = control.EventsChanged;
            while (true)
            {
                var chunk = control.Logs.Read(id, attempt, stream, offset, 64 * 1024);
                if (chunk.Length == 0)
                {
                    break;
                }

                await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                offset += chunk.Length;
            }

            await context.Response.Body.FlushAsync(context.RequestAborted);
            var ended = current == null || current.State is nameof(JobState.Terminated) or nameof(JobState.Error) or nameof(JobState.Cancelled);
            if (!follow || ended)
            {
                return;
            }

            try
            {
                await changed.WaitAsync(TimeSpan.FromMilliseconds(500), context.RequestAborted);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    private static async Task StreamEventsAsync(HttpContext context, ControlPlane control, Authenticator authenticator)
    {
        await CallerAsync(context, authenticator);
        var since = LongQuery(context, "since", 0);
        if (context.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } last && long.TryParse(last, CultureInfo.InvariantCulture, out var lastId))
        {
            since = lastId;
        }

        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.Body.FlushAsync(context.RequestAborted);
        try
        {
            while (!context.RequestAborted.IsCancellationRequested)
            {
                var changed = control.EventsChanged;
                var events = await control.Store.ReadEventsAsync(since, 1000, context.RequestAborted);
                var text = new StringBuilder();
                foreach (var entry in events)
                {
                    text.Append(CultureInfo.InvariantCulture, $"id: {entry.Id}\nevent: {entry.Kind}\ndata: {JsonSerializer.Serialize(View(entry), WireJson.Options)}\n\n");
                    since = entry.Id;
                }

                if (events.Count == 0)
                {
                    try
                    {
                        await changed.WaitAsync(TimeSpan.FromSeconds(15), context.RequestAborted);
                        continue;
                    }
                    catch (TimeoutException)
                    {
                        text.Append(": keepalive\n\n");
                    }
                }

                await context.Response.WriteAsync(text.ToString(), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static EventView View(EventRecord e) => new(e.Id, e.Time, e.Actor, e.Kind, e.Subject, e.Reason, e.PayloadJson);

    private static long LongQuery(HttpContext context, string name, long fallback)
    {
        var text = context.Request.Query[name].ToString();
        if (text.Length == 0)
        {
            return fallback;
        }

        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0
            ? value
            : throw ApiException.BadInput(name, $"?{name}= takes a non-negative integer, not '{text}'");
    }

    private static string? NullIfEmpty(Microsoft.Extensions.Primitives.StringValues value) => value.ToString() is { Length: > 0 } s ? s : null;

    private static bool ValidUserName(string name) => name.Length is > 0 and <= 32 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') && char.IsAsciiLetter(name[0]);
}
