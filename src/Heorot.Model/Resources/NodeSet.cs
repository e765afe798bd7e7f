using System.Globalization;
using System.Text;

namespace Heorot.Model.Resources;

/// <summary>
/// Node-set syntax, as operators write host lists: <c>prefix[ranges]suffix</c>, where ranges are comma
/// separated numbers or <c>lo-hi</c> spans, e.g. <c>node[1-16,20]</c> or <c>a[001-032]-ib</c>. Zero padding is
/// kept: a range is printed with the width of its lower bound (<c>[08-10]</c> gives 08, 09, 10). Several
/// bracket groups multiply (<c>r[1-2]n[1-3]</c> is 6 names) and top-level commas join sets
/// (<c>a[1-2],b7</c>).
/// </summary>
public static class NodeSet
{
    /// <summary>The most names one expression may expand to.</summary>
    public const int MaxNames = 1_000_000;

    private const int MaxDigits = 9;

    /// <summary>Expands <paramref name="expression"/> into names, in the order written (duplicates kept).</summary>
    /// <exception cref="NodeSetException">The expression is malformed or too large.</exception>
    public static IReadOnlyList<string> Expand(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var names = new List<string>();
        foreach (var (start, length) in SplitTopLevel(expression))
        {
            int s = start, e = start + length;
            while (s < e && char.IsWhiteSpace(expression[s]))
            {
                s++;
            }

            while (e > s && char.IsWhiteSpace(expression[e - 1]))
            {
                e--;
            }

            if (s == e)
            {
                throw new NodeSetException(expression, start, "empty name");
            }

            ExpandTerm(expression, s, e, names);
        }

        return names;
    }

    /// <summary>
    /// The shortest-ish node-set expression naming exactly the distinct <paramref name="names"/>: names that
    /// differ only in their last number are folded into ranges. Groups appear in order of first appearance,
    /// numbers ascending inside a group.
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty or holds whitespace, brackets or commas.</exception>
    public static string Compress(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var groups = new Dictionary<(string Prefix, string Suffix), List<(long Value, string Digits)>>();
        var order = new List<(string Prefix, string Suffix, string? Literal)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            CheckName(name);
            if (!seen.Add(name))
            {
                continue;
            }

            int end = name.Length;
            while (end > 0 && !char.IsAsciiDigit(name[end - 1]))
            {
                end--;
            }

            int start = end;
            while (start > 0 && char.IsAsciiDigit(name[start - 1]))
            {
                start--;
            }

            if (end == 0 || end - start > MaxDigits)
            {
                order.Add((string.Empty, string.Empty, name));
                continue;
            }

            var key = (name[..start], name[end..]);
            if (!groups.TryGetValue(key, out var members))
            {
                members = [];
                groups.Add(key, members);
                order.Add((key.Item1, key.Item2, null));
            }

            string digits = name[start..end];
            members.Add((long.Parse(digits, CultureInfo.InvariantCulture), digits));
        }

        var result = new StringBuilder();
        foreach (var (prefix, suffix, literal) in order)
        {
            if (result.Length > 0)
            {
                result.Append(',');
            }

            if (literal is not null)
            {
                result.Append(literal);
                continue;
            }

            var members = groups[(prefix, suffix)];
            members.Sort((x, y) => x.Value != y.Value ? x.Value.CompareTo(y.Value) : x.Digits.Length.CompareTo(y.Digits.Length));
            result.Append(prefix);
            if (members.Count == 1)
            {
                result.Append(members[0].Digits).Append(suffix);
                continue;
            }

            result.Append('[');
            var used = new bool[members.Count];
            bool first = true;
            for (int i = 0; i < members.Count; i++)
            {
                if (used[i])
                {
                    continue;
                }

                // Extend a run lo..hi while the next value, printed at lo's width, is exactly the next name.
                var (lo, loDigits) = members[i];
                used[i] = true;
                string? hiDigits = null;
                long next = lo + 1;
                for (int j = i + 1; j < members.Count && members[j].Value <= next; j++)
                {
                    if (!used[j] && members[j].Value == next && members[j].Digits == Format(next, loDigits.Length))
                    {
                        used[j] = true;
                        hiDigits = members[j].Digits;
                        next++;
                    }
                }

                if (!first)
                {
                    result.Append(',');
                }

                first = false;
                result.Append(loDigits);
                if (hiDigits is not null)
                {
                    result.Append('-').Append(hiDigits);
                }
            }

            result.Append(']').Append(suffix);
        }

