using Heorot.Model.Requests;
using System.Globalization;

namespace Heorot.Model.Power;

/// <summary>One <c>key=value</c> item of a specification, with the 0-based offsets of its key and value.</summary>
public readonly record struct SpecItem(string Key, int KeyAt, string Value, int ValueAt);

/// <summary>
/// Reads comma-separated <c>key=value</c> lists (<c>boot=120s,idle=100W</c>) and their typed values: durations
/// (<c>90</c>, <c>90s</c>, <c>2m</c>, <c>1h</c>), powers (<c>100</c>, <c>100W</c>, <c>0.1kW</c>), counts. Every error
/// is a <see cref="RequestParseException"/> pointing at the bad key or value.
/// </summary>
public sealed class SpecItems
{
    private readonly List<SpecItem> _items = [];

    private SpecItems(string source, string text, int offset)
    {
        Source = source;
        Text = text;
        Offset = offset;
    }

    /// <summary>The option the text came from.</summary>
    public string Source { get; }

    /// <summary>The whole option text (errors point into it).</summary>
    public string Text { get; }

    /// <summary>Where the list starts in <see cref="Text"/>.</summary>
    public int Offset { get; }

    public IReadOnlyList<SpecItem> Items => _items;

    /// <summary>
    /// Parses the list that starts at <paramref name="offset"/> of <paramref name="text"/>, checking every key
    /// against <paramref name="keys"/> and refusing duplicates.
    /// </summary>
    public static SpecItems Parse(string source, string text, int offset, IReadOnlyCollection<string> keys)
    {
        var spec = new SpecItems(source, text, offset);
        var at = offset;
        if (at >= text.Length)
        {
            throw spec.Fail(at, $"expected key=value; keys: {string.Join(", ", keys)}");
        }

        while (true)
        {
            var comma = text.IndexOf(',', at);
            var end = comma < 0 ? text.Length : comma;
            var eq = text.IndexOf('=', at, end - at);
            var keyEnd = eq < 0 ? end : eq;
            var key = text[at..keyEnd].Trim();
            var keyAt = at + (text[at..keyEnd].Length - text[at..keyEnd].TrimStart().Length);
            if (key.Length == 0)
            {
                throw spec.Fail(keyAt, $"expected a key; keys: {string.Join(", ", keys)}");
            }

            if (!keys.Contains(key.ToLowerInvariant()))
            {
                throw spec.Fail(keyAt, $"unknown key '{key}'; keys: {string.Join(", ", keys)}");
            }

            if (eq < 0)
            {
                throw spec.Fail(keyEnd, $"expected '=' and a value after '{key}'");
            }

            var raw = text[(eq + 1)..end];
            var value = raw.Trim();
            var valueAt = eq + 1 + (raw.Length - raw.TrimStart().Length);
            if (value.Length == 0)
            {
                throw spec.Fail(valueAt, $"expected a value for '{key}'");
            }

            key = key.ToLowerInvariant();
            foreach (var other in spec._items)
            {
                if (other.Key == key)
                {
                    throw spec.Fail(keyAt, $"'{key}' given twice");
                }
            }

            spec._items.Add(new SpecItem(key, keyAt, value, valueAt));
            if (comma < 0)
            {
                return spec;
            }

            at = comma + 1;
        }
    }

    /// <summary>
    /// A single value without its key (<c>idle-timeout:600s</c>): the text from <paramref name="offset"/> on is the
    /// value of <paramref name="key"/>.
    /// </summary>
    public static SpecItems Bare(string source, string text, int offset, string key)
    {
        var spec = new SpecItems(source, text, offset);
        var raw = text[offset..];
        var value = raw.Trim();
        var valueAt = offset + (raw.Length - raw.TrimStart().Length);
        if (value.Length == 0)
        {
            throw spec.Fail(valueAt, $"expected a value for '{key}'");
        }

        spec._items.Add(new SpecItem(key, offset, value, valueAt));
        return spec;
    }

    public bool TryGet(string key, out SpecItem item)
    {
        foreach (var i in _items)
        {
            if (i.Key == key)
            {
                item = i;
                return true;
            }
        }

        item = default;
        return false;
    }

    /// <summary>The item, or an error at the end of the text naming the missing key.</summary>
    public SpecItem Require(string key, string meaning)
    {
        if (!TryGet(key, out var item))
        {
            throw Fail(Text.Length, $"missing '{key}=' ({meaning})");
        }

        return item;
    }

    public RequestParseException Fail(int at, string reason) => new(Source, Text, at + 1, reason);

    /// <summary>A duration in whole seconds: a number with an optional unit s, m or h.</summary>
    public long Seconds(SpecItem item)
    {
        var (number, unit, unitAt) = SplitUnit(item);
        long scale = unit.ToLowerInvariant() switch
        {
            "" or "s" => 1,
            "m" or "min" => 60,
            "h" => 3600,
            _ => throw Fail(unitAt, $"{item.Key}: unknown time unit '{unit}'; expected s, m or h"),
        };
        if (number < 0)
        {
            throw Fail(item.ValueAt, $"{item.Key}: expected a duration of at least 0 s");
        }

        var seconds = number * scale;
        if (seconds != Math.Floor(seconds) || seconds > int.MaxValue)
        {
            throw Fail(item.ValueAt, $"{item.Key}: expected a whole number of seconds, at most {int.MaxValue}");
        }

        return (long)seconds;
    }

    /// <summary>A power in watts: a number with an optional unit W or kW.</summary>
    public double Watts(SpecItem item)
    {
        var (number, unit, unitAt) = SplitUnit(item);
        var scale = unit.ToLowerInvariant() switch
        {
            "" or "w" => 1.0,
            "kw" => 1000.0,
            _ => throw Fail(unitAt, $"{item.Key}: unknown power unit '{unit}'; expected W or kW"),
        };
        if (number < 0)
        {
            throw Fail(item.ValueAt, $"{item.Key}: expected a power of at least 0 W");
        }

        return number * scale;
    }

    /// <summary>A whole count from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public int Count(SpecItem item, int min = 0, int max = int.MaxValue)
    {
        if (!int.TryParse(item.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
        {
            throw Fail(item.ValueAt, $"{item.Key}: expected a whole number from {min} to {max}, got '{item.Value}'");
        }

        return n;
    }

    /// <summary>A plain number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public double Number(SpecItem item, double min, double max)
    {
        if (!double.TryParse(item.Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
        {
            throw Fail(item.ValueAt, $"{item.Key}: expected a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, got '{item.Value}'");
        }

        return n;
    }

    private (double Number, string Unit, int UnitAt) SplitUnit(SpecItem item)
    {
        var v = item.Value;
        var i = 0;
        if (i < v.Length && (v[i] == '-' || v[i] == '+'))
        {
            i++;
        }

        while (i < v.Length && (char.IsAsciiDigit(v[i]) || v[i] == '.'))
        {
            i++;
        }

        if (!double.TryParse(v.AsSpan(0, i), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            throw Fail(item.ValueAt, $"{item.Key}: expected a number, got '{v}'");
        }

        return (number, v[i..].Trim(), item.ValueAt + i);
    }
}
