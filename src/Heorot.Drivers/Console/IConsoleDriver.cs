using System.Diagnostics;
using System.Net.Sockets;
using Heorot.Drivers.Power;

namespace Heorot.Drivers.Console;

/// <summary>
/// A node's serial console (the console capability of Ironic's split): a byte stream both ways, one client at a
/// time on the BMC's side, so the server holds the one connection and fans it out (see docs/power.md).
/// </summary>
public interface IConsoleDriver
{
    /// <summary><c>socket</c> (a QEMU serial socket, Unix or TCP) or <c>sol</c> (IPMI serial-over-LAN).</summary>
    string Kind { get; }

    /// <summary>Opens the console; the stream ends when the console goes away (the node powered off, the BMC dropped it).</summary>
    Task<Stream> OpenAsync(CancellationToken cancellationToken);
}

/// <summary>A serial console served on a socket: <c>unix:/run/node1/serial.sock</c> or <c>tcp:127.0.0.1:5001</c>.</summary>
public sealed class SocketConsoleDriver : IConsoleDriver
{
    private readonly string target;

    public SocketConsoleDriver(string target)
    {
        if (!target.StartsWith("unix:", StringComparison.Ordinal) && !target.StartsWith("tcp:", StringComparison.Ordinal))
        {
            throw new PowerException(PowerErrorCode.InvalidConfig, $"console '{target}': expected unix:PATH or tcp:HOST:PORT");
        }

        this.target = target;
    }

    public string Kind => "socket";

    public async Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        Socket socket;
        System.Net.EndPoint endpoint;
        if (target.StartsWith("unix:", StringComparison.Ordinal))
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            endpoint = new UnixDomainSocketEndPoint(target[5..]);
        }
        else
        {
            var hostPort = target[4..];
            var colon = hostPort.LastIndexOf(':');
            socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            endpoint = new System.Net.DnsEndPoint(hostPort[..colon], int.Parse(hostPort[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        }

        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new PowerException(PowerErrorCode.Unreachable, $"console {target}: {e.Message}", isTransient: true, e);
        }
    }
}

/// <summary>
/// IPMI serial-over-LAN through <c>ipmitool -I lanplus sol activate</c> (the password through the environment,
/// never the command line); the process's standard input and output are the console.
/// </summary>
public sealed class SolConsoleDriver(string host, int port, string username, string password, string ipmitool = "ipmitool") : IConsoleDriver
{
    public string Kind => "sol";

    public Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(ipmitool)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "-I", "lanplus", "-C", "3", "-H", host, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", username, "-E", "sol", "activate" })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["IPMI_PASSWORD"] = password;
        try
        {
            var process = Process.Start(start) ?? throw new PowerException(PowerErrorCode.NotAvailable, $"cannot run {ipmitool}");
            _ = process.StandardError.ReadToEndAsync(cancellationToken);
            return Task.FromResult<Stream>(new ProcessStream(process));
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new PowerException(PowerErrorCode.NotAvailable, $"cannot run {ipmitool}: {e.Message} (Debian: apt-get install ipmitool)", false, e);
        }
    }

    /// <summary>The process's stdout to read, its stdin to write; disposing ends the session (~. then kill).</summary>
    private sealed class ProcessStream(Process process) : Stream
    {
        private readonly Stream output = process.StandardOutput.BaseStream;
        private readonly Stream input = process.StandardInput.BaseStream;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => output.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => output.ReadAsync(buffer, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => input.Write(buffer, offset, count);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await input.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            await input.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        public override void Flush() => input.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                try
                {
                    input.Write("~."u8);
                    input.Flush();
                }
                catch (IOException)
                {
                }

                if (!process.WaitForExit(TimeSpan.FromSeconds(2)))
                {
                    process.Kill();
                }

                process.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
