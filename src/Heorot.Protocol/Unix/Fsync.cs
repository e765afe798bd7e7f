using System.Runtime.InteropServices;

namespace Heorot.Protocol.Unix;

/// <summary>fsync(2) of a directory, which .NET does not expose: makes a rename into it durable.</summary>
public static partial class Fsync
{
    private const int ReadOnly = 0;
    private const int DirectoryFlag = 0x10000; // O_DIRECTORY on Linux

    /// <summary>Syncs the directory's entries to disk; false when it cannot be opened or synced.</summary>
    public static bool Directory(string path)
    {
        var fd = Open(path, ReadOnly | DirectoryFlag);
        if (fd < 0)
        {
            return false;
        }

        var ok = SysFsync(fd) == 0;
        _ = Close(fd);
        return ok;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int SysFsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
