namespace Heorot.Model.Resources;

/// <summary>A named cluster (a partition of the hardware): its switches and nodes. Immutable.</summary>
public sealed class ClusterInfo
{
    internal ClusterInfo(int index, string name, IReadOnlyList<int> switches, IReadOnlyList<int> nodes)
    {
        Index = index;
        Name = name;
        Switches = switches;
        Nodes = nodes;
    }

    public int Index { get; }

    public string Name { get; }

    /// <summary>Indexes of the switches in this cluster, ascending.</summary>
    public IReadOnlyList<int> Switches { get; }

    /// <summary>Indexes of the nodes in this cluster, ascending.</summary>
    public IReadOnlyList<int> Nodes { get; }

    public override string ToString() => Name;
}
