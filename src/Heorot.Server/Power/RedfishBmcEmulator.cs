using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Heorot.Drivers.Power;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Heorot.Server.Power;

/// <summary>One request the emulator answered: for tests and measurements. <see cref="Auth"/> is none, basic or session.</summary>
public sealed record BmcRequest(string Method, string Path, int Status, string Auth);

/// <summary>What the emulator holds for one system, read directly (not through Redfish).</summary>
public sealed record BmcSystemSnapshot(string BootSourceOverrideTarget, string BootSourceOverrideEnabled, bool InTransition, string? LastBackendError);

/// <summary>
/// A Redfish BMC emulator (DMTF DSP0266, the ComputerSystem, SessionService and error schemas) on Kestrel: one
/// ComputerSystem per emulated node, each driving its machine through an <see cref="IPowerDriver"/> — a fake
/// machine for quick tests, a QEMU guest for a real one. It serves the service root, the Systems collection,
/// <c>Systems/{id}</c> (PowerState, Boot override with its allowable values, <c>#ComputerSystem.Reset</c>), and
/// the SessionService (POST Sessions returns X-Auth-Token and Location; DELETE logs out). Every other resource
/// needs a session token or HTTP Basic; a refusal is a Redfish error body (<c>error</c> with
/// <c>@Message.ExtendedInfo</c>). A reset is accepted at once (204) and carried out by the backend while the
/// system reads PoweringOn/PoweringOff; a second reset meanwhile gets 409. PATCH honours If-Match against the
/// system's ETag. For tests it answers slowly, hangs, lies about PowerState, or fails with 503 on request.
/// </summary>
public sealed partial class RedfishBmcEmulator : IAsyncDisposable
{
    public const string ServiceRoot = "/redfish/v1";
    private const string Registry = "Base.1.16";
    private const string SystemsPath = ServiceRoot + "/Systems";
    private const string SessionServicePath = ServiceRoot + "/SessionService";
    private const string SessionsPath = SessionServicePath + "/Sessions";
    private const int MaxBodyBytes = 64 * 1024;

    private readonly WebApplication app;
    private readonly RedfishBmcOptions options;
    private readonly Dictionary<string, SystemState> systems;
    private readonly ConcurrentDictionary<string, Session> sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<BmcRequest> requests = new();
    private readonly CancellationTokenSource stopping = new();
    private readonly ILogger logger;
    private readonly Lock faultGate = new();
    private int failuresLeft;
    private int failureStatus;
    private long nextSessionId;

    private RedfishBmcEmulator(WebApplication app, RedfishBmcOptions options, IEnumerable<EmulatedSystem> systems, ILogger logger)
    {
        this.app = app;
        this.options = options;
        this.logger = logger;
        this.systems = systems.ToDictionary(s => s.Id, s => new SystemState(s), StringComparer.Ordinal);
    }

    /// <summary>The BMC's URL: scheme, address and the port actually bound.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The SHA-256 fingerprint of the HTTPS certificate (hex), for clients that pin it; null over HTTP.</summary>
    public string? CertificateSha256 => options.Certificate?.GetCertHashString(HashAlgorithmName.SHA256);

    /// <summary>Every answer waits this long first ("slow answers").</summary>
    public TimeSpan ResponseDelay { get; set; }

    /// <summary>Requests are read and never answered, until the client gives up or the emulator stops.</summary>
    public bool Hang { get; set; }

    /// <summary>Every system reports this PowerState whatever its machine really is: a BMC that lies.</summary>
    public string? LiePowerState { get; set; }

    /// <summary>Every request answered so far, oldest first.</summary>
    public IReadOnlyList<BmcRequest> Requests => [.. requests];

    /// <summary>Sessions open now.</summary>
    public int SessionCount => sessions.Count;

