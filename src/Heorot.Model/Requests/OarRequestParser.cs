using System.Globalization;

namespace Heorot.Model.Requests;

/// <summary>
/// The OAR-style front-end: <c>-l</c> resource strings (one per moldable alternative) and a <c>-p</c> expression.
/// See docs/request-language.md for the grammar.
/// </summary>
public static class OarRequestParser
{
    /// <summary>The group used when a <c>-l</c> gives only a walltime, or when there is no <c>-l</c>: one core.</summary>
    public static ResourceGroup DefaultGroup { get; } = new([new LevelCount(ResourceLevel.Core, 1)]);

    /// <summary>
    /// Parses OAR's <c>-l</c> strings (each one alternative; none means one core) and the <c>-p</c> expression
    /// (null or blank: no filter), which applies to every alternative.
    /// </summary>
    public static JobRequest Parse(IReadOnlyList<string> dashL, string? dashP)
    {
        var args = new OarArguments();
        foreach (var l in dashL)
        {
            args.Apply("-l", l);
        }

        if (dashP is not null)
        {
            args.Apply("-p", dashP);
        }

        return args.Build();
    }

    /// <summary>
    /// Parses OAR-style arguments: <c>-l</c>/<c>--resource</c>, <c>-p</c>/<c>--property</c>, <c>-q</c>/<c>--queue</c>,
    /// <c>-n</c>/<c>--name</c>, <c>-t</c>/<c>--type</c>, <c>-a</c>/<c>--after</c> (a job id). Several <c>-p</c> are
    /// allowed when there is one per <c>-l</c>: the i-th applies to the i-th alternative.
    /// </summary>
    public static JobRequest ParseArguments(IReadOnlyList<string> args)
    {
        var collected = new OarArguments();
        Flags.Walk(args.Select(a => new Word(a, 1)).ToList(), OarArguments.Lookup, collected.Apply, line: null);
        return collected.Build();
    }

    /// <summary>Parses one <c>-l</c> string into its groups and walltime.</summary>
    public static ResourceAlternative ParseResources(string dashL, string source = "-l")
    {
        var cursor = new Cursor(dashL, source);
        cursor.SkipBlanks();
        var groups = new List<ResourceGroup>();
        TimeSpan? walltime = null;
        if (!StartsWithWalltime(cursor))
        {
            groups.Add(ParseGroup(cursor));
            while (cursor.Accept('+'))
            {
                groups.Add(ParseGroup(cursor));
            }

            cursor.SkipBlanks();
            if (!cursor.AtEnd)
            {
                cursor.Expect(',');
                cursor.SkipBlanks();
                if (!StartsWithWalltime(cursor))
                {
                    throw cursor.Fail("expected 'walltime='");
                }
            }
        }

        if (StartsWithWalltime(cursor))
        {
            cursor.ReadWord();
            cursor.SkipBlanks();
            cursor.Expect('=');
            cursor.SkipBlanks();
            walltime = ParseOarWalltime(cursor);
        }

        cursor.ExpectEnd();
        return new ResourceAlternative(groups.Count == 0 ? [DefaultGroup] : groups, walltime);
    }

    private static bool StartsWithWalltime(Cursor cursor)
    {
        var start = cursor.Pos;
        var word = cursor.ReadWord();
        cursor.Pos = start;
        return word.Equals("walltime", StringComparison.OrdinalIgnoreCase);
    }

    private static ResourceGroup ParseGroup(Cursor cursor)
    {
        cursor.SkipBlanks();
        cursor.Accept('/');
        var levels = new List<LevelCount>();
        PropertyExpr? filter = null;
        while (true)
        {
            cursor.SkipBlanks();
            if (cursor.Peek == '{' && !cursor.AtEnd)
            {
                filter = ParseBrace(cursor, filter);
            }
            else
            {
                levels.Add(ParseLevel(cursor, levels));
                cursor.SkipBlanks();
                if (cursor.Peek == '{' && !cursor.AtEnd)
                {
                    filter = ParseBrace(cursor, filter);
                }
            }

            cursor.SkipBlanks();
            if (!cursor.Accept('/'))
            {
                break;
            }
        }

        if (levels.Count == 0)
        {
            throw cursor.Fail("expected a resource level");
        }

        long? memory = null;
        int? gpus = null;
        while (cursor.Accept(':'))
        {
            cursor.SkipBlanks();
            var start = cursor.Pos;
            var option = cursor.ReadWord().ToLowerInvariant();
            if (option is not ("mem" or "gpus") || (option == "mem" ? memory is not null : gpus is not null))
            {
                throw cursor.Fail(option.Length == 0 ? "expected 'mem' or 'gpus'" : $"unknown or repeated group option '{option}'", start);
            }

            cursor.SkipBlanks();
            cursor.Expect('=');
            cursor.SkipBlanks();
            if (option == "mem")
            {
                memory = cursor.ReadMegabytes();
            }
            else
            {
                gpus = cursor.ReadPositive();
            }

            cursor.SkipBlanks();
        }

        return new ResourceGroup(levels, filter, memory, gpus);
    }

