using System.Text;

namespace Heorot.Model.Requests;

/// <summary>A word of a shell-like line and the 1-based column where its text starts.</summary>
internal readonly record struct Word(string Text, int Column);

/// <summary>
/// Shell-like word splitting: blanks separate words; <c>'...'</c> is literal; inside <c>"..."</c> a backslash escapes
/// <c>"</c> and <c>\</c>; outside quotes a backslash escapes any character. Optionally, an unquoted word starting with
/// <c>#</c> begins a comment. No expansion of any kind.
/// </summary>
internal static class ShellWords
{
    public static List<Word> Split(string line, string source, bool comments = false, int start = 0)
    {
        var words = new List<Word>();
        var i = start;
        while (true)
        {
            while (i < line.Length && char.IsWhiteSpace(line[i]))
            {
                i++;
            }

            if (i >= line.Length || (comments && line[i] == '#'))
            {
                return words;
            }

            var content = line[i] is '"' or '\'' ? i + 2 : i + 1;
            var text = new StringBuilder();
            while (i < line.Length && !char.IsWhiteSpace(line[i]))
            {
                var c = line[i];
                if (c == '\'')
                {
                    var end = line.IndexOf('\'', i + 1);
                    if (end < 0)
                    {
                        throw new RequestParseException(source, line, i + 1, "unterminated single quote");
                    }

                    text.Append(line, i + 1, end - i - 1);
                    i = end + 1;
                }
                else if (c == '"')
                {
                    var open = i;
                    i++;
                    while (true)
                    {
                        if (i >= line.Length)
                        {
                            throw new RequestParseException(source, line, open + 1, "unterminated double quote");
                        }

                        if (line[i] == '"')
                        {
                            i++;
                            break;
                        }

                        if (line[i] == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\')
                        {
                            i++;
                        }

                        text.Append(line[i]);
                        i++;
                    }
                }
                else if (c == '\\')
                {
                    if (i + 1 >= line.Length)
                    {
                        throw new RequestParseException(source, line, i + 1, "backslash at end of line");
                    }

                    text.Append(line[i + 1]);
                    i += 2;
                }
                else
                {
                    text.Append(c);
                    i++;
                }
            }

            words.Add(new Word(text.ToString(), content));
        }
    }

    /// <summary>Quotes <paramref name="word"/> so that <see cref="Split"/> reads it back unchanged.</summary>
    public static string Quote(string word)
    {
        if (word.Length > 0 && word.All(IsSafe))
        {
            return word;
        }

        var text = new StringBuilder("\"");
        foreach (var c in word)
        {
            if (c is '"' or '\\')
            {
                text.Append('\\');
            }

            text.Append(c);
        }

        return text.Append('"').ToString();
    }

    private static bool IsSafe(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '/' or '=' or ':' or '+' or ',' or '_' or '-' or '.';
}
