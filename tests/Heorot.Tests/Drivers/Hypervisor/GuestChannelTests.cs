using System.Diagnostics;
using Heorot.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Hypervisor;

/// <summary>
/// The real guest booted once per test class with a NoCloud seed and a qcow2 overlay disk; the tests of the
/// command channel and of the login console share it (a boot costs 5-10 s under TCG).
/// </summary>
[CollectionDefinition(Name)]
public sealed class SeededGuestGroup : ICollectionFixture<SeededGuest>
{
    public const string Name = "seeded guest";
}

/// <summary>The VM of <see cref="SeededGuestGroup"/>, started once and killed after the last test.</summary>
public sealed class SeededGuest : IAsyncLifetime
{
    public const string Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHeorotTestKeyOnly alice@heorot";

    public static readonly CloudInitUserData UserData = new(
        "seeded-host",
        [new CloudInitUser("alice", [Key])],
        [new HostsEntry("10.0.2.15", ["seeded-host", "seeded-host.heorot"]), new HostsEntry("10.0.2.100", ["peer1"])]);

    private readonly string root = Directory.CreateTempSubdirectory("hvg-").FullName;
    private readonly QemuHypervisor hypervisor = new();

    public VmHandle Vm { get; private set; } = null!;

    public GuestReady Ready { get; private set; } = null!;

    /// <summary>Host port forwarded to the guest's TCP port 7777.</summary>
    public int ForwardedPort { get; } = FreePort();

    public Stopwatch Clock { get; } = new();

    public string Root => root;

    public async ValueTask InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var ct = timeout.Token;
        var guest = await GuestImage.EnsureAsync();
        var seed = await CloudInitSeed.BuildAsync(root, new CloudInitMetaData("iid-chan1", "meta-name"), UserData, ct);
        var baseImage = Path.Combine(root, "base.qcow2");
        var created = await ProcessRunner.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", baseImage, "64M"], ct);
        Assert.Equal(0, created.ExitCode);
        var overlay = Path.Combine(root, "job.qcow2");
        await QemuImg.CreateOverlayAsync(baseImage, overlay, "qcow2", ct);

