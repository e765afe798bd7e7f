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

    /// <summary>The operator's health check, run as root every <see cref="HealthInterval"/>: exit 0 is healthy.</summary>
    public string? HealthCheck { get; init; }

    public TimeSpan HealthInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Largest piece of output sent per stream and sync.</summary>
    public int MaxLogChunk { get; init; } = 256 * 1024;

    /// <summary>Image cache (VM jobs); null: STATE/images.</summary>
    public string? ImageCacheDirectory { get; init; }

    /// <summary>Bytes the image cache may hold.</summary>
    public long ImageCacheBytes { get; init; } = 20L << 30;

    /// <summary>How long a VM may take to report ready before its job fails with the console log.</summary>
    public TimeSpan VmReadyTimeout { get; init; } = TimeSpan.FromSeconds(180);

    /// <summary>How long a VM gets to power down gracefully at the end of its job, before quit and kill.</summary>
    public TimeSpan VmPowerdownTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Over-commit limit: VMs one job may place on this node.</summary>
    public int MaxVmsPerNode { get; init; } = 32;

    /// <summary>The command that runs this program (for helper processes such as vm-exec); null: not known.</summary>
    public IReadOnlyList<string>? SelfCommand { get; init; }

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
