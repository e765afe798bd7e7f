using Heorot.Drivers.Hypervisor;
using Heorot.Tests.Support;

namespace Heorot.Tests.Drivers.Hypervisor;

/// <summary>The test guest from scripts/guest/build.sh, built (and its host tools installed) once per test run.</summary>
internal static class GuestImage
{
    private static readonly Lazy<Task<Artifacts>> Built = new(BuildAsync);

    /// <summary>
    /// The kernel, the job VMs' initramfs, the emulated physical node's (docs/power.md, "Emulated physical nodes"),
    /// the disk image with the same userland (qcow2, ext4) and the initramfs that boots it with root=/dev/vda
    /// (the first one plus ext4; docs/guest.md).
    /// </summary>
    public sealed record Artifacts(string Kernel, string Initrd, string NodeInitrd, string RootDisk, string DiskInitrd);

    public static string Directory => Environment.GetEnvironmentVariable("HEOROT_GUEST_DIR") is { Length: > 0 } dir
        ? dir
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "heorot", "guest");

    /// <summary>Runs the build script (idempotent, about 1 s when up to date); also installs qemu, dosfstools and mtools.</summary>
    public static Task<Artifacts> EnsureAsync() => Built.Value;

    private static async Task<Artifacts> BuildAsync()
    {
        var script = Path.Combine(SharedFiles.RepositoryRoot, "scripts", "guest", "build.sh");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var result = await ProcessRunner.RunAsync("/bin/bash", [script, Directory], timeout.Token);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/guest/build.sh failed (exit {result.ExitCode}):\n{result.Stdout}\n{result.Stderr}");
        }

        return new Artifacts(Path.Combine(Directory, "vmlinux"), Path.Combine(Directory, "initramfs.cpio.gz"), Path.Combine(Directory, "node-initramfs.cpio.gz"), Path.Combine(Directory, "rootfs.qcow2"), Path.Combine(Directory, "initramfs-disk.cpio.gz"));
    }
}
