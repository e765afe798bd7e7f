using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Heorot.Tests.Agent.Images;

/// <summary>
/// A stand-in for the server's blob endpoint on real Kestrel (127.0.0.1:0): <c>GET /agent/v1/blobs/{digest}</c> with
/// the agent secret, ASP.NET's own range processing (206, Content-Range, 416), the digest as ETag. It records every
/// request and can cut a response at an offset, serve corrupt bytes, or throttle.
/// </summary>
public sealed class BlobServer : IAsyncDisposable
{
    public const string Secret = "cache-test-secret";

    private readonly ConcurrentDictionary<string, byte[]> blobs = new();
    private readonly WebApplication app;
    private long cutAt = -1;
    private long bytesServed;

    private BlobServer(WebApplication app)
    {
        this.app = app;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public ConcurrentQueue<BlobRequest> Requests { get; } = new();

    /// <summary>Flip one byte in the middle of every blob served.</summary>
    public bool Corrupt { get; set; }

    /// <summary>Pause this long after every 64 KiB served.</summary>
    public TimeSpan Throttle { get; set; }

    /// <summary>Bytes of blob content handed to Kestrel, over all responses.</summary>
    public long BytesServed => Interlocked.Read(ref bytesServed);

    public static async Task<BlobServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new BlobServer(app);
        app.MapGet("/agent/v1/blobs/{digest}", server.Serve);
        await app.StartAsync();
        server.BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        return server;
    }

    /// <summary>A client as the agent has it: the secret in the default headers.</summary>
    public HttpClient Client()
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Agent", Secret);
        return client;
    }

    /// <summary>Serves <paramref name="content"/>; returns its digest.</summary>
    public string Add(byte[] content)
    {
        var digest = Digest(content);
        blobs[digest] = content;
        return digest;
    }

    public Uri BlobUri(string digest) => Heorot.Agent.Images.ImageCache.BlobUri(BaseAddress, digest);

    /// <summary>The next response ends (the connection is dropped) once the blob's bytes up to this offset are sent.</summary>
    public void CutNextAt(long offset) => Interlocked.Exchange(ref cutAt, offset);

    public int RequestsFor(string digest) => Requests.Count(r => r.Digest == digest);

    public static string Digest(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>Deterministic bytes (seeded) that do not compress.</summary>
    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    private IResult Serve(string digest, HttpContext context)
    {
        if (context.Request.Headers.Authorization != "Agent " + Secret)
        {
            return Results.Unauthorized();
        }

        Requests.Enqueue(new BlobRequest(digest, context.Request.Headers.Range.ToString()));
        if (!blobs.TryGetValue(digest, out var content))
        {
            return Results.NotFound();
        }

        var stream = new ServedStream(this, content, Interlocked.Exchange(ref cutAt, -1));
        return Results.File(stream, "application/octet-stream", entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{digest}\""), enableRangeProcessing: true);
    }

    public sealed record BlobRequest(string Digest, string Range);

    /// <summary>The blob as a seekable stream (ASP.NET seeks to the range) that cuts, corrupts and throttles.</summary>
    private sealed class ServedStream(BlobServer server, byte[] content, long cutAt) : Stream
    {
        private const int Chunk = 64 * 1024;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => content.Length;

        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (cutAt >= 0 && Position >= cutAt)
            {
                // The response ends short of its Content-Length: Kestrel sends what was written, then closes the connection.
                return 0;
            }

            if (server.Throttle > TimeSpan.Zero)
            {
                await Task.Delay(server.Throttle, cancellationToken);
            }

            var end = Math.Min(content.Length, Position + Math.Min(buffer.Length, Chunk));
            if (cutAt >= 0)
            {
                end = Math.Min(end, cutAt);
            }

            var count = (int)(end - Position);
            content.AsSpan((int)Position, count).CopyTo(buffer.Span);
            var middle = content.Length / 2;
            if (server.Corrupt && middle >= Position && middle < end)
            {
                buffer.Span[(int)(middle - Position)] ^= 0xff;
            }

            Position = end;
            Interlocked.Add(ref server.bytesServed, count);
            return count;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Position + offset,
            _ => content.Length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
