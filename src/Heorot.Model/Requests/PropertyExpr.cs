using System.Globalization;
using System.Text;

namespace Heorot.Model.Requests;

/// <summary>Comparison operators; <c>==</c> is read as <see cref="Eq"/> and <c>&lt;&gt;</c> as <see cref="Ne"/>.</summary>
public enum CompareOp
{
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// <summary>A side of a comparison: a property reference or a literal.</summary>
public abstract record Operand
{
    /// <summary>The operand's value for <paramref name="node"/>, or null when it names a missing property.</summary>
    public abstract PropertyValue? Resolve(IPropertySource node);
}

/// <summary>A property name (letters, digits, <c>_ - .</c>; starts with a letter or <c>_</c>).</summary>
public sealed record PropertyRef(string Name) : Operand
{
    public override PropertyValue? Resolve(IPropertySource node) => node.Get(Name);

    public override string ToString() => Name;
}

/// <summary>A number, a single-quoted string or true/false.</summary>
public sealed record Literal(PropertyValue Value) : Operand
{
    public override PropertyValue? Resolve(IPropertySource node) => Value;

    public override string ToString() => Value.Kind switch
    {
        PropertyKind.String => "'" + Value.Text!.Replace("'", "''") + "'",
        _ => Value.ToString(),
    };
}

/// <summary>
/// A property expression, evaluated in-process against a node's properties (never translated to SQL).
/// Missing properties: a comparison, <c>in</c>, <c>not in</c>, <c>like</c> or <c>not like</c> whose operand names
/// a property the node does not define is false; a bare name is false. Use <c>not (x = 1)</c> for
/// "missing or different". Two values compare as numbers when both are numeric (a number, or a string that reads
/// as one), otherwise as ordinal strings (booleans read <c>true</c>/<c>false</c>).
/// </summary>
public abstract record PropertyExpr
{
    internal const int OrPrecedence = 1;
    internal const int AndPrecedence = 2;
    internal const int NotPrecedence = 3;
    internal const int AtomPrecedence = 4;

    /// <summary>Whether <paramref name="node"/> satisfies the expression.</summary>
    public abstract bool Evaluate(IPropertySource node);

    /// <summary>The property names the expression reads, each once, in order of first appearance.</summary>
    public IReadOnlyList<string> Properties
    {
        get
        {
            var names = new List<string>();
            CollectProperties(names);
            return names;
        }
    }

    internal abstract int Precedence { get; }

    /// <summary>Parses the expression language (see docs/request-language.md).</summary>
    public static PropertyExpr Parse(string text, string source = "-p") => PropertyExprParser.Parse(text, source);

    public sealed override string ToString()
    {
        var text = new StringBuilder();
        Write(text);
        return text.ToString();
    }

    internal abstract void Write(StringBuilder text);

    internal abstract void CollectProperties(List<string> names);

    internal static void WriteChild(StringBuilder text, PropertyExpr child, bool parenthesise)
    {
        if (parenthesise)
        {
            text.Append('(');
            child.Write(text);
            text.Append(')');
        }
        else
        {
            child.Write(text);
        }
    }

    internal static void Add(List<string> names, Operand operand)
    {
        if (operand is PropertyRef p && !names.Contains(p.Name))
        {
            names.Add(p.Name);
        }
    }

    /// <summary>Compares two values: numerically when both are numeric, else as ordinal strings.</summary>
    internal static int CompareValues(PropertyValue left, PropertyValue right)
    {
        if (AsNumber(left) is { } l && AsNumber(right) is { } r)
        {
            return l.CompareTo(r);
        }

        return string.CompareOrdinal(left.ToString(), right.ToString());
    }

    /// <summary>Truthiness of a bare property: booleans as is, numbers when not 0, strings unless empty or "false".</summary>
    internal static bool IsTruthy(PropertyValue value) => value.Kind switch
    {
        PropertyKind.Boolean => value.Flag,
        PropertyKind.Number => value.Number != 0,
        _ => value.Text!.Length > 0 && !value.Text.Equals("false", StringComparison.OrdinalIgnoreCase),
    };

    private static double? AsNumber(PropertyValue value) => value.Kind switch
    {
        PropertyKind.Number => value.Number,
        PropertyKind.String when double.TryParse(value.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
            && double.IsFinite(n) => n,
        _ => null,
    };
}

/// <summary>A bare property name: true when the property is present and not false.</summary>
public sealed record TruthTest(string Name) : PropertyExpr
{
    internal override int Precedence => AtomPrecedence;

    public override bool Evaluate(IPropertySource node) => node.Get(Name) is { } v && IsTruthy(v);

    internal override void Write(StringBuilder text) => text.Append(Name);

    internal override void CollectProperties(List<string> names)
    {
        if (!names.Contains(Name))
        {
            names.Add(Name);
        }
    }
}

/// <summary><c>left op right</c>.</summary>
public sealed record Comparison(Operand Left, CompareOp Op, Operand Right) : PropertyExpr
{
    internal override int Precedence => AtomPrecedence;

