using YamlDotNet.Core;

namespace Heorot.Model.Resources;

/// <summary>
/// Reads the operator-written cluster description (YAML) into a <see cref="ClusterModel"/>. The format is
/// documented in <c>docs/cluster-description.md</c>. Bad content raises <see cref="ClusterDescriptionException"/>
/// listing every problem with its file, line, column and field path; nothing else escapes for bad input.
/// </summary>
public static class ClusterDescription
{
    /// <summary>Parses <paramref name="yamlText"/>; <paramref name="fileName"/> is only used in messages and as
    /// the default model name.</summary>
    /// <exception cref="ClusterDescriptionException">The text is not a valid cluster description.</exception>
    public static ClusterModel Parse(string yamlText, string fileName)
    {
        ArgumentNullException.ThrowIfNull(yamlText);
        ArgumentNullException.ThrowIfNull(fileName);
        return new DescriptionReader(fileName).Read(yamlText);
    }

    /// <summary>Reads and parses the file at <paramref name="path"/>.</summary>
    /// <exception cref="ClusterDescriptionException">The file cannot be read or is not a valid description.</exception>
    public static ClusterModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ClusterDescriptionException([new ClusterDescriptionError(path, 0, 0, string.Empty, $"cannot read the file: {ex.Message}")]);
        }

        return Parse(text, path);
    }

    internal static int LineOf(Mark mark) => (int)Math.Min(mark.Line, int.MaxValue);

    internal static int ColumnOf(Mark mark) => (int)Math.Min(mark.Column, int.MaxValue);
}
