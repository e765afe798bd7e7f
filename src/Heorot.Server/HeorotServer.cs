using System.Globalization;
using System.Net;
using System.Text.Json;
using Heorot.Model.Lifecycle;
using Heorot.Protocol;
using Heorot.Server.Api;
using Heorot.Server.Control;
using Heorot.Server.Identity;
using Heorot.Server.Images;
using Heorot.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Heorot.Server;

/// <summary>
/// The Heorot server: opens the store, loads the state, listens on TCP and on the local Unix socket, and runs
/// the scheduling loop and the heartbeat monitor until stopped.
/// </summary>
public sealed class HeorotServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly CancellationTokenSource stopping = new();
    private readonly List<Task> loops = [];

    private HeorotServer(WebApplication app, IHeorotStore store, ControlPlane control, string socketPath)
    {
        this.app = app;
        Store = store;
        Control = control;
        SocketPath = socketPath;
    }

    public ControlPlane Control { get; }

    public IHeorotStore Store { get; }

    /// <summary>The image registry and its blob files.</summary>
    public required ImageRegistry Images { get; init; }

    public string SocketPath { get; }

    /// <summary>The TCP addresses actually bound (port 0 resolved).</summary>
    public IReadOnlyList<string> Addresses =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.Where(a => a.StartsWith("http", StringComparison.Ordinal)).ToList() ?? [];

    public static async Task<HeorotServer> StartAsync(ServerOptions options, ILoggerProvider? logging = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(options.DataDirectory);
        var secret = options.AgentSecret ?? AgentSecret.ReadOrCreate(Path.Combine(options.DataDirectory, "agent.secret"));
        IHeorotStore store = options.PostgresConnectionString is { } pg
            ? await PostgresStore.OpenAsync(pg, cancellationToken: cancellationToken)
            : await SqliteStore.OpenInDirectoryAsync(options.DataDirectory, cancellationToken: cancellationToken);

        // No configuration files are read, so none are watched: a watcher on the working directory would burn CPU
        // on every file a job writes there.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        if (logging != null)
        {
            builder.Logging.AddProvider(logging);
        }

        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        var socketPath = options.SocketPath ?? Path.Combine(options.DataDirectory, "heorot.sock");
        File.Delete(socketPath);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
            foreach (var url in options.Urls)
            {
                var uri = new Uri(url);
                var address = uri.Host is "localhost" ? IPAddress.Loopback : IPAddress.Parse(uri.Host);
                kestrel.Listen(address, uri.Port);
            }

            kestrel.ListenUnixSocket(socketPath);
        });
        builder.Services.AddOpenApi("v1");
        var control = new ControlPlane(store, options, TimeProvider.System, logging?.CreateLogger("heorot") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var authenticator = new Authenticator(store, options, secret);
        var app = builder.Build();
        app.Use(ProblemMiddleware);
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(20) });
        app.MapOpenApi("/openapi/{documentName}.json");
        Endpoints.Map(app, control, authenticator);
        ConsoleEndpoints.Map(app, control, authenticator);
        var images = new ImageRegistry(store, new BlobStore(options.DataDirectory), TimeProvider.System);
        ImageEndpoints.Map(app, images, authenticator, options);
        await images.SweepAsync(options.OrphanBlobGrace, cancellationToken);
        control.Images = images;

        await control.LoadAsync(cancellationToken);
        var power = options.Power ?? (options.PowerFile is { } powerFile ? Power.PowerConfig.Load(powerFile) : null);
        if (power != null)
        {
            await control.UsePowerAsync(power, options.PowerDrivers ?? power.CreateDrivers(), cancellationToken);
        }

        var server = new HeorotServer(app, store, control, socketPath) { Images = images };
        await app.StartAsync(cancellationToken);
        File.SetUnixFileMode(socketPath, (UnixFileMode)0b110_110_110);
        server.loops.Add(Task.Run(() => control.RunSchedulerAsync(server.stopping.Token), CancellationToken.None));
        server.loops.Add(Task.Run(() => control.RunMonitorAsync(server.stopping.Token), CancellationToken.None));
        if (power != null)
        {
            server.loops.Add(Task.Run(() => control.RunElasticAsync(server.stopping.Token), CancellationToken.None));
        }

        control.WantSchedule();
        return server;
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await app.StopAsync(timeout.Token);
        }

        await Task.WhenAll(loops);
        await Control.CloseConsolesAsync();
        await app.DisposeAsync();
        await Store.DisposeAsync();
        Control.Dispose();
        Images.Dispose();
        stopping.Dispose();
        File.Delete(SocketPath);
    }

    /// <summary>Every refusal as RFC 9457 problem details, never a stack trace.</summary>
    private static async Task ProblemMiddleware(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);

            // Refusals made by routing itself (415 for a wrong content type, 405, 404 for no route) carry no body.
            // A file result's 416 carries the file's content type and no body: it gets one too.
            if (context.Response.StatusCode >= 400 && !context.Response.HasStarted && (context.Response.ContentType == null || context.Response.StatusCode == 416))
            {
                var (code, detail) = context.Response.StatusCode switch
                {
                    415 => ("unsupported_media_type", "send the body as application/json"),
                    405 => ("method_not_allowed", $"{context.Request.Method} is not allowed on {context.Request.Path}"),
                    404 => ("not_found", $"no such resource: {context.Request.Path}"),
                    416 => ("range_not_satisfiable", "the requested range is outside the blob: see Content-Range for its length"),
                    _ => ("error", ReasonPhrases(context.Response.StatusCode)),
                };
                await WriteProblemAsync(context, context.Response.StatusCode, code, detail, null, null);
            }
        }
        catch (ApiException e)
        {
            await WriteProblemAsync(context, e.Status, e.Code, e.Message, e.Field, e.Caret);
        }
        catch (IllegalTransitionException e)
        {
            await WriteProblemAsync(context, 409, IllegalTransitionException.Code, e.Message, null, null);
        }
        catch (BadHttpRequestException e)
        {
            var code = e.StatusCode == 413 ? "body_too_large" : "bad_request";
            await WriteProblemAsync(context, e.StatusCode, code, e.StatusCode == 413 ? "the request body is larger than the server accepts" : e.Message, null, null);
        }
        catch (StoreException e) when (e.IsTransient)
        {
            await WriteProblemAsync(context, 503, "store_unavailable", e.Message, null, null);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
    }

    internal static async Task WriteProblemAsync(HttpContext context, int status, string code, string detail, string? field, string? caret)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        // A 416's Content-Range (bytes */LENGTH) tells the client the real length: keep it.
        var contentRange = status == 416 ? context.Response.Headers.ContentRange : default;
        context.Response.Clear();
        context.Response.StatusCode = status;
        if (contentRange.Count > 0)
        {
            context.Response.Headers.ContentRange = contentRange;
        }

        var problem = new Dictionary<string, object?>
        {
            ["type"] = "https://heorot.dev/problems/" + code,
            ["title"] = ReasonPhrases(status),
            ["status"] = status,
            ["detail"] = detail,
            ["instance"] = context.Request.Path.Value,
            ["code"] = code,
        };
        if (field != null)
        {
            problem["field"] = field;
        }

        if (caret != null)
        {
            problem["caret"] = caret;
        }

        context.Response.ContentType = "application/problem+json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(problem, WireJson.Options), context.RequestAborted);
    }

    private static string ReasonPhrases(int status) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase
        ? phrase
        : status.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The agents' shared secret, created once with the data directory (mode 0600).</summary>
public static class AgentSecret
{
    public static string ReadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        var secret = Authenticator.NewToken();
        File.WriteAllText(path, secret + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return secret;
    }
}
