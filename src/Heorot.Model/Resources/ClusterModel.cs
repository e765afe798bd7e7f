using System.Diagnostics.CodeAnalysis;

namespace Heorot.Model.Resources;

/// <summary>
/// The hardware a scheduler places work on: clusters → switches → nodes (→ cpus → cores, plus memory and
/// GPUs per node). Nodes and switches have dense indexes in file order and can be looked up by name.
/// Immutable; build one with <see cref="ClusterModelBuilder"/>, <see cref="ClusterDescription"/> or
/// <see cref="Synthetic"/>.
/// </summary>
public sealed class ClusterModel
{
    private readonly Dictionary<string, int> clusterIndex;
    private readonly Dictionary<string, int> switchIndex;
    private readonly Dictionary<string, int> nodeIndex;

    internal ClusterModel(
        string name,
        IReadOnlyList<ClusterInfo> clusters,
        IReadOnlyList<SwitchInfo> switches,
        IReadOnlyList<NodeInfo> nodes)
    {
        Name = name;
        Clusters = clusters;
        Switches = switches;
        Nodes = nodes;
        clusterIndex = clusters.ToDictionary(c => c.Name, c => c.Index, StringComparer.Ordinal);
        switchIndex = switches.ToDictionary(s => s.Name, s => s.Index, StringComparer.Ordinal);
        nodeIndex = nodes.ToDictionary(n => n.Name, n => n.Index, StringComparer.Ordinal);
        long cores = 0, memory = 0, gpus = 0;
        foreach (var node in nodes)
        {
            cores += node.Cores;
            memory += node.MemoryMb;
            gpus += node.Gpus;
        }

        TotalCores = cores;
        TotalMemoryMb = memory;
        TotalGpus = gpus;
    }

    public string Name { get; }

    public IReadOnlyList<ClusterInfo> Clusters { get; }

    public IReadOnlyList<SwitchInfo> Switches { get; }

    /// <summary>All nodes; <c>Nodes[i].Index == i</c>.</summary>
    public IReadOnlyList<NodeInfo> Nodes { get; }

    public long TotalCores { get; }

    public long TotalMemoryMb { get; }

    public long TotalGpus { get; }

    /// <summary>The index of node <paramref name="name"/>, or -1 when there is none.</summary>
    public int NodeIndexOf(string name) => nodeIndex.TryGetValue(name, out var i) ? i : -1;

    /// <summary>The index of switch <paramref name="name"/>, or -1 when there is none.</summary>
    public int SwitchIndexOf(string name) => switchIndex.TryGetValue(name, out var i) ? i : -1;

    /// <summary>The index of cluster <paramref name="name"/>, or -1 when there is none.</summary>
    public int ClusterIndexOf(string name) => clusterIndex.TryGetValue(name, out var i) ? i : -1;

    public bool TryGetNode(string name, [NotNullWhen(true)] out NodeInfo? node)
    {
        node = nodeIndex.TryGetValue(name, out var i) ? Nodes[i] : null;
        return node is not null;
    }

    public bool TryGetSwitch(string name, [NotNullWhen(true)] out SwitchInfo? @switch)
    {
        @switch = switchIndex.TryGetValue(name, out var i) ? Switches[i] : null;
        return @switch is not null;
    }

    public bool TryGetCluster(string name, [NotNullWhen(true)] out ClusterInfo? cluster)
    {
        cluster = clusterIndex.TryGetValue(name, out var i) ? Clusters[i] : null;
        return cluster is not null;
    }

    /// <summary>
    /// A regular model for tests and benchmarks: <paramref name="nodeCount"/> nodes spread in contiguous blocks
    /// over <paramref name="switchCount"/> switches, themselves spread over <paramref name="clusterCount"/>
    /// clusters. Nodes are named <c>n00001</c>…, switches <c>sw01</c>…, clusters <c>c1</c>…. Every node gets
    /// properties <c>rack</c> (its switch number), <c>model</c> (<c>"X540"</c> or <c>"X550"</c> by switch parity)
    /// and <c>ib</c> (true); <paramref name="gpusPerNode"/> GPUs go on every <paramref name="gpuNodeEvery"/>-th
    /// node (1 = all nodes), which then also get <c>gpu_model = "A100"</c>.
    /// </summary>
    public static ClusterModel Synthetic(
        int nodeCount,
        int switchCount = 1,
        int cpus = 2,
        int coresPerCpu = 16,
        long memoryMb = 192 * 1024,
        int gpusPerNode = 0,
        int gpuNodeEvery = 1,
        int clusterCount = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(nodeCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(switchCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clusterCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(gpuNodeEvery);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(switchCount, nodeCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(clusterCount, switchCount);

        var builder = new ClusterModelBuilder("synthetic");
        int nodeWidth = Math.Max(5, nodeCount.ToString().Length);
        int switchWidth = Math.Max(2, switchCount.ToString().Length);
        int node = 0;
        for (int c = 0; c < clusterCount; c++)
        {
            int cluster = builder.AddCluster("c" + (c + 1));
            int firstSwitch = (int)((long)switchCount * c / clusterCount);
            int endSwitch = (int)((long)switchCount * (c + 1) / clusterCount);
            for (int s = firstSwitch; s < endSwitch; s++)
            {
                int sw = builder.AddSwitch(cluster, "sw" + (s + 1).ToString("D" + switchWidth));
                var plain = new Dictionary<string, PropertyValue>(StringComparer.Ordinal)
                {
                    ["rack"] = PropertyValue.Of(s + 1),
                    ["model"] = PropertyValue.Of(s % 2 == 0 ? "X540" : "X550"),
                    ["ib"] = PropertyValue.Of(true),
                };
                var withGpu = new Dictionary<string, PropertyValue>(plain, StringComparer.Ordinal)
                {
                    ["gpu_model"] = PropertyValue.Of("A100"),
                };
                int endNode = (int)((long)nodeCount * (s + 1) / switchCount);
                for (; node < endNode; node++)
                {
                    bool gpuNode = gpusPerNode > 0 && node % gpuNodeEvery == 0;
                    builder.AddNode(
                        sw,
                        "n" + (node + 1).ToString("D" + nodeWidth),
                        cpus,
                        coresPerCpu,
                        memoryMb,
                        gpuNode ? gpusPerNode : 0,
                        gpuNode ? withGpu : plain);
                }
            }
        }

        return builder.Build();
    }
}
