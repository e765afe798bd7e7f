using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Heorot.Drivers.Power;
using Heorot.Server.Power;
using Heorot.Tests.Drivers.Power;
using Heorot.Tests.Support;

namespace Heorot.Tests.Server.Power;

/// <summary>
/// The emulated BMC on the wire: raw HTTP for the schema, the authentication and the error bodies, then two
/// independent Redfish clients from Debian (DMTF's redfishtool, OpenStack's sushy) driving a machine through it.
/// </summary>
public sealed class RedfishBmcEmulatorTests
{
    private const string Password = FakeBmc.Password;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 60_000)]
    public async Task ServiceRoot_NoCredentials_ServesTheSystemsAndSessionsLinks()
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, null);

        var (status, body, response) = await SendAsync(http, HttpMethod.Get, "/redfish/v1/");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("4.0", response.Headers.GetValues("OData-Version").Single());
        Assert.Equal("/redfish/v1/", (string?)body!["@odata.id"]);
        Assert.StartsWith("#ServiceRoot.", (string?)body["@odata.type"], StringComparison.Ordinal);
        Assert.Equal("/redfish/v1/Systems", (string?)body["Systems"]!["@odata.id"]);
        Assert.Equal("/redfish/v1/SessionService/Sessions", (string?)body["Links"]!["Sessions"]!["@odata.id"]);
        Assert.Equal("/redfish/v1/", (string?)(await SendAsync(http, HttpMethod.Get, "/redfish")).Body!["v1"]);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetSystem_NoCredentials_Is401WithARedfishErrorBody()
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, null);

        var (status, body, response) = await SendAsync(http, HttpMethod.Get, "/redfish/v1/Systems/node1");

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("Basic", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("Base.1.16.NoValidSession", MessageId(body));
        Assert.Equal("Base.1.16.GeneralError", (string?)body!["error"]!["code"]);
        using var wrong = Client(bmc, "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(wrong, HttpMethod.Get, "/redfish/v1/Systems")).Status);
    }

    [Fact(Timeout = 60_000)]
    public async Task PostSession_ValidCredentials_Gives201WithTokenAndLocation_DeleteLogsOut()
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, null);

        var (status, body, response) = await SendAsync(http, HttpMethod.Post, "/redfish/v1/SessionService/Sessions", new JsonObject { ["UserName"] = "admin", ["Password"] = Password });
        var token = response.Headers.GetValues("X-Auth-Token").Single();
        var location = response.Headers.Location!.OriginalString;

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(location, (string?)body!["@odata.id"]);
        Assert.Equal("admin", (string?)body["UserName"]);
        Assert.DoesNotContain(token, body.ToJsonString(), StringComparison.Ordinal);
        http.DefaultRequestHeaders.Add("X-Auth-Token", token);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, HttpMethod.Get, "/redfish/v1/Systems/node1")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(http, HttpMethod.Delete, location)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(http, HttpMethod.Get, "/redfish/v1/Systems/node1")).Status);
        Assert.Equal(0, bmc.Emulator.SessionCount);
    }

    [Fact(Timeout = 60_000)]
    public async Task PostSession_WrongPassword_Is401AndOpensNoSession()
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, null);

        var (status, body, response) = await SendAsync(http, HttpMethod.Post, "/redfish/v1/SessionService/Sessions", new JsonObject { ["UserName"] = "admin", ["Password"] = "nope" });

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.False(response.Headers.Contains("X-Auth-Token"));
        Assert.Equal("Base.1.16.NoValidSession", MessageId(body));
        Assert.Equal(0, bmc.Emulator.SessionCount);
    }

    [Fact(Timeout = 60_000)]
    public async Task GetSystem_Basic_ServesPowerStateBootOverrideAndTheResetAction()
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, Password);

        var (status, body, response) = await SendAsync(http, HttpMethod.Get, "/redfish/v1/Systems/node1");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.NotNull(response.Headers.ETag);
        Assert.StartsWith("#ComputerSystem.v1_", (string?)body!["@odata.type"], StringComparison.Ordinal);
        Assert.Equal(("node1", "Off"), ((string?)body["Id"], (string?)body["PowerState"]));
        var boot = body["Boot"]!;
        Assert.Equal(("None", "Disabled"), ((string?)boot["BootSourceOverrideTarget"], (string?)boot["BootSourceOverrideEnabled"]));
        Assert.Contains("Pxe", Strings(boot["BootSourceOverrideTarget@Redfish.AllowableValues"]));
        var reset = body["Actions"]!["#ComputerSystem.Reset"]!;
        Assert.Equal("/redfish/v1/Systems/node1/Actions/ComputerSystem.Reset", (string?)reset["target"]);
        Assert.Equal(["On", "ForceOn", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle"], Strings(reset["ResetType@Redfish.AllowableValues"]));
        var members = (await SendAsync(http, HttpMethod.Get, "/redfish/v1/Systems")).Body!;
        Assert.Equal(1, (int?)members["Members@odata.count"]);
        Assert.Equal("/redfish/v1/Systems/node1", (string?)members["Members"]![0]!["@odata.id"]);
    }

    [Fact(Timeout = 60_000)]
    public async Task PostReset_WhileThePreviousTransitionRuns_Is409ResourceInUse()
    {
        await using var bmc = await FakeBmc.StartAsync(o => o with { TransitionTime = TimeSpan.FromMinutes(10) });
        using var http = Client(bmc, Password);
        const string reset = "/redfish/v1/Systems/node1/Actions/ComputerSystem.Reset";

        var first = await SendAsync(http, HttpMethod.Post, reset, new JsonObject { ["ResetType"] = "On" });
        var second = await SendAsync(http, HttpMethod.Post, reset, new JsonObject { ["ResetType"] = "ForceOff" });

        Assert.Equal(HttpStatusCode.NoContent, first.Status);
        Assert.Equal(HttpStatusCode.Conflict, second.Status);
        Assert.Equal("Base.1.16.ResourceInUse", MessageId(second.Body));
        Assert.Equal("PoweringOn", (string?)(await SendAsync(http, HttpMethod.Get, "/redfish/v1/Systems/node1")).Body!["PowerState"]);
        Assert.True(bmc.Machine.IsOn);
    }

    [Theory(Timeout = 60_000)]
    [InlineData("{\"ResetType\":\"Nmi\"}", "ActionParameterValueNotInList")]
    [InlineData("{\"ResetType\":7}", "ActionParameterValueNotInList")]
    [InlineData("{}", "ActionParameterMissing")]
    [InlineData("{\"ResetType\":", "MalformedJSON")]
    public async Task PostReset_BadRequest_Is400WithTheRegistryMessage(string json, string message)
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, Password);
        using var content = new StringContent(json, Encoding.UTF8, "application/json");

        using var response = await http.PostAsync("/redfish/v1/Systems/node1/Actions/ComputerSystem.Reset", content, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Base.1.16." + message, MessageId(JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))));
        Assert.False(bmc.Machine.IsOn);
    }

    [Fact(Timeout = 60_000)]
    public async Task PatchSystem_IfMatch_StaleETagIs412AndTheCurrentOneApplies()
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, Password);
        var etag = (await SendAsync(http, HttpMethod.Get, "/redfish/v1/Systems/node1")).Response.Headers.ETag!.ToString();
        var patch = new JsonObject { ["Boot"] = new JsonObject { ["BootSourceOverrideTarget"] = "Pxe", ["BootSourceOverrideEnabled"] = "Once" } };

        var applied = await SendAsync(http, HttpMethod.Patch, "/redfish/v1/Systems/node1", patch, etag);
        var stale = await SendAsync(http, HttpMethod.Patch, "/redfish/v1/Systems/node1", patch.DeepClone(), etag);

        Assert.Equal(HttpStatusCode.NoContent, applied.Status);
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale.Status);
        Assert.Equal("Base.1.16.PreconditionFailed", MessageId(stale.Body));
        Assert.Equal(BootDevice.Pxe, bmc.Machine.NextBoot);
        Assert.Equal("Once", bmc.Emulator.Snapshot("node1").BootSourceOverrideEnabled);
    }

    [Theory(Timeout = 60_000)]
    [InlineData("{\"PowerState\":\"On\"}", "PropertyNotWritable")]
    [InlineData("{\"Colour\":\"red\"}", "PropertyUnknown")]
    [InlineData("{\"Boot\":{\"BootSourceOverrideTarget\":\"Floppy\"}}", "PropertyValueNotInList")]
    [InlineData("{\"Boot\":{\"BootSourceOverrideEnabled\":\"Always\"}}", "PropertyValueNotInList")]
    public async Task PatchSystem_BadProperty_Is400WithTheRegistryMessage(string json, string message)
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, Password);
        using var content = new StringContent(json, Encoding.UTF8, "application/json");

        using var response = await http.PatchAsync("/redfish/v1/Systems/node1", content, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Base.1.16." + message, MessageId(JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))));
    }

    [Fact(Timeout = 60_000)]
    public async Task Get_UnknownResourceOrMethod_Is404Or405WithARedfishErrorBody()
    {
        await using var bmc = await FakeBmc.StartAsync();
        using var http = Client(bmc, Password);

        var missing = await SendAsync(http, HttpMethod.Get, "/redfish/v1/Systems/node9");
        var method = await SendAsync(http, HttpMethod.Delete, "/redfish/v1/Systems/node1");

        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal("Base.1.16.ResourceNotFound", MessageId(missing.Body));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, method.Status);
        Assert.Equal("GET, PATCH", string.Join(", ", method.Response.Content.Headers.Allow));
    }

    /// <summary>DMTF's own command-line client, over HTTPS with a session, powers the machine and sets its boot.</summary>
    [Fact(Timeout = 600_000)]
    public async Task Redfishtool_HttpsSession_PowersOnAndOffReadsPowerStateAndSetsTheBootOverride()
    {
        await ExternalTool.EnsurePackagesAsync("redfishtool");
        await using var bmc = await FakeBmc.StartAsync(o => o with { Certificate = RedfishBmcEmulator.CreateSelfSignedCertificate() });

        await RedfishtoolAsync(bmc, "Systems", "-I", "node1", "reset", "On");
        await UntilAsync(() => bmc.Machine.IsOn);
        await bmc.Emulator.WhenIdleAsync(Ct);
        var state = JsonNode.Parse(await RedfishtoolAsync(bmc, "-P", "PowerState", "Systems", "-I", "node1", "get"));
        await RedfishtoolAsync(bmc, "Systems", "-I", "node1", "setBootOverride", "Once", "Pxe");
        await RedfishtoolAsync(bmc, "Systems", "-I", "node1", "reset", "ForceOff");
        await UntilAsync(() => !bmc.Machine.IsOn);

        Assert.Equal("On", (string?)state!["PowerState"]);
        Assert.Equal(("Pxe", "Once"), (bmc.Emulator.Snapshot("node1").BootSourceOverrideTarget, bmc.Emulator.Snapshot("node1").BootSourceOverrideEnabled));
        Assert.Equal(BootDevice.Pxe, bmc.Machine.NextBoot);
        Assert.Contains(bmc.Emulator.Requests, r => r.Method == "POST" && r.Path.EndsWith("/Sessions", StringComparison.Ordinal) && r.Status == 201);
        Assert.Contains(bmc.Emulator.Requests, r => r.Method == "PATCH" && r.Auth == "session" && r.Status == 204);
        Assert.Equal(0, bmc.Emulator.SessionCount);
    }

    /// <summary>
    /// OpenStack's Redfish library (what Ironic uses), with the BMC's certificate as its CA bundle: discovery,
    /// allowable values, boot override, power on and off, PowerState, logout.
    /// </summary>
    [Fact(Timeout = 600_000)]
    public async Task Sushy_VerifiedHttpsSession_DiscoversPowersOnWithPxeOverrideAndOff()
    {
        await ExternalTool.EnsurePackagesAsync("python3-sushy");
        using var certificate = RedfishBmcEmulator.CreateSelfSignedCertificate();
        await using var bmc = await FakeBmc.StartAsync(o => o with { Certificate = certificate });
        var ca = Path.Combine(Directory.CreateTempSubdirectory("rf-ca-").FullName, "bmc.pem");
        await File.WriteAllTextAsync(ca, certificate.ExportCertificatePem(), Ct);
        const string script = """
            import json, os, sys, time
            import sushy
            def wait(system, state):
                deadline = time.time() + 30
                while True:
                    system.refresh()
                    if system.power_state == state:
                        return
                    if time.time() > deadline:
                        sys.exit('never reached %s: %s' % (state, system.power_state))
                    time.sleep(0.1)
            root = sushy.Sushy(os.environ['RF_URL'], username=os.environ['RF_USER'], password=os.environ['RF_PASSWORD'], verify=os.environ['RF_CA'])
            out = {}
            out['members'] = sorted(root.get_system_collection().members_identities)
            system = root.get_system(out['members'][0])
            out['before'] = system.power_state.value
            out['resets'] = sorted(v.value for v in system.get_allowed_reset_system_values())
            system.set_system_boot_options(sushy.BOOT_SOURCE_TARGET_PXE, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE)
            system.refresh()
            out['boot'] = [system.boot.target.value, system.boot.enabled.value]
            system.reset_system(sushy.RESET_ON)
            wait(system, sushy.SYSTEM_POWER_STATE_ON)
            out['on'] = system.power_state.value
            system.reset_system(sushy.RESET_FORCE_OFF)
            wait(system, sushy.SYSTEM_POWER_STATE_OFF)
            out['off'] = system.power_state.value
            root._auth.close()
            print(json.dumps(out))
            """;

        var result = await ExternalTool.RunAsync(
            "/usr/bin/python3",
            ["-c", script],
            new Dictionary<string, string?>
            {
                ["RF_URL"] = bmc.Emulator.BaseAddress.ToString(),
                ["RF_USER"] = "admin",
                ["RF_PASSWORD"] = Password,
                ["RF_CA"] = ca,

                // requests lets these override a session's own CA bundle (sushy's verify=FILE).
                ["REQUESTS_CA_BUNDLE"] = null,
                ["CURL_CA_BUNDLE"] = null,
            },
            TimeSpan.FromMinutes(2),
            Ct);
        Directory.Delete(Path.GetDirectoryName(ca)!, recursive: true);

        Assert.True(result.ExitCode == 0, result.ToString());
        var output = JsonNode.Parse(result.Stdout)!;
        Assert.Equal(["/redfish/v1/Systems/node1"], Strings(output["members"]));
        Assert.Equal("Off", (string?)output["before"]);
        Assert.Equal(["ForceOff", "ForceOn", "ForceRestart", "GracefulShutdown", "On", "PowerCycle"], Strings(output["resets"]));
        Assert.Equal(["Pxe", "Once"], Strings(output["boot"]));
        Assert.Equal(("On", "Off"), ((string?)output["on"], (string?)output["off"]));
        Assert.Equal((1, BootDevice.Pxe), (bmc.Machine.Boots, bmc.Machine.LastBootDevice));
        Assert.All(bmc.Emulator.Requests.Where(r => r.Path.Contains("/Systems", StringComparison.Ordinal)), r => Assert.Equal("session", r.Auth));
        Assert.Equal(0, bmc.Emulator.SessionCount);
    }

    /// <summary>The emulator in front of a real QEMU guest: a Redfish "On" boots it to its readiness line, ForceOff stops QEMU.</summary>
    [Fact(Timeout = 300_000)]
    public async Task ResetOn_QemuGuestBehind_RedfishDriverBootsItToItsReadinessLine()
    {
        await using var node = await QemuNode.CreateAsync("rfnode");
        await using var bmc = await RedfishBmcEmulator.StartAsync(
            new RedfishBmcOptions { Password = Password },
            [new EmulatedSystem("node1", node.Driver, ["None", "Pxe"])],
            cancellationToken: Ct);
        await using var driver = new RedfishPowerDriver(new RedfishPowerOptions { BaseUrl = bmc.BaseAddress, UserName = "admin", Password = Password });

        await driver.SetAsync(PowerAction.On, Ct);
        await UntilAsync(node.IsOn, TimeSpan.FromSeconds(150));
        var state = await driver.GetStateAsync(Ct);
        await driver.SetAsync(PowerAction.Off, Ct);
        await UntilAsync(() => !node.IsOn(), TimeSpan.FromSeconds(60));
        await bmc.WhenIdleAsync(Ct);

        Assert.Equal(PowerState.On, state);
        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));
        Assert.Equal(1, node.Boots());
        Assert.Null(bmc.Snapshot("node1").LastBackendError);
    }

    private static async Task<string> RedfishtoolAsync(FakeBmc bmc, params string[] command)
    {
        // -S Always: HTTPS for every request; -A Session: log in (POST Sessions), use the token, log out.
        var result = await ExternalTool.RunAsync(
            "redfishtool",
            ["-r", bmc.Emulator.BaseAddress.Authority, "-u", "admin", "-p", Password, "-S", "Always", "-A", "Session", "-T", "30", .. command],
            timeout: TimeSpan.FromMinutes(2),
            cancellationToken: Ct);
        Assert.True(result.ExitCode == 0, $"redfishtool {string.Join(' ', command)}: {result}");
        return result.Stdout;
    }

    private static HttpClient Client(FakeBmc bmc, string? password)
    {
        var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        var http = new HttpClient(handler) { BaseAddress = bmc.Emulator.BaseAddress };
        if (password != null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + password)));
        }

        return http;
    }

    private static async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(
        HttpClient http,
        HttpMethod method,
        string path,
        JsonNode? body = null,
        string? ifMatch = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body != null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        if (ifMatch != null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        var response = await http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response);
    }

    private static string? MessageId(JsonNode? body) => (string?)body?["error"]?["@Message.ExtendedInfo"]?[0]?["MessageId"];

    private static List<string> Strings(JsonNode? node) => [.. node!.AsArray().Select(n => (string)n!)];

    private static async Task UntilAsync(Func<bool> condition, TimeSpan? limit = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < (limit ?? TimeSpan.FromSeconds(30)), "timed out waiting for the machine");
            await Task.Delay(20, Ct);
        }
    }
}
