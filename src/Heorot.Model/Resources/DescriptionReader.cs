using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Heorot.Model.Resources;

/// <summary>Walks the YAML representation model (which keeps every node's position) and collects errors.</summary>
internal sealed partial class DescriptionReader
{
    private const string MemoryKey = "memory";
    private const string CpusKey = "cpus";
    private const string CoresKey = "cores_per_cpu";
    private const string GpusKey = "gpus";
    private const string PropertiesKey = "properties";
    private const string NameKey = "name";
    private const string DefaultsKey = "defaults";

    private static readonly string[] TopKeys = [NameKey, "clusters"];
    private static readonly string[] ClusterKeys = [NameKey, DefaultsKey, "switches"];
    private static readonly string[] SwitchKeys = [NameKey, DefaultsKey, "nodes"];
    private static readonly string[] ShapeKeys = [CpusKey, CoresKey, MemoryKey, GpusKey, PropertiesKey];
    private static readonly string[] NodeKeys = [NameKey, CpusKey, CoresKey, MemoryKey, GpusKey, PropertiesKey];

    private static readonly Shape Empty = new(null, null, null, null, new Dictionary<string, PropertyValue>(StringComparer.Ordinal), false);

    private readonly string file;
    private readonly List<ClusterDescriptionError> errors = [];
    private readonly Dictionary<string, int> clusterLines = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> switchLines = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> nodeLines = new(StringComparer.Ordinal);
    private bool tooManyNodes;

    public DescriptionReader(string file)
    {
        this.file = file;
    }

