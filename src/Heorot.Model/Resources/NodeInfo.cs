namespace Heorot.Model.Resources;

/// <summary>
/// One compute node: its place in the hierarchy (cluster → switch → node → cpu → core), its resources
/// (sockets, cores, memory, GPUs) and its free-form properties. Immutable.
/// </summary>
/// <remarks>
/// As an <see cref="IPropertySource"/> a node also answers built-in names so request expressions can test
/// them: <c>cluster</c>, <c>switch</c>, <c>node</c>/<c>host</c> (strings), <c>cpus</c> (sockets),
/// <c>cores</c> (total cores), <c>mem</c> (memory in GiB), <c>gpu</c>/<c>gpus</c> (GPU count).
/// Built-in names take precedence; the cluster description refuses properties that use them.
/// </remarks>
public sealed class NodeInfo : IPropertySource
{
    private static readonly HashSet<string> BuiltIns =
        new(["cluster", "switch", "node", "host", "cpus", "cores", "mem", "gpu", "gpus"], StringComparer.Ordinal);

    internal NodeInfo(
        int index,
        string name,
        int clusterIndex,
        string cluster,
        int switchIndex,
        string switchName,
        int cpus,
        int coresPerCpu,
        long memoryMb,
        int gpus,
        IReadOnlyDictionary<string, PropertyValue> properties)
    {
        Index = index;
        Name = name;
        ClusterIndex = clusterIndex;
        Cluster = cluster;
        SwitchIndex = switchIndex;
        Switch = switchName;
        Cpus = cpus;
        CoresPerCpu = coresPerCpu;
        MemoryMb = memoryMb;
        Gpus = gpus;
        Properties = properties;
    }

    /// <summary>The names a node answers by itself, whatever its properties.</summary>
    public static IReadOnlySet<string> BuiltInNames => BuiltIns;

    /// <summary>Dense index of the node in its model, 0..N-1 in file order.</summary>
    public int Index { get; }

    public string Name { get; }

    public int ClusterIndex { get; }

    public string Cluster { get; }

    public int SwitchIndex { get; }

    public string Switch { get; }

    /// <summary>Number of CPU sockets.</summary>
    public int Cpus { get; }

    public int CoresPerCpu { get; }

    /// <summary>Total cores: <see cref="Cpus"/> × <see cref="CoresPerCpu"/>.</summary>
    public int Cores => Cpus * CoresPerCpu;

    /// <summary>Memory in MiB.</summary>
    public long MemoryMb { get; }

    /// <summary>Memory in GiB (what the <c>mem</c> built-in answers).</summary>
    public double MemoryGb => MemoryMb / 1024.0;

    public int Gpus { get; }

    /// <summary>Free-form properties (built-in names excluded).</summary>
    public IReadOnlyDictionary<string, PropertyValue> Properties { get; }

    /// <summary>The socket (0-based) that holds core <paramref name="core"/> (0-based, node-local).</summary>
    public int CpuOfCore(int core)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(core);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(core, Cores);
        return core / CoresPerCpu;
    }

    public PropertyValue? Get(string name) => name switch
    {
        "cluster" => PropertyValue.Of(Cluster),
        "switch" => PropertyValue.Of(Switch),
        "node" or "host" => PropertyValue.Of(Name),
        "cpus" => PropertyValue.Of(Cpus),
        "cores" => PropertyValue.Of(Cores),
        "mem" => PropertyValue.Of(MemoryGb),
        "gpu" or "gpus" => PropertyValue.Of(Gpus),
        _ => Properties.TryGetValue(name, out var value) ? value : null,
    };

    public override string ToString() => Name;
}
