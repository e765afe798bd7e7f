namespace Heorot.Scheduling.Timeline;

/// <summary>The static hardware the Gantt plans on: nodes (dense indexes) with cores, memory, GPUs and a switch.</summary>
public sealed record ClusterShape
{
    public ClusterShape(int[] cores, long[] memory, int[] gpus, int[] switchOf, string[]? names = null)
    {
        if (cores.Length != memory.Length || cores.Length != gpus.Length || cores.Length != switchOf.Length)
        {
            throw new ArgumentException("every per-node array must have one entry per node");
        }

        Cores = cores;
        Memory = memory;
        Gpus = gpus;
        SwitchOf = switchOf;
        SwitchCount = switchOf.Length == 0 ? 0 : switchOf.Max() + 1;
        Names = names ?? Enumerable.Range(0, cores.Length).Select(i => $"node{i}").ToArray();
    }

    public int NodeCount => Cores.Length;

    public int[] Cores { get; }

    public long[] Memory { get; }

    public int[] Gpus { get; }

    public int[] SwitchOf { get; }

    public int SwitchCount { get; }

    public string[] Names { get; }

    /// <summary>N identical nodes spread evenly over S switches (tests and benchmarks).</summary>
    public static ClusterShape Uniform(int nodes, int coresPerNode, int switches = 1, long memory = 0, int gpus = 0) =>
        new(
            Enumerable.Repeat(coresPerNode, nodes).ToArray(),
            Enumerable.Repeat(memory, nodes).ToArray(),
            Enumerable.Repeat(gpus, nodes).ToArray(),
            Enumerable.Range(0, nodes).Select(i => (int)((long)i * switches / Math.Max(1, nodes))).ToArray());
}
