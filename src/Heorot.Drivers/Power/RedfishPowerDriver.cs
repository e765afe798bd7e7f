using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Heorot.Drivers.Power;

/// <summary>How the Redfish driver logs in.</summary>
public enum RedfishAuthMode
{
    /// <summary>A session (POST SessionService/Sessions, then X-Auth-Token); HTTP Basic when the service has no sessions.</summary>
    Auto,

    /// <summary>Sessions only.</summary>
    Session,

    /// <summary>HTTP Basic on every request.</summary>
    Basic,
}

/// <summary>Where a Redfish BMC is and how to talk to it. <see cref="ToString"/> never shows the password.</summary>
public sealed record RedfishPowerOptions
{
    /// <summary>The BMC: scheme, host and port (https://10.0.0.5, http://127.0.0.1:5000); the service root is /redfish/v1/ on it.</summary>
    public required Uri BaseUrl { get; init; }

    public string? UserName { get; init; }

    public string? Password { get; init; }

    /// <summary>The system's Id in the Systems collection; null: the collection must hold exactly one system.</summary>
    public string? SystemId { get; init; }

    public RedfishAuthMode Auth { get; init; } = RedfishAuthMode.Auto;

    /// <summary>
    /// Bound on each HTTP request (connection, answer and body); past it the BMC is unreachable (transient). 8 s, so
    /// that three attempts and their backoff (25.5 s) end before the server's 30 s callTimeout calls the BMC hung.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Calls per operation when the BMC fails transiently (no answer, 409 busy, 503), with exponential backoff.</summary>
    public int Attempts { get; init; } = 3;

    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>A power cycle on a BMC without PowerCycle is ForceOff then On: how long to wait for Off in between.</summary>
    public TimeSpan PowerOffWait { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the state is read while waiting for Off.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Trust exactly the certificate with this SHA-256 fingerprint (hex, colons allowed), whoever signed it.</summary>
    public string? PinnedCertificateSha256 { get; init; }

    /// <summary>Accept any certificate: for lab BMCs only (self-signed, wrong names). Never the default.</summary>
    public bool SkipCertificateVerification { get; init; }

    /// <summary>Plain HTTP to a BMC that is not on loopback sends the credentials in clear: refused unless set.</summary>
    public bool AllowPlainHttp { get; init; }

    public TimeProvider? Time { get; init; }

    public override string ToString() =>
        $"RedfishPowerOptions {{ BaseUrl = {BaseUrl}, UserName = {UserName}, Password = {(Password == null ? "(none)" : "***")}, SystemId = {SystemId}, Auth = {Auth} }}";
}

/// <summary>
/// Power through a Redfish BMC (DMTF DSP0266): discovers the system (service root → Systems → the configured
/// member, or the only one), reads <c>PowerState</c>, powers through <c>#ComputerSystem.Reset</c> (On, ForceOff,
/// GracefulShutdown, ForceRestart, PowerCycle when the BMC allows them, else ForceOff then On), and sets the boot
/// source override with a PATCH (Once or Continuous, with the ETag as If-Match). Logs in with a session (falling
/// back to HTTP Basic when the BMC has none); an expired session is renewed once.
/// <para>
/// Errors: no answer within <see cref="RedfishPowerOptions.RequestTimeout"/>, a refused connection, 503 and 409
/// (a transition in progress) are transient and retried a bounded number of times; 401/403 are
/// <see cref="PowerErrorCode.AuthFailed"/> and never retried. A 409 to a power action is first checked against the
/// state: a BMC that refuses "On" because the system is already on has done what was asked.
/// An action is never skipped because a state read said it was done already, so a BMC that lies about its state
/// still gets every On and Off.
/// </para>
/// </summary>
public sealed class RedfishPowerDriver : IPowerDriver, IAsyncDisposable, IDisposable
{
    private const string ServiceRootPath = "/redfish/v1/";
    private const string DefaultSessionsPath = "/redfish/v1/SessionService/Sessions";

