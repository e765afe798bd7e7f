namespace Heorot.Model.Requests;

/// <summary>
/// Reads a batch script's directives: after an optional <c>#!</c> first line, the leading block of blank and comment
/// lines; the first other line ends it. Lines starting with <c>#SBATCH</c> carry Slurm flags; lines starting with
/// <c>#OAR</c> or <c>#HEOROT</c> carry OAR-style flags (<c>-l -p -q -n -t --after</c>, see
/// <see cref="OarRequestParser.ParseArguments"/>). A script uses one family: mixing <c>#SBATCH</c> with
/// <c>#OAR</c>/<c>#HEOROT</c> is an error. Other comments are ignored. Words are split shell-like (quotes, no
/// expansion) and an unquoted <c>#</c> word starts a trailing comment. Errors name the script line.
/// </summary>
public static class ScriptDirectives
{
    /// <summary>Parses the directives of <paramref name="scriptText"/>; no directives gives the default request.</summary>
    public static JobRequest Parse(string scriptText)
    {
        var lines = scriptText.Split('\n');
        var slurm = new SlurmArguments();
        var oar = new OarArguments();
        string? family = null;
        var lastLine = new ScriptLine(1, string.Empty);
        for (var i = 0; i < lines.Length; i++)
        {
            var text = lines[i].TrimEnd('\r');
            if (i == 0 && text.StartsWith("#!", StringComparison.Ordinal))
            {
                continue;
            }

            var trimmed = text.TrimStart();
            if (trimmed.Length == 0)
            {
                continue;
            }

            if (trimmed[0] != '#')
            {
                break;
            }

            var directive = Directive(trimmed);
            if (directive is null)
            {
                continue;
            }

            var line = new ScriptLine(i + 1, text);
            var lineFamily = directive == "#SBATCH" ? "slurm" : "oar";
            if (family is not null && family != lineFamily)
            {
                throw new RequestParseException(
                    $"script line {line.Number}",
                    text,
                    text.Length - trimmed.Length + 1,
                    "#SBATCH cannot be mixed with #OAR or #HEOROT directives");
            }

            family = lineFamily;
            lastLine = line;
            var offset = text.Length - trimmed.Length + directive.Length;
            var words = ShellWords.Split(text, $"script line {line.Number}", comments: true, start: offset);
            if (family == "slurm")
            {
                Flags.Walk(words, SlurmArguments.Lookup, slurm.Apply, line);
            }
            else
            {
                Flags.Walk(words, OarArguments.Lookup, oar.Apply, line);
            }
        }

        try
        {
            return family == "slurm" ? slurm.Build() : oar.Build();
        }
        catch (RequestParseException e)
        {
            throw e.Relocate($"script line {lastLine.Number}", lastLine.Text, 1 - e.Column, e.Source + ": ");
        }
    }

    private static string? Directive(string trimmed)
    {
        foreach (var prefix in (string[])["#SBATCH", "#OAR", "#HEOROT"])
        {
            if (trimmed.StartsWith(prefix, StringComparison.Ordinal)
                && (trimmed.Length == prefix.Length || char.IsWhiteSpace(trimmed[prefix.Length])))
            {
                return prefix;
            }
        }

        return null;
    }
}
