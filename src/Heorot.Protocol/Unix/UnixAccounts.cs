using System.Globalization;

namespace Heorot.Protocol.Unix;

/// <summary>A local account, as in <c>/etc/passwd</c>.</summary>
public sealed record UnixAccount(string Name, int Uid, int Gid, string Home, string Shell);

/// <summary>Looks accounts up in the passwd database (the file; no NSS modules are consulted).</summary>
public static class UnixAccounts
{
    public static string PasswdPath { get; set; } = "/etc/passwd";

    public static UnixAccount? ByName(string name) => All().FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.Ordinal));

    public static UnixAccount? ByUid(int uid) => All().FirstOrDefault(a => a.Uid == uid);

    private static IEnumerable<UnixAccount> All()
    {
        if (!File.Exists(PasswdPath))
        {
            yield break;
        }

        foreach (var line in File.ReadLines(PasswdPath))
        {
            var f = line.Split(':');
            if (f.Length >= 7
                && int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
                && int.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
            {
                yield return new UnixAccount(f[0], uid, gid, f[5], f[6]);
            }
        }
    }

    /// <summary>The effective uid of this process (from /proc, no native call).</summary>
    public static int CurrentUid()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                return int.Parse(parts[2], CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    public static string CurrentUserName() => ByUid(CurrentUid())?.Name ?? Environment.UserName;
}