    private readonly RedfishPowerOptions options;
    private readonly TimeProvider time;
    private readonly HttpClient http;
    private readonly PowerRetry retry;
    private readonly SemaphoreSlim authGate = new(1, 1);
    private string? sessionToken;
    private Uri? sessionUri;
    private string? sessionsPath;
    private bool basicFallback;
    private SystemLinks? system;

    public RedfishPowerDriver(RedfishPowerOptions options)
    {
        this.options = options;
        time = options.Time ?? TimeProvider.System;
        retry = new PowerRetry(Math.Max(1, options.Attempts), options.FirstRetryDelay, time);
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.RequestTimeout > TimeSpan.Zero ? options.RequestTimeout : TimeSpan.FromSeconds(8),
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            UseCookies = false,
            UseProxy = false,

            // Credentials must not follow a redirect (to http, or elsewhere); a redirect is reported instead.
            AllowAutoRedirect = false,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = CheckCertificate },
        };
        http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public string Kind => "redfish";

    /// <summary>
    /// A node's entry in the power file: <c>{ driver: redfish, url: https://10.0.0.5, username: heorot, password: …,
    /// system: 1, auth: auto|session|basic, timeout: 8, retries: 3, fingerprint: SHA256, insecure: false,
    /// plainHttp: false }</c>; only <c>url</c> is required.
    /// </summary>
    public static RedfishPowerDriver FromSettings(PowerSettings settings)
    {
        settings.RejectUnknown(["url", "username", "password", "system", "auth", "timeout", "retries", "fingerprint", "insecure", "plainHttp"]);
        var url = Uri.TryCreate(settings.Required("url"), UriKind.Absolute, out var parsed)
            ? parsed
            : throw settings.Invalid("url", "expected an absolute URL such as https://10.0.0.5");
        var auth = settings.String("auth") switch
        {
            null or "auto" => RedfishAuthMode.Auto,
            "session" => RedfishAuthMode.Session,
            "basic" => RedfishAuthMode.Basic,
            _ => throw settings.Invalid("auth", "expected auto, session or basic"),
        };
        return new RedfishPowerDriver(new RedfishPowerOptions
        {
            BaseUrl = url,
            UserName = settings.String("username"),
            Password = settings.String("password"),
            SystemId = settings.String("system"),
            Auth = auth,
            RequestTimeout = TimeSpan.FromSeconds(settings.Int("timeout", 1, 600) ?? 8),
            Attempts = settings.Int("retries", 1, 10) ?? 3,
            PinnedCertificateSha256 = settings.String("fingerprint"),
            SkipCertificateVerification = settings.Bool("insecure") ?? false,
            AllowPlainHttp = settings.Bool("plainHttp") ?? false,
        });
    }

    public PowerCapabilities Capabilities => PowerCapabilities.All;

    /// <summary>Requests sent to the BMC so far (every attempt, logins included): for measurements and tests.</summary>
    public int RequestCount => Volatile.Read(ref requestCount);

    private int requestCount;

