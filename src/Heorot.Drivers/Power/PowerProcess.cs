using System.ComponentModel;
using System.Diagnostics;
using Heorot.Drivers.Hypervisor;

namespace Heorot.Drivers.Power;

/// <summary>
/// Runs one helper program for a power driver (ipmitool, a site command): an argument list, never a shell string;
/// secrets only through <c>environment</c> (a command line is visible to every user in <c>ps</c>); a deadline after
/// which the whole process tree is killed.
/// </summary>
internal static class PowerProcess
{
    /// <summary>How long output is still read after the process exited (a detached grandchild may hold the pipes).</summary>
    private static readonly TimeSpan DrainGrace = TimeSpan.FromSeconds(2);

    public sealed record Result(int ExitCode, string Stdout, string Stderr, bool TimedOut);

    public static async Task<Result> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment,
        TimeSpan timeout,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        using var process = new Process { StartInfo = ProcessRunner.StartInfo(fileName, arguments, environment) };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new PowerException(PowerErrorCode.NotAvailable, $"cannot run {fileName}: {e.Message}", false, e);
        }

        // No prompt may ever wait for a password on stdin.
        process.StandardInput.Close();
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        using var drain = new CancellationTokenSource();
        var stdout = process.StandardOutput.ReadToEndAsync(drain.Token);
        var stderr = process.StandardError.ReadToEndAsync(drain.Token);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            if (cancellationToken.IsCancellationRequested)
            {
                drain.Cancel();
                throw;
            }

            timedOut = true;
        }

        drain.CancelAfter(DrainGrace);
        return new Result(
            timedOut ? -1 : process.ExitCode,
            await ReadAsync(stdout).ConfigureAwait(false),
            await ReadAsync(stderr).ConfigureAwait(false),
            timedOut);
    }

    /// <summary>Looks a program up on PATH (or checks an explicit path); null when absent.</summary>
    public static string? Which(string program) => Hypervisor.ProcessRunner.Which(program);

    /// <summary>Replaces every occurrence of each secret (a tool might echo one) before text goes into a message.</summary>
    public static string Redact(string text, IEnumerable<string?> secrets)
    {
        foreach (var secret in secrets)
        {
            if (!string.IsNullOrEmpty(secret))
            {
                text = text.Replace(secret, "***", StringComparison.Ordinal);
            }
        }

        return text;
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    private static async Task<string> ReadAsync(Task<string> read)
    {
        try
        {
            return await read.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return string.Empty;
        }
    }
}
