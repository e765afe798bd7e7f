namespace Heorot.Model.Resources;

/// <summary>A cluster description file is unreadable or invalid; <see cref="Errors"/> lists every problem found.</summary>
public sealed class ClusterDescriptionException : Exception
{
    public ClusterDescriptionException()
    {
        Errors = [];
    }

    public ClusterDescriptionException(string message)
        : base(message)
    {
        Errors = [];
    }

    public ClusterDescriptionException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [];
    }

    public ClusterDescriptionException(IReadOnlyList<ClusterDescriptionError> errors)
        : base(string.Join('\n', errors))
    {
        Errors = errors;
    }

    /// <summary>The problems, in file order as far as the reader could tell.</summary>
    public IReadOnlyList<ClusterDescriptionError> Errors { get; }
}
