using System.Text.Json;

namespace Heorot.Drivers.Hypervisor;

/// <summary>Disk image helpers over <c>qemu-img</c> (argument lists only).</summary>
public static class QemuImg
{
    public static string Binary { get; set; } = "qemu-img";

    /// <summary>
    /// Creates a qcow2 overlay of <paramref name="baseImage"/> (about 0.1 s, whatever the base's size).
    /// Idempotent: an existing overlay on the same base is kept; one on another base is an error.
    /// </summary>
    public static async Task CreateOverlayAsync(string baseImage, string overlay, string baseFormat = "qcow2", CancellationToken cancellationToken = default)
    {
        var backing = Path.GetFullPath(baseImage);
        if (!File.Exists(backing))
        {
            throw new HypervisorException(HypervisorErrorCode.InvalidSpec, $"base image {backing} does not exist");
        }

        if (baseFormat is not ("qcow2" or "raw"))
        {
            throw new HypervisorException(HypervisorErrorCode.InvalidSpec, $"base format {baseFormat} is not qcow2 or raw");
        }

        if (File.Exists(overlay))
        {
            var existing = await BackingFileAsync(overlay, cancellationToken).ConfigureAwait(false);
            if (existing == backing)
            {
                return;
            }

            throw new HypervisorException(HypervisorErrorCode.Conflict, $"{overlay} exists with backing file {existing ?? "(none)"}, not {backing}");
        }

        var temporary = overlay + ".tmp";
        File.Delete(temporary);
        var result = await ProcessRunner.RunAsync(Binary, ["create", "-q", "-f", "qcow2", "-b", backing, "-F", baseFormat, temporary], cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            File.Delete(temporary);
            throw new HypervisorException(HypervisorErrorCode.ToolFailed, $"qemu-img create failed (exit {result.ExitCode}): {result.Stderr.Trim()}");
        }

        File.Move(temporary, overlay, overwrite: true);
    }

    /// <summary>The image's backing file as qemu-img reports it; null when it has none.</summary>
    public static async Task<string?> BackingFileAsync(string image, CancellationToken cancellationToken = default)
    {
        var result = await ProcessRunner.RunAsync(Binary, ["info", "--output=json", "-U", image], cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new HypervisorException(HypervisorErrorCode.ToolFailed, $"qemu-img info {image} failed (exit {result.ExitCode}): {result.Stderr.Trim()}");
        }

        using var doc = JsonDocument.Parse(result.Stdout);
        return doc.RootElement.TryGetProperty("backing-filename", out var b) ? b.GetString() : null;
    }
}
