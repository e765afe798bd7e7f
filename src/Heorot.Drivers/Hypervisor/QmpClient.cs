using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Heorot.Drivers.Hypervisor;

/// <summary>An error QEMU's monitor returned (its error class, e.g. GenericError, CommandNotFound), or a broken connection.</summary>
public sealed class QmpException : Exception
{
    public QmpException(string errorClass, string description)
        : base($"QMP {errorClass}: {description}")
    {
        ErrorClass = errorClass;
        Description = description;
    }

    public QmpException()
        : this("GenericError", "QMP error")
    {
    }

    public QmpException(string message)
        : this("GenericError", message)
    {
    }

    public QmpException(string message, Exception innerException)
        : base(message, innerException)
    {
        ErrorClass = DisconnectedClass;
        Description = message;
    }

    /// <summary>The class used when the connection itself failed (not a QEMU error class).</summary>
    public const string DisconnectedClass = "Disconnected";

    public string ErrorClass { get; }

    public string Description { get; }
}

/// <summary>An asynchronous QMP event such as POWERDOWN or SHUTDOWN.</summary>
public sealed record QmpEvent(string Name, JsonElement Data, double TimestampSeconds);

/// <summary>
/// QEMU Machine Protocol over the monitor's Unix socket: reads the greeting, negotiates capabilities, then
/// matches each command's reply by id; events are queued for <see cref="WaitForEventAsync"/>.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket socket;
    private readonly NetworkStream stream;
    private readonly SemaphoreSlim writeGate = new(1, 1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> pending = new();
    private readonly Channel<QmpEvent> events = Channel.CreateUnbounded<QmpEvent>();
    private readonly CancellationTokenSource stop = new();
    private Task? reader;
    private long nextId;
    private volatile bool closed;

    private QmpClient(Socket socket)
    {
        this.socket = socket;
        stream = new NetworkStream(socket, ownsSocket: false);
    }

    /// <summary>The greeting's QMP.version object.</summary>
    public JsonElement Version { get; private set; }

    public static async Task<QmpClient> ConnectAsync(string socketPath, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        QmpClient? client = null;
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            client = new QmpClient(socket);
            await client.HandshakeAsync(cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch (SocketException e)
        {
            if (client != null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw new QmpException($"cannot connect to QMP at {socketPath}: {e.Message}", e);
        }
        catch
        {
            if (client != null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var lines = new LineReader(stream);
        var greeting = await lines.ReadLineAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new QmpException("QMP closed before its greeting", new EndOfStreamException());
        using (var doc = JsonDocument.Parse(greeting))
        {
            if (!doc.RootElement.TryGetProperty("QMP", out var qmp))
            {
                throw new QmpException("ProtocolError", "unexpected greeting: " + greeting);
            }

            Version = qmp.TryGetProperty("version", out var v) ? v.Clone() : default;
        }

        reader = Task.Run(() => ReadLoopAsync(lines), CancellationToken.None);
        await ExecuteAsync("qmp_capabilities", null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs one command and returns its "return" value; a QEMU error becomes a <see cref="QmpException"/>.</summary>
    public async Task<JsonElement> ExecuteAsync(string command, JsonObject? arguments = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(closed, this);
        var id = "h" + Interlocked.Increment(ref nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var request = new JsonObject { ["execute"] = command, ["id"] = id };
        if (arguments != null)
        {
            request["arguments"] = arguments;
        }

        var tcs = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = tcs;
        var bytes = Encoding.UTF8.GetBytes(request.ToJsonString() + "\n");
        await writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            pending.TryRemove(id, out _);
            throw new QmpException("QMP connection broke while sending " + command, e);
        }
        finally
        {
            writeGate.Release();
        }

        using (cancellationToken.Register(() => tcs.TrySetCanceled(cancellationToken)))
        {
            return await tcs.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Waits for the next event named <paramref name="name"/> (events of other names are dropped).</summary>
    public async Task<QmpEvent> WaitForEventAsync(string name, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            QmpEvent e;
            try
            {
                e = await events.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException ex)
            {
                throw new QmpException($"QMP closed while waiting for {name}", ex);
            }

            if (e.Name == name)
            {
                return e;
            }
        }
    }

    /// <summary>Completes when QEMU closes the monitor connection (for example after quit).</summary>
    public Task Completion => reader ?? Task.CompletedTask;

    private async Task ReadLoopAsync(LineReader lines)
    {
        Exception? failure = null;
        try
        {
            while (await lines.ReadLineAsync(stop.Token).ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }

                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.TryGetProperty("event", out var ev))
                {
                    var data = root.TryGetProperty("data", out var d) ? d.Clone() : default;
                    double ts = 0;
                    if (root.TryGetProperty("timestamp", out var t))
                    {
                        ts = t.GetProperty("seconds").GetDouble() + (t.GetProperty("microseconds").GetDouble() / 1e6);
                    }

                    events.Writer.TryWrite(new QmpEvent(ev.GetString() ?? string.Empty, data, ts));
                    continue;
                }

                var id = root.TryGetProperty("id", out var idElement) ? idElement.GetString() : null;
                if (id == null || !pending.TryRemove(id, out var tcs))
                {
                    continue;
                }

                if (root.TryGetProperty("error", out var error))
                {
                    tcs.TrySetException(new QmpException(
                        error.TryGetProperty("class", out var c) ? c.GetString() ?? "GenericError" : "GenericError",
                        error.TryGetProperty("desc", out var desc) ? desc.GetString() ?? string.Empty : string.Empty));
                }
                else
                {
                    tcs.TrySetResult(root.TryGetProperty("return", out var r) ? r.Clone() : default);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or JsonException)
        {
            failure = e;
        }

        closed = true;
        events.Writer.TryComplete();
        foreach (var id in pending.Keys)
        {
            if (pending.TryRemove(id, out var tcs))
            {
                tcs.TrySetException(new QmpException("QMP connection closed before the reply", failure ?? new EndOfStreamException()));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        closed = true;
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already closed by QEMU.
        }

        if (reader != null)
        {
            await reader.ConfigureAwait(false);
        }

        await stream.DisposeAsync().ConfigureAwait(false);
        socket.Dispose();
        stop.Dispose();
        writeGate.Dispose();
    }
}

/// <summary>Reads '\n'-terminated UTF-8 lines from a stream without a StreamReader's read-ahead surprises.</summary>
internal sealed class LineReader(Stream stream)
{
    private readonly byte[] buffer = new byte[16384];
    private readonly ArrayBufferWriter<byte> line = new();
    private int start;
    private int end;

    public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            for (var i = start; i < end; i++)
            {
                if (buffer[i] == (byte)'\n')
                {
                    line.Write(buffer.AsSpan(start, i - start));
                    start = i + 1;
                    var text = Encoding.UTF8.GetString(line.WrittenSpan).TrimEnd('\r');
                    line.ResetWrittenCount();
                    return text;
                }
            }

            line.Write(buffer.AsSpan(start, end - start));
            start = end = 0;
            var n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }

            end = n;
        }
    }
}
