using System.Globalization;
using System.Threading.Channels;
using Heorot.Drivers.Console;
using Heorot.Drivers.Power;

namespace Heorot.Server.Consoles;

/// <summary>One boot's console output kept on the server.</summary>
public sealed record ConsoleLog(string Name, DateTimeOffset Since, long Bytes, string Path);

/// <summary>
/// A node's serial console, held by the server: one connection to the BMC (or the QEMU serial socket), kept
/// open and re-opened while the node comes and goes; everything it prints is appended to the current boot's
/// log (the last <see cref="KeepBoots"/> boots are kept, for post-mortems) and copied to every attached session;
/// what attached sessions type goes to the console.
/// </summary>
public sealed class ConsoleHub : IAsyncDisposable
{
    public const int KeepBoots = 5;
    private const string CurrentName = "current.log";

    private readonly IConsoleDriver driver;
    private readonly string directory;
    private readonly TimeProvider time;
    private readonly Lock gate = new();
    private readonly List<Channel<byte[]>> sessions = [];
    private readonly CancellationTokenSource stopping = new();
    private FileStream log;
    private Stream? console;
    private Task? loop;

    public ConsoleHub(string node, IConsoleDriver driver, string directory, TimeProvider time)
    {
        Node = node;
        this.driver = driver;
        this.directory = directory;
        this.time = time;
        Directory.CreateDirectory(directory);
        log = OpenLog();
    }

    public string Node { get; }

    public string Kind => driver.Kind;

    public bool Connected
    {
        get
        {
            lock (gate)
            {
                return console != null;
            }
        }
    }

    public void Start() => loop ??= Task.Run(() => RunAsync(stopping.Token));

    /// <summary>The node (re)boots: the current log becomes the previous boot's, and a new one starts.</summary>
    public void NewBoot()
    {
        lock (gate)
        {
            log.Dispose();
            var current = Path.Combine(directory, CurrentName);
            if (File.Exists(current) && new FileInfo(current).Length > 0)
            {
                var stamp = time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss.fff'Z'", CultureInfo.InvariantCulture);
                File.Move(current, Path.Combine(directory, $"boot-{stamp}.log"), overwrite: true);
            }

            foreach (var old in Directory.GetFiles(directory, "boot-*.log").Order(StringComparer.Ordinal).SkipLast(KeepBoots - 1))
            {
                File.Delete(old);
            }

            log = OpenLog();
        }
    }

    /// <summary>The kept logs, newest first (<c>current</c>, then earlier boots).</summary>
    public IReadOnlyList<ConsoleLog> Logs()
    {
        lock (gate)
        {
            log.Flush();
            return Directory.GetFiles(directory, "*.log")
                .Select(f => new FileInfo(f))
                .Select(f => new ConsoleLog(f.Name == CurrentName ? "current" : f.Name[5..^4], f.CreationTimeUtc, f.Length, f.FullName))
                .OrderByDescending(l => l.Name == "current").ThenByDescending(l => l.Name, StringComparer.Ordinal)
                .ToList();
        }
    }

    /// <summary>Attaches a session: what the console prints from now on arrives on the reader.</summary>
    public ChannelReader<byte[]> Attach()
    {
        var channel = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (gate)
        {
            sessions.Add(channel);
        }

        return channel.Reader;
    }

    public void Detach(ChannelReader<byte[]> reader)
    {
        lock (gate)
        {
            sessions.RemoveAll(c => c.Reader == reader);
        }
    }

    /// <summary>Sends keystrokes to the console; false when it is not connected (the node is off, the BMC away).</summary>
    public async Task<bool> WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        Stream? target;
        lock (gate)
        {
            target = console;
        }

        if (target == null)
        {
            return false;
        }

        try
        {
            await target.WriteAsync(data, cancellationToken);
            await target.FlushAsync(cancellationToken);
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        if (loop != null)
        {
            await loop;
        }

        lock (gate)
        {
            log.Dispose();
            foreach (var session in sessions)
            {
                session.Writer.TryComplete();
            }
        }

        stopping.Dispose();
    }

    private FileStream OpenLog() => new(Path.Combine(directory, CurrentName), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!cancellationToken.IsCancellationRequested)
        {
            Stream stream;
            try
            {
                stream = await driver.OpenAsync(cancellationToken);
            }
            catch (PowerException)
            {
                await DelayAsync(backoff, cancellationToken);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
                continue;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromMilliseconds(200);
            lock (gate)
            {
                console = stream;
            }

            try
            {
                int read;
                while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    var chunk = buffer.AsSpan(0, read).ToArray();
                    lock (gate)
                    {
                        log.Write(chunk);
                        log.Flush();
                        foreach (var session in sessions)
                        {
                            session.Writer.TryWrite(chunk);
                        }
                    }
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
            finally
            {
                lock (gate)
                {
                    console = null;
                }

                await stream.DisposeAsync();
            }

            await DelayAsync(backoff, cancellationToken);
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, time, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
