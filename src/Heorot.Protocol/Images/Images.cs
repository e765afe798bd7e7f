namespace Heorot.Protocol.Images;

/// <summary>A content-addressed blob: <c>sha256:&lt;64 lowercase hex&gt;</c> and its size in bytes.</summary>
public sealed record BlobView(string Digest, long Size);

/// <summary>
/// Registers an image version whose blobs were uploaded first (<c>PUT /v1/blobs/sha256:HEX</c>). An image has a
/// disk, or a kernel (with an optional initrd and command line), or both.
/// </summary>
public sealed record ImageRequest
{
    public string Name { get; init; } = string.Empty;

    /// <summary>Null: the next integer after the name's largest numeric version (1 for a new name). <c>latest</c> is reserved.</summary>
    public string? Version { get; init; }

    /// <summary>The disk's format, qcow2 or raw; null: detected from the disk's first bytes.</summary>
    public string? Format { get; init; }

    /// <summary>The disk blob's digest.</summary>
    public string? Disk { get; init; }

    /// <summary>The kernel blob's digest (ELF vmlinux or bzImage).</summary>
    public string? Kernel { get; init; }

    /// <summary>The initrd blob's digest (needs a kernel).</summary>
    public string? Initrd { get; init; }

    /// <summary>The kernel command line (needs a kernel).</summary>
    public string? Cmdline { get; init; }

    /// <summary>Visible to every user; otherwise to its owner and operators only.</summary>
    public bool Public { get; init; }
}

/// <summary>An image version as the API shows it.</summary>
public sealed record ImageView
{
    public string Name { get; init; } = string.Empty;

    public string Version { get; init; } = string.Empty;

    public string Owner { get; init; } = string.Empty;

    public bool Public { get; init; }

    public string? Format { get; init; }

    public BlobView? Disk { get; init; }

    public BlobView? Kernel { get; init; }

    public BlobView? Initrd { get; init; }

    public string? Cmdline { get; init; }

    /// <summary>The bytes of all its blobs.</summary>
    public long Size { get; init; }

    public DateTimeOffset CreateTime { get; init; }

    /// <summary>Whether this is the version <c>NAME</c> and <c>NAME:latest</c> resolve to (for the caller).</summary>
    public bool Latest { get; init; }
}

/// <summary>The answer to a blob upload: the blob, and whether the server already held it (deduplicated).</summary>
public sealed record BlobUploadResponse(string Digest, long Size, bool Existed);

/// <summary>Names, versions and digests as the registry accepts them; shared by the server and the CLI.</summary>
public static class ImageNames
{
    /// <summary>The version alias for the newest version of a name; never a stored version.</summary>
    public const string Latest = "latest";

    public const string DigestPrefix = "sha256:";

    /// <summary>1–64 characters: letters, digits, '.', '_', '-', starting with a letter or digit.</summary>
    public static bool IsValidName(string name) => IsWord(name, "._-");

    /// <summary>As a name, '+' allowed too; <c>latest</c> is reserved.</summary>
    public static bool IsValidVersion(string version) => IsWord(version, "._-+") && version != Latest;

    /// <summary>Whether <paramref name="digest"/> is <c>sha256:</c> and 64 lowercase hex digits; the hex is returned.</summary>
    public static bool TryParseDigest(string digest, out string hex)
    {
        hex = string.Empty;
        if (!digest.StartsWith(DigestPrefix, StringComparison.Ordinal) || digest.Length != DigestPrefix.Length + 64)
        {
            return false;
        }

        var rest = digest[DigestPrefix.Length..];
        if (!rest.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            return false;
        }

        hex = rest;
        return true;
    }

    /// <summary>Splits <c>NAME[:VERSION]</c>; the version is null when absent.</summary>
    public static (string Name, string? Version) Split(string reference)
    {
        var colon = reference.LastIndexOf(':');
        return colon < 0 ? (reference, null) : (reference[..colon], reference[(colon + 1)..]);
    }

    private static bool IsWord(string text, string punctuation) =>
        text.Length is > 0 and <= 64
        && char.IsAsciiLetterOrDigit(text[0])
        && text.All(c => char.IsAsciiLetterOrDigit(c) || punctuation.Contains(c, StringComparison.Ordinal));
}

/// <summary>What the first bytes of a file say it is: how disks and kernels are recognised (server and CLI alike).</summary>
public static class ImageMagic
{
    /// <summary>How many leading bytes the checks need.</summary>
    public const int HeaderBytes = 1024;

    /// <summary>qcow2 (and qcow1) files start with "QFI\xfb".</summary>
    public static bool IsQcow(ReadOnlySpan<byte> header) =>
        header.Length >= 4 && header[0] == (byte)'Q' && header[1] == (byte)'F' && header[2] == (byte)'I' && header[3] == 0xfb;

    /// <summary>An ELF file (vmlinux) or a Linux boot image (bzImage: "HdrS" at 0x202).</summary>
    public static bool IsKernel(ReadOnlySpan<byte> header) =>
        (header.Length >= 4 && header[0] == 0x7f && header[1] == (byte)'E' && header[2] == (byte)'L' && header[3] == (byte)'F')
        || (header.Length >= 0x206 && header.Slice(0x202, 4).SequenceEqual("HdrS"u8));

    /// <summary>The disk format its header says: qcow2 for the qcow magic, raw for anything else.</summary>
    public static string DetectDiskFormat(ReadOnlySpan<byte> header) => IsQcow(header) ? "qcow2" : "raw";

    /// <summary>Null when the header fits the format, else why not.</summary>
    public static string? CheckDisk(string format, ReadOnlySpan<byte> header) => format switch
    {
        "qcow2" => IsQcow(header) ? null : "not a qcow2 file: it does not start with the qcow magic \"QFI\\xfb\"",
        "raw" => null,
        _ => $"unknown disk format '{format}': expected qcow2 or raw",
    };

    /// <summary>Null when the header is a kernel's, else why not.</summary>
    public static string? CheckKernel(ReadOnlySpan<byte> header) =>
        IsKernel(header) ? null : "not a Linux kernel: neither an ELF file (vmlinux) nor a bzImage (no \"HdrS\" at offset 0x202)";
}
