using Heorot.Model;
using Heorot.Model.Resources;

namespace Heorot.Tests.Model.Resources;

public class ClusterDescriptionTests
{
    private const string Valid = """
        clusters:
          - name: a
            defaults: { cpus: 2, cores_per_cpu: 16, memory: 192G, gpus: 0, properties: { model: "X540", ib: true } }
            switches:
              - name: sw1
                nodes: "a[001-032]"
              - name: sw2
                nodes:
                  - name: "a[033-040]"
                    gpus: 4
                    properties: { gpu_model: "A100", rank: 2.5 }
          - name: b
            switches:
              - name: sw3
                defaults: { cpus: 1, cores_per_cpu: 8, memory: 65536 }
                nodes: [ b1, "b[2-3]" ]
        """;

    private static ClusterDescriptionException Fails(string yaml)
    {
        var ex = Assert.Throws<ClusterDescriptionException>(() => ClusterDescription.Parse(yaml, "cluster.yaml"));
        Assert.NotEmpty(ex.Errors);
        return ex;
    }

    [Fact]
    public void Parse_ValidFile_BuildsHierarchyWithInheritedDefaults()
    {
        var model = ClusterDescription.Parse(Valid, "cluster.yaml");

        Assert.Equal("cluster", model.Name);
        Assert.Equal(["a", "b"], model.Clusters.Select(c => c.Name));
        Assert.Equal(["sw1", "sw2", "sw3"], model.Switches.Select(s => s.Name));
        Assert.Equal(43, model.Nodes.Count);
        Assert.Equal(32, model.NodeIndexOf("a033"));
        Assert.Equal("b", model.Switches[2].Cluster);

        var gpuNode = model.Nodes[model.NodeIndexOf("a040")];
        Assert.Equal(("sw2", 4, 32, 196608L), (gpuNode.Switch, gpuNode.Gpus, gpuNode.Cores, gpuNode.MemoryMb));
        Assert.Equal(PropertyValue.Of("X540"), gpuNode.Get("model"));
        Assert.Equal(PropertyValue.Of(true), gpuNode.Get("ib"));
        Assert.Equal(PropertyValue.Of("A100"), gpuNode.Get("gpu_model"));
        Assert.Equal(PropertyValue.Of(2.5), gpuNode.Get("rank"));
        Assert.Null(model.Nodes[0].Get("gpu_model"));

        var small = model.Nodes[^1];
        Assert.Equal(("b3", 8, 64.0, 0), (small.Name, small.Cores, small.MemoryGb, small.Gpus));
        Assert.Empty(small.Properties);
    }

    [Fact]
    public void Parse_NamedModel_UsesTopLevelName()
    {
        var model = ClusterDescription.Parse("name: prod\n" + Valid, "x.yaml");
        Assert.Equal("prod", model.Name);
    }

    [Fact]
    public void Parse_BadMemory_NamesFileLineColumnAndField()
    {
        var ex = Fails("""
            clusters:
              - name: a
                defaults: { cpus: 2, cores_per_cpu: 16, memory: 64Q }
                switches:
                  - name: s
                    nodes: n1
            """);

        var error = Assert.Single(ex.Errors);
        Assert.Equal(
            "cluster.yaml:3:53: clusters[0].defaults.memory: expected a size such as 64G, got '64Q'",
            error.ToString());
        Assert.Equal(error.ToString(), ex.Message);
    }

