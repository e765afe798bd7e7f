using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Heorot.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Hypervisor;

/// <summary>
/// The login console behind <see cref="VmHandle.ShellSocketPath"/> on the seeded guest, spoken to the way
/// the agent's <c>heorot ssh</c> bridge will: a raw terminal byte stream over the Unix socket.
/// </summary>
[Collection(SeededGuestGroup.Name)]
public sealed class GuestConsoleTests(SeededGuest guest, ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 180_000)]
    public async Task ShellSocket_SeededGuest_LogsInSeedUserOnHvcAndStartsAFreshLoginAfterExitOrHangup()
    {
        var vm = guest.Vm;
        Assert.Equal(Path.Combine(vm.RunDirectory, QemuHypervisor.ShellSocketName), vm.ShellSocketPath);

        int firstPid;
        await using (var first = await TerminalClient.ConnectAsync(vm.ShellSocketPath, Ct))
        {
            var clock = Stopwatch.StartNew();
            await first.WaitForPromptAsync(Ct);
            output.WriteLine($"prompt {clock.Elapsed.TotalMilliseconds:0} ms after connecting");

            // su must fail: root has no password and busybox is not setuid in the guest.
            await first.SendAsync("id -un; tty; echo $HOME; pwd; : </dev/tty && echo ctty=yes; echo pid=$$; su -c 'id -u' root </dev/null; echo su=$?; exit\n", Ct);
            var lines = await first.WaitForLineAsync(l => l.StartsWith("su=", StringComparison.Ordinal) && l.Length > 3 && char.IsAsciiDigit(l[3]), Ct);
            output.WriteLine(string.Join("\n", lines));

            Assert.Contains("alice", lines);
            Assert.Contains("/dev/hvc0", lines);
            Assert.Equal(2, lines.Count(l => l == "/home/alice"));
            Assert.Contains("ctty=yes", lines);
            Assert.DoesNotContain("0", lines);
            Assert.NotEqual("su=0", lines[^1]);
            firstPid = Pid(lines);

            // The same connection sees the respawned login's prompt after exit.
            await first.WaitForPromptAsync(Ct);
        }

        // A new connection gets a new login shell (not the one that exited), again as alice.
        int secondPid;
        await using (var second = await TerminalClient.ConnectAsync(vm.ShellSocketPath, Ct))
        {
            await second.WaitForPromptAsync(Ct);
            await second.SendAsync("echo pid=$$ user=$(id -un)\n", Ct);
            var lines = await second.WaitForLineAsync(l => l.StartsWith("pid=", StringComparison.Ordinal) && l.Contains(" user=", StringComparison.Ordinal), Ct);
            Assert.EndsWith(" user=alice", lines[^1], StringComparison.Ordinal);
            secondPid = Pid(lines);
            Assert.NotEqual(firstPid, secondPid);

            // Left without "exit": the session would survive the disconnect; the agent hangs it up.
        }

        await using (var channel = await GuestChannel.ConnectAsync(vm.AgentSocketPath, Ct))
        {
            await channel.HangUpShellAsync(Ct);
            var alive = await channel.RunAsync(["sh", "-c", $"kill -0 {secondPid} 2>/dev/null && echo alive || echo gone"], user: "root", cancellationToken: Ct);
            output.WriteLine($"hung-up shell {secondPid}: {alive.StdoutText.Trim()}");
        }

        await using var third = await TerminalClient.ConnectAsync(vm.ShellSocketPath, Ct);
        await third.WaitForPromptAsync(Ct);
        await third.SendAsync("echo pid=$$\n", Ct);
        var after = await third.WaitForLineAsync(l => l.StartsWith("pid=", StringComparison.Ordinal) && l.Length > 4 && char.IsAsciiDigit(l[4]), Ct);
        var thirdPid = Pid(after);
        Assert.NotEqual(secondPid, thirdPid);
        Assert.NotEqual(firstPid, thirdPid);
    }

    private static int Pid(IEnumerable<string> lines)
    {
        var line = lines.Last(l => l.StartsWith("pid=", StringComparison.Ordinal) && l.Length > 4 && char.IsAsciiDigit(l[4]));
        var digits = line[4..].Split(' ')[0];
        return int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A terminal client on a Unix socket: everything the guest writes is collected in the background.</summary>
    private sealed class TerminalClient : IAsyncDisposable
    {
        private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
        private readonly Socket socket;
        private readonly StringBuilder received = new();
        private readonly Lock sync = new();
        private readonly Task reader;
        private int mark;

        private TerminalClient(Socket socket)
        {
            this.socket = socket;
            reader = Task.Run(ReadAsync);
        }

        public static async Task<TerminalClient> ConnectAsync(string path, CancellationToken cancellationToken)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
            return new TerminalClient(socket);
        }

        public async Task SendAsync(string text, CancellationToken cancellationToken) =>
            await socket.SendAsync(Encoding.UTF8.GetBytes(text), SocketFlags.None, cancellationToken);

        /// <summary>
        /// Sends a newline (again every 2 s: a prompt printed while no client was connected is lost, and a
        /// login that is still starting may not have the tty open yet) until the user's "$ " prompt appears.
        /// </summary>
        public async Task WaitForPromptAsync(CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            TimeSpan? nudged = null;
            while (true)
            {
                if (nudged == null || clock.Elapsed - nudged >= TimeSpan.FromSeconds(2))
                {
                    await SendAsync("\n", cancellationToken);
                    nudged = clock.Elapsed;
                }

                if (Take(text => text.Contains("$ ", StringComparison.Ordinal)) != null)
                {
                    return;
                }

                await WaitAsync(clock, "a '$ ' prompt", cancellationToken);
            }
        }

        /// <summary>The complete lines received since the last wait, up to the first that matches.</summary>
        public async Task<IReadOnlyList<string>> WaitForLineAsync(Func<string, bool> isLast, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                IReadOnlyList<string>? found = null;
                Take(text =>
                {
                    var lines = text.Split('\n');
                    var end = Array.FindIndex(lines, 0, lines.Length - 1, l => isLast(l));
                    found = end < 0 ? null : lines[..(end + 1)];
                    return found != null;
                });
                if (found != null)
                {
                    return found;
                }

                await WaitAsync(clock, "the expected output", cancellationToken);
            }
        }

        public async ValueTask DisposeAsync()
        {
            socket.Dispose();
            await reader;
        }

        // Matches against the text after the mark (carriage returns removed); on success moves the mark to the end.
        private string? Take(Func<string, bool> matches)
        {
            lock (sync)
            {
                var text = received.ToString(mark, received.Length - mark).Replace("\r", string.Empty, StringComparison.Ordinal);
                if (!matches(text))
                {
                    return null;
                }

                mark = received.Length;
                return text;
            }
        }

        private async Task WaitAsync(Stopwatch clock, string what, CancellationToken cancellationToken)
        {
            if (clock.Elapsed > Timeout)
            {
                string transcript;
                lock (sync)
                {
                    transcript = received.ToString();
                }

                throw new TimeoutException($"no {what} on the console after {Timeout.TotalSeconds:0} s; received:\n{transcript}");
            }

            await Task.Delay(50, cancellationToken);
        }

        private async Task ReadAsync()
        {
            var decoder = Encoding.UTF8.GetDecoder();
            var bytes = new byte[4096];
            var chars = new char[4096];
            try
            {
                int n;
                while ((n = await socket.ReceiveAsync(bytes, SocketFlags.None)) > 0)
                {
                    var count = decoder.GetChars(bytes, 0, n, chars, 0);
                    lock (sync)
                    {
                        received.Append(chars, 0, count);
                    }
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Disposed by the test.
            }
        }
    }
}