        return result.ToString();
    }

    private static void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException("node names must not be empty", nameof(name));
        }

        foreach (char c in name)
        {
            if (c is '[' or ']' or ',' || char.IsWhiteSpace(c))
            {
                throw new ArgumentException($"node name '{name}' cannot hold whitespace, brackets or commas", nameof(name));
            }
        }
    }

    private static string Format(long value, int width) => value.ToString("D" + width, CultureInfo.InvariantCulture);

    private static List<(int Start, int Length)> SplitTopLevel(string expression)
    {
        var parts = new List<(int, int)>();
        int depthStart = -1, start = 0;
        for (int i = 0; i < expression.Length; i++)
        {
            switch (expression[i])
            {
                case '[' when depthStart >= 0:
                    throw new NodeSetException(expression, i, "brackets cannot nest");
                case '[':
                    depthStart = i;
                    break;
                case ']' when depthStart < 0:
                    throw new NodeSetException(expression, i, "']' without '['");
                case ']':
                    depthStart = -1;
                    break;
                case ',' when depthStart < 0:
                    parts.Add((start, i - start));
                    start = i + 1;
                    break;
                default:
                    break;
            }
        }

        if (depthStart >= 0)
        {
            throw new NodeSetException(expression, depthStart, "'[' is never closed");
        }

        parts.Add((start, expression.Length - start));
        return parts;
    }

    private static void ExpandTerm(string expression, int start, int end, List<string> names)
    {
        // A term is literal text and bracket groups; each group is a list of numbers printed at a width.
        var pieces = new List<string>();
        var groups = new List<List<(long Lo, long Hi, int Width)>>();
        var literal = new StringBuilder();
        long count = 1;
        int i = start;
        while (i < end)
        {
            char c = expression[i];
            if (char.IsWhiteSpace(c))
            {
                throw new NodeSetException(expression, i, "names cannot hold whitespace");
            }

            if (c != '[')
            {
                literal.Append(c);
                i++;
                continue;
            }

            int close = expression.IndexOf(']', i);
            var ranges = ParseRanges(expression, i + 1, close);
            pieces.Add(literal.ToString());
            literal.Clear();
            groups.Add(ranges);
            count *= ranges.Sum(r => r.Hi - r.Lo + 1);
            if (count + names.Count > MaxNames)
            {
                throw new NodeSetException(expression, i, $"expands to more than {MaxNames} names");
            }

            i = close + 1;
        }

        pieces.Add(literal.ToString());
        var current = new StringBuilder();
        Product(pieces, groups, 0, current, names);
    }

    private static void Product(
        List<string> pieces,
        List<List<(long Lo, long Hi, int Width)>> groups,
        int level,
        StringBuilder current,
        List<string> names)
    {
        int mark = current.Length;
        current.Append(pieces[level]);
        if (level == groups.Count)
        {
            names.Add(current.ToString());
        }
        else
        {
            int afterPiece = current.Length;
            foreach (var (lo, hi, width) in groups[level])
            {
                for (long v = lo; v <= hi; v++)
                {
                    current.Length = afterPiece;
                    current.Append(Format(v, width));
                    Product(pieces, groups, level + 1, current, names);
                }
            }
        }

        current.Length = mark;
    }

    private static List<(long Lo, long Hi, int Width)> ParseRanges(string expression, int start, int end)
    {
        if (start == end)
        {
            throw new NodeSetException(expression, start - 1, "empty brackets");
        }

        var ranges = new List<(long, long, int)>();
        int itemStart = start;
        for (int i = start; i <= end; i++)
        {
            if (i < end && expression[i] != ',')
            {
                continue;
            }

            if (i == itemStart)
            {
                throw new NodeSetException(expression, i, "empty range");
            }

            int dash = expression.IndexOf('-', itemStart, i - itemStart);
            if (dash < 0)
            {
                long value = ParseNumber(expression, itemStart, i);
                ranges.Add((value, value, i - itemStart));
            }
            else
            {
                long lo = ParseNumber(expression, itemStart, dash);
                long hi = ParseNumber(expression, dash + 1, i);
                if (hi < lo)
                {
                    throw new NodeSetException(
                        expression, itemStart, $"range '{expression[itemStart..i]}' goes downwards");
                }

                ranges.Add((lo, hi, dash - itemStart));
            }

            itemStart = i + 1;
        }

        return ranges;
    }

    private static long ParseNumber(string expression, int start, int end)
    {
        if (start == end)
        {
            throw new NodeSetException(expression, start, "expected a number");
        }

        if (end - start > MaxDigits)
        {
            throw new NodeSetException(expression, start, $"numbers are limited to {MaxDigits} digits");
        }

        for (int i = start; i < end; i++)
        {
            if (!char.IsAsciiDigit(expression[i]))
            {
                throw new NodeSetException(
                    expression, i, $"expected a digit, '-' or ',' inside brackets, got '{expression[i]}'");
            }
        }

        return long.Parse(expression.AsSpan(start, end - start), CultureInfo.InvariantCulture);
    }
}