    /// <summary>Starts an emulated BMC with <paramref name="systems"/> (at least one).</summary>
    public static async Task<RedfishBmcEmulator> StartAsync(
        RedfishBmcOptions options,
        IReadOnlyList<EmulatedSystem> systems,
        ILoggerFactory? logging = null,
        CancellationToken cancellationToken = default)
    {
        if (systems.Count == 0 || systems.Any(s => !IsId(s.Id)) || systems.Select(s => s.Id).Distinct(StringComparer.Ordinal).Count() != systems.Count)
        {
            throw new ArgumentException("an emulated BMC needs one or more systems with distinct ids of letters, digits, '.', '_' and '-'", nameof(systems));
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
            kestrel.Listen(IPAddress.Parse(options.Address), options.Port, listen =>
            {
                if (options.Certificate != null)
                {
                    listen.UseHttps(options.Certificate);
                }
            });
        });
        var app = builder.Build();
        var emulator = new RedfishBmcEmulator(app, options, systems, logging?.CreateLogger<RedfishBmcEmulator>() ?? NullLogger<RedfishBmcEmulator>.Instance);
        app.Run(emulator.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        emulator.BaseAddress = new UriBuilder(options.Certificate != null ? "https" : "http", options.Address, bound.Port).Uri;
        LogStarted(emulator.logger, emulator.BaseAddress, systems.Count);
        return emulator;
    }

    /// <summary>A self-signed certificate for <paramref name="address"/> (and localhost), valid for a year, for HTTPS tests and demos.</summary>
    public static X509Certificate2 CreateSelfSignedCertificate(string address = "127.0.0.1", TimeProvider? time = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Heorot BMC emulator", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        if (IPAddress.TryParse(address, out var ip))
        {
            names.AddIpAddress(ip);
        }
        else
        {
            names.AddDnsName(address);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = (time ?? TimeProvider.System).GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(1));

        // Through PKCS#12 so that the private key is usable by the TLS stack on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>The next <paramref name="count"/> requests are refused with <paramref name="status"/> (503 by default).</summary>
    public void FailNext(int count, int status = 503)
    {
        lock (faultGate)
        {
            failuresLeft = count;
            failureStatus = status;
        }
    }

    /// <summary>The emulator's own view of a system (boot override, transition), read without Redfish.</summary>
    public BmcSystemSnapshot Snapshot(string systemId)
    {
        var state = systems[systemId];
        lock (state.Gate)
        {
            return new BmcSystemSnapshot(state.BootTarget, state.BootEnabled, state.InTransition(options.Time), state.LastError);
        }
    }

    /// <summary>Waits until no system has a power transition in progress (their backends' calls finished).</summary>
    public async Task WhenIdleAsync(CancellationToken cancellationToken)
    {
        foreach (var state in systems.Values)
        {
            Task pending;
            lock (state.Gate)
            {
                pending = state.Pending;
            }

            await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await app.StopAsync(timeout.Token).ConfigureAwait(false);
        }

        await app.DisposeAsync().ConfigureAwait(false);
        foreach (var state in systems.Values)
        {
            Task pending;
            lock (state.Gate)
            {
                pending = state.Pending;
            }

            // Backend calls end on the stopping token; a backend that ignores it is not waited for long.
            await Task.WhenAny(pending, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None)).ConfigureAwait(false);
        }

        stopping.Dispose();
    }

