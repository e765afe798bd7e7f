namespace Heorot.Agent.Images;

/// <summary>Stable error codes of the image cache.</summary>
public enum ImageCacheErrorCode
{
    /// <summary>The digest is not <c>sha256:</c> followed by 64 lower-case hex digits.</summary>
    InvalidDigest,

    /// <summary>The blob is larger than the whole cache: no eviction can make room for it.</summary>
    TooLarge,

    /// <summary>Leased blobs and downloads in progress hold the room the blob needs; a retry after leases are released may succeed.</summary>
    NoSpace,

    /// <summary>The server does not know the blob (HTTP 404).</summary>
    NotFound,

    /// <summary>The server refused the request (authorization or another client error).</summary>
    Refused,

    /// <summary>The server's blob does not have the expected size; the partial download was deleted.</summary>
    SizeMismatch,

    /// <summary>The downloaded bytes do not hash to the digest; the partial download was deleted, the next call starts afresh.</summary>
    DigestMismatch,

    /// <summary>The transfer kept failing (network, server errors) after the bounded retries; the partial is kept for resume.</summary>
    Unavailable,

    /// <summary>The cache's own files could not be read or written (disk full, permissions, another process holds the partial).</summary>
    Storage,

    /// <summary>The cache is disposed.</summary>
    Closed,
}

/// <summary>Every image cache failure: a stable <see cref="Code"/>, the blob, and whether retrying could succeed.</summary>
public sealed class ImageCacheException : Exception
{
    public ImageCacheException(ImageCacheErrorCode code, string digest, string message, bool isTransient, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        Digest = digest;
        IsTransient = isTransient;
    }

    public ImageCacheException()
        : this(ImageCacheErrorCode.Unavailable, string.Empty, "image cache error", false)
    {
    }

    public ImageCacheException(string message)
        : this(ImageCacheErrorCode.Unavailable, string.Empty, message, false)
    {
    }

    public ImageCacheException(string message, Exception innerException)
        : this(ImageCacheErrorCode.Unavailable, string.Empty, message, false, innerException)
    {
    }

    public ImageCacheErrorCode Code { get; }

    public string Digest { get; } = string.Empty;

    public bool IsTransient { get; }
}