    private static LevelCount ParseLevel(Cursor cursor, List<LevelCount> previous)
    {
        var start = cursor.Pos;
        var name = cursor.ReadWord();
        if (name.Length == 0)
        {
            throw cursor.Fail("expected a resource level");
        }

        if (!Levels.TryParse(name, out var level))
        {
            throw cursor.Fail($"unknown resource level '{name}' (cluster, switch, node, gpu, cpu, core)", start);
        }

        if (previous.Count > 0 && previous[^1].Level >= level)
        {
            var message = previous.Any(p => p.Level == level)
                ? $"level '{Levels.Name(level)}' given twice"
                : $"level '{Levels.Name(level)}' must come before '{Levels.Name(previous[^1].Level)}'";
            throw cursor.Fail(message, start);
        }

        cursor.SkipBlanks();
        cursor.Expect('=');
        cursor.SkipBlanks();
        var countStart = cursor.Pos;
        if (cursor.ReadWord() is { Length: > 0 } word)
        {
            if (!word.Equals("ALL", StringComparison.OrdinalIgnoreCase))
            {
                throw cursor.Fail("expected a number", countStart);
            }

            return new LevelCount(level, LevelCount.All);
        }

        return new LevelCount(level, cursor.ReadPositive());
    }

    private static PropertyExpr ParseBrace(Cursor cursor, PropertyExpr? previous)
    {
        var expr = PropertyExprParser.ParseEmbedded(cursor.Text, cursor.Pos + 1, cursor.Source, out var close);
        cursor.Pos = close + 1;
        return previous is null ? expr : new AndExpr(previous, expr);
    }

    /// <summary>OAR walltime: <c>H</c>, <c>H:MM</c> or <c>H:MM:SS</c>.</summary>
    private static TimeSpan ParseOarWalltime(Cursor cursor)
    {
        var start = cursor.Pos;
        var seconds = cursor.ReadNumber(100_000_000) * 3600;
        if (cursor.Accept(':'))
        {
            seconds += ReadSixty(cursor) * 60;
            if (cursor.Accept(':'))
            {
                seconds += ReadSixty(cursor);
            }
        }

        if (seconds == 0 || TimeSpan.FromSeconds(seconds) > ResourceAlternative.MaxWalltime)
        {
            throw cursor.Fail(seconds == 0 ? "walltime must be positive" : "walltime too large", start);
        }

        return TimeSpan.FromSeconds(seconds);
    }

    internal static long ReadSixty(Cursor cursor)
    {
        var start = cursor.Pos;
        var n = cursor.ReadNumber();
        return n < 60 ? n : throw cursor.Fail("expected minutes or seconds below 60", start);
    }

    internal static long ParseJobId(string text, string source)
    {
        var cursor = new Cursor(text, source);
        var id = cursor.ReadNumber(long.MaxValue - 1);
        if (id == 0)
        {
            throw cursor.Fail("expected a positive job id", 0);
        }

        cursor.ExpectEnd();
        return id;
    }
}

/// <summary>Accumulates OAR-style flags (validating each value as it comes) and builds the request.</summary>
internal sealed class OarArguments
{
    private readonly List<ResourceAlternative> resources = [];
    private readonly List<PropertyExpr?> filters = [];
    private readonly List<string> types = [];
    private readonly List<long> after = [];
    private string? queue;
    private string? name;

    public static FlagSpec? Lookup(string flag) => flag switch
    {
        "-l" or "--resource" => new FlagSpec("-l", true),
        "-p" or "--property" => new FlagSpec("-p", true),
        "-q" or "--queue" => new FlagSpec("-q", true),
        "-n" or "--name" => new FlagSpec("-n", true),
        "-t" or "--type" => new FlagSpec("-t", true),
        "-a" or "--after" or "--anterior" => new FlagSpec("--after", true),
        _ => null,
    };

    public void Apply(string flag, string value)
    {
        switch (flag)
        {
            case "-l":
                resources.Add(OarRequestParser.ParseResources(value));
                break;
            case "-p":
                filters.Add(string.IsNullOrWhiteSpace(value) ? null : PropertyExprParser.Parse(value, "-p"));
                break;
            case "-q":
                queue = NonEmpty(value, flag);
                break;
            case "-n":
                name = NonEmpty(value, flag);
                break;
            case "-t":
                types.Add(NonEmpty(value, flag));
                break;
            default:
                after.Add(OarRequestParser.ParseJobId(value, flag));
                break;
        }
    }

    public JobRequest Build()
    {
        if (resources.Count == 0)
        {
            resources.Add(new ResourceAlternative([OarRequestParser.DefaultGroup]));
        }

        if (filters.Count > 1 && filters.Count != resources.Count)
        {
            throw new RequestParseException(
                "-p",
                string.Empty,
                1,
                string.Create(CultureInfo.InvariantCulture, $"give one -p, or one per -l ({resources.Count} -l, {filters.Count} -p)"));
        }

        var alternatives = resources.Select((r, i) => new ResourceAlternative(
            r.Groups,
            r.Walltime,
            filters.Count == 0 ? null : filters[filters.Count == 1 ? 0 : i]));
        return new JobRequest(alternatives, queue, name, types, after);
    }

    private static string NonEmpty(string value, string flag) =>
        value.Length > 0 ? value : throw new RequestParseException(flag, value, 1, "expected a value");
}
