using System.Globalization;
using CsCheck;
using Heorot.Model;
using Heorot.Model.Requests;

namespace Heorot.Tests.Model.Requests;

public class RequestPropertyTests
{
    private static readonly string[] Keywords = ["and", "or", "not", "in", "like", "true", "false"];

    private static readonly string[] Tokens =
    [
        "/", "nodes", "node", "host", "core", "cpu", "switch", "cluster", "gpu", "=", "==", "!=", "<>", "<", ">=", "1", "2", "0",
        "ALL", "+", ",", "walltime", "walltime=", ":", "{", "}", "'", "''", "a", "b.c", "and", "or", "not", "in", "like",
        "(", ")", "%", "_", "-", "1e5", ".5", "99999999999999999999", " ", "mem", "gpus", "G", "K", "&", "|", "\"", "\\",
        "#", "#SBATCH", "#OAR", "#HEOROT", "#!/bin/sh", "\n", "\r", "--time", "--time=", "-N", "-n", "-c", "-l", "-p", "-q",
        "--after", "--gres=gpu:", "--mem=", "--dependency=afterok:", "-C", "1-2:03", "1:00:00", "UNLIMITED", "\t", "\0",
    ];

    private static readonly Gen<string> TokenSoup =
        Gen.OneOf(Tokens).Array[0, 14].Select(parts => string.Concat(parts));

    private static readonly Gen<string> AnyText = Gen.OneOf(TokenSoup, Gen.String, Gen.String[Gen.Char["/=+,{}'():-0123456789anodeswltim "], 0, 30]);

    private static readonly Gen<string> Name =
        Gen.Select(Gen.Char["abcxyzN_"], Gen.String[Gen.Char["abc019_.-"], 0, 5], (first, rest) => first + rest)
            .Where(n => !Keywords.Contains(n, StringComparer.OrdinalIgnoreCase));

    private static readonly Gen<Literal> LiteralGen = Gen.OneOf(
        Gen.Int[-1000, 1000].Select(i => new Literal(PropertyValue.Of(i))),
        Gen.Double.Where(double.IsFinite).Select(d => new Literal(PropertyValue.Of(d))),
        Gen.String[Gen.Char, 0, 6].Select(s => new Literal(PropertyValue.Of(s))),
        Gen.Bool.Select(b => new Literal(PropertyValue.Of(b))));

    private static readonly Gen<Operand> OperandGen = Gen.OneOf(
        Name.Select(n => (Operand)new PropertyRef(n)),
        LiteralGen.Select(l => (Operand)l));

    private static readonly Gen<PropertyExpr> ExprGen = Expr(3);

    private static readonly Gen<JobRequest> RequestGen = BuildRequestGen();

    [Fact]
    public void Parsers_AnyString_ParseOrThrowRequestParseException() =>
        AnyText.Sample(
            text =>
            {
                Guard(() => OarRequestParser.Parse([text], null), roundTrip: true);
                Guard(() => OarRequestParser.Parse([], text), roundTrip: true);
                Guard(() => OarRequestParser.Parse([text, text], text), roundTrip: true);
                Guard(() => JobRequest.Parse(text), roundTrip: true);
                Guard(() => SlurmRequestParser.Parse(text.Split(' ')), roundTrip: true);
                Guard(() => SlurmRequestParser.Parse(["--time", text, "--constraint=" + text, "-N", text]), roundTrip: true);
                Guard(() => ScriptDirectives.Parse(text), roundTrip: true);
                Guard(() => ScriptDirectives.Parse("#SBATCH " + text), roundTrip: true);
                Guard(() => ScriptDirectives.Parse("#OAR -l " + text), roundTrip: true);
                Guard(() => PropertyExpr.Parse(text), roundTrip: false);
            },
            iter: 1500);

    [Fact]
    public void ToString_RandomRequest_ParsesBackEqual() =>
        RequestGen.Sample(
            request =>
            {
                var text = request.ToString();
                Assert.Equal(request, JobRequest.Parse(text));
            },
            iter: 500);

