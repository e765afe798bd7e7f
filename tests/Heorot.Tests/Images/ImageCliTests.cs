using System.Text.Json;
using Heorot.Cli;
using Heorot.Cli.Output;
using Heorot.Protocol;
using Heorot.Protocol.Images;
using Heorot.Tests.Server;

namespace Heorot.Tests.Images;

/// <summary><c>heorot image add/list/show/rm</c> end to end against a real server, over its local socket.</summary>
public sealed class ImageCliTests
{
    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Task.Run(() => Terminal.Capture(stdout, stderr, () => Program.Main(args)));
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task ImageVerbs_AddListShowRemove_EndToEnd()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        var server = "unix:" + cluster.Server!.SocketPath;
        var files = Directory.CreateTempSubdirectory("heorot-image-cli-").FullName;
        try
        {
            var disk = Path.Combine(files, "disk.qcow2");
            var kernel = Path.Combine(files, "vmlinux");
            var initrd = Path.Combine(files, "initramfs.cpio");
            var junk = Path.Combine(files, "junk.img");
            var diskBytes = ImageApiTests.Qcow(2 << 20, 21);
            await File.WriteAllBytesAsync(disk, diskBytes, TestContext.Current.CancellationToken);
            await File.WriteAllBytesAsync(kernel, ImageApiTests.Elf(50_000, 22), TestContext.Current.CancellationToken);
            await File.WriteAllBytesAsync(initrd, [0x30, 0x37, 0x30, 0x37, 0x30, 0x31], TestContext.Current.CancellationToken);
            await File.WriteAllBytesAsync(junk, new byte[4096], TestContext.Current.CancellationToken);

            var addDisk = await RunAsync("image", "add", "debian:12", disk, "--server", server, "--json");
            var addGuest = await RunAsync("image", "add", "guest", "--kernel", kernel, "--initrd", initrd, "--cmdline", "console=ttyS0 init=/init", "--public", "--server", server);
            var again = await RunAsync("image", "add", "debian:13", disk, "--server", server, "--json"); // same disk: not uploaded twice
            var listJson = await RunAsync("image", "list", "--server", server, "--json");
            var listTable = await RunAsync("image", "list", "--server", server);
            var show = await RunAsync("image", "show", "guest", "--server", server);
            var badFormat = await RunAsync("image", "add", "junk", junk, "--format", "qcow2", "--server", server);
            var badKernel = await RunAsync("image", "add", "junk", "--kernel", junk, "--server", server);
            var remove = await RunAsync("image", "rm", "debian:12", "--server", server);
            var removeMissing = await RunAsync("image", "rm", "debian:12", "--server", server);

            Assert.True(addDisk.Code == 0, addDisk.Err);
            var added = JsonSerializer.Deserialize<ImageView>(addDisk.Out, WireJson.Options)!;
            Assert.Equal(("debian", "12", "qcow2", ImageApiTests.DigestOf(diskBytes)), (added.Name, added.Version, added.Format, added.Disk!.Digest));
            Assert.True(addGuest.Code == 0, addGuest.Err);
            Assert.Equal("image guest:1 added (48.8 KiB, public)", addGuest.Out.Trim());
            Assert.True(again.Code == 0, again.Err);
            Assert.Single(Directory.GetFiles(Path.Combine(cluster.Options.DataDirectory, "images", "blobs", "sha256")), f => Path.GetFileName(f) == added.Disk.Digest[7..]);

            var listed = JsonSerializer.Deserialize<List<ImageView>>(listJson.Out, WireJson.Options)!;
            Assert.Equal(["debian:12", "debian:13", "guest:1"], listed.Select(i => $"{i.Name}:{i.Version}"));
            var lines = listTable.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith("NAME", lines[0].TrimStart(), StringComparison.Ordinal);
            Assert.Contains(lines, l => l.Contains("debian", StringComparison.Ordinal) && l.Contains("13 *", StringComparison.Ordinal) && l.Contains("qcow2", StringComparison.Ordinal) && l.Contains("2.0 MiB", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.Contains("guest", StringComparison.Ordinal) && l.Contains("public", StringComparison.Ordinal) && l.Contains("kernel+initrd", StringComparison.Ordinal));
            Assert.Equal(
                [lines[0].IndexOf("VERSION", StringComparison.Ordinal)],
                lines.Skip(1).Select(l => l.IndexOf(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], l.IndexOf(' ', StringComparison.Ordinal), StringComparison.Ordinal)).Distinct());

            Assert.True(show.Code == 0, show.Err);
            Assert.Contains("cmdline     console=ttyS0 init=/init", show.Out, StringComparison.Ordinal);
            Assert.Contains("version     1 (latest)", show.Out, StringComparison.Ordinal);

            Assert.NotEqual(0, badFormat.Code);
            Assert.Contains("not a qcow2 file", badFormat.Err, StringComparison.Ordinal);
            Assert.NotEqual(0, badKernel.Code);
            Assert.Contains("not a Linux kernel", badKernel.Err, StringComparison.Ordinal);

            Assert.Equal((0, "image debian:12 removed"), (remove.Code, remove.Out.Trim()));
            Assert.Equal(1, removeMissing.Code);
            Assert.Contains("image debian:12 does not exist", removeMissing.Err, StringComparison.Ordinal);
            var after = await RunAsync("image", "list", "--server", server, "--json");
            Assert.Equal(["debian:13", "guest:1"], JsonSerializer.Deserialize<List<ImageView>>(after.Out, WireJson.Options)!.Select(i => $"{i.Name}:{i.Version}"));
        }
        finally
        {
            Directory.Delete(files, recursive: true);
        }
    }
}
