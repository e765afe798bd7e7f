using System.Collections.Concurrent;
using System.Diagnostics;

namespace Heorot.Tests.Support;

/// <summary>Runs an independent tool (a real client, a package manager) with its own environment, bounded in time.</summary>
public static class ExternalTool
{
    private static readonly ConcurrentDictionary<string, Lazy<Task>> Installed = new(StringComparer.Ordinal);

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
    }

    public static async Task<Result> RunAsync(
        string file,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // A null value removes the variable from the tool's environment.
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value == null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start " + file);
        process.StandardInput.Close();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(timeout ?? TimeSpan.FromMinutes(2));
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish in time:\n{await stdout}\n{await stderr}");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Installs the Debian packages that are missing (once per test run, serialized with other apt users by dpkg's
    /// lock); fails the test when they cannot be installed, never skips it.
    /// </summary>
    public static Task EnsurePackagesAsync(params string[] packages) =>
        Installed.GetOrAdd(string.Join(' ', packages.Order(StringComparer.Ordinal)), _ => new Lazy<Task>(() => InstallAsync(packages))).Value;

    private static async Task InstallAsync(string[] packages)
    {
        var missing = new List<string>();
        foreach (var package in packages)
        {
            var status = await RunAsync("dpkg-query", ["-W", "-f=${Status}", package]);
            if (status.ExitCode != 0 || !status.Stdout.Contains("install ok installed", StringComparison.Ordinal))
            {
                missing.Add(package);
            }
        }

        if (missing.Count == 0)
        {
            return;
        }

        var environment = new Dictionary<string, string?> { ["DEBIAN_FRONTEND"] = "noninteractive" };
        string[] install = ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", .. missing];
        var result = await RunAsync("apt-get", install, environment, TimeSpan.FromMinutes(10));
        if (result.ExitCode != 0)
        {
            // The package lists may be stale or absent (a fresh container): refresh them once.
            await RunAsync("apt-get", ["-o", "DPkg::Lock::Timeout=300", "update"], environment, TimeSpan.FromMinutes(10));
            result = await RunAsync("apt-get", install, environment, TimeSpan.FromMinutes(10));
        }

        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"these tests need the Debian packages {string.Join(", ", missing)}; apt-get install failed:\n{result}");
        }
    }
}