    /// <summary>Fault injection, authentication, then the resource.</summary>
    private async Task HandleAsync(HttpContext context)
    {
        var auth = "none";
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping.Token);
            if (Hang)
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, options.Time, linked.Token).ConfigureAwait(false);
            }

            if (ResponseDelay > TimeSpan.Zero)
            {
                await Task.Delay(ResponseDelay, options.Time, linked.Token).ConfigureAwait(false);
            }

            if (TakeFailure() is { } status)
            {
                context.Response.Headers.RetryAfter = "1";
                await WriteErrorAsync(context, status, "ServiceTemporarilyUnavailable", "The service is temporarily unavailable. Retry in 1 seconds.", "1").ConfigureAwait(false);
                return;
            }

            var path = Normalize(context.Request.Path.Value);
            if (!IsPublic(context.Request.Method, path))
            {
                if (Authenticate(context) is not { } who)
                {
                    if (options.BasicAuthEnabled)
                    {
                        context.Response.Headers.WWWAuthenticate = "Basic realm=\"Heorot BMC emulator\"";
                    }

                    await WriteErrorAsync(context, 401, "NoValidSession", "There is no valid session established with the implementation.").ConfigureAwait(false);
                    return;
                }

                auth = who;
            }

            await RouteAsync(context, path, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested || stopping.IsCancellationRequested)
        {
            context.Abort();
        }
        finally
        {
            requests.Enqueue(new BmcRequest(context.Request.Method, context.Request.Path.Value ?? string.Empty, context.Response.StatusCode, auth));
        }
    }

    private int? TakeFailure()
    {
        lock (faultGate)
        {
            if (failuresLeft <= 0)
            {
                return null;
            }

            failuresLeft--;
            return failureStatus;
        }
    }

    private static string Normalize(string? path) => path is { Length: > 1 } p ? p.TrimEnd('/') : path ?? "/";

    // The service root, its version document and the session login need no credentials (DSP0266 "Authentication requirements").
    private static bool IsPublic(string method, string path) =>
        (HttpMethods.IsGet(method) && path is "/redfish" or ServiceRoot or ServiceRoot + "/odata")
        || (HttpMethods.IsPost(method) && path == SessionsPath);

    /// <summary>"session" or "basic" when the request carries valid credentials; null otherwise.</summary>
    private string? Authenticate(HttpContext context)
    {
        if (context.Request.Headers["X-Auth-Token"] is { Count: > 0 } tokens)
        {
            if (options.SessionsEnabled && sessions.TryGetValue(tokens[0]!, out var session))
            {
                var now = options.Time.GetUtcNow();
                lock (session)
                {
                    if (now - session.LastUsed <= options.SessionTimeout)
                    {
                        session.LastUsed = now;
                        return "session";
                    }
                }

                sessions.TryRemove(tokens[0]!, out _);
            }

            return null;
        }

        if (options.BasicAuthEnabled
            && AuthenticationHeaderValue.TryParse(context.Request.Headers.Authorization, out var header)
            && string.Equals(header.Scheme, "Basic", StringComparison.OrdinalIgnoreCase)
            && header.Parameter != null)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header.Parameter));
            }
            catch (FormatException)
            {
                return null;
            }

            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 && IsUser(decoded[..colon], decoded[(colon + 1)..]) ? "basic" : null;
        }

        return null;
    }

    private bool IsUser(string? user, string? password) =>
        user != null && password != null
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(options.UserName))
        & CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(options.Password));

    private async Task RouteAsync(HttpContext context, string path, CancellationToken cancellationToken)
    {
        var method = context.Request.Method;
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        switch (segments)
        {
            case ["redfish"]:
                await AllowAsync(context, "GET", () => WriteJsonAsync(context, 200, new JsonObject { ["v1"] = ServiceRoot + "/" })).ConfigureAwait(false);
                return;
            case ["redfish", "v1"]:
                await AllowAsync(context, "GET", () => WriteJsonAsync(context, 200, ServiceRootBody())).ConfigureAwait(false);
                return;
            case ["redfish", "v1", "odata"]:
                await AllowAsync(context, "GET", () => WriteJsonAsync(context, 200, ServiceDocument())).ConfigureAwait(false);
                return;
            case ["redfish", "v1", "Systems"]:
                await AllowAsync(context, "GET", () => WriteJsonAsync(context, 200, SystemCollection())).ConfigureAwait(false);
                return;
            case ["redfish", "v1", "Systems", var id] when systems.TryGetValue(id, out var system):
                if (HttpMethods.IsGet(method))
                {
                    await GetSystemAsync(context, system, cancellationToken).ConfigureAwait(false);
                }
                else if (HttpMethods.IsPatch(method))
                {
                    await PatchSystemAsync(context, system, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await NotAllowedAsync(context, "GET, PATCH").ConfigureAwait(false);
                }

                return;
            case ["redfish", "v1", "Systems", var id, "Actions", "ComputerSystem.Reset"] when systems.TryGetValue(id, out var system):
                await AllowAsync(context, "POST", () => ResetAsync(context, system, cancellationToken)).ConfigureAwait(false);
                return;
            case ["redfish", "v1", "SessionService"] when options.SessionsEnabled:
                await AllowAsync(context, "GET", () => WriteJsonAsync(context, 200, SessionServiceBody())).ConfigureAwait(false);
                return;
            case ["redfish", "v1", "SessionService", "Sessions"] when options.SessionsEnabled:
                if (HttpMethods.IsPost(method))
                {
                    await LogInAsync(context, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await AllowAsync(context, "GET, POST", () => WriteJsonAsync(context, 200, SessionCollection())).ConfigureAwait(false);
                }

                return;
            case ["redfish", "v1", "SessionService", "Sessions", var sessionId] when options.SessionsEnabled && FindSession(sessionId) is { } session:
                if (HttpMethods.IsDelete(method))
                {
                    sessions.TryRemove(session.Token, out _);
                    LogSessionEnded(logger, session.Id, session.User);
                    context.Response.StatusCode = 204;
                }
                else
                {
                    await AllowAsync(context, "GET, DELETE", () => WriteJsonAsync(context, 200, SessionBody(session))).ConfigureAwait(false);
                }

                return;
            default:
                await WriteErrorAsync(context, 404, "ResourceNotFound", $"The requested resource of type Resource named '{path}' was not found.", "Resource", path).ConfigureAwait(false);
                return;
        }
    }

    private static Task AllowAsync(HttpContext context, string allowed, Func<Task> handler)
    {
        var method = context.Request.Method;
        return allowed.Split(", ").Contains(method, StringComparer.OrdinalIgnoreCase) ? handler() : NotAllowedAsync(context, allowed);
    }

    private static Task NotAllowedAsync(HttpContext context, string allowed)
    {
        context.Response.Headers.Allow = allowed;
        return WriteErrorAsync(context, 405, "OperationNotAllowed", $"The HTTP method {context.Request.Method} is not allowed on the URI {context.Request.Path}.");
    }

    private Session? FindSession(string id) => sessions.Values.FirstOrDefault(s => s.Id == id);

    private JsonObject ServiceRootBody()
    {
        var root = new JsonObject
        {
            ["@odata.type"] = "#ServiceRoot.v1_15_0.ServiceRoot",
            ["@odata.id"] = ServiceRoot + "/",
            ["Id"] = "RootService",
            ["Name"] = "Root Service",
            ["RedfishVersion"] = "1.17.0",
            ["UUID"] = Uuid("service-root"),
            ["Vendor"] = "Heorot",
            ["Product"] = "Heorot BMC emulator",
            ["Systems"] = Link(SystemsPath),
        };
        if (options.SessionsEnabled)
        {
            root["SessionService"] = Link(SessionServicePath);
            root["Links"] = new JsonObject { ["Sessions"] = Link(SessionsPath) };
        }

        return root;
    }

    private JsonObject ServiceDocument()
    {
        var entries = new JsonArray
        {
            new JsonObject { ["name"] = "Service", ["kind"] = "Singleton", ["url"] = ServiceRoot + "/" },
            new JsonObject { ["name"] = "Systems", ["kind"] = "Singleton", ["url"] = SystemsPath },
        };
        if (options.SessionsEnabled)
        {
            entries.Add(new JsonObject { ["name"] = "SessionService", ["kind"] = "Singleton", ["url"] = SessionServicePath });
            entries.Add(new JsonObject { ["name"] = "Sessions", ["kind"] = "Singleton", ["url"] = SessionsPath });
        }

        return new JsonObject { ["@odata.context"] = ServiceRoot + "/$metadata", ["value"] = entries };
    }

    private JsonObject SystemCollection() => new()
    {
        ["@odata.type"] = "#ComputerSystemCollection.ComputerSystemCollection",
        ["@odata.id"] = SystemsPath,
        ["Name"] = "Computer System Collection",
        ["Members@odata.count"] = systems.Count,
        ["Members"] = new JsonArray([.. systems.Keys.Order(StringComparer.Ordinal).Select(id => (JsonNode)Link(SystemsPath + "/" + id))]),
    };

    private JsonObject SessionServiceBody() => new()
    {
        ["@odata.type"] = "#SessionService.v1_1_8.SessionService",
        ["@odata.id"] = SessionServicePath,
        ["Id"] = "SessionService",
        ["Name"] = "Session Service",
        ["ServiceEnabled"] = true,
        ["SessionTimeout"] = (int)options.SessionTimeout.TotalSeconds,
        ["Sessions"] = Link(SessionsPath),
    };

    private JsonObject SessionCollection()
    {
        var members = sessions.Values.OrderBy(s => s.Number).Select(s => (JsonNode)Link(SessionsPath + "/" + s.Id)).ToArray();
        return new JsonObject
        {
            ["@odata.type"] = "#SessionCollection.SessionCollection",
            ["@odata.id"] = SessionsPath,
            ["Name"] = "Session Collection",
            ["Members@odata.count"] = members.Length,
            ["Members"] = new JsonArray(members),
        };
    }

    private static JsonObject SessionBody(Session session) => new()
    {
        ["@odata.type"] = "#Session.v1_3_0.Session",
        ["@odata.id"] = SessionsPath + "/" + session.Id,
        ["Id"] = session.Id,
        ["Name"] = "User Session",
        ["UserName"] = session.User,
    };

    private async Task LogInAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (await ReadBodyAsync(context, cancellationToken).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        var user = body["UserName"] is JsonValue u && u.TryGetValue<string>(out var userName) ? userName : null;
        var password = body["Password"] is JsonValue p && p.TryGetValue<string>(out var pass) ? pass : null;
        if (user == null || password == null)
        {
            await WriteErrorAsync(context, 400, "CreateFailedMissingReqProperties", "The create operation failed because the required property UserName or Password was missing from the request.", "UserName, Password").ConfigureAwait(false);
            return;
        }

        if (!IsUser(user, password))
        {
            await WriteErrorAsync(context, 401, "NoValidSession", "There is no valid session established with the implementation.").ConfigureAwait(false);
            return;
        }

        var number = Interlocked.Increment(ref nextSessionId);
        var session = new Session(number, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), user)
        {
            LastUsed = options.Time.GetUtcNow(),
        };
        sessions[session.Token] = session;
        LogSessionStarted(logger, session.Id, user);
        context.Response.Headers["X-Auth-Token"] = session.Token;
        context.Response.Headers.Location = SessionsPath + "/" + session.Id;
        await WriteJsonAsync(context, 201, SessionBody(session)).ConfigureAwait(false);
    }

    private async Task GetSystemAsync(HttpContext context, SystemState system, CancellationToken cancellationToken)
    {
        string powerState;
        try
        {
            powerState = LiePowerState ?? system.TransitionState(options.Time) ?? ToRedfish(await system.Config.Backend.GetStateAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (PowerException e)
        {
            await BackendFailureAsync(context, e).ConfigureAwait(false);
            return;
        }

        JsonObject body;
        string etag;
        lock (system.Gate)
        {
            etag = system.ETag;
            body = new JsonObject
            {
                ["@odata.type"] = "#ComputerSystem.v1_20_0.ComputerSystem",
                ["@odata.id"] = SystemsPath + "/" + system.Config.Id,
                ["Id"] = system.Config.Id,
                ["Name"] = system.Config.Id,
                ["SystemType"] = "Physical",
                ["Manufacturer"] = "Heorot",
                ["Model"] = "Emulated node (" + system.Config.Backend.Kind + ")",
                ["UUID"] = Uuid("system/" + system.Config.Id),
                ["PowerState"] = powerState,
                ["Status"] = new JsonObject { ["State"] = "Enabled", ["Health"] = system.LastError == null ? "OK" : "Warning" },
                ["Boot"] = new JsonObject
                {
                    ["BootSourceOverrideEnabled"] = system.BootEnabled,
                    ["BootSourceOverrideTarget"] = system.BootTarget,
                    ["BootSourceOverrideMode"] = system.BootMode,
                    ["BootSourceOverrideEnabled@Redfish.AllowableValues"] = new JsonArray("Disabled", "Once", "Continuous"),
                    ["BootSourceOverrideTarget@Redfish.AllowableValues"] = new JsonArray([.. system.Config.AllowedBootTargets.Select(t => (JsonNode)t)]),
                },
                ["Actions"] = new JsonObject
                {
                    ["#ComputerSystem.Reset"] = new JsonObject
                    {
                        ["target"] = SystemsPath + "/" + system.Config.Id + "/Actions/ComputerSystem.Reset",
                        ["ResetType@Redfish.AllowableValues"] = new JsonArray([.. options.ResetTypes.Select(t => (JsonNode)t)]),
                    },
                },
            };
        }

        context.Response.Headers.ETag = etag;
        await WriteJsonAsync(context, 200, body).ConfigureAwait(false);
    }

    private static async Task PatchSystemAsync(HttpContext context, SystemState system, CancellationToken cancellationToken)
    {
        var ifMatch = context.Request.Headers.IfMatch.ToString();
        string current;
        lock (system.Gate)
        {
            current = system.ETag;
        }

        if (ifMatch.Length > 0 && ifMatch != "*" && !ifMatch.Split(',').Select(StripWeak).Contains(StripWeak(current)))
        {
            await WriteErrorAsync(context, 412, "PreconditionFailed", "The ETag supplied did not match the ETag required to change this resource.").ConfigureAwait(false);
            return;
        }

        if (await ReadBodyAsync(context, cancellationToken).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        foreach (var (name, _) in body)
        {
            if (name != "Boot")
            {
                var readOnly = name is "Id" or "Name" or "PowerState" or "UUID" or "SystemType" or "Manufacturer" or "Model" or "Status" or "Actions";
                await WriteErrorAsync(
                    context,
                    400,
                    readOnly ? "PropertyNotWritable" : "PropertyUnknown",
                    readOnly ? $"The property {name} is a read-only property and cannot be assigned a value." : $"The property {name} is not in the list of valid properties for the resource.",
                    name).ConfigureAwait(false);
                return;
            }
        }

        if (body["Boot"] is not JsonObject boot)
        {
            await WriteErrorAsync(context, 400, "PropertyValueTypeError", "The value for the property Boot is of a different type than the property can accept.", "Boot").ConfigureAwait(false);
            return;
        }

        string target, enabled, mode;
        lock (system.Gate)
        {
            (target, enabled, mode) = (system.BootTarget, system.BootEnabled, system.BootMode);
        }

        foreach (var (name, node) in boot)
        {
            var value = node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
            IReadOnlyList<string>? allowed = name switch
            {
                "BootSourceOverrideTarget" => system.Config.AllowedBootTargets,
                "BootSourceOverrideEnabled" => ["Disabled", "Once", "Continuous"],
                "BootSourceOverrideMode" => ["Legacy", "UEFI"],
                _ => null,
            };
            if (allowed == null)
            {
                await WriteErrorAsync(context, 400, "PropertyUnknown", $"The property Boot/{name} is not in the list of valid properties for the resource.", "Boot/" + name).ConfigureAwait(false);
                return;
            }

            if (value == null || !allowed.Contains(value))
            {
                await WriteErrorAsync(context, 400, "PropertyValueNotInList", $"The value '{node?.ToJsonString()}' for the property Boot/{name} is not in the list of acceptable values.", node?.ToJsonString() ?? "null", "Boot/" + name).ConfigureAwait(false);
                return;
            }

            switch (name)
            {
                case "BootSourceOverrideTarget":
                    target = value;
                    break;
                case "BootSourceOverrideEnabled":
                    enabled = value;
                    break;
                default:
                    mode = value;
                    break;
            }
        }

        try
        {
            if (enabled == "Disabled" || target == "None")
            {
                await system.Config.Backend.SetNextBootAsync(BootDevice.Default, false, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await system.Config.Backend.SetNextBootAsync(ToDevice(target), enabled == "Continuous", cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PowerException e)
        {
            await BackendFailureAsync(context, e).ConfigureAwait(false);
            return;
        }

        lock (system.Gate)
        {
            (system.BootTarget, system.BootEnabled, system.BootMode) = (target, enabled, mode);
            system.Version++;
            context.Response.Headers.ETag = system.ETag;
        }

        context.Response.StatusCode = 204;
    }

    private async Task ResetAsync(HttpContext context, SystemState system, CancellationToken cancellationToken)
    {
        const string Action = "ComputerSystem.Reset";
        if (await ReadBodyAsync(context, cancellationToken).ConfigureAwait(false) is not { } body)
        {
            return;
        }

        if (body["ResetType"] is not { } node)
        {
            await WriteErrorAsync(context, 400, "ActionParameterMissing", $"The action {Action} requires the parameter ResetType to be present in the request body.", Action, "ResetType").ConfigureAwait(false);
            return;
        }

        var resetType = node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        if (resetType == null || !options.ResetTypes.Contains(resetType) || ToAction(resetType) is not { } action)
        {
            await WriteErrorAsync(context, 400, "ActionParameterValueNotInList", $"The value '{node.ToJsonString()}' for the parameter ResetType in the action {Action} is not in the list of acceptable values.", node.ToJsonString(), "ResetType", Action).ConfigureAwait(false);
            return;
        }

        PowerState? before = null;
        if (options.ConflictWhenAlreadyInState && system.TransitionState(options.Time) == null)
        {
            try
            {
                before = await system.Config.Backend.GetStateAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PowerException e)
            {
                await BackendFailureAsync(context, e).ConfigureAwait(false);
                return;
            }

            if ((before == PowerState.On && action == PowerAction.On) || (before == PowerState.Off && action is PowerAction.Off or PowerAction.SoftOff))
            {
                await WriteErrorAsync(context, 409, "ResourceInUse", $"The change to the requested resource failed because the system is already {before}.").ConfigureAwait(false);
                return;
            }
        }

        bool busy;
        lock (system.Gate)
        {
            busy = system.InTransition(options.Time);
            if (!busy)
            {
                system.Transition = action is PowerAction.Off or PowerAction.SoftOff ? "PoweringOff" : "PoweringOn";
                system.TransitionEnds = options.Time.GetUtcNow() + options.TransitionTime;
                system.Version++;
                system.Pending = Task.Run(() => RunBackendAsync(system, resetType, action), CancellationToken.None);
            }
        }

        if (busy)
        {
            await WriteErrorAsync(context, 409, "ResourceInUse", "The change to the requested resource failed because the resource is in use or in transition.").ConfigureAwait(false);
            return;
        }

        context.Response.StatusCode = 204;
    }

    /// <summary>Carries out an accepted reset; a Once boot override is spent by a boot.</summary>
    private async Task RunBackendAsync(SystemState system, string resetType, PowerAction action)
    {
        var backend = system.Config.Backend;
        try
        {
            var before = await backend.GetStateAsync(stopping.Token).ConfigureAwait(false);
            await backend.SetAsync(action, stopping.Token).ConfigureAwait(false);
            var booted = action is PowerAction.Reset or PowerAction.Cycle || (action == PowerAction.On && before != PowerState.On);
            lock (system.Gate)
            {
                system.LastError = null;
                if (booted && system.BootEnabled == "Once")
                {
                    (system.BootTarget, system.BootEnabled) = ("None", "Disabled");
                    system.Version++;
                }
            }
        }
        catch (Exception e) when (e is PowerException or OperationCanceledException)
        {
            lock (system.Gate)
            {
                system.LastError = e.Message;
            }

            LogBackendFailed(logger, system.Config.Id, resetType, e.Message);
        }
    }

    private static Task BackendFailureAsync(HttpContext context, PowerException e) =>
        e.Code == PowerErrorCode.Unsupported
            ? WriteErrorAsync(context, 400, "ActionNotSupported", "The machine behind this system cannot do that: " + e.Message)
            : WriteErrorAsync(context, e.IsTransient ? 503 : 500, e.IsTransient ? "ServiceTemporarilyUnavailable" : "InternalError", "The machine behind this system failed: " + e.Message, "1");

    private static async Task<JsonObject?> ReadBodyAsync(HttpContext context, CancellationToken cancellationToken)
    {
        try
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var text = await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            if (JsonNode.Parse(text) is JsonObject body)
            {
                return body;
            }
        }
        catch (JsonException)
        {
        }
        catch (BadHttpRequestException e) when (e.StatusCode == 413)
        {
            await WriteErrorAsync(context, 413, "GeneralError", "The request body is too large.").ConfigureAwait(false);
            return null;
        }

        await WriteErrorAsync(context, 400, "MalformedJSON", "The request body submitted was malformed JSON and could not be parsed by the receiving service.").ConfigureAwait(false);
        return null;
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.Headers["OData-Version"] = "4.0";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>A Redfish error (DSP0266 "Error responses"): a general error whose extended info names the Base registry message.</summary>
    private static Task WriteErrorAsync(HttpContext context, int status, string messageId, string message, params string[] args)
    {
        if (context.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        var severity = status is 401 or 403 or >= 500 ? "Critical" : "Warning";
        var info = new JsonObject
        {
            ["@odata.type"] = "#Message.v1_1_1.Message",
            ["MessageId"] = $"{Registry}.{messageId}",
            ["Message"] = message,
            ["MessageArgs"] = new JsonArray([.. args.Select(a => (JsonNode)a)]),
            ["MessageSeverity"] = severity,
            ["Severity"] = severity,
            ["Resolution"] = status switch
            {
                401 => "Log in with a session (POST to the Sessions collection) or send HTTP Basic credentials.",
                409 => "Wait for the current power transition to end, then resubmit the request.",
                412 => "Read the resource again for its current ETag, then resubmit the request.",
                503 => "Wait the number of seconds in Retry-After, then resubmit the request.",
                _ => "Correct the request and resubmit it.",
            },
        };
        return WriteJsonAsync(context, status, new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["code"] = $"{Registry}.GeneralError",
                ["message"] = "A general error has occurred. See ExtendedInfo for more information.",
                ["@Message.ExtendedInfo"] = new JsonArray(info),
            },
        });
    }

    private static JsonObject Link(string path) => new() { ["@odata.id"] = path };

    private static string StripWeak(string etag) => etag.Trim() is var t && t.StartsWith("W/", StringComparison.Ordinal) ? t[2..] : t;

    /// <summary>A stable UUID per name (the first 16 bytes of its SHA-256, as a version 8 UUID).</summary>
    private static string Uuid(string name)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes("heorot-bmc:" + name))[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true).ToString();
    }

    private static bool IsId(string id) => id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private static string ToRedfish(PowerState state) => state switch
    {
        PowerState.On => "On",
        PowerState.Off => "Off",
        _ => "Unknown",
    };

    private static PowerAction? ToAction(string resetType) => resetType switch
    {
        "On" or "ForceOn" => PowerAction.On,
        "ForceOff" => PowerAction.Off,
        "GracefulShutdown" => PowerAction.SoftOff,
        "ForceRestart" => PowerAction.Reset,
        "PowerCycle" => PowerAction.Cycle,
        _ => null,
    };

    private static BootDevice ToDevice(string target) => target switch
    {
        "Pxe" => BootDevice.Pxe,
        "Hdd" => BootDevice.Disk,
        "Cd" => BootDevice.Cdrom,
        "BiosSetup" => BootDevice.Bios,
        _ => BootDevice.Default,
    };

    [LoggerMessage(1, LogLevel.Information, "Redfish BMC emulator on {Address} with {Systems} systems")]
    private static partial void LogStarted(ILogger logger, Uri address, int systems);

    [LoggerMessage(2, LogLevel.Warning, "system {System}: {ResetType} failed at its machine: {Error}")]
    private static partial void LogBackendFailed(ILogger logger, string system, string resetType, string error);

    [LoggerMessage(3, LogLevel.Debug, "session {Session} of {User} started")]
    private static partial void LogSessionStarted(ILogger logger, string session, string user);

    [LoggerMessage(4, LogLevel.Debug, "session {Session} of {User} ended")]
    private static partial void LogSessionEnded(ILogger logger, string session, string user);

    private sealed class Session(long number, string id, string token, string user)
    {
        public long Number => number;

        public string Id => id;

        public string Token => token;

        public string User => user;

        public DateTimeOffset LastUsed { get; set; }

        // The token is the credential: never printed.
        public override string ToString() => $"session {id} of {user}";
    }

    private sealed class SystemState(EmulatedSystem config)
    {
        public Lock Gate { get; } = new();

        public EmulatedSystem Config => config;

        public string BootTarget { get; set; } = "None";

        public string BootEnabled { get; set; } = "Disabled";

        public string BootMode { get; set; } = "Legacy";

        public long Version { get; set; } = 1;

        public string ETag => $"W/\"{Version}\"";

        public Task Pending { get; set; } = Task.CompletedTask;

        public DateTimeOffset TransitionEnds { get; set; }

        public string? Transition { get; set; }

        public string? LastError { get; set; }

        /// <summary>Callers hold <see cref="Gate"/>.</summary>
        public bool InTransition(TimeProvider time) => !Pending.IsCompleted || time.GetUtcNow() < TransitionEnds;

        /// <summary>PoweringOn/PoweringOff while a transition lasts, else null.</summary>
        public string? TransitionState(TimeProvider time)
        {
            lock (Gate)
            {
                return InTransition(time) ? Transition : null;
            }
        }
    }
}
