using Heorot.Model;
using Heorot.Model.Resources;

namespace Heorot.Tests.Model.Resources;

public class ClusterModelTests
{
    [Fact]
    public void Synthetic_BenchSize_HasDenseIndexesAndTotals()
    {
        var model = ClusterModel.Synthetic(10_000, switchCount: 100, cpus: 2, coresPerCpu: 16);

        Assert.Equal(10_000, model.Nodes.Count);
        Assert.Equal(100, model.Switches.Count);
        Assert.Equal(320_000, model.TotalCores);
        Assert.All(model.Nodes, (n, i) => Assert.Equal(i, n.Index));
        Assert.Equal(100, model.Switches[0].Nodes.Count);
        Assert.Equal(10_000, model.Clusters[0].Nodes.Count);
        Assert.Equal("n00001", model.Nodes[0].Name);
        Assert.Equal(9_999, model.NodeIndexOf("n10000"));
    }

    [Fact]
    public void Synthetic_SeveralClustersWithGpus_SpreadsSwitchesAndGpus()
    {
        var model = ClusterModel.Synthetic(40, switchCount: 4, gpusPerNode: 4, gpuNodeEvery: 2, clusterCount: 2);

        Assert.Equal(["c1", "c2"], model.Clusters.Select(c => c.Name));
        Assert.Equal([2, 3], model.Clusters[1].Switches);
        Assert.Equal("c2", model.Nodes[39].Cluster);
        Assert.Equal(80, model.TotalGpus);
        Assert.Equal(PropertyValue.Of("A100"), model.Nodes[0].Get("gpu_model"));
        Assert.Null(model.Nodes[1].Get("gpu_model"));
    }

    [Fact]
    public void Get_BuiltInNames_AnswersHierarchyAndResources()
    {
        var model = ClusterModel.Synthetic(4, switchCount: 2, cpus: 2, coresPerCpu: 8, memoryMb: 64 * 1024, gpusPerNode: 2);
        var node = model.Nodes[3];

        Assert.Equal(PropertyValue.Of("c1"), node.Get("cluster"));
        Assert.Equal(PropertyValue.Of("sw02"), node.Get("switch"));
        Assert.Equal(PropertyValue.Of("n00004"), node.Get("node"));
        Assert.Equal(PropertyValue.Of("n00004"), node.Get("host"));
        Assert.Equal(PropertyValue.Of(16), node.Get("cores"));
        Assert.Equal(PropertyValue.Of(2), node.Get("cpus"));
        Assert.Equal(PropertyValue.Of(64), node.Get("mem"));
        Assert.Equal(PropertyValue.Of(2), node.Get("gpu"));
        Assert.Equal(PropertyValue.Of(true), node.Get("ib"));
        Assert.Null(node.Get("nothing"));
        Assert.Equal(1, node.CpuOfCore(8));
    }

    [Fact]
    public void TryGet_KnownAndUnknownNames_FindsOnlyKnown()
    {
        var model = ClusterModel.Synthetic(4, switchCount: 2);

        Assert.True(model.TryGetNode("n00002", out var node));
        Assert.Equal(1, node.Index);
        Assert.True(model.TryGetSwitch("sw02", out var sw));
        Assert.Equal([2, 3], sw.Nodes);
        Assert.True(model.TryGetCluster("c1", out _));
        Assert.False(model.TryGetNode("zz", out _));
        Assert.Equal(-1, model.SwitchIndexOf("zz"));
    }

    [Fact]
    public void AddNode_DuplicateOrReservedProperty_Throws()
    {
        var builder = new ClusterModelBuilder("t");
        int s = builder.AddSwitch(builder.AddCluster("c"), "s");
        builder.AddNode(s, "n1", 1, 1, 1024);

        Assert.Throws<ArgumentException>(() => builder.AddNode(s, "n1", 1, 1, 1024));
        Assert.Throws<ArgumentException>(() => builder.AddNode(
            s, "n2", 1, 1, 1024, 0, new Dictionary<string, PropertyValue> { ["mem"] = PropertyValue.Of(1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.AddNode(s, "n3", 0, 1, 1024));
    }
}
