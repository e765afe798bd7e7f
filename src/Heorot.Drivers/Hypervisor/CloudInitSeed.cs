using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Heorot.Drivers.Hypervisor;

public sealed record CloudInitMetaData(string InstanceId, string LocalHostname);

public sealed record CloudInitUser(string Name, IReadOnlyList<string> SshAuthorizedKeys, string Shell = "/bin/sh");

/// <summary>One /etc/hosts line.</summary>
public sealed record HostsEntry(string Address, IReadOnlyList<string> Names);

/// <summary>
/// The #cloud-config Heorot writes: hostname, users with their keys, and /etc/hosts (through write_files, so
/// real cloud-init applies it the same way as Heorot's tiny guest).
/// </summary>
public sealed record CloudInitUserData(string Hostname, IReadOnlyList<CloudInitUser> Users, IReadOnlyList<HostsEntry> Hosts);

/// <summary>
/// Builds a cloud-init NoCloud seed: a small vfat volume labelled CIDATA holding meta-data and user-data,
/// which real cloud-init accepts as well as scripts/guest's init. Needs mkfs.vfat (dosfstools) and mcopy (mtools).
/// </summary>
public static partial class CloudInitSeed
{
    public const string VolumeLabel = "CIDATA";
    public const string FileName = "seed.img";
    private static readonly string[] ToolDirectories = ["/usr/sbin/", "/sbin/", "/usr/bin/"];

    public static string RenderMetaData(CloudInitMetaData meta)
    {
        CheckName(meta.LocalHostname, HostPattern(), "hostname");
        CheckName(meta.InstanceId, HostPattern(), "instance id");
        return $"instance-id: {meta.InstanceId}\nlocal-hostname: {meta.LocalHostname}\n";
    }

    public static string RenderUserData(CloudInitUserData user)
    {
        CheckName(user.Hostname, HostPattern(), "hostname");
        var y = new StringBuilder("#cloud-config\n");
        y.Append("hostname: ").Append(user.Hostname).Append('\n');
        y.Append("manage_etc_hosts: false\n");
        if (user.Users.Count > 0)
        {
            y.Append("users:\n");
            foreach (var u in user.Users)
            {
                CheckName(u.Name, UserPattern(), "user name");
                CheckName(u.Shell, ShellPattern(), "shell");
                y.Append("  - name: ").Append(u.Name).Append('\n');
                y.Append("    shell: ").Append(u.Shell).Append('\n');
                if (u.SshAuthorizedKeys.Count > 0)
                {
                    y.Append("    ssh_authorized_keys:\n");
                    foreach (var key in u.SshAuthorizedKeys)
                    {
                        CheckName(key, KeyPattern(), "ssh key");
                        y.Append("      - '").Append(key).Append("'\n");
                    }
                }
            }
        }

        y.Append("write_files:\n  - path: /etc/hosts\n    permissions: '0644'\n    content: |\n");
        foreach (var line in HostsLines(user))
        {
            y.Append("      ").Append(line).Append('\n');
        }

        return y.ToString();
    }

    /// <summary>The /etc/hosts the guest ends up with: localhost, the entries given, then its own name on 127.0.1.1 unless listed.</summary>
    public static IReadOnlyList<string> HostsLines(CloudInitUserData user)
    {
        var lines = new List<string> { "127.0.0.1 localhost" };
        foreach (var entry in user.Hosts)
        {
            if (!IPAddress.TryParse(entry.Address, out _) || entry.Names.Count == 0)
            {
                throw new ArgumentException($"hosts entry {entry.Address} needs an IP address and at least one name");
            }

            foreach (var name in entry.Names)
            {
                CheckName(name, HostPattern(), "host name");
            }

            lines.Add(entry.Address + " " + string.Join(' ', entry.Names));
        }

        if (!user.Hosts.Any(h => h.Names.Contains(user.Hostname)))
        {
            lines.Add("127.0.1.1 " + user.Hostname);
        }

        return lines;
    }

    /// <summary>Writes <c>seed.img</c> into <paramref name="directory"/> (replacing it atomically) and returns its path.</summary>
    public static async Task<string> BuildAsync(string directory, CloudInitMetaData meta, CloudInitUserData user, CancellationToken cancellationToken = default)
    {
        var metaText = RenderMetaData(meta);
        var userText = RenderUserData(user);
        Directory.CreateDirectory(directory);
        var work = Directory.CreateTempSubdirectory("heorot-seed-").FullName;
        try
        {
            var metaFile = Path.Combine(work, "meta-data");
            var userFile = Path.Combine(work, "user-data");
            await File.WriteAllTextAsync(metaFile, metaText, cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(userFile, userText, cancellationToken).ConfigureAwait(false);
            var image = Path.Combine(work, FileName);
            var kib = Math.Max(512, ((metaText.Length + userText.Length) / 1024 * 2) + 256);
            await ToolAsync(Find("mkfs.vfat"), ["-n", VolumeLabel, "-C", image, kib.ToString(System.Globalization.CultureInfo.InvariantCulture)], cancellationToken).ConfigureAwait(false);
            await ToolAsync(Find("mcopy"), ["-i", image, metaFile, userFile, "::"], cancellationToken).ConfigureAwait(false);
            var target = Path.Combine(directory, FileName);
            File.Move(image, target, overwrite: true);
            return target;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Find(string tool) =>
        ProcessRunner.Which(tool)
        ?? ToolDirectories.Select(d => d + tool).FirstOrDefault(File.Exists)
        ?? throw new HypervisorException(HypervisorErrorCode.NotAvailable, $"{tool} not found (Debian: apt-get install dosfstools mtools)");

    private static async Task ToolAsync(string tool, string[] arguments, CancellationToken cancellationToken)
    {
        var result = await ProcessRunner.RunAsync(tool, arguments, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new HypervisorException(HypervisorErrorCode.ToolFailed, $"{Path.GetFileName(tool)} failed (exit {result.ExitCode}): {result.Stderr.Trim()}");
        }
    }

    private static void CheckName(string value, Regex pattern, string what)
    {
        if (!pattern.IsMatch(value))
        {
            throw new ArgumentException($"{what} '{value}' is not allowed in a seed");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")]
    private static partial Regex HostPattern();

    [GeneratedRegex("^[a-z_][a-z0-9_.-]{0,31}$")]
    private static partial Regex UserPattern();

    [GeneratedRegex("^/[A-Za-z0-9/_.-]+$")]
    private static partial Regex ShellPattern();

    // One OpenSSH public key line: printable, no quote or newline (it is written single-quoted).
    [GeneratedRegex("^[A-Za-z0-9@:+/=._ -]{16,8192}$")]
    private static partial Regex KeyPattern();
}
