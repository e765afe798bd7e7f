using System.Globalization;
using Heorot.Drivers.Power;
using Heorot.Model.Resources;
using Heorot.Scheduling.Live;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Heorot.Server.Power;

/// <summary>The power file is wrong: every problem found, each with its position. Never echoes a value.</summary>
public sealed class PowerConfigException : Exception
{
    public PowerConfigException(string message)
        : base(message)
    {
    }

    public PowerConfigException()
    {
    }

    public PowerConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The server's power file (<c>heorot server --power FILE</c>): which nodes Heorot powers, through which driver
/// and BMC credentials, and how the elastic manager behaves. It holds secrets, so it must be readable by its
/// owner only (mode 0600 or stricter): a file others can read is refused. See docs/power.md.
/// <code>
/// elastic: { enabled: true, idle: 600, keepWarm: 1, partition: cluster }
/// nodes:
///   b1:      { driver: ipmi, host: 10.0.0.11, username: admin, password: secret }
///   "c[1-4]": { driver: command, on: [/usr/local/sbin/pdu, on, "{node}"], off: [...], status: [...] }
/// </code>
/// </summary>
public sealed record PowerConfig
{
    private static readonly string[] TopKeys = ["elastic", "nodes"];

    public ElasticOptions Elastic { get; init; } = new();

    /// <summary>Whether the elastic manager runs (power commands by operators work either way).</summary>
    public bool ElasticEnabled { get; init; }

    /// <summary>Node property naming a node's partition, for keep-warm; null: one partition.</summary>
    public string? PartitionProperty { get; init; }

    /// <summary>BMCs talked to at once by one command.</summary>
    public int Window { get; init; } = 8;

    /// <summary>
    /// A power-managed node Suspected this long (its heartbeat lost, its health check failing) is power-cycled,
    /// up to the elastic settings' MaxCycles times; still failing after that, it is Down, then Dead.
    /// </summary>
    public TimeSpan CycleSuspectedAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one BMC call may take before it counts as a hung BMC.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyDictionary<string, PowerSettings> Nodes { get; init; } = new Dictionary<string, PowerSettings>(StringComparer.Ordinal);

    public static PowerConfig Load(string path, bool checkMode = true)
    {
        string text;
        try
        {
            if (checkMode && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            {
                throw new PowerConfigException($"{path}: holds BMC credentials, so only its owner may read it: chmod 600 {path}");
            }

            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PowerConfigException($"{path}: cannot read the power file: {e.Message}", e);
        }

        return Parse(text, path);
    }

    public static PowerConfig Parse(string text, string file)
    {
        var errors = new List<string>();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new PowerConfigException($"{file}:{e.Start.Line}:{e.Start.Column}: YAML syntax error: {e.InnerException?.Message ?? e.Message}");
        }

        if (stream.Documents.Count == 0)
        {
            return new PowerConfig();
        }

        string At(YamlNode node) => $"{file}:{node.Start.Line}:{node.Start.Column}";
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new PowerConfigException($"{At(stream.Documents[0].RootNode)}: expected a mapping with 'elastic' and 'nodes'");
        }

        var config = new PowerConfig();
        var nodes = new Dictionary<string, PowerSettings>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in root.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            switch (key)
            {
                case "elastic":
                    config = ReadElastic(value, config, At, errors);
                    break;
                case "nodes":
                    ReadNodes(value, nodes, At, errors);
                    break;
                default:
                    errors.Add($"{At(keyNode)}: unknown key '{key}' (expected {string.Join(" or ", TopKeys)})");
                    break;
            }
        }