        Clock.Start();
        Vm = await hypervisor.StartAsync(
            new VmSpec
            {
                Name = "chan1",
                RunDirectory = Path.Combine(root, "run"),
                Kernel = guest.Kernel,
                Initrd = guest.Initrd,
                SeedPath = seed,
                Disks = [new VmDisk(overlay)],
                Network = VmNetwork.User(new PortForward(ForwardedPort, 7777)),
            },
            ct);
        Ready = await GuestChannel.WaitReadyAsync(Vm.ConsoleLogPath, TimeSpan.FromSeconds(90), () => QemuHypervisor.IsAlive(Vm.Pid, Vm.RunDirectory), cancellationToken: ct);
    }

    public async ValueTask DisposeAsync()
    {
        await hypervisor.CleanupAsync(Path.Combine(root, "run"), CancellationToken.None);
        Directory.Delete(root, recursive: true);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Drives the seeded guest through the command channel: identity, hostname and /etc/hosts must come from the seed.</summary>
[Collection(SeededGuestGroup.Name)]
public sealed class GuestChannelTests(SeededGuest guest, ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 180_000)]
    public async Task RunAsync_SeededGuest_RunsAsSeedUserWithSeedHostnameAndHosts()
    {
        var vm = guest.Vm;
        var clock = guest.Clock;
        output.WriteLine($"HEOROT-READY after {guest.Ready.Waited.TotalSeconds:0.00} s of waiting: {guest.Ready.Line}");
        Assert.Equal("seeded-host", guest.Ready.Hostname);
        var forwarded = guest.ForwardedPort;

        await using var channel = await GuestChannel.ConnectAsync(vm.AgentSocketPath, Ct);
        await channel.PingAsync(Ct);
        output.WriteLine($"channel answered after {clock.Elapsed.TotalSeconds:0.00} s");

        var hostname = await channel.RunAsync(["hostname"], cancellationToken: Ct);
        Assert.Equal((0, "seeded-host\n"), (hostname.ExitCode, hostname.StdoutText));

        var id = await channel.RunAsync(["id", "-un"], cancellationToken: Ct);
        Assert.Equal("alice\n", id.StdoutText);

        var hosts = await channel.RunAsync(["cat", "/etc/hosts"], cancellationToken: Ct);
        Assert.Equal(string.Join('\n', CloudInitSeed.HostsLines(SeededGuest.UserData)) + "\n", hosts.StdoutText);

        var keys = await channel.RunAsync(["cat", ".ssh/authorized_keys"], cancellationToken: Ct);
        Assert.Equal(SeededGuest.Key + "\n", keys.StdoutText);

        // Arguments and environment reach the command byte for byte: nothing passes through a shell.
        var tricky = await channel.RunAsync(
            ["sh", "-c", "printf '%s|' \"$@\"; echo \"$GREETING\" >&2; exit 7", "sh", "a b", "", "'q' $(id)", "-c"],
            new Dictionary<string, string> { ["GREETING"] = "hi; $(reboot) `x`" },
            cancellationToken: Ct);
        Assert.Equal(7, tricky.ExitCode);
        Assert.Equal("a b||'q' $(id)|-c|", tricky.StdoutText);
        Assert.Equal("hi; $(reboot) `x`\n", tricky.StderrText);

        var asRoot = await channel.RunAsync(["id", "-u"], user: "root", cancellationToken: Ct);
        Assert.Equal("0\n", asRoot.StdoutText);

        var unknown = await Assert.ThrowsAsync<HypervisorException>(() => channel.RunAsync(["true"], user: "mallory", cancellationToken: Ct));
        Assert.Equal(HypervisorErrorCode.ChannelFailed, unknown.Code);

        // The overlay is the first disk (the seed follows it): 64 MiB = 131072 sectors.
        var disk = await channel.RunAsync(["cat", "/sys/block/vda/size"], cancellationToken: Ct);
        Assert.Equal("131072\n", disk.StdoutText);

        var big = await channel.RunAsync(["sh", "-c", "seq 1 20000"], cancellationToken: Ct);
        Assert.Equal(string.Concat(Enumerable.Range(1, 20000).Select(i => i + "\n")), big.StdoutText);
        output.WriteLine($"commands done after {clock.Elapsed.TotalSeconds:0.00} s");

        var slow = await channel.RunAsync(["sh", "-c", "echo started; sleep 60"], timeout: TimeSpan.FromSeconds(1), cancellationToken: Ct);
        Assert.Equal((137, "started\n"), (slow.ExitCode, slow.StdoutText));
        Assert.Equal("still here\n", (await channel.RunAsync(["echo", "still here"], cancellationToken: Ct)).StdoutText);

        // The guest's network is up: a listener it starts is reachable through the user-mode port forward.
        var listen = await channel.RunAsync(["sh", "-c", "nc -l -p 7777 -e echo hello-from-guest </dev/null >/dev/null 2>&1 &"], cancellationToken: Ct);
        Assert.Equal(0, listen.ExitCode);
        Assert.Equal("hello-from-guest\n", await ReadForwardedAsync(forwarded));

    }

    // SLIRP accepts the host connection before it reaches the guest, and closes it at once while nothing listens there yet.
    private static async Task<string> ReadForwardedAsync(int port)
    {
        var text = string.Empty;
        for (var attempt = 0; attempt < 50 && text.Length == 0; attempt++)
        {
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(System.Net.IPAddress.Loopback, port, Ct);
            using var reader = new StreamReader(client.GetStream());
            text = await reader.ReadToEndAsync(Ct);
            if (text.Length == 0)
            {
                await Task.Delay(200, Ct);
            }
        }

        return text;
    }

    [Fact(Timeout = 120_000)]
    public async Task WaitReadyAsync_VmWithoutReadiness_FailsWithConsoleTail()
    {
        var log = Path.Combine(guest.Root, "wait-ready-console.log");
        await File.WriteAllTextAsync(log, "booting...\nKernel panic - not syncing\n", Ct);

        var e = await Assert.ThrowsAsync<GuestNotReadyException>(() => GuestChannel.WaitReadyAsync(log, TimeSpan.FromMilliseconds(200), cancellationToken: Ct));

        Assert.Contains("Kernel panic", e.ConsoleTail, StringComparison.Ordinal);
        Assert.Contains("Kernel panic", e.Message, StringComparison.Ordinal);
        Assert.Equal(HypervisorErrorCode.GuestNotReady, e.Code);
    }
}
