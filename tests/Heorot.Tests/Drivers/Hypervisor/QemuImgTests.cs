using Heorot.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Hypervisor;

public sealed class QemuImgTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 600_000)]
    public async Task CreateOverlayAsync_TwiceOnSameBase_KeepsOneOverlayOnThatBase()
    {
        await GuestImage.EnsureAsync();
        var dir = Directory.CreateTempSubdirectory("hvi-").FullName;
        try
        {
            var baseImage = Path.Combine(dir, "base.qcow2");
            Assert.Equal(0, (await ProcessRunner.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", baseImage, "1G"], Ct)).ExitCode);
            var overlay = Path.Combine(dir, "job, 1.qcow2");

            await QemuImg.CreateOverlayAsync(baseImage, overlay, "qcow2", Ct);
            var written = File.GetLastWriteTimeUtc(overlay);
            await QemuImg.CreateOverlayAsync(baseImage, overlay, "qcow2", Ct);

            Assert.Equal(baseImage, await QemuImg.BackingFileAsync(overlay, Ct));
            Assert.Equal(written, File.GetLastWriteTimeUtc(overlay));
            Assert.True(new FileInfo(overlay).Length < 1024 * 1024);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 600_000)]
    public async Task CreateOverlayAsync_ExistingOverlayOnOtherBase_ThrowsConflict()
    {
        await GuestImage.EnsureAsync();
        var dir = Directory.CreateTempSubdirectory("hvi-").FullName;
        try
        {
            var a = Path.Combine(dir, "a.qcow2");
            var b = Path.Combine(dir, "b.raw");
            await ProcessRunner.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", a, "16M"], Ct);
            await ProcessRunner.RunAsync("qemu-img", ["create", "-q", "-f", "raw", b, "16M"], Ct);
            var overlay = Path.Combine(dir, "ov.qcow2");
            await QemuImg.CreateOverlayAsync(a, overlay, "qcow2", Ct);

            var e = await Assert.ThrowsAsync<HypervisorException>(() => QemuImg.CreateOverlayAsync(b, overlay, "raw", Ct));

            Assert.Equal(HypervisorErrorCode.Conflict, e.Code);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
