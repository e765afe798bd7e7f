namespace Heorot.Server.Control;

public enum LogKind
{
    Stdout,
    Stderr,
}

/// <summary>
/// Job output as agents upload it: one file per attempt and stream under the data directory. Writes are
/// idempotent by offset (a chunk sent twice is written once), so agents can resend after any restart.
/// </summary>
public sealed class LogStore(string directory)
{
    private readonly Lock gate = new();

    public string PathOf(long job, int attempt, LogKind stream) =>
        Path.Combine(directory, $"{job}.{attempt}.{(stream == LogKind.Stdout ? "out" : "err")}");

    public (long Stdout, long Stderr) Lengths(long job, int attempt) =>
        (Length(PathOf(job, attempt, LogKind.Stdout)), Length(PathOf(job, attempt, LogKind.Stderr)));

    public void Write(long job, int attempt, LogKind stream, long offset, byte[] data)
    {
        var path = PathOf(job, attempt, stream);
        lock (gate)
        {
            Directory.CreateDirectory(directory);
            using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
            var length = file.Length;
            if (offset > length || offset + data.Length <= length)
            {
                return; // a gap (an earlier chunk is missing: it will be resent) or nothing new
            }

            var skip = (int)(length - offset);
            file.Seek(length, SeekOrigin.Begin);
            file.Write(data, skip, data.Length - skip);
        }
    }

    /// <summary>Reads up to <paramref name="max"/> bytes from <paramref name="offset"/>.</summary>
    public byte[] Read(long job, int attempt, LogKind stream, long offset, int max)
    {
        var path = PathOf(job, attempt, stream);
        if (!File.Exists(path))
        {
            return [];
        }

        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (offset >= file.Length)
        {
            return [];
        }

        file.Seek(offset, SeekOrigin.Begin);
        var buffer = new byte[(int)Math.Min(max, file.Length - offset)];
        file.ReadExactly(buffer);
        return buffer;
    }

    private static long Length(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;
}
