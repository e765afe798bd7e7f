using System.Globalization;
using System.Text;

namespace Heorot.Model.Requests;

/// <summary>
/// A level of the resource hierarchy, declared from outer to inner: a request lists levels in this order.
/// GPUs sit under nodes and above CPUs and cores (cores may be attached to a GPU, as in OAR).
/// </summary>
public enum ResourceLevel
{
    Cluster,
    Switch,
    Node,
    Gpu,
    Cpu,
    Core,
}

/// <summary>How many of <see cref="Level"/> are wanted per enclosing unit; <see cref="All"/> means all of them.</summary>
public readonly record struct LevelCount
{
    /// <summary>The count value meaning "all of them" (written <c>ALL</c>).</summary>
    public const int All = -1;

    public LevelCount(ResourceLevel level, int count)
    {
        if (!Enum.IsDefined(level))
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, "unknown level");
        }

        if (count < 1 && count != All)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "count must be positive or All");
        }

        Level = level;
        Count = count;
    }

    public ResourceLevel Level { get; }

    public int Count { get; }

    public bool IsAll => Count == All;

    public override string ToString() =>
        Levels.Name(Level) + "=" + (IsAll ? "ALL" : Count.ToString(CultureInfo.InvariantCulture));
}

/// <summary>Canonical level names and their aliases.</summary>
public static class Levels
{
    /// <summary>The canonical (printed) name: cluster, switch, node, gpu, cpu, core.</summary>
    public static string Name(ResourceLevel level) => level switch
    {
        ResourceLevel.Cluster => "cluster",
        ResourceLevel.Switch => "switch",
        ResourceLevel.Node => "node",
        ResourceLevel.Gpu => "gpu",
        ResourceLevel.Cpu => "cpu",
        _ => "core",
    };

    /// <summary>Reads a level name, case-insensitively; <c>nodes</c> and <c>host</c> mean <c>node</c>.</summary>
    public static bool TryParse(string name, out ResourceLevel level)
    {
        switch (name.ToLowerInvariant())
        {
            case "cluster": level = ResourceLevel.Cluster; return true;
            case "switch": level = ResourceLevel.Switch; return true;
            case "node" or "nodes" or "host": level = ResourceLevel.Node; return true;
            case "gpu": level = ResourceLevel.Gpu; return true;
            case "cpu": level = ResourceLevel.Cpu; return true;
            case "core": level = ResourceLevel.Core; return true;
            default: level = default; return false;
        }
    }
}

/// <summary>
/// One group of resources (joined to others with <c>+</c>): levels from outer to inner, an optional group filter
/// (<c>{expr}</c>), and per-node consumables.
/// </summary>
public sealed record ResourceGroup
{
    public ResourceGroup(
        IEnumerable<LevelCount> levels,
        PropertyExpr? filter = null,
        long? memoryPerNodeMb = null,
        int? gpusPerNode = null)
    {
        Levels = new EquatableList<LevelCount>(levels);
        if (Levels.Count == 0)
        {
            throw new ArgumentException("a group needs at least one level", nameof(levels));
        }

        for (var i = 1; i < Levels.Count; i++)
        {
            if (Levels[i].Level <= Levels[i - 1].Level)
            {
                throw new ArgumentException("levels must go from outer to inner, each at most once", nameof(levels));
            }
        }

        if (memoryPerNodeMb is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(memoryPerNodeMb), memoryPerNodeMb, "must be positive");
        }

        if (gpusPerNode is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(gpusPerNode), gpusPerNode, "must be positive");
        }

        Filter = filter;
        MemoryPerNodeMb = memoryPerNodeMb;
        GpusPerNode = gpusPerNode;
    }

    public EquatableList<LevelCount> Levels { get; }

    /// <summary>Property expression every resource of this group must satisfy (OAR's <c>{expr}</c>).</summary>
    public PropertyExpr? Filter { get; }

    public long? MemoryPerNodeMb { get; }

    public int? GpusPerNode { get; }

    /// <summary>Canonical form, e.g. <c>/switch=1/node=4/core=2{gpu}:mem=4096:gpus=2</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var level in Levels)
        {
            text.Append('/').Append(level);
        }

        if (Filter is not null)
        {
            text.Append('{').Append(Filter).Append('}');
        }

        if (MemoryPerNodeMb is { } mem)
        {
            text.Append(":mem=").Append(mem.ToString(CultureInfo.InvariantCulture));
        }

        if (GpusPerNode is { } gpus)
        {
            text.Append(":gpus=").Append(gpus.ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }
}

/// <summary>One way to run the job: groups joined with <c>+</c>, a walltime and a filter for all groups.</summary>
public sealed record ResourceAlternative
{
    public ResourceAlternative(IEnumerable<ResourceGroup> groups, TimeSpan? walltime = null, PropertyExpr? filter = null)
    {
        Groups = new EquatableList<ResourceGroup>(groups);
        if (Groups.Count == 0)
        {
            throw new ArgumentException("an alternative needs at least one group", nameof(groups));
        }

        if (walltime is { } w && (w <= TimeSpan.Zero || w > MaxWalltime || w.Ticks % TimeSpan.TicksPerSecond != 0))
        {
            throw new ArgumentOutOfRangeException(nameof(walltime), walltime, "must be a positive whole number of seconds, at most MaxWalltime");
        }

        Walltime = walltime;
        Filter = filter;
    }

