using System.Text;

namespace Heorot.Model.Power;

/// <summary>
/// A bad <c>key=value</c> specification (<c>--power</c>, <c>--elastic</c>): names the option, carries its text and a
/// 1-based column, and renders a caret under the bad key or value.
/// </summary>
public sealed class SpecParseException : Exception
{
    public SpecParseException()
        : this("input", string.Empty, 1, "invalid specification")
    {
    }

    public SpecParseException(string message)
        : this("input", string.Empty, 1, message)
    {
    }

    public SpecParseException(string message, Exception innerException)
        : base(message, innerException)
    {
        Source = "input";
        Text = string.Empty;
        Column = 1;
        Reason = message;
    }

    public SpecParseException(string source, string text, int column, string reason)
        : base($"{source}: {reason} at column {column}")
    {
        Source = source;
        Text = text;
        Column = column;
        Reason = reason;
    }

    /// <summary>The option the text came from, e.g. <c>--power</c>.</summary>
    public new string Source { get; }

    public string Text { get; }

    /// <summary>1-based column of the offending character in <see cref="Text"/> (may be one past its end).</summary>
    public int Column { get; }

    /// <summary>The message without its location.</summary>
    public string Reason { get; }

    /// <summary>The text on one line and a <c>^</c> under the bad column.</summary>
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
}