    public override bool Evaluate(IPropertySource node)
    {
        if (Left.Resolve(node) is not { } l || Right.Resolve(node) is not { } r)
        {
            return false;
        }

        var c = CompareValues(l, r);
        return Op switch
        {
            CompareOp.Eq => c == 0,
            CompareOp.Ne => c != 0,
            CompareOp.Lt => c < 0,
            CompareOp.Le => c <= 0,
            CompareOp.Gt => c > 0,
            _ => c >= 0,
        };
    }

    internal override void Write(StringBuilder text)
    {
        var op = Op switch
        {
            CompareOp.Eq => " = ",
            CompareOp.Ne => " != ",
            CompareOp.Lt => " < ",
            CompareOp.Le => " <= ",
            CompareOp.Gt => " > ",
            _ => " >= ",
        };
        text.Append(Left).Append(op).Append(Right);
    }

    internal override void CollectProperties(List<string> names)
    {
        Add(names, Left);
        Add(names, Right);
    }
}

/// <summary><c>left [not] in (v1, v2, ...)</c>.</summary>
public sealed record InList(Operand Left, EquatableList<Literal> Values, bool Negated) : PropertyExpr
{
    internal override int Precedence => AtomPrecedence;

    public override bool Evaluate(IPropertySource node)
    {
        if (Left.Resolve(node) is not { } l)
        {
            return false;
        }

        var found = Values.Any(v => CompareValues(l, v.Value) == 0);
        return found != Negated;
    }

    internal override void Write(StringBuilder text) =>
        text.Append(Left).Append(Negated ? " not in (" : " in (").Append(string.Join(", ", Values)).Append(')');

    internal override void CollectProperties(List<string> names) => Add(names, Left);
}

/// <summary><c>left [not] like 'pattern'</c>: <c>%</c> matches any run, <c>_</c> one character; case-sensitive.</summary>
public sealed record LikeMatch(Operand Left, string Pattern, bool Negated) : PropertyExpr
{
    internal override int Precedence => AtomPrecedence;

    public override bool Evaluate(IPropertySource node) =>
        Left.Resolve(node) is { } l && Matches(l.ToString(), Pattern) != Negated;

    internal override void Write(StringBuilder text) =>
        text.Append(Left).Append(Negated ? " not like " : " like ").Append(new Literal(PropertyValue.Of(Pattern)));

    internal override void CollectProperties(List<string> names) => Add(names, Left);

    /// <summary>SQL LIKE matching without an escape character (iterative, linear backtracking on <c>%</c>).</summary>
    internal static bool Matches(string text, string pattern)
    {
        int t = 0, p = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '%')
            {
                starP = p++;
                starT = t;
            }
            else if (p < pattern.Length && (pattern[p] == '_' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                t = ++starT;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '%')
        {
            p++;
        }

        return p == pattern.Length;
    }
}

/// <summary><c>left and right</c>.</summary>
public sealed record AndExpr(PropertyExpr Left, PropertyExpr Right) : PropertyExpr
{
    internal override int Precedence => AndPrecedence;

    public override bool Evaluate(IPropertySource node) => Left.Evaluate(node) && Right.Evaluate(node);

    internal override void Write(StringBuilder text)
    {
        WriteChild(text, Left, Left.Precedence < AndPrecedence);
        text.Append(" and ");
        WriteChild(text, Right, Right.Precedence <= AndPrecedence);
    }

    internal override void CollectProperties(List<string> names)
    {
        Left.CollectProperties(names);
        Right.CollectProperties(names);
    }
}

/// <summary><c>left or right</c>.</summary>
public sealed record OrExpr(PropertyExpr Left, PropertyExpr Right) : PropertyExpr
{
    internal override int Precedence => OrPrecedence;

    public override bool Evaluate(IPropertySource node) => Left.Evaluate(node) || Right.Evaluate(node);

    internal override void Write(StringBuilder text)
    {
        WriteChild(text, Left, Left.Precedence < OrPrecedence);
        text.Append(" or ");
        WriteChild(text, Right, Right.Precedence <= OrPrecedence);
    }

    internal override void CollectProperties(List<string> names)
    {
        Left.CollectProperties(names);
        Right.CollectProperties(names);
    }
}

/// <summary><c>not inner</c>.</summary>
public sealed record NotExpr(PropertyExpr Inner) : PropertyExpr
{
    internal override int Precedence => NotPrecedence;

    public override bool Evaluate(IPropertySource node) => !Inner.Evaluate(node);

    internal override void Write(StringBuilder text)
    {
        text.Append("not ");
        WriteChild(text, Inner, Inner.Precedence < NotPrecedence);
    }

    internal override void CollectProperties(List<string> names) => Inner.CollectProperties(names);
}
