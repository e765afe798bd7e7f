using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Heorot.Agent.Images;

/// <summary>
/// The agent's cache of content-addressed blobs (VM images), bounded in bytes.
/// <list type="bullet">
/// <item>Layout: <c>{directory}/sha256/&lt;hex&gt;</c> is a verified blob (read-only; it only gets that name after its
/// SHA-256 matched and its bytes were fsynced); <c>&lt;hex&gt;.partial</c> is a download in progress or interrupted.
/// Anything else there is junk and is deleted at open.</item>
/// <item>A blob's mtime is its last use (set from the <see cref="TimeProvider"/> at every acquisition), so the LRU
/// order survives a restart without an index file. It is not fsynced: after a crash the order may be slightly stale,
/// never wrong about which blobs exist.</item>
/// <item>Room is reserved (the full expected size) before a download starts; unleased blobs and idle partials are
/// evicted least recently used first. Leased blobs and running downloads are never evicted.</item>
/// <item>One download per digest at a time (single flight); every caller waiting on it gets its own lease. When every
/// waiter has given up, the download is cancelled and its partial kept for resume.</item>
/// <item>Interrupted transfers resume with <c>Range: bytes=N-</c> from the partial's length, within a call (bounded
/// retries with exponential backoff, the count reset by progress) and across calls and restarts.</item>
/// </list>
/// The <see cref="HttpClient"/> must carry the server's authorization (<c>Authorization: Agent &lt;secret&gt;</c>).
/// </summary>
public sealed partial class ImageCache : IDisposable
{
    private const string Prefix = "sha256:";
    private const string PartialSuffix = ".partial";
    private const int BufferSize = 1024 * 1024;
    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789abcdef");

    private readonly string blobDirectory;
    private readonly HttpClient http;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly Lock gate = new();
    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource closing = new();
    private long used;
    private bool disposed;

