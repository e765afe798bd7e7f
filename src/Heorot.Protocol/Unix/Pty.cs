using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Heorot.Protocol.Unix;

/// <summary>
/// A pseudo-terminal pair, which .NET does not expose: the master side is read and written here; the slave side
/// (<see cref="SlavePath"/>) becomes a child's stdin, stdout, stderr and controlling terminal (setsid -c).
/// </summary>
public sealed partial class Pty : IDisposable
{
    private const int ReadWrite = 2;
    private const int NoControllingTerminal = 0x100;
    private const uint SetWindowSize = 0x5414; // TIOCSWINSZ

    private Pty(SafeFileHandle master, string slavePath)
    {
        Master = master;
        SlavePath = slavePath;
    }

    public SafeFileHandle Master { get; }

    public string SlavePath { get; }

    /// <summary>Opens a new pair (posix_openpt, grantpt, unlockpt), sized rows × cols.</summary>
    public static Pty Open(int rows, int cols)
    {
        var fd = PosixOpenPt(ReadWrite | NoControllingTerminal);
        if (fd < 0)
        {
            throw new IOException($"posix_openpt failed (errno {Marshal.GetLastPInvokeError()})");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            if (GrantPt(fd) != 0 || UnlockPt(fd) != 0)
            {
                throw new IOException($"grantpt/unlockpt failed (errno {Marshal.GetLastPInvokeError()})");
            }

            var name = new byte[128];
            if (PtsNameR(fd, name, (nuint)name.Length) != 0)
            {
                throw new IOException($"ptsname_r failed (errno {Marshal.GetLastPInvokeError()})");
            }

            var pty = new Pty(handle, System.Text.Encoding.ASCII.GetString(name, 0, Array.IndexOf(name, (byte)0)));
            pty.Resize(rows, cols);
            return pty;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Sets the terminal's size (the foreground process gets SIGWINCH).</summary>
    public void Resize(int rows, int cols)
    {
        var size = new WindowSize { Rows = (ushort)Math.Clamp(rows, 1, 1000), Cols = (ushort)Math.Clamp(cols, 1, 1000) };
        _ = Ioctl(Master.DangerousGetHandle().ToInt32(), SetWindowSize, ref size);
    }

    /// <summary>Gives the slave device to a user (so their shell may reopen /dev/tty), mode 0620 as login does.</summary>
    public void GiveTo(int uid, int gid)
    {
        Hooks.FileOwnership.Change(SlavePath, uid, gid);
        File.SetUnixFileMode(SlavePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite);
    }

    public void Dispose() => Master.Dispose();

    [StructLayout(LayoutKind.Sequential)]
    private struct WindowSize
    {
        public ushort Rows;
        public ushort Cols;
        public ushort XPixels;
        public ushort YPixels;
    }

    [LibraryImport("libc", EntryPoint = "posix_openpt", SetLastError = true)]
    private static partial int PosixOpenPt(int flags);

    [LibraryImport("libc", EntryPoint = "grantpt", SetLastError = true)]
    private static partial int GrantPt(int fd);

    [LibraryImport("libc", EntryPoint = "unlockpt", SetLastError = true)]
    private static partial int UnlockPt(int fd);

    [LibraryImport("libc", EntryPoint = "ptsname_r", SetLastError = true)]
    private static partial int PtsNameR(int fd, [Out] byte[] buffer, nuint length);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, ref WindowSize size);
}
