using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Heorot.Drivers.Power;
using Heorot.Protocol;
using Heorot.Protocol.Sessions;
using Heorot.Scheduling.Live;
using Heorot.Server.Power;

namespace Heorot.Tests.Server;

/// <summary>
/// Node consoles through the server: a serial console stand-in on a Unix socket (it greets each connection and
/// answers every line it reads in upper case, as a shell on a serial line would echo), the hub that logs it,
/// and who may attach.
/// </summary>
public sealed class ConsoleTests
{
    /// <summary>A serial line on a Unix socket: one client at a time, like QEMU's chardev.</summary>
    private sealed class FakeSerial : IAsyncDisposable
    {
        private readonly Socket listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly CancellationTokenSource stop = new();
        private readonly Task loop;

        public FakeSerial(string path)
        {
            Path = path;
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            loop = Task.Run(ServeAsync);
        }

        public string Path { get; }

        public int Connections { get; private set; }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            listener.Dispose();
            await loop.ContinueWith(_ => { }, TaskScheduler.Default);
            stop.Dispose();
        }

        private async Task ServeAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await listener.AcceptAsync(stop.Token);
                Connections++;
                await using var stream = new NetworkStream(client);
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"boot {Connections}\r\nlogin: "), stop.Token);
                using var reader = new StreamReader(stream, Encoding.ASCII);
                try
                {
                    while (await reader.ReadLineAsync(stop.Token) is { } line)
                    {
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(line.ToUpperInvariant() + "\r\n"), stop.Token);
                    }
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private static async Task<(TestCluster Cluster, FakeSerial Serial)> StartAsync()
    {
        var serial = new FakeSerial(Path.Combine(Directory.CreateTempSubdirectory("serial-").FullName, "serial.sock"));
        var settings = new PowerSettings("n1", "test");
        settings.Set("console", "unix:" + serial.Path, "test");
        var machine = new FakeMachine();
        machine.Set(true);
        var config = new PowerConfig { Nodes = new Dictionary<string, PowerSettings> { ["n1"] = settings }, Elastic = new ElasticOptions() };
        var cluster = await TestCluster.StartAsync(1, o => o with { Power = config, PowerDrivers = new Dictionary<string, IPowerDriver> { ["n1"] = new FakePowerDriver(machine) } });
        return (cluster, serial);
    }

    private static async Task<ClientWebSocket> AttachAsync(TestCluster cluster, string user)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + TestCluster.TokenOf(user));
        await socket.ConnectAsync(new Uri(cluster.Url.Replace("http://", "ws://", StringComparison.Ordinal) + "/v1/nodes/n1/console"), TestContext.Current.CancellationToken);
        return socket;
    }

    /// <summary>Reads console bytes until <paramref name="expected"/> shows up (or fails after a while).</summary>
    private static async Task<string> ReadUntilAsync(ClientWebSocket socket, string expected)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        while (!text.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var message = await WebSockets.ReceiveAsync(socket, buffer, limit.Token);
            Assert.True(message != null, $"the console closed before '{expected}': {text}");
            if (message.Value.Type == WebSocketMessageType.Binary)
            {
                text.Append(Encoding.UTF8.GetString(message.Value.Data));
            }
        }

        return text.ToString();
    }

    [Fact(Timeout = 120_000)]
    public async Task Console_OperatorAttaches_TypesAndReads_SessionIsJournalled_AndTheBootIsLogged()
    {
        var (cluster, serial) = await StartAsync();
        await using var _ = cluster;
        await using var __ = serial;

        using (var socket = await AttachAsync(cluster, TestCluster.Operator))
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("echo hello\n"), WebSocketMessageType.Binary, true, TestContext.Current.CancellationToken);
            await ReadUntilAsync(socket, "ECHO HELLO");
            await WebSockets.CloseQuietlyAsync(socket, "done");
        }

        using var client = cluster.Client(TestCluster.Operator);
        var logs = await client.GetFromJsonAsync<List<ConsoleLogView>>("v1/nodes/n1/console/logs", WireJson.Options, TestContext.Current.CancellationToken);
        var current = await client.GetStringAsync("v1/nodes/n1/console/logs/current", TestContext.Current.CancellationToken);
        Assert.Equal("current", Assert.Single(logs!).Name);
        Assert.Contains("boot 1", current, StringComparison.Ordinal);
        Assert.Contains("ECHO HELLO", current, StringComparison.Ordinal);
        await TestCluster.WaitAsync(
            async () => (await client.GetFromJsonAsync<List<EventView>>("v1/events?limit=10000", WireJson.Options))!.Count(e => e.Kind == "node.console") == 2,
            TimeSpan.FromSeconds(10),
            "the attach and detach events");
    }

    [Fact(Timeout = 120_000)]
    public async Task Console_PowerCycle_StartsANewBootLog_AndKeepsThePreviousOne()
    {
        var (cluster, serial) = await StartAsync();
        await using var _ = cluster;
        await using var __ = serial;
        using var client = cluster.Client(TestCluster.Operator);
        await TestCluster.WaitAsync(async () => (await client.GetStringAsync("v1/nodes/n1/console/logs/current")).Contains("boot 1", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the first boot's output");

        using var cycled = await client.PostAsJsonAsync("v1/power", new PowerRequest { Nodes = "n1", Action = "cycle" }, WireJson.Options, TestContext.Current.CancellationToken);
        cycled.EnsureSuccessStatusCode();
        using (var socket = await AttachAsync(cluster, TestCluster.Operator))
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("after the cycle\n"), WebSocketMessageType.Binary, true, TestContext.Current.CancellationToken);
            await ReadUntilAsync(socket, "AFTER THE CYCLE");
        }

        var logs = (await client.GetFromJsonAsync<List<ConsoleLogView>>("v1/nodes/n1/console/logs", WireJson.Options, TestContext.Current.CancellationToken))!;
        Assert.Equal(2, logs.Count);
        var previous = await client.GetStringAsync($"v1/nodes/n1/console/logs/{logs[1].Name}", TestContext.Current.CancellationToken);
        var current = await client.GetStringAsync("v1/nodes/n1/console/logs/current", TestContext.Current.CancellationToken);
        Assert.Contains("boot 1", previous, StringComparison.Ordinal);
        Assert.Contains("AFTER THE CYCLE", current, StringComparison.Ordinal);
        Assert.DoesNotContain("AFTER THE CYCLE", previous, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task Console_OnlyOperatorsAndTheOwnerOfAWholeNodeJob_MayAttach()
    {
        var (cluster, serial) = await StartAsync();
        await using var _ = cluster;
        await using var __ = serial;

        async Task<HttpStatusCode> StatusAsync(string user)
        {
            using var client = cluster.Client(user);
            using var response = await client.GetAsync("v1/nodes/n1/console/logs", TestContext.Current.CancellationToken);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(TestCluster.Alice));

        // Alice's job on one core of n1 (of 2) does not give her the console; a job on the whole node does.
        var part = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nsleep 60\n", "-l", "/nodes=1/core=1,walltime=0:05:00");
        await cluster.WaitForStateAsync(part, TimeSpan.FromSeconds(60), "Running");
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(TestCluster.Alice));
        using (var ops = cluster.Client(TestCluster.Operator))
        {
            await ops.DeleteAsync($"v1/jobs/{part}", TestContext.Current.CancellationToken);
        }

        var whole = await cluster.SubmitAsync(TestCluster.Alice, "#!/bin/sh\nsleep 60\n", "-l", "/nodes=1,walltime=0:05:00");
        await cluster.WaitForStateAsync(whole, TimeSpan.FromSeconds(60), "Running");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(TestCluster.Alice));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(TestCluster.Bob));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(TestCluster.Operator));
    }
}