    /// <summary>The largest walltime a request may carry: 100,000,000 hours.</summary>
    public static TimeSpan MaxWalltime { get; } = TimeSpan.FromHours(100_000_000);

    public EquatableList<ResourceGroup> Groups { get; }

    /// <summary>Maximum run time; null when the request does not say (the queue's default applies).</summary>
    public TimeSpan? Walltime { get; }

    /// <summary>The <c>-p</c> expression: every resource of every group must satisfy it.</summary>
    public PropertyExpr? Filter { get; }

    /// <summary>The canonical <c>-l</c> string (without the filter), e.g. <c>/node=2/core=4,walltime=1:00:00</c>.</summary>
    public string ToResourceString()
    {
        var text = string.Join("+", Groups);
        return Walltime is { } w ? text + ",walltime=" + FormatWalltime(w) : text;
    }

    public override string ToString() =>
        Filter is null ? ToResourceString() : ToResourceString() + " -p " + Filter;

    /// <summary>Walltime as <c>H:MM:SS</c> (hours may exceed 24).</summary>
    public static string FormatWalltime(TimeSpan walltime)
    {
        var seconds = walltime.Ticks / TimeSpan.TicksPerSecond;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{seconds / 3600}:{seconds / 60 % 60:00}:{seconds % 60:00}");
    }
}

/// <summary>
/// A job's request: one or more alternatives (several make a moldable job) plus job-level settings.
/// <see cref="ToString"/> prints the canonical OAR-style command line that <see cref="Parse"/> reads back.
/// </summary>
public sealed record JobRequest
{
    public JobRequest(
        IEnumerable<ResourceAlternative> alternatives,
        string? queue = null,
        string? name = null,
        IEnumerable<string>? types = null,
        IEnumerable<long>? after = null)
    {
        Alternatives = new EquatableList<ResourceAlternative>(alternatives);
        if (Alternatives.Count == 0)
        {
            throw new ArgumentException("a request needs at least one alternative", nameof(alternatives));
        }

        if (queue is { Length: 0 } || name is { Length: 0 })
        {
            throw new ArgumentException("queue and name must not be empty when given");
        }

        Queue = queue;
        Name = name;
        Types = new EquatableList<string>(types ?? []);
        After = new EquatableList<long>(after ?? []);
        if (Types.Any(t => t.Length == 0) || After.Any(a => a < 1))
        {
            throw new ArgumentException("types must not be empty and job ids must be positive");
        }
    }

    public EquatableList<ResourceAlternative> Alternatives { get; }

    public string? Queue { get; }

    public string? Name { get; }

    /// <summary>Job types such as <c>besteffort</c>.</summary>
    public EquatableList<string> Types { get; }

    /// <summary>Ids of jobs that must have succeeded before this one starts.</summary>
    public EquatableList<long> After { get; }

    /// <summary>Reads a canonical command line such as <c>-l "/node=2,walltime=1:00:00" -p "gpu" -q default</c>.</summary>
    public static JobRequest Parse(string commandLine) =>
        OarRequestParser.ParseArguments(ShellWords.Split(commandLine, "command line").Select(w => w.Text).ToList());

    /// <summary>The canonical arguments: one <c>-l</c> per alternative, then <c>-p</c>, <c>-q</c>, <c>-n</c>, <c>-t</c>, <c>--after</c>.</summary>
    public IReadOnlyList<string> ToArguments()
    {
        var args = new List<string>();
        foreach (var alternative in Alternatives)
        {
            args.Add("-l");
            args.Add(alternative.ToResourceString());
        }

        var filters = Alternatives.Select(a => a.Filter).Distinct().ToList();
        if (filters.Count == 1)
        {
            if (filters[0] is { } only)
            {
                args.Add("-p");
                args.Add(only.ToString());
            }
        }
        else
        {
            foreach (var alternative in Alternatives)
            {
                args.Add("-p");
                args.Add(alternative.Filter?.ToString() ?? string.Empty);
            }
        }

        AddOption(args, "-q", Queue);
        AddOption(args, "-n", Name);
        foreach (var type in Types)
        {
            AddOption(args, "-t", type);
        }

        foreach (var id in After)
        {
            AddOption(args, "--after", id.ToString(CultureInfo.InvariantCulture));
        }

        return args;
    }

    public override string ToString() => string.Join(" ", ToArguments().Select(ShellWords.Quote));

    private static void AddOption(List<string> args, string flag, string? value)
    {
        if (value is not null)
        {
            args.Add(flag);
            args.Add(value);
        }
    }
}
