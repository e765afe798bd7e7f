using System.Globalization;
using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// The light "machine" behind the power tests' BMCs: a shell that appends "PID BOOT-DEVICE" to a file as it boots, then
/// becomes <c>sleep infinity</c>. The tests observe it directly (that file and /proc), never through a driver.
/// </summary>
internal sealed class LightMachine(string directory)
{
    public string BootsFile { get; } = Path.Combine(directory, "machine-boots");

    /// <summary>The machine's command line; the boot device comes from HEOROT_BOOT_DEVICE (the emulated BMC sets it).</summary>
    public IReadOnlyList<string> Command =>
        ["/bin/sh", "-c", "echo \"$$ ${HEOROT_BOOT_DEVICE:-default}\" >> \"$1\"; exec sleep infinity", "machine", BootsFile];

    public int Boots() => Lines().Length;

    /// <summary>On: the process of the last boot lives (not a zombie) and has become the sleep.</summary>
    public bool IsOn()
    {
        var lines = Lines();
        if (lines.Length == 0)
        {
            return false;
        }

        var pid = lines[^1].Split(' ')[0];
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X") && File.ReadAllText($"/proc/{pid}/comm").Trim() == "sleep";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public BootDevice LastBootDevice()
    {
        var lines = Lines();
        var device = lines.Length == 0 ? "default" : lines[^1].Split(' ')[1];
        return Enum.Parse<BootDevice>(device, ignoreCase: true);
    }

    public int? LastPid()
    {
        var lines = Lines();
        return lines.Length == 0 ? null : int.Parse(lines[^1].Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private string[] Lines() => File.Exists(BootsFile) ? File.ReadAllLines(BootsFile).Where(l => l.Length > 0).ToArray() : [];
}