    /// <summary>Opens (or creates) the cache and rebuilds its index from the directory.</summary>
    public ImageCache(string directory, long capacityBytes, HttpClient http, TimeProvider time, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityBytes);
        CapacityBytes = capacityBytes;
        this.http = http;
        this.time = time;
        this.logger = logger ?? NullLogger.Instance;
        blobDirectory = Path.Combine(directory, "sha256");
        Directory.CreateDirectory(blobDirectory);
        Open();
    }

    public long CapacityBytes { get; }

    /// <summary>Attempts per transfer without progress before giving up with <see cref="ImageCacheErrorCode.Unavailable"/>.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>The first backoff after a failed attempt; doubled at each further failure, at most <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bytes held: verified blobs, partials, and the room reserved by running downloads.</summary>
    public long UsedBytes
    {
        get
        {
            lock (gate)
            {
                return used;
            }
        }
    }

    /// <summary>The blob's URL on a Heorot server: <c>{server}/agent/v1/blobs/sha256:&lt;hex&gt;</c>.</summary>
    public static Uri BlobUri(Uri server, string digest) => new(server, "agent/v1/blobs/" + digest);

    /// <summary>Whether a verified copy of the blob is in the cache (a partial does not count).</summary>
    public bool Contains(string digest)
    {
        lock (gate)
        {
            return digest.StartsWith(Prefix, StringComparison.Ordinal) && entries.TryGetValue(digest[Prefix.Length..], out var entry) && entry.Complete;
        }
    }

    /// <summary>The local path a verified blob has (or would have).</summary>
    public string PathOf(string digest) => Path.Combine(blobDirectory, Hex(digest));

    /// <summary>
    /// Returns a lease on a verified local copy of the blob, downloading it from <paramref name="source"/> (the blob's
    /// full URL, see <see cref="BlobUri"/>) when it is not cached. <paramref name="progress"/> receives the bytes held
    /// so far. Failures are <see cref="ImageCacheException"/>; cancelling abandons only this caller's wait.
    /// </summary>
    public async Task<CachedBlob> AcquireAsync(string digest, long expectedSize, Uri source, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var hex = Hex(digest);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedSize);
        if (expectedSize > CapacityBytes)
        {
            throw new ImageCacheException(ImageCacheErrorCode.TooLarge, digest, $"{digest} ({expectedSize} bytes) is larger than the image cache ({CapacityBytes} bytes)", isTransient: false);
        }

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (hit, joining, joined) = LeaseOrJoin(hex, digest, expectedSize, source, progress);
            if (hit is { } when)
            {
                Touch(hex, when);
                progress?.Report(expectedSize);
                return new CachedBlob(this, digest, Path.Combine(blobDirectory, hex), expectedSize);
            }

            var flight = joining!;

            if (!joined)
            {
                // A download whose waiters all left is being cancelled: let it end, then start afresh from its partial.
                await flight.Task.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).WaitAsync(cancellationToken);
                continue;
            }

            var abandon = false;
            try
            {
                await flight.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && closing.IsCancellationRequested)
            {
                throw new ImageCacheException(ImageCacheErrorCode.Closed, digest, "the image cache was closed", isTransient: false, e);
            }
            finally
            {
                lock (gate)
                {
                    if (progress != null)
                    {
                        flight.Progress.Remove(progress);
                    }

                    abandon = --flight.Waiters == 0 && !flight.Done;
                }

                if (abandon)
                {
                    CancelFlight(flight);
                }
            }

            // Downloaded and registered: the next turn takes the lease (the new blob is the most recently used).
        }
    }

    /// <summary>Under the gate: a lease on a verified blob (its new last use), or the download to wait for (joined unless it is being cancelled).</summary>
    private (DateTimeOffset? Hit, Flight? Flight, bool Joined) LeaseOrJoin(string hex, string digest, long expectedSize, Uri source, IProgress<long>? progress)
    {
        lock (gate)
        {
            if (disposed)
            {
                throw new ImageCacheException(ImageCacheErrorCode.Closed, digest, "the image cache was closed", isTransient: false);
            }

            entries.TryGetValue(hex, out var entry);
            if (entry is { Complete: true })
            {
                if (entry.Size != expectedSize)
                {
                    throw new ImageCacheException(ImageCacheErrorCode.SizeMismatch, digest, $"{digest} is {entry.Size} bytes, not the expected {expectedSize}", isTransient: false);
                }

                entry.Leases++;
                entry.LastUsed = time.GetUtcNow();
                return (entry.LastUsed, null, false);
            }

            var flight = entry?.Flight ?? Start(hex, digest, entry, expectedSize, source);
            if (flight.Cancel.IsCancellationRequested)
            {
                return (null, flight, false);
            }

            flight.Waiters++;
            if (progress != null)
            {
                flight.Progress.Add(progress);
            }

            return (null, flight, true);
        }
    }

    /// <summary>Outside the gate: cancellation runs the download's callbacks on this thread.</summary>
    private static void CancelFlight(Flight flight)
    {
        try
        {
            flight.Cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The download ended meanwhile: nothing to cancel.
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (disposed)
            {
                return;
            }

            disposed = true;
        }

        closing.Cancel();
        closing.Dispose();
    }

    internal void Release(string digest)
    {
        lock (gate)
        {
            if (entries.TryGetValue(digest[Prefix.Length..], out var entry) && entry.Leases > 0)
            {
                entry.Leases--;
            }
        }
    }

    private static string Hex(string digest)
    {
        if (digest.Length != Prefix.Length + 64 || !digest.StartsWith(Prefix, StringComparison.Ordinal) || digest.AsSpan(Prefix.Length).ContainsAnyExcept(HexDigits))
        {
            throw new ImageCacheException(ImageCacheErrorCode.InvalidDigest, digest, $"'{digest}' is not a digest (sha256: and 64 lower-case hex digits)", isTransient: false);
        }

        return digest[Prefix.Length..];
    }

    private static bool IsHex(ReadOnlySpan<char> name) => name.Length == 64 && !name.ContainsAnyExcept(HexDigits);

    /// <summary>Rebuilds the index: verified blobs and partials are kept, anything else is removed; then the capacity is enforced.</summary>
    private void Open()
    {
        foreach (var file in new DirectoryInfo(blobDirectory).GetFileSystemInfos())
        {
            var name = file.Name;
            var partial = name.EndsWith(PartialSuffix, StringComparison.Ordinal);
            var hex = partial ? name[..^PartialSuffix.Length] : name;
            if (file is not FileInfo info || !IsHex(hex))
            {
                LogJunk(logger, file.FullName);
                Delete(file);
                continue;
            }

            if (partial && File.Exists(Path.Combine(blobDirectory, hex)))
            {
                Delete(file); // the verified blob wins over a stale partial
                continue;
            }

            var entry = new Entry(hex)
            {
                Complete = !partial,
                Size = info.Length,
                Charged = info.Length,
                LastUsed = new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero),
            };
            entries[hex] = entry;
            used += entry.Charged;
        }

        if (used > CapacityBytes)
        {
            MakeRoom(used - CapacityBytes, except: null);
        }

        LogOpened(logger, blobDirectory, entries.Values.Count(e => e.Complete), entries.Values.Count(e => !e.Complete), used);
    }

    /// <summary>Starts the download (under the gate): room for the whole blob is reserved first.</summary>
    private Flight Start(string hex, string digest, Entry? entry, long expectedSize, Uri source)
    {
        var already = entry?.Charged ?? 0;
        var needed = expectedSize - already;
        if (needed > 0 && used + needed > CapacityBytes && !MakeRoom(used + needed - CapacityBytes, except: hex))
        {
            throw new ImageCacheException(ImageCacheErrorCode.NoSpace, digest, $"{digest} needs {expectedSize} bytes; leased blobs and running downloads hold {used} of {CapacityBytes}", isTransient: true);
        }

        if (entry == null)
        {
            entry = new Entry(hex);
            entries[hex] = entry;
        }

        var reserved = Math.Max(already, expectedSize);
        used += reserved - already;
        entry.Charged = reserved;
        var flight = new Flight(CancellationTokenSource.CreateLinkedTokenSource(closing.Token));
        entry.Flight = flight;
        flight.Task = Task.Run(() => FetchAsync(entry, digest, expectedSize, source, flight));
        return flight;
    }

    /// <summary>Evicts unleased blobs and idle partials, least recently used first, until <paramref name="bytes"/> are freed; false if it cannot.</summary>
    private bool MakeRoom(long bytes, string? except)
    {
        var candidates = entries.Values
            .Where(e => e.Hex != except && e.Leases == 0 && e.Flight == null)
            .OrderBy(e => e.LastUsed)
            .ThenBy(e => e.Hex, StringComparer.Ordinal)
            .ToList();
        if (candidates.Sum(e => e.Charged) < bytes)
        {
            return false;
        }

        var freed = 0L;
        foreach (var entry in candidates)
        {
            if (freed >= bytes)
            {
                break;
            }

            Delete(new FileInfo(entry.Complete ? Path.Combine(blobDirectory, entry.Hex) : PartialPath(entry.Hex)));
            entries.Remove(entry.Hex);
            used -= entry.Charged;
            freed += entry.Charged;
            LogEvicted(logger, entry.Hex, entry.Charged, entry.Complete);
        }

        return true;
    }

    private async Task FetchAsync(Entry entry, string digest, long expectedSize, Uri source, Flight flight)
    {
        var complete = false;
        try
        {
            await DownloadAsync(entry.Hex, digest, expectedSize, source, flight, flight.Cancel.Token);
            complete = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageCacheException(ImageCacheErrorCode.Storage, digest, $"the cache's disk failed for {digest}: {e.Message}", isTransient: true, e);
        }
        finally
        {
            lock (gate)
            {
                entry.Flight = null;
                flight.Done = true;
                flight.Cancel.Dispose();
                if (complete)
                {
                    used += expectedSize - entry.Charged;
                    entry.Charged = entry.Size = expectedSize;
                    entry.Complete = true;
                    entry.LastUsed = time.GetUtcNow();
                }
                else
                {
                    // What is left on disk stays charged (a partial to resume); nothing left, no entry.
                    var partial = new FileInfo(PartialPath(entry.Hex));
                    var left = partial.Exists ? partial.Length : 0;
                    used += left - entry.Charged;
                    entry.Charged = entry.Size = left;
                    entry.LastUsed = time.GetUtcNow();
                    if (!partial.Exists)
                    {
                        entries.Remove(entry.Hex);
                    }
                }
            }
        }

        if (complete)
        {
            Touch(entry.Hex, time.GetUtcNow());
        }
    }

    private async Task DownloadAsync(string hex, string digest, long expectedSize, Uri source, Flight flight, CancellationToken cancellationToken)
    {
        var partialPath = PartialPath(hex);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            long have;
            var file = new FileStream(partialPath, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                BufferSize = 0, // writes are whole 1 MiB buffers already
            });
            await using (file)
            {
                have = file.Length;
                if (have > expectedSize)
                {
                    file.SetLength(0);
                    have = 0;
                }

                // A resumed partial is hashed from its start: the digest covers every byte, old and new.
                while (file.Position < have)
                {
                    var read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(BufferSize, have - file.Position)), cancellationToken);
                    if (read == 0)
                    {
                        break;
                    }

                    hash.AppendData(buffer, 0, read);
                }

                if (have > 0)
                {
                    LogResuming(logger, digest, have, expectedSize);
                    Report(flight, have);
                }

                var failures = 0;
                while (have < expectedSize)
                {
                    var before = have;
                    try
                    {
                        have = await TransferAsync(digest, expectedSize, source, file, hash, have, buffer, flight, cancellationToken);
                    }
                    catch (Exception e) when (IsTransient(e) && !cancellationToken.IsCancellationRequested)
                    {
                        have = file.Length;
                        failures = have > before ? 1 : failures + 1;
                        if (failures >= MaxAttempts)
                        {
                            throw new ImageCacheException(ImageCacheErrorCode.Unavailable, digest, $"{digest}: {failures} attempts failed, {have} of {expectedSize} bytes kept for resume: {e.Message}", isTransient: true, e);
                        }

                        var delay = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, RetryDelay.Ticks << Math.Min(failures - 1, 20)));
                        LogRetrying(logger, digest, have, expectedSize, failures, delay, e.Message);
                        await Task.Delay(delay, time, cancellationToken);
                    }
                }

                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }

            var actual = "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
            if (actual != digest)
            {
                File.Delete(partialPath);
                LogMismatch(logger, digest, actual);
                // Transient: the bad bytes are gone (a corrupt partial or transfer), so a new download may succeed.
                throw new ImageCacheException(ImageCacheErrorCode.DigestMismatch, digest, $"the bytes downloaded for {digest} hash to {actual}; the partial download was deleted", isTransient: true);
            }

            var final = Path.Combine(blobDirectory, hex);
            File.SetUnixFileMode(partialPath, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(partialPath, final, overwrite: true);
            Protocol.Unix.Fsync.Directory(blobDirectory);
            LogCached(logger, digest, expectedSize);
        }
        finally
        {
            hash.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One request from <paramref name="have"/> on; returns the bytes held at its end (written, hashed).</summary>
    private async Task<long> TransferAsync(string digest, long expectedSize, Uri source, FileStream file, IncrementalHash hash, long have, byte[] buffer, Flight flight, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, source);
        if (have > 0)
        {
            request.Headers.Range = new RangeHeaderValue(have, null);
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        switch (response.StatusCode)
        {
            case HttpStatusCode.OK:
                if (have > 0)
                {
                    // The server ignored the range: start over from the first byte.
                    LogRangeIgnored(logger, digest, have);
                    file.SetLength(0);
                    file.Position = 0;
                    hash.GetHashAndReset();
                    have = 0;
                }

                CheckLength(digest, expectedSize, response.Content.Headers.ContentLength, file);
                break;
            case HttpStatusCode.PartialContent:
                var range = response.Content.Headers.ContentRange;
                if (range?.From != have)
                {
                    throw new HttpRequestException($"asked for bytes from {have}, got the range {range}");
                }

                CheckLength(digest, expectedSize, range.Length, file);
                break;
            case HttpStatusCode.RequestedRangeNotSatisfiable:
                // Fewer bytes than held: the server's blob is shorter than the expected size.
                CheckLength(digest, expectedSize, response.Content.Headers.ContentRange?.Length ?? 0, file);
                throw new HttpRequestException($"range from {have} not satisfiable");
            case HttpStatusCode.NotFound:
                throw new ImageCacheException(ImageCacheErrorCode.NotFound, digest, $"the server does not know {digest} ({source})", isTransient: false);
            case HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests:
            case >= HttpStatusCode.InternalServerError:
                throw new HttpRequestException($"{(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
            default:
                throw new ImageCacheException(ImageCacheErrorCode.Refused, digest, $"the server refused {digest}: {(int)response.StatusCode} {response.ReasonPhrase}", isTransient: false);
        }

        var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        await using (body)
        {
            var filled = 0;
            while (true)
            {
                int read;
                try
                {
                    read = await body.ReadAsync(buffer.AsMemory(filled, BufferSize - filled), cancellationToken);
                }
                catch (Exception) when (filled > 0)
                {
                    // Keep every byte received before the interruption (or cancellation): the resume starts right after them.
                    have = await PersistAsync(digest, file, hash, buffer, filled, have, flight);
                    throw;
                }

                filled += read;
                if (have + filled > expectedSize)
                {
                    Discard(file);
                    throw new ImageCacheException(ImageCacheErrorCode.SizeMismatch, digest, $"the server sent more than the expected {expectedSize} bytes of {digest}; the partial download was deleted", isTransient: false);
                }

                if (read == 0 || filled == BufferSize)
                {
                    have = await PersistAsync(digest, file, hash, buffer, filled, have, flight);
                    filled = 0;
                }

                if (read == 0)
                {
                    break;
                }
            }
        }

        if (have < expectedSize)
        {
            throw new IOException($"the transfer ended at {have} of {expectedSize} bytes");
        }

        return have;
    }

    /// <summary>
    /// Appends the buffer to the partial and the hash; returns the bytes held. The write is not cancellable and a disk
    /// failure is not retried in the call, so the running hash always covers exactly the partial's bytes (a later call
    /// hashes the partial again from disk).
    /// </summary>
    private async Task<long> PersistAsync(string digest, FileStream file, IncrementalHash hash, byte[] buffer, int count, long have, Flight flight)
    {
        try
        {
            // The write runs on the thread pool while this thread hashes the same, unchanging buffer.
            var write = file.WriteAsync(buffer.AsMemory(0, count), CancellationToken.None);
            hash.AppendData(buffer, 0, count);
            await write;
        }
        catch (IOException e)
        {
            throw new ImageCacheException(ImageCacheErrorCode.Storage, digest, $"could not write {digest} to the cache: {e.Message}", isTransient: true, e);
        }

        have += count;
        Report(flight, have);
        return have;
    }

    private void CheckLength(string digest, long expectedSize, long? length, FileStream file)
    {
        if (length is { } actual && actual != expectedSize)
        {
            Discard(file);
            LogMismatch(logger, digest, $"{actual} bytes");
            throw new ImageCacheException(ImageCacheErrorCode.SizeMismatch, digest, $"the server's {digest} is {actual} bytes, not the expected {expectedSize}; the partial download was deleted", isTransient: false);
        }
    }

    private static void Discard(FileStream file)
    {
        file.SetLength(0);
        File.Delete(file.Name);
    }

    private static bool IsTransient(Exception e) => e is HttpRequestException or IOException or TaskCanceledException;

    private void Report(Flight flight, long have)
    {
        IProgress<long>[] listeners;
        lock (gate)
        {
            listeners = [.. flight.Progress];
        }

        foreach (var listener in listeners)
        {
            listener.Report(have);
        }
    }

    private void Touch(string hex, DateTimeOffset when)
    {
        try
        {
            File.SetLastWriteTimeUtc(Path.Combine(blobDirectory, hex), when.UtcDateTime);
        }
        catch (IOException e)
        {
            LogTouchFailed(logger, hex, e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            LogTouchFailed(logger, hex, e.Message);
        }
    }

    private void Delete(FileSystemInfo file)
    {
        try
        {
            if (file is DirectoryInfo directory)
            {
                directory.Delete(recursive: true);
            }
            else
            {
                file.Delete();
            }
        }
        catch (IOException e)
        {
            LogDeleteFailed(logger, file.FullName, e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            LogDeleteFailed(logger, file.FullName, e.Message);
        }
    }

    private string PartialPath(string hex) => Path.Combine(blobDirectory, hex + PartialSuffix);

    [LoggerMessage(1001, LogLevel.Information, "image cache {Directory}: {Blobs} blobs, {Partials} partial downloads, {Bytes} bytes")]
    private static partial void LogOpened(ILogger logger, string directory, int blobs, int partials, long bytes);

    [LoggerMessage(1002, LogLevel.Information, "cached {Digest} ({Bytes} bytes)")]
    private static partial void LogCached(ILogger logger, string digest, long bytes);

    [LoggerMessage(1003, LogLevel.Information, "evicted sha256:{Hex} ({Bytes} bytes, complete: {Complete})")]
    private static partial void LogEvicted(ILogger logger, string hex, long bytes, bool complete);

    [LoggerMessage(1004, LogLevel.Information, "resuming {Digest} at {Have} of {Size} bytes")]
    private static partial void LogResuming(ILogger logger, string digest, long have, long size);

    [LoggerMessage(1005, LogLevel.Warning, "{Digest}: attempt {Failures} failed at {Have} of {Size} bytes, retrying in {Delay}: {Reason}")]
    private static partial void LogRetrying(ILogger logger, string digest, long have, long size, int failures, TimeSpan delay, string reason);

    [LoggerMessage(1006, LogLevel.Error, "{Digest}: the download does not match ({Actual}); deleted")]
    private static partial void LogMismatch(ILogger logger, string digest, string actual);

    [LoggerMessage(1007, LogLevel.Warning, "{Digest}: the server ignored the range from {Have}; downloading from the start")]
    private static partial void LogRangeIgnored(ILogger logger, string digest, long have);

    [LoggerMessage(1008, LogLevel.Warning, "removed {Path}: not a blob of the cache")]
    private static partial void LogJunk(ILogger logger, string path);

    [LoggerMessage(1009, LogLevel.Warning, "could not delete {Path}: {Reason}")]
    private static partial void LogDeleteFailed(ILogger logger, string path, string reason);

    [LoggerMessage(1010, LogLevel.Debug, "could not record the use of sha256:{Hex}: {Reason}")]
    private static partial void LogTouchFailed(ILogger logger, string hex, string reason);

    private sealed class Entry(string hex)
    {
        public string Hex { get; } = hex;

        /// <summary>Verified and in place; otherwise a partial (downloading when <see cref="Flight"/> is set).</summary>
        public bool Complete { get; set; }

        /// <summary>Bytes on disk (for a running download, as of its last end).</summary>
        public long Size { get; set; }

        /// <summary>Bytes counted against the capacity: the size, or the whole expected size while downloading.</summary>
        public long Charged { get; set; }

        public int Leases { get; set; }

        public DateTimeOffset LastUsed { get; set; }

        public Flight? Flight { get; set; }
    }

    private sealed class Flight(CancellationTokenSource cancel)
    {
        public CancellationTokenSource Cancel { get; } = cancel;

        public Task Task { get; set; } = Task.CompletedTask;

        public int Waiters { get; set; }

        /// <summary>Set (under the gate) when the download ended: its token source is disposed then.</summary>
        public bool Done { get; set; }

        public List<IProgress<long>> Progress { get; } = [];
    }
}
