namespace Heorot.Server.Identity;

/// <summary>Who makes a request, and how they proved it.</summary>
public sealed record Caller(string User, bool IsOperator, string Via)
{
    public bool MayActOn(string owner) => IsOperator || string.Equals(User, owner, StringComparison.Ordinal);
}
