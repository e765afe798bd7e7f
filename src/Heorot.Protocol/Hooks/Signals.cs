using System.Runtime.InteropServices;

namespace Heorot.Protocol.Hooks;

/// <summary>POSIX signals by number and by name, sent with kill(2).</summary>
public static partial class Signals
{
    public const int Hangup = 1;
    public const int Interrupt = 2;
    public const int Kill = 9;
    public const int User1 = 10;
    public const int User2 = 12;
    public const int Terminate = 15;
    public const int Continue = 18;
    public const int Stop = 19;

    private static readonly Dictionary<string, int> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = Hangup,
        ["INT"] = Interrupt,
        ["KILL"] = Kill,
        ["USR1"] = User1,
        ["USR2"] = User2,
        ["TERM"] = Terminate,
        ["CONT"] = Continue,
        ["STOP"] = Stop,
    };

    /// <summary>A signal name (TERM, SIGTERM, USR1, …) as its number; false when unknown.</summary>
    public static bool TryParse(string name, out int signal)
    {
        var bare = name.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? name[3..] : name;
        return Names.TryGetValue(bare, out signal);
    }

    public static IEnumerable<string> Known => Names.Keys;

    /// <summary>Sends a signal to a process; false when it does not exist (or is not ours).</summary>
    public static bool Send(int pid, int signal) => pid > 0 && SysKill(pid, signal) == 0;

    /// <summary>Sends a signal to every process of a group.</summary>
    public static bool KillGroup(int pgid, int signal) => pgid > 1 && SysKill(-pgid, signal) == 0;

    /// <summary>Whether a process exists.</summary>
    public static bool Exists(int pid) => pid > 0 && (SysKill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == 1);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}

/// <summary>File ownership, which .NET does not expose: chown(2).</summary>
public static partial class FileOwnership
{
    /// <summary>Changes the owner of a path; false on failure (not root, no such path).</summary>
    public static bool Change(string path, int uid, int gid) => SysChown(path, uid, gid) == 0;

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SysChown(string path, int uid, int gid);
}
