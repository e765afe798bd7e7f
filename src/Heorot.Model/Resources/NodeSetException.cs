namespace Heorot.Model.Resources;

/// <summary>A node-set expression such as <c>a[001-032]</c> is malformed.</summary>
public sealed class NodeSetException : FormatException
{
    public NodeSetException()
    {
        Expression = string.Empty;
    }

    public NodeSetException(string message)
        : base(message)
    {
        Expression = string.Empty;
    }

    public NodeSetException(string message, Exception innerException)
        : base(message, innerException)
    {
        Expression = string.Empty;
    }

    public NodeSetException(string expression, int position, string detail)
        : base($"invalid node set '{expression}': {detail} (at character {position + 1})")
    {
        Expression = expression;
        Position = position;
        Detail = detail;
    }

    /// <summary>The expression that failed to parse.</summary>
    public string Expression { get; }

    /// <summary>0-based character offset of the problem in <see cref="Expression"/>.</summary>
    public int Position { get; }

    /// <summary>The problem, without the expression.</summary>
    public string Detail { get; } = string.Empty;
}
