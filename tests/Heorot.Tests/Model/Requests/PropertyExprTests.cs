using Heorot.Model;
using Heorot.Model.Requests;

namespace Heorot.Tests.Model.Requests;

public class PropertyExprTests
{
    private static readonly PropertyBag Node = PropertyBag.Of(
        ("mem", 64),
        ("gpu", true),
        ("ib", false),
        ("gpu_model", "A100"),
        ("cluster", "dahu"),
        ("version", "10"),
        ("rack.id", "r-1"));

    [Theory]
    [InlineData("mem = 64", true)]
    [InlineData("mem == 64", true)]
    [InlineData("mem >= 32 and mem < 128", true)]
    [InlineData("mem <> 64", false)]
    [InlineData("mem != 65", true)]
    [InlineData("gpu", true)]
    [InlineData("ib", false)]
    [InlineData("missing", false)]
    [InlineData("not missing", true)]
    [InlineData("missing = 1", false)]
    [InlineData("missing != 1", false)]
    [InlineData("not (missing = 1)", true)]
    [InlineData("gpu_model in ('A100', 'H100')", true)]
    [InlineData("gpu_model not in ('A100', 'H100')", false)]
    [InlineData("missing not in ('x')", false)]
    [InlineData("cluster like 'da%'", true)]
    [InlineData("cluster like 'd_hu'", true)]
    [InlineData("cluster like 'D%'", false)]
    [InlineData("cluster not like 'x%'", true)]
    [InlineData("version > 9", true)]
    [InlineData("version > '9'", true)]
    [InlineData("cluster > 'a'", true)]
    [InlineData("rack.id = 'r-1'", true)]
    [InlineData("gpu = true", true)]
    [InlineData("ib = false", true)]
    [InlineData("gpu and not ib or missing", true)]
    [InlineData("gpu and (ib or missing)", false)]
    [InlineData("GPU_MODEL = 'A100' AND MEM > 1", false)]
    [InlineData("gpu_model = 'A100' AND mem > 1", true)]
    [InlineData("mem > -1.5e1", true)]
    public void Evaluate_ExampleNode_MatchesExpected(string text, bool expected) =>
        Assert.Equal(expected, PropertyExpr.Parse(text).Evaluate(Node));

    [Fact]
    public void Parse_QuotedStringWithDoubledQuote_UnescapesIt()
    {
        var expr = PropertyExpr.Parse("name = 'it''s'");
        Assert.Equal(new Comparison(new PropertyRef("name"), CompareOp.Eq, new Literal(PropertyValue.Of("it's"))), expr);
        Assert.Equal("name = 'it''s'", expr.ToString());
    }

    [Fact]
    public void Properties_Expression_ListsNamesOnceInOrder()
    {
        var expr = PropertyExpr.Parse("b = 1 and (a or b in (1, 2)) and not c like 'x' and 3 < d");
        Assert.Equal(["b", "a", "c", "d"], expr.Properties);
    }

    [Theory]
    [InlineData("a and b or c", "a and b or c")]
    [InlineData("a and (b or c)", "a and (b or c)")]
    [InlineData("(a and b) and c", "a and b and c")]
    [InlineData("a and (b and c)", "a and (b and c)")]
    [InlineData("not (a or b)", "not (a or b)")]
    [InlineData("NOT a == 'x'", "not a = 'x'")]
    [InlineData("x<>1", "x != 1")]
    public void ToString_Parsed_IsCanonical(string text, string canonical) =>
        Assert.Equal(canonical, PropertyExpr.Parse(text).ToString());

    [Theory]
    [InlineData("", 1, "expected an expression")]
    [InlineData("mem >", 6, "expected a property name or a value")]
    [InlineData("mem = 'abc", 7, "unterminated string")]
    [InlineData("(a", 3, "expected ')'")]
    [InlineData("a b", 3, "unexpected 'b'")]
    [InlineData("a ! b", 3, "expected '!='")]
    [InlineData("a in 'x'", 6, "expected '(' after 'in'")]
    [InlineData("a not = 1", 7, "expected 'in' or 'like' after 'not'")]
    [InlineData("a like b", 8, "expected a quoted pattern after 'like'")]
    [InlineData("12", 3, "expected a comparison operator after a value")]
    [InlineData("a = 1x", 6, "expected a number")]
    [InlineData("a; drop table", 2, "unexpected character ';'")]
    public void Parse_BadInput_ThrowsAtColumn(string text, int column, string reason)
    {
        var e = Assert.Throws<RequestParseException>(() => PropertyExpr.Parse(text));
        Assert.Equal(column, e.Column);
        Assert.Equal(reason, e.Reason);
        Assert.Equal("-p", e.Source);
    }

    [Fact]
    public void Parse_DeepNesting_ThrowsTypedError()
    {
        var text = new string('(', 500) + "a" + new string(')', 500);
        Assert.Throws<RequestParseException>(() => PropertyExpr.Parse(text));
    }
}