    [Fact]
    public void ToString_RandomRequestWithSharedFilter_ParsesBackThroughOarParse() =>
        RequestGen.Where(r => r.Alternatives.Select(a => a.Filter).Distinct().Count() == 1).Sample(
            request =>
            {
                var reparsed = OarRequestParser.ParseArguments(request.ToArguments());
                var viaParse = OarRequestParser.Parse(
                    [.. request.Alternatives.Select(a => a.ToResourceString())],
                    request.Alternatives[0].Filter?.ToString());
                Assert.Equal(request, reparsed);
                Assert.Equal(request.Alternatives, viaParse.Alternatives);
            },
            iter: 200);

    [Fact]
    public void ToString_RandomExpression_ParsesBackEqual() =>
        ExprGen.Sample(expr => Assert.Equal(expr, PropertyExpr.Parse(expr.ToString())), iter: 500);

    [Fact]
    public void Evaluate_RandomExpressionAndBag_MatchesDirectEvaluation() =>
        Gen.Select(DirectExpr(3), BagGen).Sample(
            (expr, bag) => Assert.Equal(expr.Direct(bag), PropertyExpr.Parse(expr.Text).Evaluate(bag)),
            iter: 1000);

    private static void Guard(Func<object> parse, bool roundTrip)
    {
        object result;
        try
        {
            result = parse();
        }
        catch (RequestParseException e)
        {
            Assert.NotNull(e.Caret);
            Assert.True(e.Column >= 1);
            return;
        }

        if (roundTrip && result is JobRequest request)
        {
            Assert.Equal(request, JobRequest.Parse(request.ToString()));
        }
    }

    private static Gen<PropertyExpr> Expr(int depth)
    {
        var leaf = Gen.OneOf(
            Name.Select(n => (PropertyExpr)new TruthTest(n)),
            Gen.Select(OperandGen, Gen.Enum<CompareOp>(), OperandGen, (l, op, r) => (PropertyExpr)new Comparison(l, op, r)),
            Gen.Select(OperandGen, LiteralGen.Array[1, 3], Gen.Bool, (l, v, n) => (PropertyExpr)new InList(l, new EquatableList<Literal>(v), n)),
            Gen.Select(OperandGen, Gen.String[Gen.Char["ab%_'"], 0, 5], Gen.Bool, (l, p, n) => (PropertyExpr)new LikeMatch(l, p, n)));
        if (depth == 0)
        {
            return leaf;
        }

        var inner = Expr(depth - 1);
        return Gen.OneOf(
            leaf,
            leaf,
            Gen.Select(inner, inner, (l, r) => (PropertyExpr)new AndExpr(l, r)),
            Gen.Select(inner, inner, (l, r) => (PropertyExpr)new OrExpr(l, r)),
            inner.Select(e => (PropertyExpr)new NotExpr(e)));
    }

    private static Gen<JobRequest> BuildRequestGen()
    {
        var levels = Gen.Select(
                Gen.Bool.Array[6],
                Gen.Int[1, 1000].Array[6],
                Gen.Int[0, 5].Array[6],
                (use, counts, all) => Enumerable.Range(0, 6)
                    .Where(i => use[i])
                    .Select(i => new LevelCount((ResourceLevel)i, all[i] == 0 ? LevelCount.All : counts[i]))
                    .ToList())
            .Where(l => l.Count > 0);
        var group = Gen.Select(
            levels,
            ExprGen.Null(),
            Gen.Long[1, long.MaxValue].Nullable(),
            Gen.Int[1, 16].Nullable(),
            (l, f, m, g) => new ResourceGroup(l, f, m, g));
        var walltime = Gen.Long[1, 100_000_000L * 3600].Select(s => (TimeSpan?)TimeSpan.FromSeconds(s));
        var alternative = Gen.Select(
            group.Array[1, 3],
            Gen.OneOf(Gen.Const((TimeSpan?)null), walltime),
            ExprGen.Null(),
            (g, w, f) => new ResourceAlternative(g, w, f));
        var text = Gen.String[Gen.Char, 1, 8];
        return Gen.Select(
            alternative.Array[1, 3],
            Gen.Bool,
            text.Null(),
            text.Null(),
            Name.Array[0, 2],
            Gen.Long[1, long.MaxValue - 1].Array[0, 2],
            (alts, share, queue, name, types, after) => new JobRequest(
                share ? alts.Select(a => new ResourceAlternative(a.Groups, a.Walltime, alts[0].Filter)) : alts,
                queue,
                name,
                types,
                after));
    }

