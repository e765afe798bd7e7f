using System.Globalization;

namespace Heorot.Model.Requests;

/// <summary>A position in one input text, with helpers that fail with a <see cref="RequestParseException"/>.</summary>
internal sealed class Cursor(string text, string source)
{
    public string Text { get; } = text;

    public string Source { get; } = source;

    public int Pos { get; set; }

    public bool AtEnd => Pos >= Text.Length;

    public char Peek => Pos < Text.Length ? Text[Pos] : '\0';

    public void SkipBlanks()
    {
        while (Pos < Text.Length && char.IsWhiteSpace(Text[Pos]))
        {
            Pos++;
        }
    }

    public bool Accept(char c)
    {
        if (Peek == c && !AtEnd)
        {
            Pos++;
            return true;
        }

        return false;
    }

    public void Expect(char c)
    {
        if (!Accept(c))
        {
            throw Fail($"expected '{c}'");
        }
    }

    public RequestParseException Fail(string reason, int? at = null) => new(Source, Text, (at ?? Pos) + 1, reason);

    /// <summary>Reads ASCII letters (and <c>_</c>); empty when none.</summary>
    public string ReadWord()
    {
        var start = Pos;
        while (Pos < Text.Length && (char.IsAsciiLetter(Text[Pos]) || Text[Pos] == '_'))
        {
            Pos++;
        }

        return Text[start..Pos];
    }

    /// <summary>Reads a non-negative integer no larger than <paramref name="max"/>.</summary>
    public long ReadNumber(long max = int.MaxValue)
    {
        var start = Pos;
        while (Pos < Text.Length && char.IsAsciiDigit(Text[Pos]))
        {
            Pos++;
        }

        if (Pos == start)
        {
            throw Fail("expected a number");
        }

        if (!long.TryParse(Text.AsSpan(start, Pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > max)
        {
            throw Fail("number too large", start);
        }

        return n;
    }

    /// <summary>Reads a positive integer.</summary>
    public int ReadPositive()
    {
        var start = Pos;
        var n = ReadNumber();
        if (n == 0)
        {
            throw Fail("expected a positive number", start);
        }

        return (int)n;
    }

    /// <summary>Reads a size with an optional K/M/G/T suffix (default <paramref name="unit"/>) as whole megabytes.</summary>
    public long ReadMegabytes(char unit = 'M')
    {
        var start = Pos;
        var n = ReadNumber(long.MaxValue);
        var suffix = char.ToUpperInvariant(Peek);
        if (suffix is 'K' or 'M' or 'G' or 'T')
        {
            Pos++;
            if (char.ToUpperInvariant(Peek) == 'B')
            {
                Pos++;
            }
        }
        else
        {
            suffix = unit;
        }

        var factor = suffix switch
        {
            'G' => 1024L,
            'T' => 1024L * 1024,
            _ => 1L,
        };
        if (n > long.MaxValue / factor)
        {
            throw Fail("number too large", start);
        }

        var mb = suffix == 'K' ? (n / 1024) + (n % 1024 == 0 ? 0 : 1) : n * factor;
        if (mb == 0)
        {
            throw Fail("expected a positive size", start);
        }

        return mb;
    }

    /// <summary>Fails unless the whole text has been read.</summary>
    public void ExpectEnd()
    {
        SkipBlanks();
        if (!AtEnd)
        {
            throw Fail($"unexpected '{Text[Pos]}'");
        }
    }
}

/// <summary>How a front-end knows a flag: its canonical name and whether it takes a value.</summary>
internal readonly record struct FlagSpec(string Name, bool TakesValue);

/// <summary>The script line a set of arguments came from, to relocate errors.</summary>
internal readonly record struct ScriptLine(int Number, string Text);

/// <summary>Walks <c>--flag=value</c>, <c>--flag value</c>, <c>-f value</c> and <c>-fvalue</c> arguments.</summary>
internal static class Flags
{
    public static void Walk(
        IReadOnlyList<Word> args,
        Func<string, FlagSpec?> lookup,
        Action<string, string> apply,
        ScriptLine? line)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string name;
            Word? inline = null;
            if (arg.Text.StartsWith("--", StringComparison.Ordinal) && arg.Text.Length > 2)
            {
                var eq = arg.Text.IndexOf('=', StringComparison.Ordinal);
                name = eq > 0 ? arg.Text[..eq] : arg.Text;
                if (eq > 0)
                {
                    inline = new Word(arg.Text[(eq + 1)..], arg.Column + eq + 1);
                }
            }
            else if (arg.Text.Length >= 2 && arg.Text[0] == '-' && arg.Text[1] != '-')
            {
                name = arg.Text[..2];
                if (arg.Text.Length > 2)
                {
                    inline = new Word(arg.Text[2..], arg.Column + 2);
                }
            }
            else
            {
                throw ArgError(line, arg, $"unexpected argument '{arg.Text}'");
            }

            var spec = lookup(name) ?? throw ArgError(line, arg, $"unknown option '{name}'");
            Word value;
            if (!spec.TakesValue)
            {
                if (inline is not null)
                {
                    throw ArgError(line, arg, $"option '{name}' takes no value");
                }

                value = new Word(string.Empty, arg.Column);
            }
            else if (inline is { } v)
            {
                value = v;
            }
            else if (i + 1 < args.Count)
            {
                value = args[++i];
            }
            else
            {
                throw ArgError(line, arg, $"option '{name}' needs a value");
            }

            try
            {
                apply(spec.Name, value.Text);
            }
            catch (RequestParseException e) when (line is { } l)
            {
                var offset = e.Text == value.Text ? value.Column - 1 : arg.Column - e.Column;
                throw e.Relocate($"script line {l.Number}", l.Text, offset, e.Source + ": ");
            }
        }
    }

    private static RequestParseException ArgError(ScriptLine? line, Word arg, string reason) =>
        line is { } l
            ? new RequestParseException($"script line {l.Number}", l.Text, arg.Column, reason)
            : new RequestParseException("arguments", arg.Text, 1, reason);
}
