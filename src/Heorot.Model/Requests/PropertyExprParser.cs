using System.Globalization;
using System.Text;

namespace Heorot.Model.Requests;

/// <summary>Recursive-descent parser for <see cref="PropertyExpr"/>; columns are reported on the whole input text.</summary>
internal sealed class PropertyExprParser
{
    private const int MaxDepth = 100;

    private readonly string text;
    private readonly string source;
    private readonly bool embedded;
    private Token current;
    private int depth;

    private PropertyExprParser(string text, int start, string source, bool embedded)
    {
        this.text = text;
        this.source = source;
        this.embedded = embedded;
        current = Lex(start);
    }

    private enum Kind
    {
        Ident,
        Number,
        String,
        LParen,
        RParen,
        Comma,
        Op,
        And,
        Or,
        Not,
        In,
        Like,
        True,
        False,
        RBrace,
        End,
    }

    public static PropertyExpr Parse(string text, string source)
    {
        var parser = new PropertyExprParser(text, 0, source, embedded: false);
        var expr = parser.ParseTop();
        return expr;
    }

    /// <summary>Parses an expression starting at <paramref name="start"/> and ending at a top-level <c>}</c>.</summary>
    public static PropertyExpr ParseEmbedded(string text, int start, string source, out int closeBrace)
    {
        var parser = new PropertyExprParser(text, start, source, embedded: true);
        var expr = parser.ParseTop();
        closeBrace = parser.current.Start;
        return expr;
    }

    private PropertyExpr ParseTop()
    {
        if (current.Kind == Kind.End && !embedded)
        {
            throw Error(current, "expected an expression");
        }

        var expr = ParseOr();
        var expected = embedded ? Kind.RBrace : Kind.End;
        if (current.Kind != expected)
        {
            throw Error(current, embedded && current.Kind == Kind.End ? "expected '}'" : "unexpected " + Describe(current));
        }

        return expr;
    }

    private PropertyExpr ParseOr()
    {
        var left = ParseAnd();
        while (current.Kind == Kind.Or)
        {
            Advance();
            left = new OrExpr(left, ParseAnd());
        }

        return left;
    }

    private PropertyExpr ParseAnd()
    {
        var left = ParseNot();
        while (current.Kind == Kind.And)
        {
            Advance();
            left = new AndExpr(left, ParseNot());
        }

        return left;
    }

    private PropertyExpr ParseNot()
    {
        if (++depth > MaxDepth)
        {
            throw Error(current, "expression nested too deeply");
        }

        try
        {
            if (current.Kind == Kind.Not)
            {
                Advance();
                return new NotExpr(ParseNot());
            }

            if (current.Kind == Kind.LParen)
            {
                Advance();
                var inner = ParseOr();
                Expect(Kind.RParen, "expected ')'");
                return inner;
            }

            return ParsePredicate();
        }
        finally
        {
            depth--;
        }
    }

    private PropertyExpr ParsePredicate()
    {
        var first = current;
        var left = ParseOperand();
        var negated = false;
        if (current.Kind == Kind.Not)
        {
            negated = true;
            Advance();
            if (current.Kind is not (Kind.In or Kind.Like))
            {
                throw Error(current, "expected 'in' or 'like' after 'not'");
            }
        }

        switch (current.Kind)
        {
            case Kind.Op:
                var op = current.Text switch
                {
                    "=" or "==" => CompareOp.Eq,
                    "!=" or "<>" => CompareOp.Ne,
                    "<" => CompareOp.Lt,
                    "<=" => CompareOp.Le,
                    ">" => CompareOp.Gt,
                    _ => CompareOp.Ge,
                };
                Advance();
                return new Comparison(left, op, ParseOperand());
            case Kind.In:
                Advance();
                Expect(Kind.LParen, "expected '(' after 'in'");
                var values = new List<Literal> { ParseLiteral() };
                while (current.Kind == Kind.Comma)
                {
                    Advance();
                    values.Add(ParseLiteral());
                }

                Expect(Kind.RParen, "expected ',' or ')'");
                return new InList(left, new EquatableList<Literal>(values), negated);
            case Kind.Like:
                Advance();
                if (current.Kind != Kind.String)
                {
                    throw Error(current, "expected a quoted pattern after 'like'");
                }

                var pattern = current.Text;
                Advance();
                return new LikeMatch(left, pattern, negated);
            default:
                if (left is PropertyRef p)
                {
                    return new TruthTest(p.Name);
                }

                throw Error(current.Kind == Kind.End ? current : first, "expected a comparison operator after a value");
        }
    }

    private Operand ParseOperand()
    {
        if (current.Kind == Kind.Ident)
        {
            var name = current.Text;
            Advance();
            return new PropertyRef(name);
        }

        return ParseLiteral();
    }

