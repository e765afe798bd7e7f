using CsCheck;
using Heorot.Model.Resources;

namespace Heorot.Tests.Model.Resources;

public class NodeSetTests
{
    [Fact]
    public void Expand_RangesAndSingles_ListsNamesInOrder()
    {
        Assert.Equal(["node1", "node2", "node3", "node20"], NodeSet.Expand("node[1-3,20]"));
    }

    [Fact]
    public void Expand_ZeroPaddedRange_KeepsWidthOfLowerBound()
    {
        Assert.Equal(["a008", "a009", "a010"], NodeSet.Expand("a[008-010]"));
        Assert.Equal(["a08", "a09", "a10", "a100"], NodeSet.Expand("a[08-10,100]"));
    }

    [Fact]
    public void Expand_PlainNameAndTopLevelComma_JoinsSets()
    {
        Assert.Equal(["login", "b1", "b2", "c5-ib"], NodeSet.Expand("login, b[1-2],c[5]-ib"));
    }

    [Fact]
    public void Expand_TwoBracketGroups_MultipliesThem()
    {
        Assert.Equal(["r1n1", "r1n2", "r2n1", "r2n2"], NodeSet.Expand("r[1-2]n[1-2]"));
    }

    [Theory]
    [InlineData("a[1-3", "never closed")]
    [InlineData("a1-3]", "without '['")]
    [InlineData("a[1-[2]]", "cannot nest")]
    [InlineData("a[]", "empty brackets")]
    [InlineData("a[1,,2]", "empty range")]
    [InlineData("a[5-2]", "goes downwards")]
    [InlineData("a[1-x]", "expected a digit")]
    [InlineData("a[1-]", "expected a number")]
    [InlineData("a[1],,b", "empty name")]
    [InlineData("a b", "whitespace")]
    [InlineData("a[1234567890]", "9 digits")]
    [InlineData("a[0-999999]b[0-9]", "more than")]
    [InlineData("", "empty name")]
    public void Expand_Malformed_ThrowsNodeSetException(string expression, string expected)
    {
        var ex = Assert.Throws<NodeSetException>(() => NodeSet.Expand(expression));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal(expression, ex.Expression);
    }

    [Fact]
    public void Expand_ReversedRange_ReportsPosition()
    {
        var ex = Assert.Throws<NodeSetException>(() => NodeSet.Expand("node[1,5-2]"));
        Assert.Equal(7, ex.Position);
        Assert.Equal("invalid node set 'node[1,5-2]': range '5-2' goes downwards (at character 8)", ex.Message);
    }

    [Fact]
    public void Compress_ConsecutiveNames_FoldsIntoRanges()
    {
        Assert.Equal("node[1-3,20]", NodeSet.Compress(["node3", "node1", "node2", "node20"]));
        Assert.Equal("a[001-032]", NodeSet.Compress(NodeSet.Expand("a[001-032]")));
    }

    [Fact]
    public void Compress_MixedGroupsAndLiterals_KeepsFirstAppearanceOrder()
    {
        Assert.Equal("login,b[1-2],a7-ib", NodeSet.Compress(["login", "b2", "a7-ib", "b1", "b2"]));
    }

    [Fact]
    public void Compress_MixedPadding_KeepsNamesDistinct()
    {
        string compressed = NodeSet.Compress(["a1", "a01", "a2", "a02", "a08", "a09", "a10"]);
        Assert.Equal(["a01", "a02", "a08", "a09", "a1", "a10", "a2"], NodeSet.Expand(compressed).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a[1]")]
    [InlineData("a,b")]
    public void Compress_UnrepresentableName_Throws(string name)
    {
        Assert.Throws<ArgumentException>(() => NodeSet.Compress([name]));
    }

    [Fact]
    public void Compress_OfExpand_ExpandsToTheSameNames()
    {
        var range = Gen.Select(Gen.Int[0, 120], Gen.Int[0, 15], Gen.Int[1, 4], (lo, span, width) => span == 0
                ? lo.ToString("D" + width)
                : $"{lo.ToString("D" + width)}-{(lo + span).ToString("D" + width)}");
        var expression = Gen.Select(Gen.OneOf("a", "node", "r1n", "x-"), range.Array[1, 5], Gen.OneOf("", "-ib", "z"), (prefix, ranges, suffix) => $"{prefix}[{string.Join(',', ranges)}]{suffix}");
        var set = expression.Array[1, 3].Select(terms => string.Join(',', terms));

        set.Sample(x =>
        {
            var names = NodeSet.Expand(x).Distinct().Order(StringComparer.Ordinal).ToArray();
            var again = NodeSet.Expand(NodeSet.Compress(NodeSet.Expand(x)));
            Assert.Equal(names.Length, again.Count);
            Assert.Equal(names, again.Order(StringComparer.Ordinal));
        });
    }
}
