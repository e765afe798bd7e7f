namespace Heorot.Tests.Support;

/// <summary>Locates the repository root and the shared material beside it (traces, reference schedules).</summary>
public static class SharedFiles
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Heorot.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Heorot.sln) above " + AppContext.BaseDirectory);
    });

    public static string RepositoryRoot => Root.Value;

    /// <summary>A file under <c>../shared/</c>; fails with a clear message when it is missing.</summary>
    public static string Path(params string[] parts)
    {
        var path = System.IO.Path.GetFullPath(System.IO.Path.Combine([RepositoryRoot, "..", "shared", .. parts]));
        if (!File.Exists(path))
        {
            Assert.Fail($"missing shared file {path}: tests read traces and reference schedules from ../shared/ beside the repository (see README)");
        }

        return path;
    }
}