    [Fact]
    public void Parse_UnknownField_SuggestsNearMiss()
    {
        var ex = Fails("""
            clusters:
              - name: a
                switches:
                  - name: s
                    nodes:
                      - name: n1
                        cpus: 1
                        cores_per_cpu: 1
                        memroy: 1G
                        memory: 1G
                        colour: red
            """);

        Assert.Equal(2, ex.Errors.Count);
        Assert.Equal(
            "cluster.yaml:9:13: clusters[0].switches[0].nodes[0].memroy: unknown field 'memroy'; did you mean 'memory'?",
            ex.Errors[0].ToString());
        Assert.StartsWith("unknown field 'colour'; expected one of: name, cpus", ex.Errors[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WrongTypesAndCounts_ReportsEveryError()
    {
        var ex = Fails("""
            clusters:
              - name: a
                defaults: { cpus: two, cores_per_cpu: 0, memory: 0, gpus: -1 }
                switches: sw1
              - name: [x]
                switches:
                  - name: s2
                    nodes: "b1"
            """);

        var byField = ex.Errors.ToDictionary(e => e.Field, e => e.Message);
        Assert.Equal("expected a whole number, got 'two'", byField["clusters[0].defaults.cpus"]);
        Assert.Equal("must be at least 1, got 0", byField["clusters[0].defaults.cores_per_cpu"]);
        Assert.Equal("must be a positive size, got '0'", byField["clusters[0].defaults.memory"]);
        Assert.Equal("must not be negative, got -1", byField["clusters[0].defaults.gpus"]);
        Assert.Equal("expected a list of switches, got 'sw1'", byField["clusters[0].switches"]);
        Assert.Equal("expected a cluster name, got a list", byField["clusters[1].name"]);
        Assert.Equal(
            "'cpus', 'cores_per_cpu' and 'memory' are not set on the nodes, in the switch defaults or in the cluster defaults",
            byField["clusters[1].switches[0].nodes"]);
        Assert.Equal(4, ex.Errors.Single(e => e.Field == "clusters[0].switches").Line);
    }

    [Fact]
    public void Parse_DuplicateNames_PointsAtFirstDefinition()
    {
        var ex = Fails("""
            clusters:
              - name: a
                defaults: { cpus: 1, cores_per_cpu: 1, memory: 1G }
                switches:
                  - name: s1
                    nodes: "n[1-4]"
                  - name: s1
                    nodes: "n[3-5]"
                  - name: s3
                    nodes: "n6,n1"
              - name: a
                switches: [ { name: s4, nodes: m1, defaults: { cpus: 1, cores_per_cpu: 1, memory: 1G } } ]
            """);

        Assert.Equal(
            [
                "cluster.yaml:7:15: clusters[0].switches[1].name: duplicate switch name 's1' (first defined at line 5)",
                "cluster.yaml:8:16: clusters[0].switches[1].nodes: duplicate node names n[3-4] (first defined at line 6)",
                "cluster.yaml:10:16: clusters[0].switches[2].nodes: duplicate node name 'n1' (first defined at line 6)",
                "cluster.yaml:11:11: clusters[1].name: duplicate cluster name 'a' (first defined at line 2)",
            ],
            ex.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Parse_MalformedNodeSet_ReportsNodeSetError()
    {
        var ex = Fails("""
            clusters:
              - name: a
                defaults: { cpus: 1, cores_per_cpu: 1, memory: 1G }
                switches:
                  - name: s1
                    nodes: [ "n[1-4", { name: "m[3-1]" } ]
            """);

        Assert.Equal(2, ex.Errors.Count);
        Assert.Equal("clusters[0].switches[0].nodes[0]", ex.Errors[0].Field);
        Assert.Contains("'[' is never closed", ex.Errors[0].Message, StringComparison.Ordinal);
        Assert.Equal("clusters[0].switches[0].nodes[1].name", ex.Errors[1].Field);
        Assert.Contains("goes downwards", ex.Errors[1].Message, StringComparison.Ordinal);
        Assert.Equal((6, 18), (ex.Errors[0].Line, ex.Errors[0].Column));
    }

    [Fact]
    public void Parse_NonScalarOrReservedProperty_IsRejected()
    {
        var ex = Fails("""
            clusters:
              - name: a
                defaults: { cpus: 1, cores_per_cpu: 1, memory: 1G, properties: { tags: [x, y], mem: 4, ok: 1, empty: } }
                switches: [ { name: s1, nodes: n1 } ]
            """);

        Assert.Equal(
            [
                "clusters[0].defaults.properties.tags: property values must be a string, number or boolean, got a list",
                "clusters[0].defaults.properties.mem: 'mem' is a built-in name every node answers; choose another property name",
                "clusters[0].defaults.properties.empty: property values must be a string, number or boolean, got nothing",
            ],
            ex.Errors.Select(e => $"{e.Field}: {e.Message}"));
    }

    [Fact]
    public void Parse_YamlSyntaxError_ReportsYamlLine()
    {
        var ex = Fails("""
            clusters:
              - name: a
                defaults: { cpus: 1
                switches: []
            """);

        var error = Assert.Single(ex.Errors);
        Assert.StartsWith("YAML syntax error: ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Line:", error.Message, StringComparison.Ordinal);
        Assert.InRange(error.Line, 3, 5);
        Assert.Equal(string.Empty, error.Field);
    }

    [Fact]
    public void Parse_BadIndentation_ReportsYamlPositionWithoutPrefix()
    {
        var ex = Fails("clusters:\n  - name: a\n    switches: x\n   oops: [\n");

        var error = Assert.Single(ex.Errors);
        Assert.StartsWith("YAML syntax error: ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Line:", error.Message, StringComparison.Ordinal);
        Assert.True(error.Line >= 3, error.ToString());
    }

    [Fact]
    public void Parse_DuplicateYamlKey_IsAnError()
    {
        var ex = Fails("""
            clusters:
              - name: a
                name: b
                switches: [ { name: s1, nodes: n1 } ]
            """);

        Assert.Equal(3, ex.Errors[0].Line);
    }

    [Theory]
    [InlineData("", "the file is empty")]
    [InlineData("# only a comment\n", "the file is empty")]
    [InlineData("- a\n- b\n", "expected a mapping with a 'clusters' list, got a list")]
    [InlineData("clusters: []\n", "the list is empty")]
    [InlineData("name: x\n", "missing required field 'clusters'")]
    [InlineData("clusters: [ { name: a, switches: [ { name: s } ] } ]\n", "missing required field 'nodes'")]
    [InlineData("clusters: [ { switches: [] } ]\n", "missing required field 'name'")]
    [InlineData("clusters:\n  - name: a\n---\nclusters: []\n", "expected one YAML document, found 2")]
    [InlineData("clusters: [ { name: 'a b', switches: [ { name: s, nodes: 'n/1' } ] } ]\n", "may only hold letters")]
    public void Parse_StructuralProblem_ReportsIt(string yaml, string expected)
    {
        var ex = Fails(yaml);
        Assert.Contains(ex.Errors, e => e.Message.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Load_MissingFile_ThrowsDescriptionException()
    {
        string path = Path.Combine(Path.GetTempPath(), "heorot-missing-" + Guid.NewGuid().ToString("N") + ".yaml");
        var ex = Assert.Throws<ClusterDescriptionException>(() => ClusterDescription.Load(path));
        Assert.StartsWith(path + ": cannot read the file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ExampleFile_Parses()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Heorot.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
        }

        var model = ClusterDescription.Load(Path.Combine(root, "examples", "cluster.yaml"));

        Assert.Equal("example", model.Name);
        Assert.Equal(["a", "b"], model.Clusters.Select(c => c.Name));
        Assert.Equal(65, model.Nodes.Count);
        Assert.Equal(4 * 4 + 5 * 8, model.TotalGpus);
        Assert.True(model.TryGetNode("b21", out var big));
        Assert.Equal((1024.0, 8, "H100"), (big.MemoryGb, big.Gpus, big.Get("gpu_model")?.Text));
        Assert.Equal(PropertyValue.Of(true), model.Nodes[model.NodeIndexOf("a041")].Get("bigmem"));
    }
}
