namespace Heorot.Agent.Images;

/// <summary>
/// A lease on a verified blob of the cache: while it is held, the file at <see cref="Path"/> is not evicted.
/// The file is read-only; a VM uses it as a backing file. Disposing twice is harmless.
/// </summary>
public sealed class CachedBlob : IDisposable, IAsyncDisposable
{
    private readonly ImageCache cache;
    private int released;

    internal CachedBlob(ImageCache cache, string digest, string path, long size)
    {
        this.cache = cache;
        Digest = digest;
        Path = path;
        Size = size;
    }

    /// <summary><c>sha256:&lt;hex&gt;</c>.</summary>
    public string Digest { get; }

    public string Path { get; }

    public long Size { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref released, 1) == 0)
        {
            cache.Release(Digest);
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
