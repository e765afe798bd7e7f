using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Heorot.Drivers.Hypervisor;

public sealed record GuestCommandResult(int ExitCode, byte[] Stdout, byte[] Stderr)
{
    public string StdoutText => Encoding.UTF8.GetString(Stdout);

    public string StderrText => Encoding.UTF8.GetString(Stderr);
}

/// <summary>The readiness line a guest printed: <c>HEOROT-READY &lt;hostname&gt; ...</c>.</summary>
public sealed record GuestReady(string Hostname, string Line, TimeSpan Waited);

/// <summary>
/// Host side of the guest command channel: QEMU's chardev socket for the virtio-serial port
/// <c>org.heorot.agent</c>, served in the guest by busybox sh (scripts/guest/heorot-agent). One line per
/// request; every argument and environment entry travels base64-encoded, so no text is ever parsed by a
/// shell. Requests are served one at a time; see docs/guest.md for the protocol.
/// </summary>
public sealed partial class GuestChannel : IAsyncDisposable
{
    public const string ReadyMarker = "HEOROT-READY";

    private readonly Socket socket;
    private readonly NetworkStream stream;
    private readonly LineReader lines;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly string prefix = Guid.NewGuid().ToString("N")[..8];
    private long next;
    private bool broken;

    private GuestChannel(Socket socket)
    {
        this.socket = socket;
        stream = new NetworkStream(socket, ownsSocket: false);
        lines = new LineReader(stream);
    }

