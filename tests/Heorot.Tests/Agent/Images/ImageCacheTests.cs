using System.Diagnostics;
using Heorot.Agent.Images;

namespace Heorot.Tests.Agent.Images;

public sealed class ImageCacheTests : IAsyncLifetime
{
    private const int MiB = 1024 * 1024;

    private readonly string directory = Path.Combine(Path.GetTempPath(), "heorot-cache-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ManualClock clock = new();
    private BlobServer server = null!;
    private HttpClient http = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private string CacheDirectory => Path.Combine(directory, "cache");

    public async ValueTask InitializeAsync()
    {
        server = await BlobServer.StartAsync();
        http = server.Client();
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await server.DisposeAsync();
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task AcquireAsync_ColdCache_DownloadsVerifiedBlob()
    {
        var content = BlobServer.Bytes(3 * MiB + 123, seed: 1);
        var digest = server.Add(content);
        using var cache = Open(capacity: 16 * MiB);
        var progress = new LastProgress();

        await using var blob = await cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), progress, Cancel);

        Assert.Equal(digest, blob.Digest);
        Assert.Equal(content.Length, blob.Size);
        Assert.Equal(content, await File.ReadAllBytesAsync(blob.Path, Cancel));
        Assert.Equal(cache.PathOf(digest), blob.Path);
        Assert.Equal(content.Length, progress.Last);
        var request = Assert.Single(server.Requests);
        Assert.Equal(string.Empty, request.Range);
        Assert.Equal(content.Length, cache.UsedBytes);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(blob.Path));
        Assert.False(File.Exists(blob.Path + ".partial"));
    }

    [Fact]
    public async Task AcquireAsync_WarmCache_MakesNoRequest()
    {
        var content = BlobServer.Bytes(MiB, seed: 2);
        var digest = server.Add(content);
        using var cache = Open(capacity: 16 * MiB);
        (await cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), null, Cancel)).Dispose();

        await using var again = await cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), null, Cancel);

        Assert.Single(server.Requests);
        Assert.Equal(content, await File.ReadAllBytesAsync(again.Path, Cancel));
    }

    [Fact]
    public async Task AcquireAsync_InterruptedTransfer_ResumesWithRangeFromCut()
    {
        var content = BlobServer.Bytes(5 * MiB, seed: 3);
        var digest = server.Add(content);
        const long cut = (3 * MiB / 2) + 17; // not on a buffer boundary of either side
        server.CutNextAt(cut);
        using var cache = Open(capacity: 16 * MiB);

        await using var blob = await cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), null, Cancel);

        Assert.Equal(["", $"bytes={cut}-"], server.Requests.Select(r => r.Range));
        Assert.Equal(content.Length, server.BytesServed);
        Assert.Equal(content, await File.ReadAllBytesAsync(blob.Path, Cancel));
    }

    [Fact]
    public async Task AcquireAsync_CorruptContent_ThrowsDigestMismatchAndKeepsNothing()
    {
        var content = BlobServer.Bytes(2 * MiB, seed: 4);
        var digest = server.Add(content);
        server.Corrupt = true;
        using var cache = Open(capacity: 16 * MiB);

        var error = await Assert.ThrowsAsync<ImageCacheException>(() => cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), null, Cancel));

        Assert.Equal(ImageCacheErrorCode.DigestMismatch, error.Code);
        Assert.Equal(digest, error.Digest);
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(cache.PathOf(digest))!));
        Assert.False(cache.Contains(digest));
        Assert.Equal(0, cache.UsedBytes);

        server.Corrupt = false;
        await using var blob = await cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), null, Cancel);
        Assert.Equal(content, await File.ReadAllBytesAsync(blob.Path, Cancel));
        Assert.Equal(["", ""], server.Requests.Select(r => r.Range)); // afresh, not resumed from the bad bytes
    }

    [Fact]
    public async Task AcquireAsync_EightConcurrentCallers_DownloadOnce()
    {
        var content = BlobServer.Bytes(4 * MiB, seed: 5);
        var digest = server.Add(content);
        server.Throttle = TimeSpan.FromMilliseconds(2); // the download lasts while all callers arrive
        using var cache = Open(capacity: 16 * MiB);
        var progress = Enumerable.Range(0, 8).Select(_ => new LastProgress()).ToArray();

        var blobs = await Task.WhenAll(progress.Select(p => Task.Run(() => cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), p, Cancel), Cancel)));

        Assert.Single(server.Requests);
        Assert.Equal(content.Length, server.BytesServed);
        Assert.All(blobs, b => Assert.Equal(cache.PathOf(digest), b.Path));
        Assert.All(progress, p => Assert.Equal(content.Length, p.Last));
        Assert.Equal(content, await File.ReadAllBytesAsync(blobs[0].Path, Cancel));
        foreach (var blob in blobs)
        {
            await blob.DisposeAsync();
        }
    }

    [Fact]
    public async Task AcquireAsync_CapacityPressure_EvictsLeastRecentlyUsed()
    {
        var (a, b, c, d) = (Add(1), Add(2), Add(3), Add(4));
        using var cache = Open(capacity: 3 * MiB);
        await Use(cache, a);
        await Use(cache, b);
        await Use(cache, c);
        await Use(cache, a); // a is now the most recently used: b is the oldest

        await Use(cache, d);

        Assert.False(cache.Contains(b));
        Assert.False(File.Exists(cache.PathOf(b)));
        Assert.True(cache.Contains(a) && cache.Contains(c) && cache.Contains(d));
        Assert.Equal(3 * MiB, cache.UsedBytes);

        await Use(cache, b); // fetched again, evicting c (older than a and d)
        Assert.False(cache.Contains(c));
        Assert.Equal(2, server.RequestsFor(b));
        Assert.Equal(1, server.RequestsFor(a));
    }

    [Fact]
    public async Task AcquireAsync_LeasedBlob_IsNotEvicted()
    {
        var (a, b, c, d) = (Add(1), Add(2), Add(3), Add(4));
        using var cache = Open(capacity: 2 * MiB);
        await using var leaseA = await Acquire(cache, a); // the oldest, but held
        await Use(cache, b);

        await using var leaseC = await Acquire(cache, c);

        Assert.True(cache.Contains(a));
        Assert.True(File.Exists(leaseA.Path));
        Assert.False(cache.Contains(b));

        // Everything is leased: no room, a typed and transient error, and nothing evicted.
        var error = await Assert.ThrowsAsync<ImageCacheException>(() => Acquire(cache, d));
        Assert.Equal(ImageCacheErrorCode.NoSpace, error.Code);
        Assert.True(error.IsTransient);
        Assert.True(cache.Contains(a) && cache.Contains(c));
        Assert.Equal(0, server.RequestsFor(d));

        await leaseA.DisposeAsync();
        await Use(cache, d);
        Assert.False(cache.Contains(a));
        Assert.True(cache.Contains(c));
    }

    [Fact]
    public async Task Open_AfterRestart_KeepsBlobsAndResumesPartial()
    {
        var kept = Add(1);
        var content = BlobServer.Bytes(4 * MiB, seed: 42);
        var resumed = server.Add(content);
        const long cut = (5 * MiB / 2) + 5;
        using (var before = Open(capacity: 16 * MiB, maxAttempts: 1))
        {
            await Use(before, kept);
            server.CutNextAt(cut);
            var error = await Assert.ThrowsAsync<ImageCacheException>(() => before.AcquireAsync(resumed, content.Length, server.BlobUri(resumed), null, Cancel));
            Assert.Equal(ImageCacheErrorCode.Unavailable, error.Code);
            Assert.True(error.IsTransient);
            Assert.Equal(cut, new FileInfo(before.PathOf(resumed) + ".partial").Length);
        }

        var junk = Path.Combine(CacheDirectory, "sha256", "leftover.tmp");
        await File.WriteAllTextAsync(junk, "junk", Cancel);

        using var after = Open(capacity: 16 * MiB);
        Assert.True(after.Contains(kept));
        Assert.False(after.Contains(resumed));
        Assert.False(File.Exists(junk));
        Assert.Equal(MiB + cut, after.UsedBytes);

        await Use(after, kept);
        await using var blob = await after.AcquireAsync(resumed, content.Length, server.BlobUri(resumed), null, Cancel);

        Assert.Equal(1, server.RequestsFor(kept));
        Assert.Equal(["", $"bytes={cut}-"], server.Requests.Where(r => r.Digest == resumed).Select(r => r.Range));
        Assert.Equal(content, await File.ReadAllBytesAsync(blob.Path, Cancel));
    }

    [Fact]
    public async Task Open_AfterRestart_KeepsLeastRecentlyUsedOrder()
    {
        var (a, b, c) = (Add(1), Add(2), Add(3));
        using (var before = Open(capacity: 2 * MiB))
        {
            await Use(before, a);
            await Use(before, b);
            await Use(before, a); // b is the oldest
        }

        using var after = Open(capacity: 2 * MiB);
        await Use(after, c);

        Assert.True(after.Contains(a));
        Assert.False(after.Contains(b));
    }

    [Fact]
    public async Task Open_SmallerCapacity_EvictsOldestToFit()
    {
        var (a, b, c) = (Add(1), Add(2), Add(3));
        using (var before = Open(capacity: 3 * MiB))
        {
            await Use(before, b);
            await Use(before, a);
            await Use(before, c);
        }

        using var after = Open(capacity: 2 * MiB);

        Assert.False(after.Contains(b));
        Assert.True(after.Contains(a) && after.Contains(c));
        Assert.Equal(2 * MiB, after.UsedBytes);
    }

    [Fact]
    public async Task AcquireAsync_EveryCallerCancels_KeepsPartialAndNextCallResumes()
    {
        var content = BlobServer.Bytes(8 * MiB, seed: 7);
        var digest = server.Add(content);
        server.Throttle = TimeSpan.FromMilliseconds(5);
        using var cache = Open(capacity: 16 * MiB);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var started = new ThresholdProgress(2 * MiB);

        var first = cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), started, stop.Token);
        await started.Reached.Task.WaitAsync(Cancel);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        server.Throttle = TimeSpan.Zero;
        await using var blob = await cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), null, Cancel);

        Assert.Equal(content, await File.ReadAllBytesAsync(blob.Path, Cancel));
        var ranges = server.Requests.Select(r => r.Range).ToList();
        Assert.Equal(2, ranges.Count);
        Assert.Equal(string.Empty, ranges[0]);
        var from = long.Parse(ranges[1]["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(from, 2 * MiB, content.Length - 1);
    }

    [Fact]
    public async Task AcquireAsync_AfterDispose_ThrowsClosed()
    {
        var digest = Add(1);
        var cache = Open(capacity: 4 * MiB);
        cache.Dispose();

        var error = await Assert.ThrowsAsync<ImageCacheException>(() => Acquire(cache, digest));

        Assert.Equal(ImageCacheErrorCode.Closed, error.Code);
    }

    [Fact]
    public async Task AcquireAsync_BlobLargerThanCapacity_ThrowsTooLarge()
    {
        var content = BlobServer.Bytes(3 * MiB, seed: 6);
        var digest = server.Add(content);
        using var cache = Open(capacity: 2 * MiB);

        var error = await Assert.ThrowsAsync<ImageCacheException>(() => cache.AcquireAsync(digest, content.Length, server.BlobUri(digest), null, Cancel));

        Assert.Equal(ImageCacheErrorCode.TooLarge, error.Code);
        Assert.False(error.IsTransient);
        Assert.Contains("larger than the image cache", error.Message, StringComparison.Ordinal);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task AcquireAsync_UnknownDigest_ThrowsNotFound()
    {
        var digest = BlobServer.Digest([1, 2, 3]);
        using var cache = Open(capacity: MiB);

        var error = await Assert.ThrowsAsync<ImageCacheException>(() => cache.AcquireAsync(digest, 3, server.BlobUri(digest), null, Cancel));

        Assert.Equal(ImageCacheErrorCode.NotFound, error.Code);
        Assert.False(error.IsTransient);
        Assert.Equal(0, cache.UsedBytes);
    }

    [Fact]
    public async Task AcquireAsync_WrongSecret_ThrowsRefused()
    {
        var digest = Add(1);
        using var stranger = new HttpClient();
        using var cache = new ImageCache(CacheDirectory, MiB, stranger, clock);

        var error = await Assert.ThrowsAsync<ImageCacheException>(() => cache.AcquireAsync(digest, MiB, server.BlobUri(digest), null, Cancel));

        Assert.Equal(ImageCacheErrorCode.Refused, error.Code);
    }

    [Fact]
    public async Task AcquireAsync_WrongExpectedSize_ThrowsSizeMismatchAndKeepsNothing()
    {
        var digest = Add(1);
        using var cache = Open(capacity: 4 * MiB);

        var error = await Assert.ThrowsAsync<ImageCacheException>(() => cache.AcquireAsync(digest, MiB + 1, server.BlobUri(digest), null, Cancel));

        Assert.Equal(ImageCacheErrorCode.SizeMismatch, error.Code);
        Assert.Equal(0, cache.UsedBytes);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(CacheDirectory, "sha256")));
    }

    [Fact]
    public async Task AcquireAsync_MalformedDigest_ThrowsInvalidDigest()
    {
        using var cache = Open(capacity: MiB);

        var error = await Assert.ThrowsAsync<ImageCacheException>(() => cache.AcquireAsync("sha256:ABC", 1, server.BaseAddress, null, Cancel));

        Assert.Equal(ImageCacheErrorCode.InvalidDigest, error.Code);
    }

    [Fact]
    public async Task AcquireAsync_256MiBOverLoopback_ReportsThroughput()
    {
        const int size = 256 * MiB;
        var content = BlobServer.Bytes(size, seed: 256);
        var digest = server.Add(content);
        using var cache = Open(capacity: 512L * MiB);

        var watch = Stopwatch.StartNew();
        await using var blob = await cache.AcquireAsync(digest, size, server.BlobUri(digest), null, Cancel);
        watch.Stop();

        Assert.Equal(size, new FileInfo(blob.Path).Length);
        Assert.Single(server.Requests);
        var mibPerSecond = size / (double)MiB / watch.Elapsed.TotalSeconds;
        TestContext.Current.TestOutputHelper?.WriteLine($"256 MiB over loopback (download, SHA-256, fsync, rename): {watch.Elapsed.TotalSeconds:F2} s, {mibPerSecond:F0} MiB/s");
        await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), "heorot-image-cache-throughput.txt"), $"{mibPerSecond:F0} MiB/s in {watch.Elapsed.TotalSeconds:F2} s\n", Cancel);
    }

    private ImageCache Open(long capacity, int maxAttempts = 5) =>
        new(CacheDirectory, capacity, http, clock) { MaxAttempts = maxAttempts, RetryDelay = TimeSpan.FromMilliseconds(10) };

    /// <summary>A 1 MiB blob on the server.</summary>
    private string Add(int seed) => server.Add(BlobServer.Bytes(MiB, seed));

    private Task<CachedBlob> Acquire(ImageCache cache, string digest)
    {
        clock.Advance(TimeSpan.FromSeconds(1));
        return cache.AcquireAsync(digest, MiB, server.BlobUri(digest), null, Cancel);
    }

    private async Task Use(ImageCache cache, string digest) => (await Acquire(cache, digest)).Dispose();

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts), keeping the last value.</summary>
    private sealed class LastProgress : IProgress<long>
    {
        private long last;

        public long Last => Interlocked.Read(ref last);

        public void Report(long value) => Interlocked.Exchange(ref last, value);
    }

    /// <summary>Completes <see cref="Reached"/> once the download holds at least the threshold.</summary>
    private sealed class ThresholdProgress(long threshold) : IProgress<long>
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Report(long value)
        {
            if (value >= threshold)
            {
                Reached.TrySetResult();
            }
        }
    }

    /// <summary>A clock the test moves; timers (the cache's retry backoff) still run on real time.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => now;

        public void Advance(TimeSpan by) => now += by;
    }
}
