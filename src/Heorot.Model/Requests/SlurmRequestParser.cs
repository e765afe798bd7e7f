namespace Heorot.Model.Requests;

/// <summary>
/// The Slurm front-end: reads <c>sbatch</c>-style flags and maps them onto the same request tree.
/// See docs/request-language.md for the mapping table.
/// </summary>
public static class SlurmRequestParser
{
    /// <summary>The property a <c>--gres=gpu:TYPE:N</c> type is matched against (as a group filter).</summary>
    public const string GpuModelProperty = "gpu_model";

    /// <summary>Parses flags such as <c>["-N", "2", "--ntasks-per-node=4", "--time=1:00:00"]</c>.</summary>
    public static JobRequest Parse(IReadOnlyList<string> args)
    {
        var collected = new SlurmArguments();
        Flags.Walk(args.Select(a => new Word(a, 1)).ToList(), SlurmArguments.Lookup, collected.Apply, line: null);
        return collected.Build();
    }

    /// <summary>
    /// Slurm time: <c>M</c>, <c>M:S</c>, <c>H:M:S</c>, <c>D-H</c>, <c>D-H:M</c>, <c>D-H:M:S</c>. <c>0</c>,
    /// <c>UNLIMITED</c> and <c>INFINITE</c> mean no limit (null).
    /// </summary>
    public static TimeSpan? ParseTime(string text, string source = "--time")
    {
        if (text.Trim() is var t && (t.Equals("UNLIMITED", StringComparison.OrdinalIgnoreCase)
            || t.Equals("INFINITE", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var cursor = new Cursor(text, source);
        cursor.SkipBlanks();
        var parts = new List<long> { cursor.ReadNumber(10_000_000) };
        long days = 0;
        var hasDays = false;
        if (cursor.Accept('-'))
        {
            hasDays = true;
            days = parts[0] <= 1_000_000 ? parts[0] : throw cursor.Fail("number too large", 0);
            parts[0] = cursor.ReadNumber(10_000_000);
        }

        while (parts.Count < 3 && cursor.Accept(':'))
        {
            parts.Add(hasDays || parts.Count == 2 ? OarRequestParser.ReadSixty(cursor) : cursor.ReadNumber(10_000_000));
        }

        cursor.ExpectEnd();
        long seconds = (hasDays, parts.Count) switch
        {
            (false, 1) => parts[0] * 60,
            (false, 2) => (parts[0] * 60) + parts[1],
            (true, 1) => parts[0] * 3600,
            (true, 2) => (parts[0] * 3600) + (parts[1] * 60),
            _ => (parts[0] * 3600) + (parts[1] * 60) + parts[2],
        };
        seconds += days * 86400;
        return seconds == 0 ? null : TimeSpan.FromSeconds(seconds);
    }

    /// <summary>
    /// Slurm <c>--constraint</c>: feature names joined with <c>&amp;</c> (and, binds tighter) and <c>|</c> (or), with
    /// parentheses. A feature <c>a</c> becomes the property test "a is true".
    /// </summary>
    public static PropertyExpr ParseConstraint(string text, string source = "--constraint")
    {
        var cursor = new Cursor(text, source);
        var expr = ParseFeatureOr(cursor, 0);
        cursor.ExpectEnd();
        return expr;
    }

    private static PropertyExpr ParseFeatureOr(Cursor cursor, int depth)
    {
        var left = ParseFeatureAnd(cursor, depth);
        cursor.SkipBlanks();
        while (cursor.Accept('|'))
        {
            left = new OrExpr(left, ParseFeatureAnd(cursor, depth));
            cursor.SkipBlanks();
        }

        return left;
    }

    private static PropertyExpr ParseFeatureAnd(Cursor cursor, int depth)
    {
        var left = ParseFeature(cursor, depth);
        cursor.SkipBlanks();
        while (cursor.Accept('&'))
        {
            left = new AndExpr(left, ParseFeature(cursor, depth));
            cursor.SkipBlanks();
        }

        return left;
    }

    private static PropertyExpr ParseFeature(Cursor cursor, int depth)
    {
        cursor.SkipBlanks();
        if (cursor.Peek == '(' && !cursor.AtEnd)
        {
            if (depth >= 100)
            {
                throw cursor.Fail("constraint nested too deeply");
            }

            cursor.Pos++;
            var inner = ParseFeatureOr(cursor, depth + 1);
            cursor.SkipBlanks();
            cursor.Expect(')');
            return inner;
        }

        var start = cursor.Pos;
        if (!char.IsAsciiLetter(cursor.Peek) && cursor.Peek != '_')
        {
            throw cursor.Fail("expected a feature name");
        }

        while (!cursor.AtEnd && PropertyExprParser.IsNameChar(cursor.Peek))
        {
            cursor.Pos++;
        }

        var name = cursor.Text[start..cursor.Pos];
        if (name.ToLowerInvariant() is "and" or "or" or "not" or "in" or "like" or "true" or "false")
        {
            throw cursor.Fail($"'{name}' is reserved and cannot be a feature name", start);
        }

        return new TruthTest(name);
    }
}

/// <summary>Accumulates Slurm flags (validating each value as it comes; the last of a repeated flag wins).</summary>
internal sealed class SlurmArguments
{
    private static readonly HashSet<string> IgnoredWithValue =
    [
        "--output", "-o", "--error", "-e", "--input", "-i", "--account", "-A", "--chdir", "-D", "--mail-type",
        "--mail-user", "--export", "--qos", "-q", "--comment", "--open-mode", "--signal",
    ];

    private static readonly HashSet<string> IgnoredFlags = ["--exclusive", "--requeue", "--no-requeue"];

    private int? nodes;
    private int? ntasks;
    private int? tasksPerNode;
    private int? cpusPerTask;
    private long? memory;
    private int? gpus;
    private string? gpuType;
    private PropertyExpr? constraint;
    private TimeSpan? time;
    private string? partition;
    private string? jobName;
    private List<long> after = [];

    public static FlagSpec? Lookup(string flag) => flag switch
    {
        "-N" or "--nodes" => new FlagSpec("--nodes", true),
        "-n" or "--ntasks" => new FlagSpec("--ntasks", true),
        "--ntasks-per-node" => new FlagSpec("--ntasks-per-node", true),
        "-c" or "--cpus-per-task" => new FlagSpec("--cpus-per-task", true),
        "--mem" => new FlagSpec("--mem", true),
        "--gres" => new FlagSpec("--gres", true),
        "-C" or "--constraint" => new FlagSpec("--constraint", true),
        "-t" or "--time" => new FlagSpec("--time", true),
        "-p" or "--partition" => new FlagSpec("--partition", true),
        "-J" or "--job-name" => new FlagSpec("--job-name", true),
        "-d" or "--dependency" => new FlagSpec("--dependency", true),
        _ when IgnoredWithValue.Contains(flag) => new FlagSpec("ignored", true),
        _ when IgnoredFlags.Contains(flag) => new FlagSpec("ignored", false),
        _ => null,
    };

    public void Apply(string flag, string value)
    {
        var cursor = new Cursor(value, flag);
        switch (flag)
        {
            case "--nodes":
                // A range N-M asks for at least N nodes: the request takes the minimum N.
                nodes = cursor.ReadPositive();
                if (cursor.Accept('-'))
                {
                    var maxStart = cursor.Pos;
                    if (cursor.ReadPositive() < nodes)
                    {
                        throw cursor.Fail("range maximum below its minimum", maxStart);
                    }
                }

                cursor.ExpectEnd();
                break;
            case "--ntasks":
                ntasks = ReadWhole(cursor);
                break;
            case "--ntasks-per-node":
                tasksPerNode = ReadWhole(cursor);
                break;
            case "--cpus-per-task":
                cpusPerTask = ReadWhole(cursor);
                break;
            case "--mem":
                memory = cursor.ReadMegabytes();
                cursor.ExpectEnd();
                break;
            case "--gres":
                ParseGres(cursor);
                break;
            case "--constraint":
                constraint = SlurmRequestParser.ParseConstraint(value, flag);
                break;
            case "--time":
                time = SlurmRequestParser.ParseTime(value, flag);
                break;
            case "--partition":
                partition = value.Length > 0 ? value : throw cursor.Fail("expected a partition name");
                break;
            case "--job-name":
                jobName = value.Length > 0 ? value : throw cursor.Fail("expected a job name");
                break;
            case "--dependency":
                after = ParseDependency(cursor);
                break;
            default:
                break;
        }
    }

    public JobRequest Build()
    {
        var c = (long)(cpusPerTask ?? 1);
        var levels = new List<LevelCount>();
        long? cores;
        if (nodes is not null || tasksPerNode is not null)
        {
            var n = nodes ?? (ntasks is { } total && tasksPerNode is { } per ? (int)(((long)total + per - 1) / per) : 1);
            levels.Add(new LevelCount(ResourceLevel.Node, n));
            cores = tasksPerNode is { } t ? t * c
                : ntasks is { } nt ? (((long)nt + n - 1) / n) * c
                : (long?)cpusPerTask;
        }
        else
        {
            cores = (ntasks ?? 1) * c;
        }

        if (cores is { } k)
        {
            if (k > int.MaxValue)
            {
                throw new RequestParseException("--cpus-per-task", string.Empty, 1, "too many cores requested");
            }

            levels.Add(new LevelCount(ResourceLevel.Core, (int)k));
        }

        var groupFilter = gpuType is null
            ? null
            : new Comparison(new PropertyRef(SlurmRequestParser.GpuModelProperty), CompareOp.Eq, new Literal(PropertyValue.Of(gpuType)));
        var group = new ResourceGroup(levels, groupFilter, memory, gpus);
        var alternative = new ResourceAlternative([group], time, constraint);
        return new JobRequest([alternative], partition, jobName, after: after);
    }

    private static int ReadWhole(Cursor cursor)
    {
        var n = cursor.ReadPositive();
        cursor.ExpectEnd();
        return n;
    }

    private void ParseGres(Cursor cursor)
    {
        // gpu, gpu:N or gpu:TYPE:N (only GPUs are modelled).
        var start = cursor.Pos;
        if (!cursor.ReadWord().Equals("gpu", StringComparison.OrdinalIgnoreCase))
        {
            throw cursor.Fail("only 'gpu' generic resources are supported", start);
        }

        string? type = null;
        var count = 1;
        if (cursor.Accept(':'))
        {
            if (char.IsAsciiDigit(cursor.Peek))
            {
                count = cursor.ReadPositive();
            }
            else
            {
                var typeStart = cursor.Pos;
                while (!cursor.AtEnd && cursor.Peek != ':')
                {
                    cursor.Pos++;
                }

                type = cursor.Text[typeStart..cursor.Pos];
                if (type.Length == 0)
                {
                    throw cursor.Fail("expected a GPU type or count", typeStart);
                }

                if (cursor.Accept(':'))
                {
                    count = cursor.ReadPositive();
                }
            }
        }

        cursor.ExpectEnd();
        gpus = count;
        gpuType = type;
    }

    private static List<long> ParseDependency(Cursor cursor)
    {
        // afterok:ID[:ID...][,afterok:ID...]
        var ids = new List<long>();
        do
        {
            var start = cursor.Pos;
            if (!cursor.ReadWord().Equals("afterok", StringComparison.OrdinalIgnoreCase))
            {
                throw cursor.Fail("only 'afterok:ID[:ID]' dependencies are supported", start);
            }

            cursor.Expect(':');
            do
            {
                var idStart = cursor.Pos;
                var id = cursor.ReadNumber(long.MaxValue - 1);
                ids.Add(id > 0 ? id : throw cursor.Fail("expected a positive job id", idStart));
            }
            while (cursor.Accept(':'));
        }
        while (cursor.Accept(','));

        cursor.ExpectEnd();
        return ids;
    }
}
