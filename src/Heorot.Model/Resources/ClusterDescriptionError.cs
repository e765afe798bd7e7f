namespace Heorot.Model.Resources;

/// <summary>
/// One problem in a cluster description file: where it is (1-based line and column, 0 when the whole file is
/// concerned), which field (a path such as <c>clusters[0].switches[1].nodes[2].memory</c>) and what is wrong.
/// </summary>
public sealed record ClusterDescriptionError(string File, int Line, int Column, string Field, string Message)
{
    /// <summary>Formats as <c>cluster.yaml:12:9: clusters[0].defaults.memory: expected …</c>.</summary>
    public override string ToString()
    {
        string where = Line > 0 ? $"{File}:{Line}:{Column}" : File;
        return Field.Length > 0 ? $"{where}: {Field}: {Message}" : $"{where}: {Message}";
    }
}
