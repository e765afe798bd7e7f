using System.Net;
using System.Net.Http.Json;
using Heorot.Protocol;

namespace Heorot.Tests.Server;

/// <summary>
/// The whole authorisation matrix against a real server: every caller (the owner, another user, an operator,
/// nobody) × every verb, each row checked for the status the rules give. Jobs wait (no agent), so every verb
/// that applies to a waiting job can be tried on one.
/// </summary>
public sealed class AuthorizationTests
{
    public static TheoryData<string, string, bool> Matrix()
    {
        var data = new TheoryData<string, string, bool>();
        string[] verbs = ["list", "show", "hold", "release", "cancel", "logs", "extend", "drain", "add-user", "token-for-other"];
        foreach (var verb in verbs)
        {
            var ownerMay = verb is "list" or "show" or "hold" or "release" or "cancel" or "logs";
            var otherMay = verb is "list" or "show";
            var operatorMay = true;
            data.Add("owner", verb, ownerMay);
            data.Add("other", verb, otherMay);
            data.Add("operator", verb, operatorMay);
            data.Add("anonymous", verb, false);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Verb_ByCaller_AllowedExactlyByTheRules(string caller, string verb, bool allowed)
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        var id = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\ntrue\n", "-l", "/nodes=1");
        if (verb == "release")
        {
            using var owner = cluster.Client(TestCluster.Alice);
            using var held = await owner.PostAsJsonAsync($"v1/jobs/{id}/actions", new JobActionRequest { Action = "hold" }, WireJson.Options, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, held.StatusCode);
        }

        using var client = caller switch
        {
            "owner" => cluster.Client(TestCluster.Alice),
            "other" => cluster.Client(TestCluster.Bob),
            "operator" => cluster.Client(TestCluster.Operator),
            _ => new HttpClient { BaseAddress = new Uri(cluster.Url.TrimEnd('/') + "/") },
        };
        var ct = TestContext.Current.CancellationToken;
        using var response = verb switch
        {
            "list" => await client.GetAsync("v1/jobs", ct),
            "show" => await client.GetAsync($"v1/jobs/{id}", ct),
            "hold" => await client.PostAsJsonAsync($"v1/jobs/{id}/actions", new JobActionRequest { Action = "hold" }, WireJson.Options, ct),
            "release" => await client.PostAsJsonAsync($"v1/jobs/{id}/actions", new JobActionRequest { Action = "release" }, WireJson.Options, ct),
            "cancel" => await client.DeleteAsync($"v1/jobs/{id}", ct),
            "logs" => await client.GetAsync($"v1/jobs/{id}/logs", ct),
            "extend" => await client.PostAsJsonAsync($"v1/jobs/{id}/actions", new JobActionRequest { Action = "extend", ExtendSeconds = 60 }, WireJson.Options, ct),
            "drain" => await client.PostAsJsonAsync("v1/nodes/nosuch/actions", new NodeActionRequest { Action = "drain" }, WireJson.Options, ct),
            "add-user" => await client.PostAsJsonAsync("v1/users", new UserRequest("carol" + Guid.NewGuid().ToString("N")[..6]), WireJson.Options, ct),
            "token-for-other" => await client.PostAsJsonAsync("v1/tokens", new TokenRequest { User = caller == "other" ? "heorot-carol" : TestCluster.Bob }, WireJson.Options, ct),
            _ => throw new ArgumentOutOfRangeException(nameof(verb)),
        };

        var status = (int)response.StatusCode;
        if (caller == "anonymous")
        {
            Assert.Equal(401, status);
            return;
        }

        if (allowed)
        {
            // Allowed means not refused for who you are: a waiting job cannot be extended (409), a missing node is 404.
            Assert.True(status is >= 200 and < 300 || (verb == "extend" && status == 409) || (verb == "drain" && status == 404), $"{caller} {verb}: {status} {await response.Content.ReadAsStringAsync(ct)}");
        }
        else
        {
            Assert.Equal(403, status);
        }

        var job = await cluster.JobAsync(id);
        var changed = verb is "hold" or "release" or "cancel";
        if (!allowed && changed)
        {
            Assert.Equal(verb == "release" ? "Hold" : "Waiting", job.State); // a refused action changes nothing
        }
    }
}
