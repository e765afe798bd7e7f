using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Heorot.Protocol;
using Heorot.Protocol.Images;
using Heorot.Tests.Server;

namespace Heorot.Tests.Images;

/// <summary>The image registry through the real server on loopback: uploads, visibility, dedup, ranges, aborts.</summary>
public sealed class ImageApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A qcow2-looking disk: the magic, then seeded random bytes.</summary>
    internal static byte[] Qcow(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        bytes[0] = (byte)'Q';
        bytes[1] = (byte)'F';
        bytes[2] = (byte)'I';
        bytes[3] = 0xfb;
        return bytes;
    }

    /// <summary>An ELF-looking kernel.</summary>
    internal static byte[] Elf(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        bytes[0] = 0x7f;
        bytes[1] = (byte)'E';
        bytes[2] = (byte)'L';
        bytes[3] = (byte)'F';
        return bytes;
    }

    internal static string DigestOf(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static async Task<HttpResponseMessage> PutAsync(HttpClient client, byte[] bytes, string? digest = null)
    {
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return await client.PutAsync($"v1/blobs/{digest ?? DigestOf(bytes)}", content, Ct);
    }

    private static async Task<string> UploadAsync(HttpClient client, byte[] bytes)
    {
        using var response = await PutAsync(client, bytes);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        return DigestOf(bytes);
    }

    private static async Task<ImageView> AddAsync(HttpClient client, ImageRequest request)
    {
        using var response = await client.PostAsJsonAsync("v1/images", request, WireJson.Options, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        return JsonSerializer.Deserialize<ImageView>(body, WireJson.Options)!;
    }

    private static async Task<List<ImageView>> ListAsync(HttpClient client) =>
        (await client.GetFromJsonAsync<List<ImageView>>("v1/images", WireJson.Options, Ct))!;

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone();
    }

    private static string[] StoredFiles(TestCluster cluster, string folder)
    {
        var path = Path.Combine(cluster.Options.DataDirectory, "images", folder);
        return Directory.Exists(path) ? Directory.GetFiles(path) : [];
    }

    [Fact]
    public async Task UploadAddListShowRemove_RoundTrip_LeavesNothingBehind()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var disk = Qcow(3 << 20, 1); // larger than the 1 MiB JSON body limit
        var digest = await UploadAsync(alice, disk);

        var added = await AddAsync(alice, new ImageRequest { Name = "debian", Version = "12.1", Disk = digest });
        var listed = await ListAsync(alice);
        var shown = await alice.GetFromJsonAsync<ImageView>("v1/images/debian/12.1", WireJson.Options, Ct);
        var latest = await alice.GetFromJsonAsync<ImageView>("v1/images/debian/latest", WireJson.Options, Ct);
        using var removed = await alice.DeleteAsync("v1/images/debian/12.1", Ct);

        Assert.Equal(("debian", "12.1", TestCluster.Alice, false, "qcow2", (long)disk.Length, true), (added.Name, added.Version, added.Owner, added.Public, added.Format, added.Size, added.Latest));
        Assert.Equal(new BlobView(digest, disk.Length), added.Disk);
        Assert.Equal(["debian:12.1"], listed.Select(i => $"{i.Name}:{i.Version}"));
        Assert.Equal(added, shown);
        Assert.Equal(added, latest);
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        Assert.Empty(await ListAsync(alice));
        Assert.Empty(StoredFiles(cluster, "blobs/sha256"));
        Assert.Empty(StoredFiles(cluster, "tmp"));
        using var gone = await alice.GetAsync("v1/images/debian/12.1", Ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task Versions_WithoutVersion_NumberedAndLatestIsTheNewest()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var digest = await UploadAsync(alice, Qcow(4096, 2));

        var first = await AddAsync(alice, new ImageRequest { Name = "alpine", Disk = digest });
        var second = await AddAsync(alice, new ImageRequest { Name = "alpine", Disk = digest });
        var named = await AddAsync(alice, new ImageRequest { Name = "alpine", Version = "edge", Disk = digest });
        var latest = await alice.GetFromJsonAsync<ImageView>("v1/images/alpine/latest", WireJson.Options, Ct);
        using var reserved = await alice.PostAsJsonAsync("v1/images", new ImageRequest { Name = "alpine", Version = "latest", Disk = digest }, WireJson.Options, Ct);
        using var duplicate = await alice.PostAsJsonAsync("v1/images", new ImageRequest { Name = "alpine", Version = "1", Disk = digest }, WireJson.Options, Ct);

        Assert.Equal(("1", "2", "edge"), (first.Version, second.Version, named.Version));
        Assert.Equal("edge", latest!.Version);
        Assert.Equal(["1", "2", "edge"], (await ListAsync(alice)).Select(i => i.Version));
        Assert.Equal([false, false, true], (await ListAsync(alice)).Select(i => i.Latest));
        Assert.Equal((400, "version"), ((int)reserved.StatusCode, (await ProblemAsync(reserved)).GetProperty("field").GetString()));
        Assert.Equal((409, "image_exists"), ((int)duplicate.StatusCode, (await ProblemAsync(duplicate)).GetProperty("code").GetString()));
    }

    [Fact]
    public async Task Upload_DigestMismatch_RefusedWithProblemAndNothingStored()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var disk = Qcow(1 << 20, 3);

        using var response = await PutAsync(alice, disk, DigestOf(Qcow(1 << 20, 4)));
        var problem = await ProblemAsync(response);
        using var register = await alice.PostAsJsonAsync("v1/images", new ImageRequest { Name = "x", Disk = DigestOf(Qcow(1 << 20, 4)) }, WireJson.Options, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("digest_mismatch", problem.GetProperty("code").GetString());
        Assert.Contains(DigestOf(disk), problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(StoredFiles(cluster, "blobs/sha256"));
        Assert.Empty(StoredFiles(cluster, "tmp"));
        Assert.Equal((400, "unknown_blob"), ((int)register.StatusCode, (await ProblemAsync(register)).GetProperty("code").GetString()));
        Assert.Empty(await ListAsync(alice));
    }

    [Theory]
    [InlineData("sha256:ABC")]
    [InlineData("md5:0123")]
    [InlineData("sha256:" + "G000000000000000000000000000000000000000000000000000000000000000")]
    public async Task Upload_BadDigest_IsAnInvalidField(string digest)
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);

        using var response = await PutAsync(alice, [1, 2, 3], digest);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("digest", (await ProblemAsync(response)).GetProperty("field").GetString());
        Assert.Empty(StoredFiles(cluster, "blobs/sha256"));
    }

    [Fact]
    public async Task Upload_LargerThanMaxImageBytes_Is413AndNothingStored()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0, configure: o => o with { MaxImageBytes = 1 << 20 });
        using var alice = cluster.Client(TestCluster.Alice);

        using var response = await PutAsync(alice, Qcow(2 << 20, 5));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("blob_too_large", (await ProblemAsync(response)).GetProperty("code").GetString());
        Assert.Empty(StoredFiles(cluster, "blobs/sha256"));
        Assert.Empty(StoredFiles(cluster, "tmp"));
    }

    [Fact]
    public async Task Register_WrongFormats_AreRefusedByField()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var raw = await UploadAsync(alice, [1, 2, 3, 4, 5, 6, 7, 8]);

        async Task<string?> FieldOf(ImageRequest request)
        {
            using var response = await alice.PostAsJsonAsync("v1/images", request, WireJson.Options, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            return (await ProblemAsync(response)).GetProperty("field").GetString();
        }

        Assert.Equal("format", await FieldOf(new ImageRequest { Name = "a", Disk = raw, Format = "qcow2" }));
        Assert.Equal("format", await FieldOf(new ImageRequest { Name = "a", Disk = raw, Format = "vmdk" }));
        Assert.Equal("kernel", await FieldOf(new ImageRequest { Name = "a", Kernel = raw }));
        Assert.Equal("initrd", await FieldOf(new ImageRequest { Name = "a", Disk = raw, Initrd = raw }));
        Assert.Equal("disk", await FieldOf(new ImageRequest { Name = "a" }));
        Assert.Equal("name", await FieldOf(new ImageRequest { Name = "../etc", Disk = raw }));
        Assert.Empty(await ListAsync(alice));

        var rawImage = await AddAsync(alice, new ImageRequest { Name = "raw", Disk = raw });
        Assert.Equal("raw", rawImage.Format);
    }

    [Fact]
    public async Task Register_KernelAndInitrdWithoutDisk_IsValid()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var kernel = await UploadAsync(alice, Elf(64 << 10, 6));
        var initrd = await UploadAsync(alice, [0x30, 0x37, 0x30, 0x37, 0x30, 0x31, 9, 9]);

        var image = await AddAsync(alice, new ImageRequest { Name = "guest", Kernel = kernel, Initrd = initrd, Cmdline = "console=ttyS0 init=/init" });

        Assert.Equal((null, kernel, initrd, "console=ttyS0 init=/init", 64L * 1024 + 8), (image.Disk, image.Kernel!.Digest, image.Initrd!.Digest, image.Cmdline, image.Size));
    }

    [Fact]
    public async Task Visibility_PrivateHiddenFromOthers_PublicVisibleButOnlyOwnerOrOperatorDeletes()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        using var bob = cluster.Client(TestCluster.Bob);
        using var ops = cluster.Client(TestCluster.Operator);
        var secret = await UploadAsync(alice, Qcow(8192, 7));
        var shared = await UploadAsync(alice, Qcow(8192, 8));
        await AddAsync(alice, new ImageRequest { Name = "private", Version = "1", Disk = secret });
        await AddAsync(alice, new ImageRequest { Name = "shared", Version = "1", Disk = shared, Public = true });

        using var showPrivate = await bob.GetAsync("v1/images/private/1", Ct);
        using var latestPrivate = await bob.GetAsync("v1/images/private/latest", Ct);
        using var deletePrivate = await bob.DeleteAsync("v1/images/private/1", Ct);
        using var blobPrivate = await bob.GetAsync($"v1/blobs/{secret}", Ct);
        using var deleteShared = await bob.DeleteAsync("v1/images/shared/1", Ct);
        using var blobShared = await bob.GetAsync($"v1/blobs/{shared}", Ct);
        using var addToShared = await bob.PostAsJsonAsync("v1/images", new ImageRequest { Name = "shared", Version = "2", Disk = shared }, WireJson.Options, Ct);
        using var anonymous = new HttpClient { BaseAddress = new Uri(cluster.Url.TrimEnd('/') + "/") };
        using var anonymousList = await anonymous.GetAsync("v1/images", Ct);

        Assert.Equal(["shared:1"], (await ListAsync(bob)).Select(i => $"{i.Name}:{i.Version}"));
        Assert.Equal(["private:1", "shared:1"], (await ListAsync(ops)).Select(i => $"{i.Name}:{i.Version}"));
        Assert.Equal(
            [HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.Forbidden, HttpStatusCode.OK, HttpStatusCode.Forbidden, HttpStatusCode.Unauthorized],
            new[] { showPrivate, latestPrivate, deletePrivate, blobPrivate, deleteShared, blobShared, addToShared, anonymousList }.Select(r => r.StatusCode));
        Assert.Equal(2, (await ListAsync(alice)).Count); // refusals changed nothing
        Assert.Equal(2, StoredFiles(cluster, "blobs/sha256").Length);

        using var operatorDelete = await ops.DeleteAsync("v1/images/private/1", Ct);
        Assert.Equal(HttpStatusCode.OK, operatorDelete.StatusCode);
        Assert.Equal(["shared:1"], (await ListAsync(alice)).Select(i => $"{i.Name}:{i.Version}"));
        Assert.False(File.Exists(Path.Combine(cluster.Options.DataDirectory, "images", "blobs", "sha256", secret["sha256:".Length..])));
    }

    [Fact]
    public async Task Dedup_IdenticalBlobs_StoredOnceAndKeptWhileReferenced()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        using var bob = cluster.Client(TestCluster.Bob);
        var disk = Qcow(1 << 20, 9);

        using var first = await PutAsync(alice, disk);
        using var second = await PutAsync(bob, disk);
        var firstAnswer = await first.Content.ReadFromJsonAsync<BlobUploadResponse>(WireJson.Options, Ct);
        var secondAnswer = await second.Content.ReadFromJsonAsync<BlobUploadResponse>(WireJson.Options, Ct);
        await AddAsync(alice, new ImageRequest { Name = "a", Disk = DigestOf(disk) });
        await AddAsync(bob, new ImageRequest { Name = "b", Disk = DigestOf(disk) });

        Assert.Equal((HttpStatusCode.Created, false), (first.StatusCode, firstAnswer!.Existed));
        Assert.Equal((HttpStatusCode.OK, true), (second.StatusCode, secondAnswer!.Existed));
        Assert.Single(StoredFiles(cluster, "blobs/sha256"));
        Assert.Empty(StoredFiles(cluster, "tmp"));

        using (await alice.DeleteAsync("v1/images/a/1", Ct))
        {
            Assert.Single(StoredFiles(cluster, "blobs/sha256")); // bob's image still uses it
        }

        using (await bob.DeleteAsync("v1/images/b/1", Ct))
        {
            Assert.Empty(StoredFiles(cluster, "blobs/sha256"));
        }
    }

    [Fact]
    public async Task Ranges_PartialAndResumed_ReturnExactBytesWith206Headers()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var disk = Qcow((2 << 20) + 12345, 10);
        var digest = await UploadAsync(alice, disk);
        await AddAsync(alice, new ImageRequest { Name = "r", Disk = digest });
        var etag = $"\"{digest}\"";

        using var partial = new HttpRequestMessage(HttpMethod.Get, $"v1/blobs/{digest}");
        partial.Headers.Range = new RangeHeaderValue(100, 199);
        using var partialResponse = await alice.SendAsync(partial, Ct);
        var partialBytes = await partialResponse.Content.ReadAsByteArrayAsync(Ct);

        Assert.Equal(HttpStatusCode.PartialContent, partialResponse.StatusCode);
        Assert.Equal($"bytes 100-199/{disk.Length}", partialResponse.Content.Headers.ContentRange!.ToString());
        Assert.Equal(etag, partialResponse.Headers.ETag!.ToString());
        Assert.Equal("bytes", string.Join(",", partialResponse.Headers.AcceptRanges));
        Assert.Equal(disk[100..200], partialBytes);

        // An interrupted transfer: the first part, then the rest from where it stopped, guarded by If-Range.
        var half = disk.Length / 2;
        using var head = new HttpRequestMessage(HttpMethod.Get, $"v1/blobs/{digest}");
        head.Headers.Range = new RangeHeaderValue(0, half - 1);
        using var headResponse = await alice.SendAsync(head, Ct);
        var got = new List<byte>(await headResponse.Content.ReadAsByteArrayAsync(Ct));
        using var rest = new HttpRequestMessage(HttpMethod.Get, $"v1/blobs/{digest}");
        rest.Headers.Range = new RangeHeaderValue(half, null);
        rest.Headers.IfRange = new RangeConditionHeaderValue(new EntityTagHeaderValue(etag));
        using var restResponse = await alice.SendAsync(rest, Ct);
        got.AddRange(await restResponse.Content.ReadAsByteArrayAsync(Ct));

        Assert.Equal(HttpStatusCode.PartialContent, restResponse.StatusCode);
        Assert.Equal($"bytes {half}-{disk.Length - 1}/{disk.Length}", restResponse.Content.Headers.ContentRange!.ToString());
        Assert.Equal(digest, DigestOf([.. got]));

        // If-Range naming another entity: the whole blob, 200.
        using var stale = new HttpRequestMessage(HttpMethod.Get, $"v1/blobs/{digest}");
        stale.Headers.Range = new RangeHeaderValue(half, null);
        stale.Headers.IfRange = new RangeConditionHeaderValue(new EntityTagHeaderValue("\"sha256:" + new string('0', 64) + "\""));
        using var staleResponse = await alice.SendAsync(stale, Ct);
        Assert.Equal(HttpStatusCode.OK, staleResponse.StatusCode);
        Assert.Equal(disk.Length, (await staleResponse.Content.ReadAsByteArrayAsync(Ct)).Length);
    }

    [Fact]
    public async Task Ranges_OutsideTheBlob_Are416WithLengthAndProblem()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var disk = Qcow(5000, 11);
        var digest = await UploadAsync(alice, disk);
        await AddAsync(alice, new ImageRequest { Name = "r", Disk = digest });

        using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/blobs/{digest}");
        request.Headers.Range = new RangeHeaderValue(5000, null);
        using var response = await alice.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        Assert.Equal("bytes */5000", response.Content.Headers.ContentRange!.ToString());
        Assert.Equal("range_not_satisfiable", (await ProblemAsync(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task AgentBlobs_RequireTheClusterSecret_AndServeRanges()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var kernel = Elf(100_000, 12);
        var digest = await UploadAsync(alice, kernel);
        await AddAsync(alice, new ImageRequest { Name = "k", Kernel = digest });
        var secret = (await File.ReadAllTextAsync(Path.Combine(cluster.Options.DataDirectory, "agent.secret"), Ct)).Trim();
        using var agent = new HttpClient { BaseAddress = new Uri(cluster.Url.TrimEnd('/') + "/") };

        async Task<HttpResponseMessage> GetAsync(string? authorization, RangeHeaderValue? range = null, string? path = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path ?? $"agent/v1/blobs/{digest}");
            if (authorization != null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            }

            request.Headers.Range = range;
            return await agent.SendAsync(request, Ct);
        }

        using var none = await GetAsync(null);
        using var wrong = await GetAsync("Agent not-the-secret");
        using var userToken = await GetAsync("Bearer " + TestCluster.TokenOf(TestCluster.Alice));
        using var ranged = await GetAsync("Agent " + secret, new RangeHeaderValue(1000, null));
        using var missing = await GetAsync("Agent " + secret, path: "agent/v1/blobs/sha256:" + new string('e', 64));

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized], new[] { none.StatusCode, wrong.StatusCode, userToken.StatusCode });
        Assert.Equal("unauthenticated", (await ProblemAsync(none)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.PartialContent, ranged.StatusCode);
        Assert.Equal(kernel[1000..], await ranged.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Upload_ClientAbortsMidStream_LeavesNoBlobNoTempFileNoRecord()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0);
        using var alice = cluster.Client(TestCluster.Alice);
        var disk = Qcow(64 << 20, 13);
        var digest = DigestOf(disk);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var stalled = new StallingStream(disk, stallAfter: 8 << 20);
        using var content = new StreamContent(stalled);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = disk.Length;

        var upload = alice.PutAsync($"v1/blobs/{digest}", content, abort.Token);
        await TestCluster.WaitAsync(() => Task.FromResult(stalled.Stalled && StoredFiles(cluster, "tmp").Length == 1), TimeSpan.FromSeconds(30), "the upload to be half-way, in a temporary file");
        await abort.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => upload);

        await TestCluster.WaitAsync(() => Task.FromResult(StoredFiles(cluster, "tmp").Length == 0), TimeSpan.FromSeconds(30), "the server to delete the partial upload");
        Assert.Empty(StoredFiles(cluster, "blobs/sha256"));
        using var register = await alice.PostAsJsonAsync("v1/images", new ImageRequest { Name = "partial", Disk = digest }, WireJson.Options, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, register.StatusCode);
        Assert.Empty(await ListAsync(alice));
    }

    [Fact]
    public async Task Start_LeftoverTempFilesAndOldOrphans_AreSwept()
    {
        await using var cluster = await TestCluster.StartAsync(agentCount: 0, configure: o => o with { OrphanBlobGrace = TimeSpan.FromMinutes(10) });
        using var alice = cluster.Client(TestCluster.Alice);
        var kept = await UploadAsync(alice, Qcow(1000, 14));
        await AddAsync(alice, new ImageRequest { Name = "kept", Disk = kept });
        var orphan = await UploadAsync(alice, Qcow(1000, 15));
        var fresh = await UploadAsync(alice, Qcow(1000, 16));
        var blobs = Path.Combine(cluster.Options.DataDirectory, "images", "blobs", "sha256");
        File.SetLastWriteTimeUtc(Path.Combine(blobs, kept[7..]), DateTime.UtcNow.AddHours(-2));
        File.SetLastWriteTimeUtc(Path.Combine(blobs, orphan[7..]), DateTime.UtcNow.AddHours(-2));
        await File.WriteAllTextAsync(Path.Combine(cluster.Options.DataDirectory, "images", "tmp", "crashed.part"), "half", Ct);

        await cluster.Server!.DisposeAsync();
        await cluster.StartServerAsync();

        Assert.Equal(new[] { kept, fresh }.Order(), StoredFiles(cluster, "blobs/sha256").Select(f => "sha256:" + Path.GetFileName(f)).Order());
        Assert.Empty(StoredFiles(cluster, "tmp"));
    }

    /// <summary>Yields its bytes until <c>stallAfter</c>, then waits forever (until the request is cancelled).</summary>
    private sealed class StallingStream(byte[] data, int stallAfter) : Stream
    {
        private int position;

        public bool Stalled { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => data.Length;

        public override long Position { get => position; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (position >= stallAfter)
            {
                Stalled = true;
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            var count = Math.Min(buffer.Length, stallAfter - position);
            data.AsMemory(position, count).CopyTo(buffer);
            position += count;
            return count;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
