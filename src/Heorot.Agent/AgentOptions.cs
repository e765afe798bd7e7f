using System.Globalization;

namespace Heorot.Agent;

/// <summary>What an agent is started with (<c>heorot agent --server URL --name NODE …</c>).</summary>
public sealed record AgentOptions
{
    public required Uri Server { get; init; }

    public required string Name { get; init; }

    /// <summary>The cluster secret shared with the server.</summary>
    public required string Secret { get; init; }

    /// <summary>Where the agent keeps its jobs' records, scripts and output (survives agent restarts).</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Cores offered; null: detected.</summary>
    public int? Cores { get; init; }

    /// <summary>Memory offered in MiB; null: detected from /proc/meminfo.</summary>
    public long? MemoryMb { get; init; }

    /// <summary>GPUs offered; null: detected (/dev/nvidiaN).</summary>
    public int? Gpus { get; init; }

    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    public string? Prolog { get; init; }

    public string? Epilog { get; init; }

    public TimeSpan HookTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Largest piece of output sent per stream and sync.</summary>
    public int MaxLogChunk { get; init; } = 256 * 1024;

    public static int DetectCores() => Environment.ProcessorCount;

    public static long DetectMemoryMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                    return kb / 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return 1024;
    }

    public static int DetectGpus() =>
        Directory.Exists("/dev") ? Directory.GetFiles("/dev", "nvidia*").Count(f => Path.GetFileName(f)[6..].All(char.IsAsciiDigit) && Path.GetFileName(f).Length > 6) : 0;
}
