using System.Text;

namespace Heorot.Model.Lifecycle;

/// <summary>An illegal state change: the stable code maps to HTTP 409 at the API edge.</summary>
public sealed class IllegalTransitionException : Exception
{
    public IllegalTransitionException(string machine, string from, string trigger)
        : base($"{machine}: cannot '{trigger}' from state {from}")
    {
        Machine = machine;
        From = from;
        Trigger = trigger;
    }

    public IllegalTransitionException()
    {
        Machine = From = Trigger = string.Empty;
    }

    public IllegalTransitionException(string message)
        : base(message)
    {
        Machine = From = Trigger = string.Empty;
    }

    public IllegalTransitionException(string message, Exception innerException)
        : base(message, innerException)
    {
        Machine = From = Trigger = string.Empty;
    }

    /// <summary>Stable error code.</summary>
    public static string Code => "illegal_transition";

    public string Machine { get; }

    public string From { get; }

    public string Trigger { get; }
}

/// <summary>One row of a lifecycle: from a state, on a trigger, to a state, and why the row exists.</summary>
public sealed record Transition<TState, TTrigger>(TState From, TTrigger Trigger, TState To, string Meaning)
    where TState : struct, Enum
    where TTrigger : struct, Enum;

/// <summary>
/// A lifecycle written down as one declared table (Ironic's habit): every legal change is a row; anything else
/// is an <see cref="IllegalTransitionException"/>. The table renders itself as Markdown for the docs.
/// </summary>
public sealed class TransitionTable<TState, TTrigger>
    where TState : struct, Enum
    where TTrigger : struct, Enum
{
    private readonly Dictionary<(TState, TTrigger), Transition<TState, TTrigger>> _rows = [];

    public TransitionTable(string name, IEnumerable<Transition<TState, TTrigger>> rows)
    {
        Name = name;
        foreach (var row in rows)
        {
            if (!_rows.TryAdd((row.From, row.Trigger), row))
            {
                throw new ArgumentException($"{name}: two rows for {row.From} on {row.Trigger}");
            }
        }

        Rows = [.. _rows.Values];
    }

    public string Name { get; }

    public IReadOnlyList<Transition<TState, TTrigger>> Rows { get; }

    /// <summary>The state after <paramref name="trigger"/>, or false when the table has no such row.</summary>
    public bool TryFire(TState from, TTrigger trigger, out TState to)
    {
        if (_rows.TryGetValue((from, trigger), out var row))
        {
            to = row.To;
            return true;
        }

        to = from;
        return false;
    }

    /// <summary>The state after <paramref name="trigger"/>; an illegal change throws the typed error.</summary>
    public TState Fire(TState from, TTrigger trigger) =>
        TryFire(from, trigger, out var to) ? to : throw new IllegalTransitionException(Name, from.ToString(), trigger.ToString());

    /// <summary>The triggers allowed in a state.</summary>
    public IEnumerable<TTrigger> Allowed(TState from) => Rows.Where(r => EqualityComparer<TState>.Default.Equals(r.From, from)).Select(r => r.Trigger);

    /// <summary>States from which no trigger leads anywhere.</summary>
    public IEnumerable<TState> Terminal() => Enum.GetValues<TState>().Where(s => !Allowed(s).Any());

    /// <summary>The table as Markdown, for docs/state-tables.md.</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.Append("| from | trigger | to | meaning |\n| --- | --- | --- | --- |\n");
        foreach (var row in Rows)
        {
            text.Append($"| {row.From} | {row.Trigger} | {row.To} | {row.Meaning} |\n");
        }

        return text.ToString();
    }
}
