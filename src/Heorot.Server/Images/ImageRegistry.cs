using System.Globalization;
using Heorot.Protocol.Images;
using Heorot.Server.Api;
using Heorot.Server.Identity;
using Heorot.Storage;

namespace Heorot.Server.Images;

/// <summary>
/// The image registry: named, versioned images whose blobs live in a <see cref="BlobStore"/> and whose records
/// live in the store. Registering an image and deleting one (with the blobs it leaves unreferenced) are
/// serialized by one lock, so a record never names a missing blob and a blob still referenced is never deleted.
/// <para>
/// Versions: <c>NAME</c> and <c>NAME:latest</c> mean the newest version the caller may see (the one added last),
/// never the highest-sorting string; <c>latest</c> cannot be a stored version.
/// </para>
/// </summary>
public sealed class ImageRegistry(IHeorotStore store, BlobStore blobs, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim gate = new(1, 1);

    public BlobStore Blobs => blobs;

    public void Dispose() => gate.Dispose();

    public async Task<ImageView> AddAsync(Caller caller, ImageRequest request, CancellationToken cancellationToken)
    {
        if (!ImageNames.IsValidName(request.Name))
        {
            throw ApiException.BadInput("name", $"'{request.Name}' is not an image name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }

        if (request.Version != null && !ImageNames.IsValidVersion(request.Version))
        {
            throw ApiException.BadInput("version", request.Version == ImageNames.Latest
                ? "'latest' is the alias of the newest version, not a version: give another or none (the next number)"
                : $"'{request.Version}' is not a version: 1 to 64 letters, digits, '.', '_', '-' or '+', starting with a letter or digit");
        }

        if (request.Disk == null && request.Kernel == null)
        {
            throw ApiException.BadInput("disk", "an image needs a disk, a kernel, or both");
        }

        if (request.Kernel == null && request.Initrd != null)
        {
            throw ApiException.BadInput("initrd", "an initrd needs a kernel");
        }

        if (request.Kernel == null && request.Cmdline != null)
        {
            throw ApiException.BadInput("cmdline", "a kernel command line needs a kernel");
        }

        if (request.Disk == null && request.Format != null)
        {
            throw ApiException.BadInput("format", "a format describes a disk, and there is none");
        }

        if (request.Format is { } f && f is not ("qcow2" or "raw"))
        {
            throw ApiException.BadInput("format", $"unknown disk format '{f}': expected qcow2 or raw");
        }

        await gate.WaitAsync(cancellationToken);
        try
        {
            var parts = new List<ImagePart>();
            string? format = null;
            if (request.Disk is { } disk)
            {
                var size = Blob("disk", disk);
                var header = blobs.Header(disk);
                format = request.Format ?? ImageMagic.DetectDiskFormat(header);
                if (ImageMagic.CheckDisk(format, header) is { } problem)
                {
                    throw ApiException.BadInput("format", $"disk {disk}: {problem}");
                }

                parts.Add(new ImagePart("disk", disk, size));
            }

            if (request.Kernel is { } kernel)
            {
                var size = Blob("kernel", kernel);
                if (ImageMagic.CheckKernel(blobs.Header(kernel)) is { } problem)
                {
                    throw ApiException.BadInput("kernel", $"kernel {kernel}: {problem}");
                }

                parts.Add(new ImagePart("kernel", kernel, size));
            }

            if (request.Initrd is { } initrd)
            {
                parts.Add(new ImagePart("initrd", initrd, Blob("initrd", initrd)));
            }

            var versions = await store.ListImagesAsync(request.Name, cancellationToken);
            if (versions.FirstOrDefault(v => !caller.MayActOn(v.Owner)) is { } foreign)
            {
                throw ApiException.Forbidden($"image {request.Name} belongs to {foreign.Owner}: only they and operators may add versions");
            }

            var version = request.Version ?? NextVersion(versions);
            // Stored in milliseconds: answer with what a later read returns.
            var now = DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds());
            var record = new ImageRecord(request.Name, version, caller.User, request.Public, parts, now)
            {
                Format = format,
                Cmdline = request.Cmdline,
            };
            try
            {
                var id = await store.AddImageAsync(record, cancellationToken);
                return View(record with { Id = id }, latest: true);
            }
            catch (StoreException e) when (e.Code == StoreErrorCode.Constraint)
            {
                throw new ApiException(409, "image_exists", $"image {request.Name}:{version} exists: remove it first or give another version", "version");
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The images the caller may see (owned, public, or every one for operators), newest version flagged.</summary>
    public async Task<IReadOnlyList<ImageView>> ListAsync(Caller caller, string? name, CancellationToken cancellationToken)
    {
        var visible = (await store.ListImagesAsync(name, cancellationToken)).Where(i => Visible(caller, i)).ToList();
        var newest = visible.GroupBy(i => i.Name, StringComparer.Ordinal).Select(g => g.MaxBy(i => i.Id)!.Id).ToHashSet();
        return visible.Select(i => View(i, newest.Contains(i.Id))).ToList();
    }

    /// <summary>One version (or the newest visible for <c>latest</c>); 404 when missing or not visible to the caller.</summary>
    public async Task<ImageRecord> ResolveAsync(Caller caller, string name, string version, CancellationToken cancellationToken)
    {
        ImageRecord? image;
        if (version == ImageNames.Latest)
        {
            image = (await store.ListImagesAsync(name, cancellationToken)).Where(i => Visible(caller, i)).MaxBy(i => i.Id);
        }
        else
        {
            image = await store.GetImageAsync(name, version, cancellationToken);
        }

        return image != null && Visible(caller, image) ? image : throw ApiException.NotFound($"image {name}:{version}");
    }

    public async Task<ImageView> GetAsync(Caller caller, string name, string version, CancellationToken cancellationToken)
    {
        var image = await ResolveAsync(caller, name, version, cancellationToken);
        var newest = (await store.ListImagesAsync(name, cancellationToken)).Where(i => Visible(caller, i)).Max(i => i.Id);
        return View(image, image.Id == newest);
    }

    /// <summary>Deletes a version (owner or operator) and the blobs no image references any more.</summary>
    public async Task<ImageView> DeleteAsync(Caller caller, string name, string version, CancellationToken cancellationToken)
    {
        var image = await ResolveAsync(caller, name, version, cancellationToken);
        if (!caller.MayActOn(image.Owner))
        {
            throw ApiException.Forbidden($"only {image.Owner} and operators may remove image {image.Name}:{image.Version}");
        }

        await gate.WaitAsync(cancellationToken);
        try
        {
            var deletion = await store.DeleteImageAsync(image.Name, image.Version, cancellationToken)
                ?? throw ApiException.NotFound($"image {name}:{version}");
            foreach (var digest in deletion.UnreferencedDigests)
            {
                blobs.Delete(digest);
            }

            return View(deletion.Image, latest: false);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Whether the caller may read the blob: some image it may see references it.</summary>
    public async Task<bool> MayReadBlobAsync(Caller caller, string digest, CancellationToken cancellationToken) =>
        (await store.ListImagesByBlobAsync(digest, cancellationToken)).Any(i => Visible(caller, i));

    /// <summary>Deletes leftover temporary files and old unreferenced blobs; run once at start.</summary>
    public async Task<int> SweepAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        var referenced = (await store.ListImagesAsync(null, cancellationToken)).SelectMany(i => i.Parts).Select(p => p.Digest).ToHashSet(StringComparer.Ordinal);
        return blobs.Sweep(referenced, grace, time.GetUtcNow());
    }

    private static bool Visible(Caller caller, ImageRecord image) => image.Public || caller.MayActOn(image.Owner);

    private long Blob(string field, string digest)
    {
        if (!ImageNames.TryParseDigest(digest, out _))
        {
            throw ApiException.BadInput(field, $"'{digest}' is not a digest: expected sha256: and 64 lowercase hex digits");
        }

        return blobs.SizeOf(digest) ?? throw new ApiException(400, "unknown_blob", $"{field} blob {digest} is not on the server: upload it first (PUT /v1/blobs/{digest})", field);
    }

    private static string NextVersion(IReadOnlyList<ImageRecord> versions)
    {
        var numbers = versions.Select(v => long.TryParse(v.Version, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0);
        return (numbers.DefaultIfEmpty(0).Max() + 1).ToString(CultureInfo.InvariantCulture);
    }

    public static ImageView View(ImageRecord image, bool latest)
    {
        BlobView? Part(string role) => image.Parts.FirstOrDefault(p => p.Role == role) is { } p ? new BlobView(p.Digest, p.Size) : null;
        return new ImageView
        {
            Name = image.Name,
            Version = image.Version,
            Owner = image.Owner,
            Public = image.Public,
            Format = image.Format,
            Disk = Part("disk"),
            Kernel = Part("kernel"),
            Initrd = Part("initrd"),
            Cmdline = image.Cmdline,
            Size = image.Parts.Sum(p => p.Size),
            CreateTime = image.CreateTime,
            Latest = latest,
        };
    }
}
