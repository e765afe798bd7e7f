using System.Globalization;

namespace Heorot.Model.Resources;

/// <summary>
/// Memory sizes as operators write them: <c>192G</c>, <c>512M</c>, <c>1T</c>, <c>1.5T</c>, or a bare number of
/// MiB. Units are binary (1G = 1024M) and case-insensitive; <c>GB</c>, <c>GiB</c> and the like are accepted.
/// </summary>
public static class MemorySize
{
    /// <summary>Parses <paramref name="text"/> into whole MiB; false when malformed, non-positive or fractional MiB.</summary>
    public static bool TryParseMb(string text, out long megabytes)
    {
        megabytes = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        int end = span.Length;
        while (end > 0 && char.IsAsciiLetter(span[end - 1]))
        {
            end--;
        }

        double scale = span[end..].ToString().ToUpperInvariant() switch
        {
            "" or "M" or "MB" or "MIB" => 1,
            "K" or "KB" or "KIB" => 1.0 / 1024,
            "G" or "GB" or "GIB" => 1024,
            "T" or "TB" or "TIB" => 1024.0 * 1024,
            "P" or "PB" or "PIB" => 1024.0 * 1024 * 1024,
            _ => double.NaN,
        };
        var number = span[..end].TrimEnd();
        if (double.IsNaN(scale) || number.IsEmpty || !char.IsAsciiDigit(number[0])
            || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        double mb = value * scale;
        if (mb < 1 || mb > long.MaxValue / 2 || mb != Math.Floor(mb))
        {
            return false;
        }

        megabytes = (long)mb;
        return true;
    }

    /// <summary>Prints MiB with the largest unit that keeps it whole: 196608 → <c>192G</c>.</summary>
    public static string Format(long megabytes)
    {
        if (megabytes > 0 && megabytes % (1024L * 1024) == 0)
        {
            return (megabytes / (1024L * 1024)).ToString(CultureInfo.InvariantCulture) + "T";
        }

        return megabytes > 0 && megabytes % 1024 == 0
            ? (megabytes / 1024).ToString(CultureInfo.InvariantCulture) + "G"
            : megabytes.ToString(CultureInfo.InvariantCulture) + "M";
    }
}
