using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Heorot.Protocol;
using Heorot.Protocol.Images;
using Heorot.Protocol.Unix;

namespace Heorot.Cli.Client;

/// <summary>A refusal or failure to show the user: the server's problem details, or why it could not be reached.</summary>
internal sealed class ClientException : Exception
{
    public ClientException(string message, int status = 0)
        : base(message)
    {
        Status = status;
    }

    public ClientException()
    {
    }

    public ClientException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public int Status { get; }
}

/// <summary>The user's settings: <c>~/.config/heorot/config.json</c> (server address and token), mode 0600.</summary>
internal sealed record ClientConfig
{
    public string? Server { get; init; }

    public string? Token { get; init; }

    public static string PathOf() => Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config"),
        "heorot",
        "config.json");

    public static ClientConfig Load()
    {
        var path = PathOf();
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<ClientConfig>(File.ReadAllText(path), WireJson.Options) ?? new ClientConfig() : new ClientConfig();
        }
        catch (JsonException e)
        {
            throw new ClientException($"{path}: not a valid config file: {e.Message}");
        }
    }

    public void Save()
    {
        var path = PathOf();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, JsonSerializer.Serialize(this, WireJson.Indented));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>The default data directory: $HEOROT_DATA, else /var/lib/heorot for root, else ~/.local/share/heorot.</summary>
    public static string DefaultDataDirectory() =>
        Environment.GetEnvironmentVariable("HEOROT_DATA") is { Length: > 0 } data ? data
        : UnixAccounts.CurrentUid() == 0 ? "/var/lib/heorot"
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "heorot");
}

/// <summary>
/// The CLI's API client. The address comes from <c>--server</c>, else <c>HEOROT_SERVER</c>, else the config
/// file, else the local socket of the default data directory; <c>unix:PATH</c> talks over a Unix socket
/// (authenticated by peer credentials), <c>http://…</c> with the token from <c>HEOROT_TOKEN</c> or the config.
/// </summary>
internal sealed class HeorotClient : IDisposable
{
    private readonly HttpClient http;

    private readonly string? token;

    public HeorotClient(string? server, string? token = null)
    {
        var config = ClientConfig.Load();
        Address = server ?? Environment.GetEnvironmentVariable("HEOROT_SERVER") ?? config.Server
            ?? "unix:" + Path.Combine(ClientConfig.DefaultDataDirectory(), "heorot.sock");
        if (Address.StartsWith("unix:", StringComparison.Ordinal))
        {
            var socketPath = Address["unix:".Length..];
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };
            http = new HttpClient(handler) { BaseAddress = new Uri("http://localhost/") };
        }
        else
        {
            http = new HttpClient { BaseAddress = new Uri(Address.EndsWith('/') ? Address : Address + "/") };
            this.token = token ?? Environment.GetEnvironmentVariable("HEOROT_TOKEN") ?? config.Token;
            if (this.token != null)
            {
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", this.token);
            }
        }

        http.Timeout = Timeout.InfiniteTimeSpan;
    }

    public string Address { get; }

    public void Dispose() => http.Dispose();

    /// <summary>Opens a WebSocket to the server (same address, socket and credentials as the other calls).</summary>
    public async Task<System.Net.WebSockets.ClientWebSocket> ConnectWebSocketAsync(string path, CancellationToken cancellationToken)
    {
        var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(20);
        if (token != null)
        {
            socket.Options.SetRequestHeader("Authorization", "Bearer " + token);
        }

        var builder = new UriBuilder(new Uri(http.BaseAddress!, path));
        builder.Scheme = builder.Scheme == "https" ? "wss" : "ws";
        try
        {
            await socket.ConnectAsync(builder.Uri, http, cancellationToken);
            return socket;
        }
        catch (System.Net.WebSockets.WebSocketException e)
        {
            var status = (int)socket.HttpStatusCode;
            socket.Dispose();
            throw new ClientException(status == 0 ? $"cannot reach the server at {Address}: {e.Message}" : $"the server refused: {status} {(System.Net.HttpStatusCode)status}", status);
        }
    }

    public Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Get, path, null, cancellationToken);

    public Task<T> PostAsync<T>(string path, object body, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Post, path, body, cancellationToken);

    public Task<T> DeleteAsync<T>(string path, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Delete, path, null, cancellationToken);

    public async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body != null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: WireJson.Options);
        }

        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        return await response.Content.ReadFromJsonAsync<T>(WireJson.Options, cancellationToken) ?? throw new ClientException("the server sent an empty answer");
    }

    /// <summary>Whether the server holds a blob this user may read (HEAD), so an upload can be skipped.</summary>
    public async Task<bool> BlobExistsAsync(string digest, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, $"v1/blobs/{digest}");
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException e)
        {
            throw new ClientException($"cannot reach the server at {Address}: {e.Message}");
        }
    }

    /// <summary>Streams a file to <c>PUT /v1/blobs/DIGEST</c> (never whole in memory), reporting bytes sent.</summary>
    public async Task<BlobUploadResponse> UploadBlobAsync(string digest, string path, Action<long>? progress, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        using var request = new HttpRequestMessage(HttpMethod.Put, $"v1/blobs/{digest}")
        {
            Content = new StreamContent(new ProgressStream(file, progress), 1 << 20),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        request.Content.Headers.ContentLength = file.Length;
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        return await response.Content.ReadFromJsonAsync<BlobUploadResponse>(WireJson.Options, cancellationToken) ?? throw new ClientException("the server sent an empty answer");
    }

    /// <summary>Posts <paramref name="body"/> and hands each line of the (newline-delimited JSON) answer to a callback as it arrives.</summary>
    public async Task PostLinesAsync(string path, object body, Func<string, Task> onLine, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, body.GetType(), options: WireJson.Options) };
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length > 0)
            {
                await onLine(line);
            }
        }
    }

    /// <summary>Streams a text response (logs, events) to a callback, chunk by chunk.</summary>
    public async Task StreamAsync(string path, Func<string, Task> onText, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[16 * 1024];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            var count = decoder.GetChars(buffer, 0, read, chars, 0);
            await onText(new string(chars, 0, count));
        }
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new ClientException($"cannot reach the server at {Address}: {e.Message} (start one with ./heorot up, or set --server / HEOROT_SERVER)");
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            try
            {
                using var problem = JsonDocument.Parse(text);
                var root = problem.RootElement;
                var detail = root.TryGetProperty("detail", out var d) ? d.GetString() : text;
                var caret = root.TryGetProperty("caret", out var c) ? "\n" + c.GetString() : string.Empty;
                throw new ClientException(detail + caret, (int)response.StatusCode);
            }
            catch (JsonException)
            {
                throw new ClientException($"{(int)response.StatusCode} {response.ReasonPhrase}: {text}", (int)response.StatusCode);
            }
        }
    }
}

/// <summary>A read-only stream that reports how many bytes were read through it.</summary>
internal sealed class ProgressStream(Stream inner, Action<long>? progress) : Stream
{
    private long total;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => inner.Length;

    public override long Position { get => total; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Count(int read)
    {
        total += read;
        progress?.Invoke(total);
        return read;
    }
}
