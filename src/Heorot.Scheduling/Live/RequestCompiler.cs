using System.Globalization;
using Heorot.Model.Requests;
using Heorot.Model.Resources;
using Heorot.Scheduling.Timeline;

namespace Heorot.Scheduling.Live;

/// <summary>
/// Turns a parsed request (one syntax tree, whatever its front-end) into the Gantt's demands for a given
/// cluster: property filters become sets of eligible nodes, evaluated once per distinct filter; levels become
/// node counts, cores per node and switch spread.
/// </summary>
/// <remarks>
/// Level semantics: <c>/switch=S/node=N</c> asks for S×N nodes on at most S switches; <c>cpu=C</c> without a
/// core level means C whole sockets (C × the node's cores per socket); a request without a node level asks for
/// cores anywhere, packed onto as few nodes as possible; <c>cluster=</c> counts are accepted but not enforced
/// yet. <c>ALL</c> takes every eligible node, the whole node for cores or sockets, every GPU of the smallest eligible
/// GPU node, or every switch the eligible nodes hang from. Memory on a request without a node level is not
/// accounted yet (cores anywhere are counted only).
/// </remarks>
public sealed class RequestCompiler
{
    private readonly ClusterModel _cluster;
    private readonly Dictionary<string, int[]> _eligibleCache = new(StringComparer.Ordinal);
    private readonly Dictionary<int[], (int Cores, int CoresPerCpu, int Gpus)> _smallestCache = new(ReferenceEqualityComparer.Instance);

    public RequestCompiler(ClusterModel cluster)
    {
        _cluster = cluster;
        Shape = ToShape(cluster);
    }

    public ClusterShape Shape { get; }

    /// <summary>The Gantt's static picture of a cluster description.</summary>
    public static ClusterShape ToShape(ClusterModel cluster) => new(
        cluster.Nodes.Select(n => n.Cores).ToArray(),
        cluster.Nodes.Select(n => n.MemoryMb).ToArray(),
        cluster.Nodes.Select(n => n.Gpus).ToArray(),
        cluster.Nodes.Select(n => n.SwitchIndex).ToArray(),
        cluster.Nodes.Select(n => n.Name).ToArray());

    /// <summary>Every alternative of the request with its walltime (the default when the request gives none).</summary>
    public IReadOnlyList<JobAlternative> Compile(JobRequest request, TimeSpan defaultWalltime) =>
        request.Alternatives.Select(a => new JobAlternative(Compile(a), (long)Math.Ceiling((a.Walltime ?? defaultWalltime).TotalSeconds))).ToList();

    public NodeDemand Compile(ResourceAlternative alternative) =>
        new(alternative.Groups.Select(g => Compile(g, alternative.Filter)).ToList());