    public static async Task<GuestChannel> ConnectAsync(string agentSocketPath, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(agentSocketPath), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new HypervisorException(HypervisorErrorCode.ChannelFailed, $"cannot connect to the guest channel {agentSocketPath}: {e.Message}", true, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new GuestChannel(socket);
    }

    /// <summary>
    /// Connects once the guest's agent answers a ping: just after the readiness line, the guest's init may not
    /// have started it yet (a request sent then is lost, or the connection closes when the guest opens the port).
    /// Retries until <paramref name="timeout"/>, then fails with the last error.
    /// </summary>
    public static async Task<GuestChannel> ConnectWhenServedAsync(string agentSocketPath, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            GuestChannel? channel = null;
            try
            {
                channel = await ConnectAsync(agentSocketPath, cancellationToken).ConfigureAwait(false);
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(TimeSpan.FromSeconds(3));
                await channel.PingAsync(attempt.Token).ConfigureAwait(false);
                return channel;
            }
            catch (Exception e) when (e is HypervisorException or OperationCanceledException && !cancellationToken.IsCancellationRequested && DateTime.UtcNow < deadline)
            {
                if (channel != null)
                {
                    await channel.DisposeAsync().ConfigureAwait(false);
                }

                await Task.Delay(250, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Round trip through the guest agent; proves the channel is served.</summary>
    public async Task PingAsync(CancellationToken cancellationToken = default)
    {
        await ExchangeAsync("PING", string.Empty, async (id, ct) =>
        {
            while (await ReadLineAsync(ct).ConfigureAwait(false) is var line)
            {
                if (line == "PONG " + id)
                {
                    return 0;
                }

                ThrowIfError(line, id);
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="command"/> (argv, no shell) in the guest as <paramref name="user"/> (default: the
    /// seed's first user) in its home directory with <paramref name="environment"/> added, stdin empty.
    /// With <paramref name="timeout"/> (whole seconds, rounded up) the guest kills the command with SIGKILL
    /// when it runs longer (exit code 137) and the channel stays usable. Cancelling abandons the request and
    /// breaks this channel (reconnect to continue); without a timeout the guest keeps running the command.
    /// </summary>
    public async Task<GuestCommandResult> RunAsync(
        IReadOnlyList<string> command,
        IReadOnlyDictionary<string, string>? environment = null,
        string? user = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        if (command.Count == 0)
        {
            throw new ArgumentException("the command is empty", nameof(command));
        }

        if (user != null && !UserPattern().IsMatch(user))
        {
            throw new ArgumentException($"user name '{user}' is malformed", nameof(user));
        }

        var env = environment ?? new Dictionary<string, string>();
        foreach (var name in env.Keys)
        {
            if (!EnvPattern().IsMatch(name))
            {
                throw new ArgumentException($"environment variable name '{name}' is malformed", nameof(environment));
            }
        }

        var request = new StringBuilder();
        var seconds = timeout is { } t ? Math.Max(1, (long)Math.Ceiling(t.TotalSeconds)) : 0;
        request.Append(user ?? "-").Append(' ').Append(seconds.ToString(CultureInfo.InvariantCulture))
            .Append(' ').Append(env.Count.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, value) in env)
        {
            request.Append(' ').Append(Token(name + "=" + value));
        }

        foreach (var arg in command)
        {
            request.Append(' ').Append(Token(arg));
        }

        GuestCommandResult? result = null;
        await ExchangeAsync("RUN", request.ToString(), async (id, ct) =>
        {
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            var begun = false;
            while (true)
            {
                var line = await ReadLineAsync(ct).ConfigureAwait(false);
                ThrowIfError(line, id);
                if (line == "BEGIN " + id)
                {
                    begun = true;
                }
                else if (begun && line.StartsWith("O ", StringComparison.Ordinal))
                {
                    stdout.Append(line.AsSpan(2));
                }
                else if (begun && line.StartsWith("E ", StringComparison.Ordinal))
                {
                    stderr.Append(line.AsSpan(2));
                }
                else if (begun && line.StartsWith($"EXIT {id} ", StringComparison.Ordinal))
                {
                    var code = int.Parse(line.AsSpan($"EXIT {id} ".Length), NumberStyles.Integer, CultureInfo.InvariantCulture);
                    result = new GuestCommandResult(code, Convert.FromBase64String(stdout.ToString()), Convert.FromBase64String(stderr.ToString()));
                    return 0;
                }
            }
        }, cancellationToken).ConfigureAwait(false);
        return result!;
    }

    /// <summary>
    /// Ends the login session on the guest's console (<see cref="VmHandle.ShellSocketPath"/>), for example when
    /// the <c>heorot ssh</c> client went away without "exit": closing the socket does not hang the tty up,
    /// so the next connection would otherwise resume that shell. init then starts a fresh login.
    /// </summary>
    public async Task HangUpShellAsync(CancellationToken cancellationToken = default)
    {
        var result = await RunAsync(["/bin/heorot-console", "hangup"], user: "root", timeout: TimeSpan.FromSeconds(10), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new HypervisorException(HypervisorErrorCode.ChannelFailed, $"hanging up the guest console failed (exit {result.ExitCode}): {result.StderrText.Trim()}");
        }
    }

    /// <summary>
    /// Waits until the console log holds the guest's readiness line. Fails with the log's tail when
    /// <paramref name="timeout"/> passes or <paramref name="stillRunning"/> turns false.
    /// </summary>
    public static async Task<GuestReady> WaitReadyAsync(
        string consoleLogPath,
        TimeSpan timeout,
        Func<bool>? stillRunning = null,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        var time = timeProvider ?? TimeProvider.System;
        var started = time.GetTimestamp();
        while (true)
        {
            var text = ReadLog(consoleLogPath);
            var at = text.IndexOf(ReadyMarker + " ", StringComparison.Ordinal);
            if (at >= 0)
            {
                var end = text.IndexOfAny(['\r', '\n'], at);
                if (end >= 0)
                {
                    var line = text[at..end];
                    return new GuestReady(line.Split(' ')[1], line, time.GetElapsedTime(started));
                }
            }

            if (stillRunning != null && !stillRunning())
            {
                throw new GuestNotReadyException($"the VM stopped before printing {ReadyMarker}", Tail(ReadLog(consoleLogPath)));
            }

            if (time.GetElapsedTime(started) >= timeout)
            {
                throw new GuestNotReadyException($"no {ReadyMarker} in {consoleLogPath} after {timeout.TotalSeconds:0.#} s", Tail(text));
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stream.DisposeAsync().ConfigureAwait(false);
        socket.Dispose();
        gate.Dispose();
    }

    private async Task ExchangeAsync(string verb, string body, Func<string, CancellationToken, Task<int>> readReply, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (broken)
            {
                throw new HypervisorException(HypervisorErrorCode.ChannelFailed, "the guest channel broke on an earlier request; reconnect", true);
            }

            var id = prefix + "-" + Interlocked.Increment(ref next).ToString(CultureInfo.InvariantCulture);
            var line = body.Length == 0 ? $"{verb} {id}\n" : $"{verb} {id} {body}\n";
            try
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(line), cancellationToken).ConfigureAwait(false);
                await readReply(id, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or FormatException)
            {
                broken = true;
                if (e is OperationCanceledException)
                {
                    throw;
                }

                throw new HypervisorException(HypervisorErrorCode.ChannelFailed, $"guest channel failed during {verb}: {e.Message}", true, e);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken) =>
        await lines.ReadLineAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new IOException("the guest channel closed");

    private static void ThrowIfError(string line, string id)
    {
        if (line.StartsWith($"ERR {id} ", StringComparison.Ordinal))
        {
            throw new HypervisorException(HypervisorErrorCode.ChannelFailed, $"the guest refused the request: {line[($"ERR {id} ".Length)..]}");
        }
    }

    private static string Token(string value) => value.Length == 0 ? "-" : Convert.ToBase64String(Encoding.UTF8.GetBytes(value));

    private static string ReadLog(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(file, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return string.Empty;
        }
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];

    [GeneratedRegex("^[a-z0-9_.-]{1,32}$")]
    private static partial Regex UserPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvPattern();
}
