using System.Globalization;
using System.IO.Compression;

namespace Heorot.Simulation.Swf;

/// <summary>
/// Reads Standard Workload Format files as they really are (see <c>shared/SWF-FORMAT.md</c>): header keys
/// with trailing text, comments anywhere, -1 fields, header counts that do not match the file, time fields
/// written as decimals. A data line without 18 numeric fields is an error naming the line, unless
/// <c>skipMalformed</c> is set (simulator outputs interleave other lines).
/// </summary>
public static class SwfReader
{
    public const int FieldCount = 18;

    /// <summary>Reads a file; <c>.gz</c> files are decompressed on the fly.</summary>
    public static SwfTrace ReadFile(string path, bool skipMalformed = false)
    {
        using var stream = File.OpenRead(path);
        using Stream input = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(stream, CompressionMode.Decompress) : stream;
        using var reader = new StreamReader(input, bufferSize: 1 << 16);
        return Read(reader, Path.GetFileName(path), skipMalformed);
    }

    public static SwfTrace Read(TextReader reader, string name, bool skipMalformed = false)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var records = new List<SwfRecord>();
        Span<double> values = stackalloc double[FieldCount];
        var lineNumber = 0;
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            lineNumber++;
            var span = line.AsSpan().Trim();
            if (span.IsEmpty)
            {
                continue;
            }

            if (span[0] == ';')
            {
                ReadHeaderLine(span[1..], fields);
                continue;
            }

            var problem = ParseFields(span, values);
            if (problem != null)
            {
                if (skipMalformed)
                {
                    continue;
                }

                throw new SwfFormatException(name, lineNumber, problem);
            }

            records.Add(new SwfRecord(
                (long)values[0], (long)values[1], (long)values[2], (long)values[3], (long)values[4], values[5],
                (long)values[6], (long)values[7], (long)values[8], (long)values[9], (int)values[10], (int)values[11],
                (int)values[12], (int)values[13], (int)values[14], (int)values[15], (long)values[16], (long)values[17])
            {
                Line = lineNumber,
            });
        }

        var header = new SwfHeader
        {
            MaxProcs = (int?)LeadingInteger(fields, "MaxProcs"),
            MaxNodes = (int?)LeadingInteger(fields, "MaxNodes"),
            MaxJobs = LeadingInteger(fields, "MaxJobs"),
            MaxRecords = LeadingInteger(fields, "MaxRecords"),
            UnixStartTime = LeadingInteger(fields, "UnixStartTime"),
            Version = fields.GetValueOrDefault("Version"),
            Computer = fields.GetValueOrDefault("Computer"),
            Fields = fields,
        };
        return new SwfTrace(name, header, records);
    }

    private static void ReadHeaderLine(ReadOnlySpan<char> text, Dictionary<string, string> fields)
    {
        var colon = text.IndexOf(':');
        if (colon <= 0)
        {
            return;
        }

        var key = text[..colon].Trim();
        if (key.IsEmpty || key.ContainsAny(' ', '\t'))
        {
            return; // free text inside a comment, not a "Key: value" line
        }

        var keyText = key.ToString();
        var value = text[(colon + 1)..].Trim().ToString();
        // Repeated keys (Note, Queue, Partition) accumulate; the first value of a numeric key wins.
        fields[keyText] = fields.TryGetValue(keyText, out var previous) ? previous + "\n" + value : value;
    }

    private static long? LeadingInteger(Dictionary<string, string> fields, string key)
    {
        if (!fields.TryGetValue(key, out var value))
        {
            return null;
        }

        var span = value.AsSpan().TrimStart();
        var end = 0;
        while (end < span.Length && (char.IsAsciiDigit(span[end]) || (end == 0 && span[end] == '-')))
        {
            end++;
        }

        return long.TryParse(span[..end], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    private static string? ParseFields(ReadOnlySpan<char> line, Span<double> values)
    {
        var count = 0;
        var i = 0;
        while (i < line.Length)
        {
            while (i < line.Length && char.IsWhiteSpace(line[i]))
            {
                i++;
            }

            if (i >= line.Length)
            {
                break;
            }

            var start = i;
            while (i < line.Length && !char.IsWhiteSpace(line[i]))
            {
                i++;
            }

            if (count == FieldCount)
            {
                return $"expected {FieldCount} fields, found more";
            }

            var token = line[start..i];
            if (!TryParseNumber(token, out values[count]))
            {
                return $"field {count + 1} is not a number: '{token.ToString()}'";
            }

            count++;
        }

        return count == FieldCount ? null : $"expected {FieldCount} fields, found {count}";
    }

    private static bool TryParseNumber(ReadOnlySpan<char> token, out double value)
    {
        // Fast path for the common case of a plain integer.
        long n = 0;
        var negative = token.Length > 0 && token[0] == '-';
        var k = negative ? 1 : 0;
        if (k < token.Length && token.Length - k <= 17)
        {
            for (; k < token.Length; k++)
            {
                var c = token[k];
                if (c is < '0' or > '9')
                {
                    break;
                }

                n = (n * 10) + (c - '0');
            }

            if (k == token.Length)
            {
                value = negative ? -n : n;
                return true;
            }
        }

        return double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }
}