    public ClusterModel Read(string text)
    {
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(text));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException ex)
        {
            Error(ex.Start, string.Empty, "YAML syntax error: " + SyntaxMessage(ex));
            throw new ClusterDescriptionException(errors);
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner gives up this way on some malformed input (an unclosed '{' for one).
            Error(parser.Current?.End ?? Mark.Empty, string.Empty, "YAML syntax error: malformed text after this point (an unclosed '{' or '['?)");
            throw new ClusterDescriptionException(errors);
        }

        if (stream.Documents.Count != 1)
        {
            if (stream.Documents.Count == 0)
            {
                errors.Add(new ClusterDescriptionError(file, 1, 1, string.Empty, "the file is empty; it should start with 'clusters:'"));
            }
            else
            {
                Error(stream.Documents[1].RootNode.Start, string.Empty, $"expected one YAML document, found {stream.Documents.Count}");
            }

            throw new ClusterDescriptionException(errors);
        }

        var root = stream.Documents[0].RootNode;
        var plan = ReadRoot(root);
        if (errors.Count > 0 || plan is null)
        {
            throw new ClusterDescriptionException(errors);
        }

        return Build(plan);
    }

    private static ClusterModel Build(ModelPlan plan)
    {
        var builder = new ClusterModelBuilder(plan.Name);
        foreach (var cluster in plan.Clusters)
        {
            int c = builder.AddCluster(cluster.Name);
            foreach (var sw in cluster.Switches)
            {
                int s = builder.AddSwitch(c, sw.Name);
                foreach (var group in sw.Groups)
                {
                    foreach (var name in group.Names)
                    {
                        builder.AddNode(s, name, group.Cpus, group.CoresPerCpu, group.MemoryMb, group.Gpus, group.Properties);
                    }
                }
            }
        }

        return builder.Build();
    }

    private static string SyntaxMessage(YamlException ex)
    {
        // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (Line: …): "; the position is reported separately.
        string message = ex.Message;
        int cut = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line:", StringComparison.Ordinal) && cut >= 0 ? message[(cut + 3)..] : message;
    }

    private ModelPlan? ReadRoot(YamlNode root)
    {
        if (root is not YamlMappingNode map)
        {
            Error(root, string.Empty, $"expected a mapping with a 'clusters' list, got {Describe(root)}");
            return null;
        }

        var fields = Fields(map, string.Empty, TopKeys);
        string name = Path.GetFileNameWithoutExtension(file);
        if (fields.TryGetValue(NameKey, out var nameNode))
        {
            name = ReadName(nameNode, NameKey, "model") ?? name;
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            name = "cluster";
        }

        var clusters = new List<ClusterPlan>();
        var list = Required<YamlSequenceNode>(map, fields, string.Empty, "clusters", "a list of clusters");
        if (list is not null)
        {
            for (int i = 0; i < list.Children.Count; i++)
            {
                var cluster = ReadCluster(list.Children[i], $"clusters[{i}]");
                if (cluster is not null)
                {
                    clusters.Add(cluster);
                }
            }
        }

        return new ModelPlan(name, clusters);
    }

    private ClusterPlan? ReadCluster(YamlNode node, string path)
    {
        if (!IsMapping(node, path, "a cluster (name, defaults, switches)", out var map))
        {
            return null;
        }

        var fields = Fields(map, path, ClusterKeys);
        string? name = RequiredName(map, fields, path, "cluster", clusterLines);
        var defaults = ReadDefaults(fields, path).Over(Empty);
        var switches = new List<SwitchPlan>();
        var list = Required<YamlSequenceNode>(map, fields, path, "switches", "a list of switches");
        if (list is not null)
        {
            for (int j = 0; j < list.Children.Count; j++)
            {
                var sw = ReadSwitch(list.Children[j], $"{path}.switches[{j}]", defaults);
                if (sw is not null)
                {
                    switches.Add(sw);
                }
            }
        }

        return name is null ? null : new ClusterPlan(name, switches);
    }

    private SwitchPlan? ReadSwitch(YamlNode node, string path, Shape clusterDefaults)
    {
        if (!IsMapping(node, path, "a switch (name, defaults, nodes)", out var map))
        {
            return null;
        }

        var fields = Fields(map, path, SwitchKeys);
        string? name = RequiredName(map, fields, path, "switch", switchLines);
        var defaults = ReadDefaults(fields, path).Over(clusterDefaults);
        var groups = new List<NodeGroup>();
        string nodesPath = path + ".nodes";
        if (!fields.TryGetValue("nodes", out var nodes))
        {
            Error(map, path, "missing required field 'nodes' (a node set such as \"a[001-032]\" or a list)");
        }
        else if (nodes is YamlScalarNode scalar)
        {
            AddGroup(groups, ReadGroup(scalar, null, nodesPath, defaults));
        }
        else if (nodes is YamlSequenceNode sequence)
        {
            if (sequence.Children.Count == 0)
            {
                Error(sequence, nodesPath, "the list is empty; a switch needs at least one node");
            }

            for (int k = 0; k < sequence.Children.Count; k++)
            {
                string itemPath = $"{nodesPath}[{k}]";
                switch (sequence.Children[k])
                {
                    case YamlScalarNode item:
                        AddGroup(groups, ReadGroup(item, null, itemPath, defaults));
                        break;
                    case YamlMappingNode item:
                        var itemFields = Fields(item, itemPath, NodeKeys);
                        var own = ReadShape(itemFields, itemPath);
                        if (itemFields.TryGetValue(NameKey, out var itemName))
                        {
                            AddGroup(groups, ReadGroup(itemName, item, $"{itemPath}.name", own.Over(defaults)));
                        }
                        else
                        {
                            Error(item, itemPath, "missing required field 'name' (a node name or node set)");
                        }

                        break;
                    default:
                        Error(sequence.Children[k], itemPath, $"expected a node set or a node mapping, got {Describe(sequence.Children[k])}");
                        break;
                }
            }
        }
        else
        {
            Error(nodes, nodesPath, $"expected a node set such as \"a[001-032]\" or a list, got {Describe(nodes)}");
        }

        return name is null ? null : new SwitchPlan(name, groups);
    }

    private static void AddGroup(List<NodeGroup> groups, NodeGroup? group)
    {
        if (group is not null)
        {
            groups.Add(group);
        }
    }

    private NodeGroup? ReadGroup(YamlNode nameNode, YamlMappingNode? entry, string path, Shape shape)
    {
        var scalar = Scalar(nameNode, path, "a node name or node set such as \"a[001-032]\"");
        if (scalar is null)
        {
            return null;
        }

        IReadOnlyList<string> names;
        try
        {
            names = NodeSet.Expand(scalar.Value!);
        }
        catch (NodeSetException ex)
        {
            Error(scalar, path, ex.Message);
            return null;
        }

        // Missing resources are reported on the entry (the mapping when there is one, the node set otherwise).
        YamlNode at = entry ?? (YamlNode)scalar;
        string entryPath = entry is null ? path : path[..path.LastIndexOf('.')];
        var missing = new List<string>(3);
        if (shape.Cpus is null)
        {
            missing.Add($"'{CpusKey}'");
        }

        if (shape.CoresPerCpu is null)
        {
            missing.Add($"'{CoresKey}'");
        }

        if (shape.MemoryMb is null)
        {
            missing.Add($"'{MemoryKey}'");
        }

        bool complete = !shape.Broken && missing.Count == 0;
        if (missing.Count > 0 && !shape.Broken)
        {
            string list = missing.Count == 1 ? missing[0] : string.Join(", ", missing[..^1]) + " and " + missing[^1];
            string verb = missing.Count == 1 ? "is" : "are";
            Error(at, entryPath, $"{list} {verb} not set on the nodes, in the switch defaults or in the cluster defaults");
        }

        var duplicates = new List<string>();
        int firstLine = 0;
        int line = ClusterDescription.LineOf(scalar.Start);
        foreach (var name in names)
        {
            if (!NodeNamePattern().IsMatch(name))
            {
                Error(scalar, path, $"node name '{name}' may only hold letters, digits, '.', '_' and '-'");
                return null;
            }

            if (!nodeLines.TryAdd(name, line))
            {
                if (duplicates.Count == 0)
                {
                    firstLine = nodeLines[name];
                }

                duplicates.Add(name);
            }
        }

        if (duplicates.Count == 1)
        {
            Error(scalar, path, $"duplicate node name '{duplicates[0]}' (first defined at line {firstLine})");
        }
        else if (duplicates.Count > 1)
        {
            Error(scalar, path, $"duplicate node names {NodeSet.Compress(duplicates)} (first defined at line {firstLine})");
        }

        if (nodeLines.Count > NodeSet.MaxNames && !tooManyNodes)
        {
            tooManyNodes = true;
            Error(scalar, path, $"the file describes more than {NodeSet.MaxNames} nodes");
        }

        return complete && duplicates.Count == 0
            ? new NodeGroup(names, shape.Cpus!.Value, shape.CoresPerCpu!.Value, shape.MemoryMb!.Value, shape.Gpus ?? 0, shape.Properties)
            : null;
    }

    private Shape ReadDefaults(Dictionary<string, YamlNode> fields, string path)
    {
        if (!fields.TryGetValue(DefaultsKey, out var node))
        {
            return Empty;
        }

        string defaultsPath = path + "." + DefaultsKey;
        return IsMapping(node, defaultsPath, "a mapping of node defaults", out var map)
            ? ReadShape(Fields(map, defaultsPath, ShapeKeys), defaultsPath)
            : Empty with { Broken = true };
    }

    private Shape ReadShape(Dictionary<string, YamlNode> fields, string path)
    {
        int errorsBefore = errors.Count;
        int? cpus = fields.TryGetValue(CpusKey, out var n) ? ReadCount(n, $"{path}.{CpusKey}", 1) : null;
        int? cores = fields.TryGetValue(CoresKey, out n) ? ReadCount(n, $"{path}.{CoresKey}", 1) : null;
        int? gpus = fields.TryGetValue(GpusKey, out n) ? ReadCount(n, $"{path}.{GpusKey}", 0) : null;
        long? memory = fields.TryGetValue(MemoryKey, out n) ? ReadMemory(n, $"{path}.{MemoryKey}") : null;
        var properties = new Dictionary<string, PropertyValue>(StringComparer.Ordinal);
        if (fields.TryGetValue(PropertiesKey, out n))
        {
            ReadProperties(n, $"{path}.{PropertiesKey}", properties);
        }

        return new Shape(cpus, cores, memory, gpus, properties, errors.Count > errorsBefore);
    }

    private void ReadProperties(YamlNode node, string path, Dictionary<string, PropertyValue> into)
    {
        if (!IsMapping(node, path, "a mapping of property names to values", out var map))
        {
            return;
        }

        foreach (var (keyNode, valueNode) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key } || !PropertyNamePattern().IsMatch(key))
            {
                Error(keyNode, path, $"property names are words of letters, digits and '_' starting with a letter, got {Describe(keyNode)}");
                continue;
            }

            string keyPath = $"{path}.{key}";
            if (NodeInfo.BuiltInNames.Contains(key))
            {
                Error(keyNode, keyPath, $"'{key}' is a built-in name every node answers; choose another property name");
                continue;
            }

            if (valueNode is not YamlScalarNode value || IsNull(value))
            {
                Error(valueNode, keyPath, $"property values must be a string, number or boolean, got {Describe(valueNode)}");
                continue;
            }

            into[key] = PropertyOf(value);
        }
    }

    private static PropertyValue PropertyOf(YamlScalarNode value)
    {
        string text = value.Value ?? string.Empty;
        if (value.Style != ScalarStyle.Plain)
        {
            return PropertyValue.Of(text);
        }

        if (text is "true" or "True" or "TRUE")
        {
            return PropertyValue.Of(true);
        }

        if (text is "false" or "False" or "FALSE")
        {
            return PropertyValue.Of(false);
        }

        return text.Length > 0 && (char.IsAsciiDigit(text[0]) || text[0] is '-' or '+' or '.')
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
            && double.IsFinite(number)
            ? PropertyValue.Of(number)
            : PropertyValue.Of(text);
    }

    private int? ReadCount(YamlNode node, string path, int minimum)
    {
        var scalar = Scalar(node, path, "a whole number");
        if (scalar is null)
        {
            return null;
        }

        if (!int.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int count))
        {
            Error(scalar, path, $"expected a whole number, got '{scalar.Value}'");
            return null;
        }

        if (count < minimum)
        {
            Error(scalar, path, minimum == 1 ? $"must be at least 1, got {count}" : $"must not be negative, got {count}");
            return null;
        }

        if (count > 1_000_000)
        {
            Error(scalar, path, $"{count} is implausibly large");
            return null;
        }

        return count;
    }

    private long? ReadMemory(YamlNode node, string path)
    {
        var scalar = Scalar(node, path, "a size such as 64G");
        if (scalar is null)
        {
            return null;
        }

        if (MemorySize.TryParseMb(scalar.Value!, out long mb))
        {
            return mb;
        }

        bool nonPositive = double.TryParse(scalar.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var plain) && plain <= 0;
        Error(scalar, path, nonPositive
            ? $"must be a positive size, got '{scalar.Value}'"
            : $"expected a size such as 64G, got '{scalar.Value}'");
        return null;
    }

    private string? RequiredName(YamlMappingNode map, Dictionary<string, YamlNode> fields, string path, string what, Dictionary<string, int> seen)
    {
        if (!fields.TryGetValue(NameKey, out var node))
        {
            Error(map, path, $"missing required field 'name' (the {what} name)");
            return null;
        }

        string? name = ReadName(node, $"{path}.{NameKey}", what);
        if (name is null)
        {
            return null;
        }

        int line = ClusterDescription.LineOf(node.Start);
        if (!seen.TryAdd(name, line))
        {
            Error(node, $"{path}.{NameKey}", $"duplicate {what} name '{name}' (first defined at line {seen[name]})");
            return null;
        }

        return name;
    }

    private string? ReadName(YamlNode node, string path, string what)
    {
        var scalar = Scalar(node, path, $"a {what} name");
        if (scalar is null)
        {
            return null;
        }

        if (!NodeNamePattern().IsMatch(scalar.Value!))
        {
            Error(scalar, path, $"a {what} name may only hold letters, digits, '.', '_' and '-', got '{scalar.Value}'");
            return null;
        }

        return scalar.Value;
    }

    private T? Required<T>(YamlMappingNode map, Dictionary<string, YamlNode> fields, string path, string key, string expected)
        where T : YamlNode
    {
        string keyPath = path.Length == 0 ? key : $"{path}.{key}";
        if (!fields.TryGetValue(key, out var node))
        {
            Error(map, path, $"missing required field '{key}' ({expected})");
            return null;
        }

        if (node is not T typed)
        {
            Error(node, keyPath, $"expected {expected}, got {Describe(node)}");
            return null;
        }

        if (typed is YamlSequenceNode { Children.Count: 0 })
        {
            Error(node, keyPath, $"the list is empty; expected {expected}");
            return null;
        }

        return typed;
    }

    private Dictionary<string, YamlNode> Fields(YamlMappingNode map, string path, string[] allowed)
    {
        var fields = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                Error(keyNode, path, $"field names must be plain words, got {Describe(keyNode)}");
                continue;
            }

            if (Array.IndexOf(allowed, key) < 0)
            {
                string? near = Nearest(key, allowed);
                string hint = near is null ? $"expected one of: {string.Join(", ", allowed)}" : $"did you mean '{near}'?";
                Error(keyNode, path.Length == 0 ? key : $"{path}.{key}", $"unknown field '{key}'; {hint}");
                continue;
            }

            fields[key] = value;
        }

        return fields;
    }

    private bool IsMapping(YamlNode node, string path, string expected, out YamlMappingNode map)
    {
        if (node is YamlMappingNode m)
        {
            map = m;
            return true;
        }

        map = null!;
        Error(node, path, $"expected {expected}, got {Describe(node)}");
        return false;
    }

    private YamlScalarNode? Scalar(YamlNode node, string path, string expected)
    {
        if (node is YamlScalarNode scalar && !IsNull(scalar))
        {
            return scalar;
        }

        Error(node, path, $"expected {expected}, got {Describe(node)}");
        return null;
    }

    private static bool IsNull(YamlScalarNode scalar) =>
        scalar.Style == ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s when IsNull(s) => "nothing",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "something else",
    };

    private static string? Nearest(string key, string[] allowed)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var candidate in allowed)
        {
            int distance = Distance(key.ToLowerInvariant(), candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return bestDistance <= Math.Max(1, Math.Min(3, key.Length / 3)) ? best : null;
    }

    // Optimal string alignment distance (Levenshtein plus adjacent transpositions).
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    private void Error(YamlNode node, string path, string message) => Error(node.Start, path, message);

    private void Error(Mark mark, string path, string message) =>
        errors.Add(new ClusterDescriptionError(file, ClusterDescription.LineOf(mark), ClusterDescription.ColumnOf(mark), path, message));

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex NodeNamePattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex PropertyNamePattern();

    /// <summary>Resources being inherited; <paramref name="Broken"/> when a field was present but invalid.</summary>
    private sealed record Shape(int? Cpus, int? CoresPerCpu, long? MemoryMb, int? Gpus, Dictionary<string, PropertyValue> Properties, bool Broken)
    {
        public Shape Over(Shape parent)
        {
            var properties = new Dictionary<string, PropertyValue>(parent.Properties, StringComparer.Ordinal);
            foreach (var (key, value) in Properties)
            {
                properties[key] = value;
            }

            return new Shape(Cpus ?? parent.Cpus, CoresPerCpu ?? parent.CoresPerCpu, MemoryMb ?? parent.MemoryMb, Gpus ?? parent.Gpus, properties, Broken || parent.Broken);
        }
    }

    private sealed record ModelPlan(string Name, List<ClusterPlan> Clusters);

    private sealed record ClusterPlan(string Name, List<SwitchPlan> Switches);

    private sealed record SwitchPlan(string Name, List<NodeGroup> Groups);

    private sealed record NodeGroup(IReadOnlyList<string> Names, int Cpus, int CoresPerCpu, long MemoryMb, int Gpus, Dictionary<string, PropertyValue> Properties);
}