        return errors.Count > 0 ? throw new PowerConfigException(string.Join("\n", errors)) : config with { Nodes = nodes };
    }

    /// <summary>Builds every node's driver, checking its settings and its driver's offline validation.</summary>
    public IReadOnlyDictionary<string, IPowerDriver> CreateDrivers()
    {
        var drivers = new Dictionary<string, IPowerDriver>(StringComparer.Ordinal);
        var errors = new List<string>();
        foreach (var (name, settings) in Nodes)
        {
            try
            {
                var driver = PowerDrivers.Create(settings);
                var validation = driver.Validate();
                if (!validation.IsValid)
                {
                    errors.Add($"{settings.Where}: nodes.{name}: {string.Join("; ", validation.Problems)}");
                    continue;
                }

                drivers[name] = driver;
            }
            catch (PowerException e)
            {
                errors.Add(e.Message);
            }
        }

        return errors.Count > 0 ? throw new PowerConfigException(string.Join("\n", errors)) : drivers;
    }

    private static PowerConfig ReadElastic(YamlNode value, PowerConfig config, Func<YamlNode, string> at, List<string> errors)
    {
        if (value is not YamlMappingNode map)
        {
            errors.Add($"{at(value)}: elastic: expected a mapping");
            return config;
        }

        var elastic = config.Elastic;
        foreach (var (keyNode, v) in map.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            var text = (v as YamlScalarNode)?.Value;
            if (text == null)
            {
                errors.Add($"{at(v)}: elastic.{key}: expected a single value");
                continue;
            }

            long Seconds() => ParseSeconds(text) ?? Fail<long>();
            int Count(int max) => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0 && n <= max ? n : Fail<int>();
            bool Flag() => text switch { "true" or "yes" or "on" => true, "false" or "no" or "off" => false, _ => Fail<bool>() };
            T Fail<T>()
            {
                errors.Add($"{at(v)}: elastic.{key}: '{text}' is not valid here");
                return default!;
            }

            switch (key)
            {
                case "enabled": config = config with { ElasticEnabled = Flag() }; break;
                case "idle": elastic = elastic with { IdleSeconds = Seconds() }; break;
                case "breakEven": elastic = elastic with { BreakEvenSeconds = Seconds() }; break;
                case "shutdown": elastic = elastic with { ShutdownSeconds = Seconds() }; break;
                case "boot": elastic = elastic with { DefaultBootSeconds = Seconds() }; break;
                case "lead": elastic = elastic with { LeadSeconds = Seconds() }; break;
                case "keepWarm": elastic = elastic with { KeepWarm = Count(100_000) }; break;
                case "maxActionsPerMinute": elastic = elastic with { MaxActionsPerMinute = Count(100_000) }; break;
                case "maxCycles": elastic = elastic with { MaxCycles = Count(100) }; break;
                case "bootTimeoutSlack": elastic = elastic with { BootTimeoutSlackSeconds = Seconds() }; break;
                case "powerOffIdle": elastic = elastic with { PowerOffIdle = Flag() }; break;
                case "window": config = config with { Window = Math.Max(1, Count(10_000)) }; break;
                case "callTimeout": config = config with { CallTimeout = TimeSpan.FromSeconds(Math.Max(1, Seconds())) }; break;
                case "partition": config = config with { PartitionProperty = text }; break;
                case "cycleSuspectedAfter": config = config with { CycleSuspectedAfter = TimeSpan.FromSeconds(Seconds()) }; break;
                default:
                    errors.Add($"{at(keyNode)}: elastic: unknown key '{key}' (expected enabled, idle, breakEven, shutdown, boot, lead, keepWarm, partition, maxActionsPerMinute, maxCycles, bootTimeoutSlack, powerOffIdle, window, callTimeout, cycleSuspectedAfter)");
                    break;
            }
        }

        return config with { Elastic = elastic };
    }

    private static void ReadNodes(YamlNode value, Dictionary<string, PowerSettings> nodes, Func<YamlNode, string> at, List<string> errors)
    {
        if (value is not YamlMappingNode map)
        {
            errors.Add($"{at(value)}: nodes: expected a mapping of node (or node set) to driver settings");
            return;
        }

        foreach (var (keyNode, v) in map.Children)
        {
            var expression = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            IReadOnlyList<string> names;
            try
            {
                names = NodeSet.Expand(expression);
            }
            catch (NodeSetException e)
            {
                errors.Add($"{at(keyNode)}: nodes: '{expression}' is not a node set: {e.Message}");
                continue;
            }

            if (v is not YamlMappingNode entry)
            {
                errors.Add($"{at(v)}: nodes.{expression}: expected a mapping (driver: ..., and its settings)");
                continue;
            }

            foreach (var name in names)
            {
                if (!Control.ControlPlane.IsValidNodeName(name))
                {
                    errors.Add($"{at(keyNode)}: nodes: '{name}' is not a node name");
                    continue;
                }

                if (nodes.ContainsKey(name))
                {
                    errors.Add($"{at(keyNode)}: nodes: {name} is configured twice");
                    continue;
                }

                var settings = new PowerSettings(name, at(keyNode));
                foreach (var (settingKey, settingValue) in entry.Children)
                {
                    var key = ((YamlScalarNode)settingKey).Value ?? string.Empty;
                    switch (settingValue)
                    {
                        case YamlScalarNode scalar:
                            settings.Set(key, Substitute(scalar.Value ?? string.Empty, name), at(settingValue));
                            break;
                        case YamlSequenceNode list when list.Children.All(c => c is YamlScalarNode):
                            settings.SetList(key, list.Children.Select(c => Substitute(((YamlScalarNode)c).Value ?? string.Empty, name)).ToList(), at(settingValue));
                            break;
                        default:
                            errors.Add($"{at(settingValue)}: nodes.{expression}.{key}: expected a value or a list of values");
                            break;
                    }
                }

                try
                {
                    DeclaredResources(settings);
                }
                catch (PowerException e)
                {
                    errors.Add(e.Message);
                }

                nodes[name] = settings;
            }
        }
    }

    /// <summary>
    /// The resources a node's entry declares (<c>cores:</c>, and <c>memory:</c> in MiB or with a unit), as Slurm's
    /// node lines do for power saving: the plan counts on a declared node that has never registered, so a job can
    /// wake it. Null when the entry declares none; its agent's registration wins once it has booted.
    /// </summary>
    /// <exception cref="PowerException">InvalidConfig: a bad value, or memory without cores.</exception>
    public static (int Cores, long MemoryMb)? DeclaredResources(PowerSettings settings)
    {
        var cores = settings.Int("cores", 1, 100_000);
        long memory = 0;
        if (settings.String("memory") is { } text && !MemorySize.TryParseMb(text, out memory))
        {
            throw settings.Invalid("memory", "expected a size such as 4096 (MiB) or 16G");
        }

        return cores switch
        {
            { } c => (c, memory),
            null when settings.Has("memory") => throw settings.Invalid(
                "memory",
                "declare the node's cores as well" + (settings.Driver == "qemu" ? " (memory and cores are what the node offers to jobs; the VM's own size is 'ram' and 'cpus')" : string.Empty)),
            _ => null,
        };
    }

    /// <summary><c>{node}</c> is the node's name, so one entry can serve a node set.</summary>
    private static string Substitute(string value, string node) => value.Replace("{node}", node, StringComparison.Ordinal);

    /// <summary>Seconds, or a number with a unit: <c>90</c>, <c>90s</c>, <c>10m</c>, <c>2h</c>.</summary>
    internal static long? ParseSeconds(string text)
    {
        var unit = text.Length > 0 && char.IsLetter(text[^1]) ? text[^1] : 's';
        var digits = char.IsLetter(text.Length > 0 ? text[^1] : '0') ? text[..^1] : text;
        if (!long.TryParse(digits, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 0)
        {
            return null;
        }

        return unit switch { 's' => n, 'm' => n * 60, 'h' => n * 3600, _ => null };
    }
}
