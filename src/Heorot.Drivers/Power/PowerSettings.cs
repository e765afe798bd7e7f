namespace Heorot.Drivers.Power;

/// <summary>
/// One node's power-driver settings as the operator wrote them (the server's power file): each key holds a
/// scalar or a list of scalars (a command line), and remembers where it was written, for error messages.
/// </summary>
public sealed class PowerSettings
{
    private readonly Dictionary<string, (IReadOnlyList<string> Values, bool IsList, string Where)> values = new(StringComparer.Ordinal);

    public PowerSettings(string node, string where)
    {
        Node = node;
        Where = where;
    }

    /// <summary>The node these settings are for.</summary>
    public string Node { get; }

    /// <summary>Where the node's entry was written (<c>file:line:column</c>).</summary>
    public string Where { get; }

    public IEnumerable<string> Keys => values.Keys;

    public string Driver => String("driver") ?? string.Empty;

    public void Set(string key, string value, string where) => values[key] = ([value], false, where);

    public void SetList(string key, IReadOnlyList<string> list, string where) => values[key] = (list, true, where);

    public bool Has(string key) => values.ContainsKey(key);

    /// <summary>A scalar setting; null when absent. A list where a scalar is expected is a configuration error.</summary>
    public string? String(string key)
    {
        if (!values.TryGetValue(key, out var entry))
        {
            return null;
        }

        return entry.IsList ? throw Invalid(key, "expected a single value, not a list") : entry.Values[0];
    }

    public string Required(string key) => String(key) ?? throw new PowerException(PowerErrorCode.InvalidConfig, $"{Where}: nodes.{Node}: '{key}' is required for driver '{Driver}'");

    /// <summary>A list setting (a command line); a scalar is split on spaces. Null when absent.</summary>
    public IReadOnlyList<string>? List(string key) =>
        !values.TryGetValue(key, out var entry) ? null
        : entry.IsList ? entry.Values
        : entry.Values[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public int? Int(string key, int min, int max)
    {
        var text = String(key);
        if (text == null)
        {
            return null;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw Invalid(key, $"expected a whole number from {min} to {max}, not '{text}'");
    }

    public bool? Bool(string key) =>
        String(key) switch
        {
            null => null,
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            var other => throw Invalid(key, $"expected true or false, not '{other}'"),
        };

    /// <summary>A configuration error at <paramref name="key"/>'s position; never includes the value (it may be a secret).</summary>
    public PowerException Invalid(string key, string message) =>
        new(PowerErrorCode.InvalidConfig, $"{(values.TryGetValue(key, out var e) ? e.Where : Where)}: nodes.{Node}.{key}: {message}");

    /// <summary>Keys that no driver option uses: a typo must not pass unnoticed.</summary>
    public void RejectUnknown(IEnumerable<string> known)
    {
        var allowed = new HashSet<string>(known, StringComparer.Ordinal) { "driver", "partition", "boot", "console", "cores", "memory" };
        foreach (var key in values.Keys.Where(k => !allowed.Contains(k)).Order(StringComparer.Ordinal))
        {
            throw Invalid(key, $"unknown setting for driver '{Driver}' (known: {string.Join(", ", allowed.Order(StringComparer.Ordinal))})");
        }
    }
}