    public PowerValidation Validate()
    {
        var problems = new List<string>();
        var url = options.BaseUrl;
        if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https"))
        {
            problems.Add($"BaseUrl {url} must be an absolute http or https URL");
        }
        else
        {
            if (url.AbsolutePath is not ("/" or ""))
            {
                problems.Add($"BaseUrl {url} must name the BMC only (scheme, host, port); the service root is {ServiceRootPath}");
            }

            if (url.Scheme == "http" && options.UserName != null && !url.IsLoopback && !options.AllowPlainHttp)
            {
                problems.Add($"BaseUrl {url} is plain http: the credentials would cross the network in clear (use https, or set AllowPlainHttp for a lab BMC)");
            }

            if (url.Scheme == "http" && (options.PinnedCertificateSha256 != null || options.SkipCertificateVerification))
            {
                problems.Add("certificate options apply to https only");
            }
        }

        if ((options.UserName == null) != (options.Password == null))
        {
            problems.Add("UserName and Password go together");
        }

        if (options.UserName == null && options.Auth != RedfishAuthMode.Auto)
        {
            problems.Add($"Auth {options.Auth} needs a user name and password");
        }

        if (options.PinnedCertificateSha256 != null && NormalizeFingerprint(options.PinnedCertificateSha256) is not { Length: 64 })
        {
            problems.Add("PinnedCertificateSha256 must be a SHA-256 fingerprint: 64 hex digits (colons allowed)");
        }

        if (options.PinnedCertificateSha256 != null && options.SkipCertificateVerification)
        {
            problems.Add("PinnedCertificateSha256 and SkipCertificateVerification exclude each other");
        }

        if (options.SystemId is { } id && (id.Length == 0 || id.Contains('/', StringComparison.Ordinal)))
        {
            problems.Add($"SystemId '{id}' must be a member Id, not a path");
        }

        if (options.RequestTimeout <= TimeSpan.Zero || options.PowerOffWait <= TimeSpan.Zero || options.PollInterval <= TimeSpan.Zero)
        {
            problems.Add("RequestTimeout, PowerOffWait and PollInterval must be positive");
        }

        if (options.Attempts < 1 || options.FirstRetryDelay < TimeSpan.Zero)
        {
            problems.Add("Attempts must be at least 1 and FirstRetryDelay not negative");
        }

        return new PowerValidation(problems);
    }

    public Task<PowerState> GetStateAsync(CancellationToken cancellationToken = default) =>
        retry.RunAsync(async ct => MapState((await ReadSystemAsync(ct).ConfigureAwait(false)).State), cancellationToken);

    public Task SetAsync(PowerAction action, CancellationToken cancellationToken = default)
    {
        EnsureValid();
        return retry.RunAsync(ct => SetOnceAsync(action, ct), cancellationToken);
    }

    public Task SetNextBootAsync(BootDevice device, bool persistent = false, CancellationToken cancellationToken = default)
    {
        EnsureValid();
        return retry.RunAsync(ct => SetBootOnceAsync(device, persistent, ct), cancellationToken);
    }

