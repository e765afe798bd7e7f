namespace Heorot.Model.Resources;

/// <summary>A network switch (leaf) within a cluster, and the nodes attached to it. Immutable.</summary>
public sealed class SwitchInfo
{
    internal SwitchInfo(int index, string name, int clusterIndex, string cluster, IReadOnlyList<int> nodes)
    {
        Index = index;
        Name = name;
        ClusterIndex = clusterIndex;
        Cluster = cluster;
        Nodes = nodes;
    }

    /// <summary>Dense index of the switch in its model, in file order.</summary>
    public int Index { get; }

    public string Name { get; }

    public int ClusterIndex { get; }

    /// <summary>Name of the parent cluster.</summary>
    public string Cluster { get; }

    /// <summary>Indexes of the nodes on this switch, ascending.</summary>
    public IReadOnlyList<int> Nodes { get; }

    public override string ToString() => Name;
}
