namespace Heorot.Scheduling.Timeline;

/// <summary>
/// One group of a request, compiled against a cluster: <c>Nodes</c> nodes each giving <c>CoresPerNode</c> cores,
/// memory and GPUs, drawn from the <c>Eligible</c> nodes (property filter and static shape already applied),
/// spread over at most <c>MaxSwitches</c> switches (0: any). <c>Nodes</c> = 0 asks for <c>TotalCores</c> cores
/// anywhere (a core-level request without a node level), packed onto as few nodes as possible.
/// </summary>
public sealed record NodeGroupDemand
{
    public int Nodes { get; init; }

    /// <summary>Cores taken on each node; 0 takes every core of the node (a whole-node request).</summary>
    public int CoresPerNode { get; init; } = 1;

    public long MemoryPerNode { get; init; }

    public int GpusPerNode { get; init; }

    public int MaxSwitches { get; init; }

    public int TotalCores { get; init; }

    /// <summary>Indexes of the nodes this group may use, ascending; null: every node.</summary>
    public int[]? Eligible { get; init; }

    /// <summary>What a human reads in an explain record, such as <c>3 nodes with gpu&gt;=2</c>.</summary>
    public string Description { get; init; } = string.Empty;
}

/// <summary>A whole request: groups that start together on distinct nodes (OAR's <c>+</c>).</summary>
public sealed record NodeDemand(IReadOnlyList<NodeGroupDemand> Groups)
{
    public static NodeDemand Nodes(int nodes, int coresPerNode, int[]? eligible = null, int maxSwitches = 0, long memory = 0, int gpus = 0, string? description = null) =>
        new([new NodeGroupDemand
        {
            Nodes = nodes,
            CoresPerNode = coresPerNode,
            Eligible = eligible,
            MaxSwitches = maxSwitches,
            MemoryPerNode = memory,
            GpusPerNode = gpus,
            Description = description ?? $"{nodes} node{(nodes == 1 ? string.Empty : "s")} with {coresPerNode} core{(coresPerNode == 1 ? string.Empty : "s")}",
        }]);

    public static NodeDemand Cores(int cores, int[]? eligible = null, string? description = null) =>
        new([new NodeGroupDemand { Nodes = 0, TotalCores = cores, Eligible = eligible, Description = description ?? $"{cores} cores" }]);

    public override string ToString() => string.Join(" + ", Groups.Select(g => g.Description));
}

/// <summary>The concrete resources of a slot: per node, how many cores, how much memory and how many GPUs.</summary>
public sealed record NodeAlloc(int[] Nodes, int[] Cores, long[] Memory, int[] Gpus)
{
    public static readonly NodeAlloc Empty = new([], [], [], []);
}
