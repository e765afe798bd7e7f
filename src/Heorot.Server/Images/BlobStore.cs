using System.Security.Cryptography;
using Heorot.Protocol.Images;
using Heorot.Protocol.Unix;
using Heorot.Server.Api;

namespace Heorot.Server.Images;

/// <summary>
/// Content-addressed files: <c>DATA/images/blobs/sha256/&lt;hex&gt;</c>. An upload streams into
/// <c>DATA/images/tmp/</c> while it is hashed, is synced, and is renamed into place only when its digest is the one
/// announced; so a blob file, once visible, is always complete and correct. Any failure (digest mismatch, size
/// bound, a client gone mid-stream) deletes the temporary file.
/// </summary>
public sealed class BlobStore
{
    private const int BufferBytes = 1 << 20;

    public BlobStore(string dataDirectory)
    {
        Root = Path.GetFullPath(Path.Combine(dataDirectory, "images"));
        BlobDirectory = Path.Combine(Root, "blobs", "sha256");
        TempDirectory = Path.Combine(Root, "tmp");
        Directory.CreateDirectory(BlobDirectory);
        Directory.CreateDirectory(TempDirectory);
    }

    public string Root { get; }

    public string BlobDirectory { get; }

    public string TempDirectory { get; }

    /// <summary>The file of a digest (which may not exist); the digest must have been validated.</summary>
    public string PathOf(string digest) =>
        ImageNames.TryParseDigest(digest, out var hex) ? Path.Combine(BlobDirectory, hex) : throw new ArgumentException($"bad digest {digest}", nameof(digest));

    /// <summary>The blob's size, or null when it is not stored.</summary>
    public long? SizeOf(string digest)
    {
        var file = new FileInfo(PathOf(digest));
        return file.Exists ? file.Length : null;
    }

    /// <summary>The first bytes of a stored blob (for format checks).</summary>
    public byte[] Header(string digest)
    {
        using var stream = new FileStream(PathOf(digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        var buffer = new byte[ImageMagic.HeaderBytes];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = stream.Read(buffer, total, buffer.Length - total)) > 0)
        {
            total += read;
        }

        return buffer[..total];
    }

    /// <summary>
    /// Streams <paramref name="body"/> into the blob <paramref name="digest"/>: refused (400, nothing kept) when its
    /// SHA-256 differs, 413 past <paramref name="maxBytes"/>. Returns the size and whether the blob already existed.
    /// </summary>
    public async Task<(long Size, bool Existed)> PutAsync(string digest, Stream body, long maxBytes, CancellationToken cancellationToken)
    {
        var final = PathOf(digest);
        var temp = Path.Combine(TempDirectory, $"{Path.GetFileName(final)}.{Guid.NewGuid():N}.part");
        try
        {
            long size = 0;
            string actual;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.None))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[BufferBytes];
                int read;
                while ((read = await ReadFullAsync(body, buffer, cancellationToken)) > 0)
                {
                    size += read;
                    if (size > maxBytes)
                    {
                        throw new ApiException(413, "blob_too_large", $"the blob is larger than the server accepts ({maxBytes} bytes, MaxImageBytes)");
                    }

                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }

                actual = ImageNames.DigestPrefix + Convert.ToHexStringLower(hash.GetHashAndReset());
                if (actual != digest)
                {
                    throw new ApiException(400, "digest_mismatch", $"the body's digest is {actual}, not {digest}: nothing was stored", "digest");
                }

                file.Flush(flushToDisk: true);
            }

            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.GroupRead);
            try
            {
                File.Move(temp, final, overwrite: false);
            }
            catch (IOException) when (File.Exists(final))
            {
                // Same content under the same name: keep the existing file, mark it fresh for the orphan sweep.
                File.SetLastWriteTimeUtc(final, DateTime.UtcNow);
                return (size, true);
            }

            Fsync.Directory(BlobDirectory);
            return (size, false);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Deletes a blob file; a missing one is no error.</summary>
    public void Delete(string digest) => File.Delete(PathOf(digest));

    /// <summary>The digests of every stored blob.</summary>
    public IEnumerable<string> List() =>
        Directory.EnumerateFiles(BlobDirectory)
            .Select(f => ImageNames.DigestPrefix + Path.GetFileName(f))
            .Where(d => ImageNames.TryParseDigest(d, out _));

    /// <summary>
    /// At start: deletes every temporary file (no upload survives a restart) and each blob that no image
    /// references and is older than <paramref name="grace"/>; returns how many files went.
    /// </summary>
    public int Sweep(IReadOnlySet<string> referenced, TimeSpan grace, DateTimeOffset now)
    {
        var removed = 0;
        foreach (var temp in Directory.EnumerateFiles(TempDirectory))
        {
            File.Delete(temp);
            removed++;
        }

        foreach (var digest in List().ToList())
        {
            if (!referenced.Contains(digest) && now - File.GetLastWriteTimeUtc(PathOf(digest)) > grace)
            {
                Delete(digest);
                removed++;
            }
        }

        return removed;
    }

    private static async Task<int> ReadFullAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken)) > 0)
        {
            total += read;
        }

        return total;
    }
}
