using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Heorot.Drivers.Hypervisor;
using Heorot.Protocol;
using Heorot.Tests.Drivers.Hypervisor;

namespace Heorot.Tests.Server;

/// <summary>
/// <c>driver: qemu</c> from a real power file (0600) through a real server: the operator's power verbs start and
/// stop a QEMU guest (TCG), and a power file the driver refuses stops <c>heorot server</c> at start with every problem.
/// </summary>
public sealed class QemuPowerNodeTests
{
    /// <summary>One small TCG guest on two shared cores: 3 s idle, up to about 20 s under a loaded suite.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 300_000)]
    public async Task Server_PowerFileNamesQemuNode_OperatorPowersItOnAndOff()
    {
        var guest = await GuestImage.EnsureAsync();

        // Short: the run directory holds Unix sockets.
        var root = Directory.CreateTempSubdirectory("hqs-").FullName;
        var run = Path.Combine(root, "q1");
        var file = Path.Combine(root, "power.yaml");
        await File.WriteAllTextAsync(
            file,
            $"""
            nodes:
              q1: {"{"} driver: qemu, run: "{run}", kernel: "{guest.Kernel}", initrd: "{guest.Initrd}", ram: 256, console: "unix:{run}/serial.sock" {"}"}
            """,
            Ct);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            await using var cluster = await TestCluster.StartAsync(0, o => o with { PowerFile = file });
            using var ops = cluster.Client(TestCluster.Operator);

            Assert.Equal("Off", (await NodeAsync(ops)).Power);

            var on = Assert.Single(await PowerAsync(ops, "on"));
            Assert.True(on.Ok, on.Error);
            Assert.Equal("PoweringOn", on.State);

            // The guest booted: its readiness line on the serial console, which the server keeps for the node.
            var log = Path.Combine(run, QemuHypervisor.ConsoleLogName);
            await TestCluster.WaitAsync(() => Task.FromResult(Read(log).Contains("HEOROT-READY q1", StringComparison.Ordinal)), Patience, "the guest to boot");
            await TestCluster.WaitAsync(
                async () => (await ConsoleLogAsync(ops)).Contains("HEOROT-READY q1", StringComparison.Ordinal),
                Patience,
                "the server's console log to show the boot");
            var status = Assert.Single(await PowerAsync(ops, "status"));
            Assert.True(status.Ok, status.Error);
            Assert.Equal("On", status.State);

            var off = Assert.Single(await PowerAsync(ops, "off"));
            Assert.True(off.Ok, off.Error);
            Assert.Null(await new QemuHypervisor().AttachAsync(run, Ct)); // its QEMU is gone
            await TestCluster.WaitAsync(async () => (await NodeAsync(ops)).Power == "Off", Patience, "q1 to be Off");
        }
        finally
        {
            await new QemuHypervisor().CleanupAsync(run, CancellationToken.None);
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Server_PowerFileWithBadQemuNodes_RefusesToStart_NamingEachProblem()
    {
        var root = Directory.CreateTempSubdirectory("hqs-").FullName;
        var file = Path.Combine(root, "power.yaml");
        await File.WriteAllTextAsync(
            file,
            $"""
            nodes:
              q1: {"{"} driver: qemu, run: {root}/q1, kernel: {root}/vmlinux {"}"}
              q2: {"{"} driver: qemu, run: {root}/q2, kernel: {root}/vmlinux, ram: lots {"}"}
            """,
            Ct);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { TestCluster.CliDll(), "server", "--data", Path.Combine(root, "data"), "--listen", "http://127.0.0.1:0", "--power", file })
            {
                start.ArgumentList.Add(a);
            }

            using var server = Process.Start(start)!;
            var stdout = server.StandardOutput.ReadToEndAsync(Ct);
            var stderr = await server.StandardError.ReadToEndAsync(Ct);
            await server.WaitForExitAsync(Ct);
            await stdout;

            Assert.Equal(2, server.ExitCode);
            Assert.Contains($"{file}:2:3: nodes.q1: {root}/vmlinux does not exist", stderr, StringComparison.Ordinal);
            Assert.Contains($"{file}:3:", stderr, StringComparison.Ordinal);
            Assert.Contains("nodes.q2.ram: expected a whole number from 96 to 1048576, not 'lots'", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<NodeView> NodeAsync(HttpClient client) =>
        (await client.GetFromJsonAsync<List<NodeView>>("v1/nodes", WireJson.Options, Ct))!.Single(n => n.Name == "q1");

    private static async Task<List<PowerResult>> PowerAsync(HttpClient client, string action)
    {
        using var response = await client.PostAsJsonAsync("v1/power", new PowerRequest { Nodes = "q1", Action = action }, WireJson.Options, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {body}");
        return body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonSerializer.Deserialize<PowerResult>(l, WireJson.Options)!).ToList();
    }

    /// <summary>The server's log of q1's current boot; empty until it has one.</summary>
    private static async Task<string> ConsoleLogAsync(HttpClient client)
    {
        using var response = await client.GetAsync("v1/nodes/q1/console/logs/current", Ct);
        return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync(Ct) : string.Empty;
    }

    private static string Read(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return new StreamReader(stream).ReadToEnd();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return string.Empty;
        }
    }
}