    private Literal ParseLiteral()
    {
        var token = current;
        PropertyValue value;
        switch (token.Kind)
        {
            case Kind.Number:
                value = PropertyValue.Of(double.Parse(token.Text, NumberStyles.Float, CultureInfo.InvariantCulture));
                break;
            case Kind.String:
                value = PropertyValue.Of(token.Text);
                break;
            case Kind.True or Kind.False:
                value = PropertyValue.Of(token.Kind == Kind.True);
                break;
            default:
                throw Error(token, token.Kind == Kind.Ident ? "expected a value" : "expected a property name or a value");
        }

        Advance();
        return new Literal(value);
    }

    private void Expect(Kind kind, string message)
    {
        if (current.Kind != kind)
        {
            throw Error(current, message);
        }

        Advance();
    }

    private void Advance() => current = Lex(current.End);

    private RequestParseException Error(Token token, string reason) =>
        new(source, text, token.Start + 1, reason);

    private static string Describe(Token token) => token.Kind switch
    {
        Kind.End => "end of expression",
        Kind.String => "string",
        _ => "'" + token.Text + "'",
    };

    private Token Lex(int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        if (i >= text.Length)
        {
            return new Token(Kind.End, string.Empty, i, i);
        }

        var c = text[i];
        switch (c)
        {
            case '(': return new Token(Kind.LParen, "(", i, i + 1);
            case ')': return new Token(Kind.RParen, ")", i, i + 1);
            case ',': return new Token(Kind.Comma, ",", i, i + 1);
            case '}': return new Token(Kind.RBrace, "}", i, i + 1);
            case '=' or '<' or '>' or '!':
                var two = i + 1 < text.Length ? text.Substring(i, 2) : string.Empty;
                if (two is "==" or "!=" or "<>" or "<=" or ">=")
                {
                    return new Token(Kind.Op, two, i, i + 2);
                }

                if (c == '!')
                {
                    throw new RequestParseException(source, text, i + 1, "expected '!='");
                }

                return new Token(Kind.Op, c.ToString(), i, i + 1);
            case '\'':
                return LexString(i);
            default:
                break;
        }

        if (char.IsAsciiDigit(c) || (c == '-' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
        {
            return LexNumber(i);
        }

        if (char.IsAsciiLetter(c) || c == '_')
        {
            var end = i + 1;
            while (end < text.Length && IsNameChar(text[end]))
            {
                end++;
            }

            var word = text[i..end];
            var kind = word.ToLowerInvariant() switch
            {
                "and" => Kind.And,
                "or" => Kind.Or,
                "not" => Kind.Not,
                "in" => Kind.In,
                "like" => Kind.Like,
                "true" => Kind.True,
                "false" => Kind.False,
                _ => Kind.Ident,
            };
            return new Token(kind, word, i, end);
        }

        throw new RequestParseException(source, text, i + 1, $"unexpected character '{c}'");
    }

    private Token LexString(int start)
    {
        var value = new StringBuilder();
        var i = start + 1;
        while (true)
        {
            if (i >= text.Length)
            {
                throw new RequestParseException(source, text, start + 1, "unterminated string");
            }

            if (text[i] == '\'')
            {
                if (i + 1 < text.Length && text[i + 1] == '\'')
                {
                    value.Append('\'');
                    i += 2;
                    continue;
                }

                return new Token(Kind.String, value.ToString(), start, i + 1);
            }

            value.Append(text[i]);
            i++;
        }
    }

    private Token LexNumber(int start)
    {
        var i = start;
        if (text[i] == '-')
        {
            i++;
        }

        i = Digits(i);
        if (i + 1 < text.Length && text[i] == '.' && char.IsAsciiDigit(text[i + 1]))
        {
            i = Digits(i + 1);
        }

        if (i < text.Length && text[i] is 'e' or 'E')
        {
            var j = i + 1;
            if (j < text.Length && text[j] is '+' or '-')
            {
                j++;
            }

            if (j < text.Length && char.IsAsciiDigit(text[j]))
            {
                i = Digits(j);
            }
        }

        if (i < text.Length && IsNameChar(text[i]))
        {
            throw new RequestParseException(source, text, i + 1, "expected a number");
        }

        var number = text[start..i];
        if (!double.IsFinite(double.Parse(number, NumberStyles.Float, CultureInfo.InvariantCulture)))
        {
            throw new RequestParseException(source, text, start + 1, "number out of range");
        }

        return new Token(Kind.Number, number, start, i);
    }

    private int Digits(int i)
    {
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        return i;
    }

    internal static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.';

    private readonly record struct Token(Kind Kind, string Text, int Start, int End);
}