    private static readonly string[] BagNames = ["a", "b", "c", "d"];

    private static readonly Gen<PropertyValue> ValueGen = Gen.OneOf(
        Gen.OneOf(0, 1, 2, 10).Select(i => PropertyValue.Of(i)),
        Gen.OneOf("x", "xy", "y", "10", "2", "", "false").Select(PropertyValue.Of),
        Gen.Bool.Select(PropertyValue.Of));

    private static readonly Gen<PropertyBag> BagGen =
        ValueGen.Nullable().Array[4].Select(values => new PropertyBag(
            Enumerable.Range(0, 4).Where(i => values[i] is not null).ToDictionary(i => BagNames[i], i => values[i]!.Value)));

    /// <summary>An expression's text with a plain C# evaluation of it.</summary>
    internal sealed record DirectCase(string Text, Func<PropertyBag, bool> Direct)
    {
        public override string ToString() => Text;
    }

    private static double? Numeric(PropertyValue v) => v.Kind switch
    {
        PropertyKind.Number => v.Number,
        PropertyKind.String when double.TryParse(v.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => null,
    };

    private static Gen<DirectCase> DirectExpr(int depth)
    {
        var name = Gen.OneOf(BagNames);
        var truth = name.Select(n => new DirectCase(n, bag => bag.Values.TryGetValue(n, out var v) && v.Kind switch
        {
            PropertyKind.Boolean => v.Flag,
            PropertyKind.Number => v.Number != 0,
            _ => v.Text != string.Empty && !string.Equals(v.Text, "false", StringComparison.OrdinalIgnoreCase),
        }));
        var compare = Gen.Select(name, Gen.OneOf("=", "==", "!=", "<>", "<", "<=", ">", ">="), Gen.OneOf(0, 2, 10), (n, op, k) =>
            new DirectCase($"{n} {op} {k}", bag =>
            {
                if (!bag.Values.TryGetValue(n, out var v))
                {
                    return false;
                }

                var c = Numeric(v) is { } d ? d.CompareTo(k) : string.CompareOrdinal(v.ToString(), k.ToString(CultureInfo.InvariantCulture));
                return op switch
                {
                    "=" or "==" => c == 0,
                    "!=" or "<>" => c != 0,
                    "<" => c < 0,
                    "<=" => c <= 0,
                    ">" => c > 0,
                    _ => c >= 0,
                };
            }));
        var inSet = Gen.Select(name, Gen.Bool, (n, negated) =>
            new DirectCase($"{n} {(negated ? "not in" : "in")} ('x', 'y', '10')", bag =>
                bag.Values.TryGetValue(n, out var v)
                && (v.ToString() is "x" or "y" || Numeric(v) == 10) != negated));
        var like = Gen.Select(name, Gen.Bool, (n, negated) =>
            new DirectCase($"{n} {(negated ? "NOT LIKE" : "like")} 'x%'", bag =>
                bag.Values.TryGetValue(n, out var v) && v.ToString().StartsWith('x') != negated));
        var leaf = Gen.OneOf(truth, compare, inSet, like);
        if (depth == 0)
        {
            return leaf;
        }

        var inner = DirectExpr(depth - 1);
        return Gen.OneOf(
            leaf,
            leaf,
            Gen.Select(inner, inner, (l, r) => new DirectCase($"({l.Text}) and ({r.Text})", b => l.Direct(b) && r.Direct(b))),
            Gen.Select(inner, inner, (l, r) => new DirectCase($"({l.Text}) OR ({r.Text})", b => l.Direct(b) || r.Direct(b))),
            inner.Select(e => new DirectCase($"not ({e.Text})", b => !e.Direct(b))));
    }
}
