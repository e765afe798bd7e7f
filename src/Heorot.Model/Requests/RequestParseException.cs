using System.Text;

namespace Heorot.Model.Requests;

/// <summary>
/// The only exception the request parsers throw for bad input. It names the input (<see cref="Source"/>, e.g.
/// <c>-l</c>, <c>--time</c>, <c>script line 3</c>), carries the input text and a 1-based column, and renders a caret.
/// </summary>
public sealed class RequestParseException : Exception
{
    public RequestParseException()
        : this("input", string.Empty, 1, "invalid request")
    {
    }

    public RequestParseException(string message)
        : this("input", string.Empty, 1, message)
    {
    }

    public RequestParseException(string message, Exception innerException)
        : base(message, innerException)
    {
        Source = "input";
        Text = string.Empty;
        Column = 1;
        Reason = message;
    }

    public RequestParseException(string source, string text, int column, string reason)
        : base($"{source}: {reason} at column {column}")
    {
        Source = source;
        Text = text;
        Column = column;
        Reason = reason;
    }

    /// <summary>Which input was bad: a flag (<c>-l</c>, <c>-p</c>, <c>--time</c>) or <c>script line N</c>.</summary>
    public new string Source { get; }

    /// <summary>The input text the column refers to.</summary>
    public string Text { get; }

    /// <summary>1-based column of the offending character in <see cref="Text"/> (may be one past its end).</summary>
    public int Column { get; }

    /// <summary>The message without its location, e.g. <c>expected a number</c>.</summary>
    public string Reason { get; }

    /// <summary>The input on one line and a <c>^</c> under the bad column.</summary>
    public string Caret
    {
        get
        {
            var line = new StringBuilder(Text.Length);
            foreach (var c in Text)
            {
                line.Append(char.IsControl(c) ? ' ' : c);
            }

            return line + "\n" + new string(' ', Math.Max(0, Column - 1)) + "^";
        }
    }

    /// <summary>The same error seen from an enclosing input (a script line), its column shifted by <paramref name="offset"/>.</summary>
    internal RequestParseException Relocate(string source, string text, int offset, string prefix) =>
        new(source, text, Math.Max(1, Column + offset), prefix + Reason);
}