    private NodeGroupDemand Compile(ResourceGroup group, PropertyExpr? alternativeFilter)
    {
        int? switches = null, nodes = null, cpus = null, cores = null, gpus = group.GpusPerNode;
        foreach (var level in group.Levels)
        {
            switch (level.Level)
            {
                case ResourceLevel.Switch:
                    switches = level.Count;
                    break;
                case ResourceLevel.Node:
                    nodes = level.Count;
                    break;
                case ResourceLevel.Cpu:
                    cpus = level.Count;
                    break;
                case ResourceLevel.Core:
                    cores = level.Count;
                    break;
                case ResourceLevel.Gpu:
                    gpus = level.Count;
                    break;
                default:
                    break; // cluster: not enforced yet (see remarks)
            }
        }

        var filters = new[] { alternativeFilter, group.Filter }.Where(f => f != null).Select(f => f!).ToList();
        var eligible = Eligible(filters);
        var filterText = filters.Count == 0 ? string.Empty : " with " + string.Join(" and ", filters.Select(f => f.ToString()));
        var (minCores, minCoresPerCpu, minGpus) = Smallest(eligible);

        // ALL cores or sockets of a node is the whole node; counts multiply in 64 bits and saturate, so a
        // request larger than any cluster stays larger (and is refused with a reason) instead of wrapping.
        var perNodeCores = (cpus, cores) switch
        {
            (null or LevelCount.All, null or LevelCount.All) => 0, // whole nodes, as OAR's /nodes=N
            ({ } c, null) => Saturate((long)c * minCoresPerCpu),
            (null, { } k) => k,
            ({ } c, { } k) => Saturate((long)(c == LevelCount.All ? Math.Max(1, minCores / Math.Max(1, minCoresPerCpu)) : c) * (k == LevelCount.All ? minCoresPerCpu : k)),
        };

        if (gpus == LevelCount.All)
        {
            gpus = Math.Max(1, minGpus); // every GPU of the smallest eligible GPU node
        }

        if (nodes == null && switches == null && gpus == null && (cpus != null || cores != null))
        {
            return new NodeGroupDemand
            {
                Nodes = 0,
                TotalCores = perNodeCores,
                Eligible = eligible,
                Description = string.Create(CultureInfo.InvariantCulture, $"{perNodeCores} cores{filterText}"),
            };
        }

        // ALL nodes of an empty set still asks for one node, which then matches nothing (and says so).
        var nodeCount = nodes == LevelCount.All ? Math.Max(1, eligible.Length) : nodes ?? 1;
        var spread = switches == LevelCount.All ? Math.Max(1, eligible.Select(n => _cluster.Nodes[n].SwitchIndex).Distinct().Count()) : switches ?? 0;
        var total = spread > 0 ? Saturate((long)nodeCount * spread) : nodeCount;
        var gpuText = gpus is > 0 ? string.Create(CultureInfo.InvariantCulture, $", {gpus} GPU{(gpus == 1 ? string.Empty : "s")}") : string.Empty;
        var switchText = spread > 0 ? string.Create(CultureInfo.InvariantCulture, $" under {spread} switch{(spread == 1 ? string.Empty : "es")}") : string.Empty;
        return new NodeGroupDemand
        {
            Nodes = total,
            CoresPerNode = perNodeCores,
            MemoryPerNode = group.MemoryPerNodeMb ?? 0,
            GpusPerNode = gpus ?? 0,
            MaxSwitches = spread,
            Eligible = eligible,
            Description = perNodeCores == 0
                ? string.Create(CultureInfo.InvariantCulture, $"{total} whole node{(total == 1 ? string.Empty : "s")}{gpuText}{switchText}{filterText}")
                : string.Create(CultureInfo.InvariantCulture, $"{total} node{(total == 1 ? string.Empty : "s")} × {perNodeCores} core{(perNodeCores == 1 ? string.Empty : "s")}{gpuText}{switchText}{filterText}"),
        };
    }

    private static int Saturate(long value) => (int)Math.Clamp(value, 1, int.MaxValue);

    /// <summary>The fewest cores, cores per socket and GPUs (among GPU nodes) of the eligible nodes, once per node set.</summary>
    private (int Cores, int CoresPerCpu, int Gpus) Smallest(int[] eligible)
    {
        if (_smallestCache.TryGetValue(eligible, out var cached))
        {
            return cached;
        }

        var gpuNodes = eligible.Where(i => _cluster.Nodes[i].Gpus > 0).ToList();
        var result = eligible.Length == 0
            ? (1, 1, 0)
            : (eligible.Min(i => _cluster.Nodes[i].Cores), eligible.Min(i => _cluster.Nodes[i].CoresPerCpu), gpuNodes.Count == 0 ? 0 : gpuNodes.Min(i => _cluster.Nodes[i].Gpus));
        _smallestCache[eligible] = result;
        return result;
    }

    private int[] Eligible(List<PropertyExpr> filters)
    {
        var key = string.Join("\u0001", filters.Select(f => f.ToString()));
        if (_eligibleCache.TryGetValue(key, out var cached))
        {
            return cached;
        }

        var result = _cluster.Nodes.Where(n => filters.All(f => f.Evaluate(n))).Select(n => n.Index).ToArray();
        _eligibleCache[key] = result;
        return result;
    }
}
