using System.Runtime.InteropServices;

namespace Heorot.Agent.Images;

/// <summary>What .NET does not expose for durable renames: fsync(2) of a directory.</summary>
internal static partial class DurableFiles
{
    private const int ReadOnlyDirectory = 0x10000; // O_RDONLY | O_DIRECTORY (Linux)

    /// <summary>Makes the directory's entries (a rename into it) durable; false when the system refused.</summary>
    public static bool SyncDirectory(string path)
    {
        var fd = SysOpen(path, ReadOnlyDirectory);
        if (fd < 0)
        {
            return false;
        }

        var ok = SysFsync(fd) == 0;
        _ = SysClose(fd);
        return ok;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SysOpen(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int SysFsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int SysClose(int fd);
}
