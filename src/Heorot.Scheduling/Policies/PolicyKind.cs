namespace Heorot.Scheduling.Policies;

/// <summary>How a queue fills the Gantt: the three classic batch policies.</summary>
public enum PolicyKind
{
    /// <summary>Start jobs in queue order while they fit; never backfill.</summary>
    Fcfs,

    /// <summary>FCFS, and when the head does not fit reserve its earliest start and backfill anything that does not delay it.</summary>
    Easy,

    /// <summary>Every job holds a reservation from submission; reservations only ever move earlier (compression).</summary>
    Conservative,
}

public static class PolicyKinds
{
    public static bool TryParse(string text, out PolicyKind kind)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "fcfs":
                kind = PolicyKind.Fcfs;
                return true;
            case "easy":
                kind = PolicyKind.Easy;
                return true;
            case "conservative" or "cons":
                kind = PolicyKind.Conservative;
                return true;
            default:
                kind = default;
                return false;
        }
    }

    public static string Name(this PolicyKind kind) => kind switch
    {
        PolicyKind.Fcfs => "fcfs",
        PolicyKind.Easy => "easy",
        _ => "conservative",
    };
}