    /// <summary>Ends the session at the BMC (best effort, bounded), then releases the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (sessionUri is { } uri && sessionToken is { } token)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), time);
                using var request = new HttpRequestMessage(HttpMethod.Delete, uri);
                request.Headers.Add("X-Auth-Token", token);
                using var response = await http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                // The session expires on its own at the BMC.
            }

            sessionToken = null;
            sessionUri = null;
        }

        Dispose();
    }

    public void Dispose()
    {
        http.Dispose();
        authGate.Dispose();
    }

    private void EnsureValid()
    {
        var validation = Validate();
        if (!validation.IsValid)
        {
            throw new PowerException(PowerErrorCode.InvalidConfig, $"redfish {options.BaseUrl}: " + string.Join("; ", validation.Problems));
        }
    }

    private async Task SetOnceAsync(PowerAction action, CancellationToken cancellationToken)
    {
        // On and off need only the reset action (known after the first read), not the state: an action is never
        // skipped on the word of a state read.
        switch (action)
        {
            case PowerAction.On:
                await ResetAsync(await LinksAsync(cancellationToken).ConfigureAwait(false), PowerState.On, cancellationToken, "On", "ForceOn").ConfigureAwait(false);
                return;
            case PowerAction.Off:
                await ResetAsync(await LinksAsync(cancellationToken).ConfigureAwait(false), PowerState.Off, cancellationToken, "ForceOff").ConfigureAwait(false);
                return;
            case PowerAction.SoftOff:
                await ResetAsync(await LinksAsync(cancellationToken).ConfigureAwait(false), PowerState.Off, cancellationToken, "GracefulShutdown").ConfigureAwait(false);
                return;
            case PowerAction.Cycle or PowerAction.Reset:
                break;
            default:
                throw new PowerException(PowerErrorCode.Unsupported, $"redfish {options.BaseUrl.Authority}: unknown action {action}");
        }

        // A restart of a system that is off powers it on (the contract); BMCs differ on restarting an off system.
        var view = await ReadSystemAsync(cancellationToken).ConfigureAwait(false);
        var links = view.Links;
        if (MapState(view.State) == PowerState.Off)
        {
            await ResetAsync(links, PowerState.On, cancellationToken, "On", "ForceOn").ConfigureAwait(false);
            return;
        }

        var preferred = action == PowerAction.Cycle ? new[] { "PowerCycle", "ForceRestart" } : ["ForceRestart", "PowerCycle"];
        if (links.Allows(preferred[0]) || links.Allows(preferred[1]))
        {
            await ResetAsync(links, null, cancellationToken, preferred).ConfigureAwait(false);
            return;
        }

        await ResetAsync(links, PowerState.Off, cancellationToken, "ForceOff").ConfigureAwait(false);
        await WaitForOffAsync(cancellationToken).ConfigureAwait(false);
        await ResetAsync(links, PowerState.On, cancellationToken, "On", "ForceOn").ConfigureAwait(false);
    }

    private async Task<SystemLinks> LinksAsync(CancellationToken cancellationToken) =>
        system is { Incomplete: false } known ? known : (await ReadSystemAsync(cancellationToken).ConfigureAwait(false)).Links;

    /// <summary>
    /// POSTs the first of <paramref name="resetTypes"/> the BMC allows. A 409 answer is success when the system is
    /// already in <paramref name="done"/> (some BMCs refuse "On" to a system that is on), else a transient conflict.
    /// </summary>
    private async Task ResetAsync(SystemLinks links, PowerState? done, CancellationToken cancellationToken, params string[] resetTypes)
    {
        var resetType = resetTypes.FirstOrDefault(links.Allows)
            ?? throw new PowerException(
                PowerErrorCode.Unsupported,
                $"redfish {options.BaseUrl.Authority}: the BMC allows none of {string.Join(", ", resetTypes)} (it allows {string.Join(", ", links.ResetTypes ?? [])})");
        var response = await SendAsync(HttpMethod.Post, links.ResetTarget, new JsonObject { ["ResetType"] = resetType }, null, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccess)
        {
            return;
        }

        if (response.Status == HttpStatusCode.Conflict && done is { } target)
        {
            var now = await ReadSystemAsync(cancellationToken).ConfigureAwait(false);
            if (target == PowerState.On ? now.State is "On" or "PoweringOn" : now.State == "Off")
            {
                return;
            }
        }

        throw Failure(response, $"{resetType} reset");
    }

    private async Task WaitForOffAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while ((await ReadSystemAsync(cancellationToken).ConfigureAwait(false)).State != "Off")
        {
            if (time.GetElapsedTime(started) >= options.PowerOffWait)
            {
                throw new PowerException(
                    PowerErrorCode.BmcError,
                    $"redfish {options.BaseUrl.Authority}: the system was not off {options.PowerOffWait.TotalSeconds:0.#} s after ForceOff",
                    isTransient: true);
            }

            await Task.Delay(options.PollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SetBootOnceAsync(BootDevice device, bool persistent, CancellationToken cancellationToken)
    {
        var view = await ReadSystemAsync(cancellationToken).ConfigureAwait(false);
        var boot = new JsonObject();
        if (device == BootDevice.Default)
        {
            boot["BootSourceOverrideEnabled"] = "Disabled";
            if (view.AllowsTarget("None"))
            {
                boot["BootSourceOverrideTarget"] = "None";
            }
        }
        else
        {
            var target = device switch
            {
                BootDevice.Pxe => "Pxe",
                BootDevice.Disk => "Hdd",
                BootDevice.Cdrom => "Cd",
                BootDevice.Bios => "BiosSetup",
                _ => throw new PowerException(PowerErrorCode.Unsupported, $"redfish: unknown boot device {device}"),
            };
            var enabled = persistent ? "Continuous" : "Once";
            if (!view.AllowsTarget(target) || (view.OverrideEnabledValues is { } values && !values.Contains(enabled)))
            {
                throw new PowerException(
                    PowerErrorCode.Unsupported,
                    $"redfish {options.BaseUrl.Authority}: the BMC does not offer a {enabled} boot from {target} (targets: {string.Join(", ", view.BootTargets ?? [])})");
            }

            boot["BootSourceOverrideTarget"] = target;
            boot["BootSourceOverrideEnabled"] = enabled;
        }

        var response = await SendAsync(HttpMethod.Patch, view.Links.Uri, new JsonObject { ["Boot"] = boot }, view.ETag, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccess)
        {
            throw Failure(response, "boot override");
        }
    }

    private async Task<SystemView> ReadSystemAsync(CancellationToken cancellationToken)
    {
        EnsureValid();
        var links = system ?? await DiscoverAsync(cancellationToken).ConfigureAwait(false);
        var response = await SendAsync(HttpMethod.Get, links.Uri, null, null, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            // The system went away (BMC reconfigured): discover again on the next call.
            system = null;
        }

        var body = Expect(response, "system");
        var parsed = SystemView.Parse(links.Uri, body, response.ETag, options.BaseUrl);
        if (parsed.Links.Incomplete && parsed.Links.ActionInfo is { } info)
        {
            // The reset types are in the ActionInfo resource; read once.
            var resetTypes = links is { Incomplete: false, ResetTypes: not null } && links.ActionInfo == info
                ? links.ResetTypes
                : SystemView.ResetTypesFromActionInfo(Expect(await SendAsync(HttpMethod.Get, info, null, null, cancellationToken).ConfigureAwait(false), "reset action info"));
            parsed = parsed with { Links = parsed.Links with { ResetTypes = resetTypes, Incomplete = false } };
        }

        system = parsed.Links;
        return parsed;
    }

    private async Task<SystemLinks> DiscoverAsync(CancellationToken cancellationToken)
    {
        var root = Expect(await SendAsync(HttpMethod.Get, Resolve(ServiceRootPath), null, null, cancellationToken, authenticate: false).ConfigureAwait(false), "service root");
        if (root["Links"]?["Sessions"]?["@odata.id"] is JsonValue sessions && sessions.TryGetValue<string>(out var sessionsLink))
        {
            sessionsPath = sessionsLink;
        }

        var systemsPath = root["Systems"]?["@odata.id"]?.GetValue<string>()
            ?? throw new PowerException(PowerErrorCode.Unsupported, $"redfish {options.BaseUrl.Authority}: the service root has no Systems collection");
        var collection = Expect(await SendAsync(HttpMethod.Get, Resolve(systemsPath), null, null, cancellationToken).ConfigureAwait(false), "Systems collection");
        var members = (collection["Members"] as JsonArray ?? [])
            .Select(m => m?["@odata.id"]?.GetValue<string>())
            .OfType<string>()
            .ToList();
        string member;
        if (options.SystemId is { } id)
        {
            member = members.FirstOrDefault(m => LastSegment(m) == id)
                ?? throw new PowerException(PowerErrorCode.InvalidConfig, $"redfish {options.BaseUrl.Authority}: no system '{id}' (the BMC has {Ids(members)})");
        }
        else
        {
            member = members.Count == 1
                ? members[0]
                : throw new PowerException(PowerErrorCode.InvalidConfig, $"redfish {options.BaseUrl.Authority}: {members.Count} systems ({Ids(members)}): set SystemId");
        }

        return new SystemLinks(Resolve(member), Resolve(member), null, null, true);

        static string Ids(List<string> members) => members.Count == 0 ? "none" : string.Join(", ", members.Select(LastSegment));
    }

    private static string LastSegment(string path) => path.TrimEnd('/').Split('/')[^1];

    private Uri Resolve(string path) => new(options.BaseUrl, path);

    /// <summary>One HTTP exchange, bounded by the request timeout; a lapsed session is renewed once.</summary>
    private async Task<Response> SendAsync(HttpMethod method, Uri uri, JsonNode? body, string? ifMatch, CancellationToken cancellationToken, bool authenticate = true)
    {
        var auth = authenticate ? await AuthorizationAsync(cancellationToken).ConfigureAwait(false) : Credentials.None;
        var response = await ExchangeAsync(method, uri, body, ifMatch, auth, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.Unauthorized && auth.Token != null)
        {
            await DropSessionAsync(auth.Token, cancellationToken).ConfigureAwait(false);
            auth = await AuthorizationAsync(cancellationToken).ConfigureAwait(false);
            response = await ExchangeAsync(method, uri, body, ifMatch, auth, cancellationToken).ConfigureAwait(false);
        }

        return response;
    }

    private async Task<Response> ExchangeAsync(HttpMethod method, Uri uri, JsonNode? body, string? ifMatch, Credentials auth, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, uri);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Add("OData-Version", "4.0");
        if (auth.Token != null)
        {
            request.Headers.Add("X-Auth-Token", auth.Token);
        }
        else if (auth.Basic != null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", auth.Basic);
        }

        if (ifMatch != null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        if (body != null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        using var timeout = new CancellationTokenSource(options.RequestTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        Interlocked.Increment(ref requestCount);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
            return new Response(
                method,
                uri,
                response.StatusCode,
                text,
                response.Headers.ETag?.ToString() ?? (response.Headers.TryGetValues("ETag", out var etags) ? etags.FirstOrDefault() : null),
                response.Headers.TryGetValues("X-Auth-Token", out var tokens) ? tokens.FirstOrDefault() : null,
                response.Headers.Location);
        }
        catch (OperationCanceledException e) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new PowerException(
                PowerErrorCode.Unreachable,
                $"redfish {options.BaseUrl.Authority}: no answer to {method} {uri.AbsolutePath} within {options.RequestTimeout.TotalSeconds:0.###} s",
                isTransient: true,
                e);
        }
        catch (HttpRequestException e) when (e.InnerException is AuthenticationException)
        {
            throw new PowerException(
                PowerErrorCode.BmcError,
                $"redfish {options.BaseUrl.Authority}: the BMC's TLS certificate is not trusted ({e.InnerException.Message}); pin its SHA-256 fingerprint, or for a lab BMC skip verification",
                isTransient: false,
                e);
        }
        catch (HttpRequestException e)
        {
            throw new PowerException(PowerErrorCode.Unreachable, $"redfish {options.BaseUrl.Authority}: {method} {uri.AbsolutePath} failed: {e.Message}", isTransient: true, e);
        }
    }

    private async Task<Credentials> AuthorizationAsync(CancellationToken cancellationToken)
    {
        if (options.UserName == null || options.Password == null)
        {
            return Credentials.None;
        }

        if (options.Auth == RedfishAuthMode.Basic || basicFallback)
        {
            return Credentials.ForBasic(options.UserName, options.Password);
        }

        await authGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (sessionToken != null)
            {
                return new Credentials(sessionToken, null);
            }

            if (basicFallback)
            {
                return Credentials.ForBasic(options.UserName, options.Password);
            }

            return await LogInAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            authGate.Release();
        }
    }

    /// <summary>POST SessionService/Sessions; a service without sessions gets HTTP Basic instead (in Auto mode).</summary>
    private async Task<Credentials> LogInAsync(CancellationToken cancellationToken)
    {
        var login = new JsonObject { ["UserName"] = options.UserName, ["Password"] = options.Password };
        var response = await ExchangeAsync(HttpMethod.Post, Resolve(sessionsPath ?? DefaultSessionsPath), login, null, Credentials.None, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccess && response.Token != null)
        {
            sessionToken = response.Token;
            sessionUri = response.Location is { } location ? new Uri(options.BaseUrl, location) : null;
            return new Credentials(sessionToken, null);
        }

        if (response.Status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden || IsTransient(response.Status))
        {
            throw Failure(response, "login");
        }

        if (options.Auth == RedfishAuthMode.Auto)
        {
            basicFallback = true;
            return Credentials.ForBasic(options.UserName!, options.Password!);
        }

        throw response.IsSuccess
            ? new PowerException(PowerErrorCode.BmcError, $"redfish {options.BaseUrl.Authority}: the session was created without an X-Auth-Token")
            : Failure(response, "login");
    }

    private async Task DropSessionAsync(string token, CancellationToken cancellationToken)
    {
        await authGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (sessionToken == token)
            {
                sessionToken = null;
                sessionUri = null;
            }
        }
        finally
        {
            authGate.Release();
        }
    }

    private JsonObject Expect(Response response, string what)
    {
        if (!response.IsSuccess)
        {
            throw Failure(response, what);
        }

        return TryParse(response.Body) as JsonObject
            ?? throw new PowerException(PowerErrorCode.BmcError, $"redfish {options.BaseUrl.Authority}: the {what} at {response.Uri.AbsolutePath} is not a JSON object");
    }

    private static JsonNode? TryParse(string text)
    {
        try
        {
            return text.Length == 0 ? null : JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed or HttpStatusCode.TooManyRequests
            or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>A refusal as a typed error, with the Redfish message (never the password, whatever the BMC echoes).</summary>
    private PowerException Failure(Response response, string what)
    {
        var status = (int)response.Status;
        var (messageId, message) = RedfishMessage(response.Body);
        var detail = messageId == null ? string.Empty : $": {messageId}" + (message == null ? string.Empty : $" ({message})");
        var text = $"redfish {options.BaseUrl.Authority}: {what}: {response.Method} {response.Uri.AbsolutePath} answered {status.ToString(CultureInfo.InvariantCulture)} {response.Status}{detail}";
        if (options.Password is { Length: > 0 } password)
        {
            text = text.Replace(password, "***", StringComparison.Ordinal);
        }

        var notSupported = messageId != null && (messageId.EndsWith(".ActionParameterValueNotInList", StringComparison.Ordinal)
            || messageId.EndsWith(".ActionParameterNotSupported", StringComparison.Ordinal)
            || messageId.EndsWith(".ActionNotSupported", StringComparison.Ordinal)
            || messageId.EndsWith(".PropertyValueNotInList", StringComparison.Ordinal));
        return response.Status switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new PowerException(PowerErrorCode.AuthFailed, text),
            HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed or HttpStatusCode.TooManyRequests => new PowerException(PowerErrorCode.Conflict, text, isTransient: true),
            HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout => new PowerException(PowerErrorCode.Unreachable, text, isTransient: true),
            HttpStatusCode.NotImplemented or HttpStatusCode.MethodNotAllowed => new PowerException(PowerErrorCode.Unsupported, text),
            HttpStatusCode.BadRequest when notSupported => new PowerException(PowerErrorCode.Unsupported, text),
            >= HttpStatusCode.MultipleChoices and < HttpStatusCode.BadRequest => new PowerException(
                PowerErrorCode.InvalidConfig,
                $"{text}: redirected to {response.Location} (configure that URL)"),
            _ => new PowerException(PowerErrorCode.BmcError, text),
        };
    }

    /// <summary>The first extended message of a Redfish error body (else its code and message).</summary>
    private static (string? MessageId, string? Message) RedfishMessage(string body)
    {
        if (TryParse(body)?["error"] is not JsonObject error)
        {
            return (null, null);
        }

        if (error["@Message.ExtendedInfo"] is JsonArray { Count: > 0 } info && info[0] is JsonObject first)
        {
            return (Text(first["MessageId"]), Text(first["Message"]));
        }

        return (Text(error["code"]), Text(error["message"]));

        static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
    }

    private static PowerState MapState(string? state) => state switch
    {
        // As Ironic reads it: a transition counts as where it is going.
        "On" or "PoweringOn" or "Paused" => PowerState.On,
        "Off" or "PoweringOff" => PowerState.Off,
        _ => PowerState.Unknown,
    };

    private bool CheckCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (options.SkipCertificateVerification)
        {
            return true;
        }

        if (options.PinnedCertificateSha256 is { } pin)
        {
            return certificate != null
                && CryptographicOperations.FixedTimeEquals(
                    Encoding.ASCII.GetBytes(certificate.GetCertHashString(HashAlgorithmName.SHA256).ToUpperInvariant()),
                    Encoding.ASCII.GetBytes(NormalizeFingerprint(pin)));
        }

        return errors == SslPolicyErrors.None;
    }

    private static string NormalizeFingerprint(string pin)
    {
        var hex = pin.Replace(":", string.Empty, StringComparison.Ordinal).Trim().ToUpperInvariant();
        return hex.All(Uri.IsHexDigit) ? hex : string.Empty;
    }

    private sealed record Credentials(string? Token, string? Basic)
    {
        public static Credentials None { get; } = new(null, null);

        public static Credentials ForBasic(string user, string password) =>
            new(null, Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));

        // Never print the secrets, should a record end up in a message.
        public override string ToString() => Token != null ? "session" : Basic != null ? "basic" : "none";
    }

    private sealed record Response(HttpMethod Method, Uri Uri, HttpStatusCode Status, string Body, string? ETag, string? Token, Uri? Location)
    {
        public bool IsSuccess => (int)Status is >= 200 and < 300;
    }

    /// <summary>What does not change between reads of a system: where it is and what its reset action accepts.</summary>
    /// <remarks><see cref="Incomplete"/>: discovered but not read yet, or its reset types are still to be read from its ActionInfo.</remarks>
    private sealed record SystemLinks(Uri Uri, Uri ResetTarget, IReadOnlyList<string>? ResetTypes, Uri? ActionInfo, bool Incomplete)
    {
        /// <summary>A service that lists no allowable values is taken to allow every reset type (as sushy does).</summary>
        public bool Allows(string resetType) => ResetTypes == null || ResetTypes.Contains(resetType);
    }

    private sealed record SystemView(SystemLinks Links, string? State, IReadOnlyList<string>? BootTargets, IReadOnlyList<string>? OverrideEnabledValues, string? ETag)
    {
        public bool AllowsTarget(string target) => BootTargets == null || BootTargets.Contains(target);

        public static SystemView Parse(Uri uri, JsonObject body, string? etag, Uri baseUrl)
        {
            var reset = body["Actions"]?["#ComputerSystem.Reset"] as JsonObject;
            var target = reset?["target"] is JsonValue t && t.TryGetValue<string>(out var path) ? new Uri(baseUrl, path) : new Uri(uri.AbsoluteUri.TrimEnd('/') + "/Actions/ComputerSystem.Reset");
            var resetTypes = Strings(reset?["ResetType@Redfish.AllowableValues"]);
            var actionInfo = reset?["@Redfish.ActionInfo"] is JsonValue a && a.TryGetValue<string>(out var infoPath) ? new Uri(baseUrl, infoPath) : null;
            var boot = body["Boot"] as JsonObject;
            return new SystemView(
                new SystemLinks(uri, target, resetTypes, actionInfo, resetTypes == null && actionInfo != null),
                body["PowerState"] is JsonValue p && p.TryGetValue<string>(out var state) ? state : null,
                Strings(boot?["BootSourceOverrideTarget@Redfish.AllowableValues"]),
                Strings(boot?["BootSourceOverrideEnabled@Redfish.AllowableValues"]),
                etag);
        }

        public static List<string>? ResetTypesFromActionInfo(JsonObject info) =>
            (info["Parameters"] as JsonArray ?? [])
                .OfType<JsonObject>()
                .Where(p => p["Name"] is JsonValue n && n.TryGetValue<string>(out var name) && name == "ResetType")
                .Select(p => Strings(p["AllowableValues"]))
                .FirstOrDefault();

        private static List<string>? Strings(JsonNode? node) =>
            node is JsonArray array
                ? array.Select(v => v is JsonValue value && value.TryGetValue<string>(out var s) ? s : null).OfType<string>().ToList()
                : null;
    }
}
