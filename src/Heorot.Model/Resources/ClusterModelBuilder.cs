using System.Collections.Frozen;

namespace Heorot.Model.Resources;

/// <summary>
/// Assembles a <see cref="ClusterModel"/> piece by piece, giving clusters, switches and nodes dense indexes in
/// the order they are added. Misuse (duplicate names, non-positive counts) throws <see cref="ArgumentException"/>:
/// this is a programmer's API; operators' files go through <see cref="ClusterDescription"/>, which reports
/// positions.
/// </summary>
public sealed class ClusterModelBuilder
{
    private static readonly IReadOnlyDictionary<string, PropertyValue> NoProperties =
        FrozenDictionary<string, PropertyValue>.Empty;

    private readonly string name;
    private readonly List<string> clusters = [];
    private readonly List<List<int>> clusterSwitches = [];
    private readonly List<(string Name, int Cluster)> switches = [];
    private readonly List<List<int>> switchNodes = [];
    private readonly List<NodeInfo> nodes = [];
    private readonly HashSet<string> clusterNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> switchNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> nodeNames = new(StringComparer.Ordinal);

    // Many nodes share one property set: freeze each distinct caller dictionary once.
    private readonly Dictionary<object, IReadOnlyDictionary<string, PropertyValue>> frozen =
        new(ReferenceEqualityComparer.Instance);

    public ClusterModelBuilder(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        this.name = name;
    }

    public int NodeCount => nodes.Count;

    public int AddCluster(string clusterName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(clusterName);
        if (!clusterNames.Add(clusterName))
        {
            throw new ArgumentException($"duplicate cluster name '{clusterName}'", nameof(clusterName));
        }

        clusters.Add(clusterName);
        clusterSwitches.Add([]);
        return clusters.Count - 1;
    }

    public int AddSwitch(int clusterIndex, string switchName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(clusterIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(clusterIndex, clusters.Count);
        ArgumentException.ThrowIfNullOrWhiteSpace(switchName);
        if (!switchNames.Add(switchName))
        {
            throw new ArgumentException($"duplicate switch name '{switchName}'", nameof(switchName));
        }

        switches.Add((switchName, clusterIndex));
        switchNodes.Add([]);
        clusterSwitches[clusterIndex].Add(switches.Count - 1);
        return switches.Count - 1;
    }

    public int AddNode(
        int switchIndex,
        string nodeName,
        int cpus,
        int coresPerCpu,
        long memoryMb,
        int gpus = 0,
        IReadOnlyDictionary<string, PropertyValue>? properties = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(switchIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(switchIndex, switches.Count);
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeName);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cpus);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(coresPerCpu);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memoryMb);
        ArgumentOutOfRangeException.ThrowIfNegative(gpus);
        if ((long)cpus * coresPerCpu > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(coresPerCpu), "too many cores on one node");
        }

        if (!nodeNames.Add(nodeName))
        {
            throw new ArgumentException($"duplicate node name '{nodeName}'", nameof(nodeName));
        }

        var (switchName, clusterIndex) = switches[switchIndex];
        int index = nodes.Count;
        nodes.Add(new NodeInfo(
            index,
            nodeName,
            clusterIndex,
            clusters[clusterIndex],
            switchIndex,
            switchName,
            cpus,
            coresPerCpu,
            memoryMb,
            gpus,
            Freeze(properties)));
        switchNodes[switchIndex].Add(index);
        return index;
    }

    public ClusterModel Build()
    {
        var switchInfos = new SwitchInfo[switches.Count];
        for (int s = 0; s < switchInfos.Length; s++)
        {
            var (switchName, cluster) = switches[s];
            switchInfos[s] = new SwitchInfo(s, switchName, cluster, clusters[cluster], [.. switchNodes[s]]);
        }

        var clusterInfos = new ClusterInfo[clusters.Count];
        for (int c = 0; c < clusterInfos.Length; c++)
        {
            int[] clusterNodes = [.. clusterSwitches[c].SelectMany(s => switchNodes[s]).Order()];
            clusterInfos[c] = new ClusterInfo(c, clusters[c], [.. clusterSwitches[c]], clusterNodes);
        }

        return new ClusterModel(name, clusterInfos, switchInfos, [.. nodes]);
    }

    private IReadOnlyDictionary<string, PropertyValue> Freeze(IReadOnlyDictionary<string, PropertyValue>? properties)
    {
        if (properties is null || properties.Count == 0)
        {
            return NoProperties;
        }

        if (frozen.TryGetValue(properties, out var done))
        {
            return done;
        }

        foreach (var key in properties.Keys)
        {
            if (NodeInfo.BuiltInNames.Contains(key))
            {
                throw new ArgumentException($"property name '{key}' is reserved for a built-in", nameof(properties));
            }
        }

        var copy = properties.ToFrozenDictionary(StringComparer.Ordinal);
        frozen[properties] = copy;
        return copy;
    }
}
