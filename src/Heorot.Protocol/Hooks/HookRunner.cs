using System.Diagnostics;
using System.Text;

namespace Heorot.Protocol.Hooks;

/// <summary>The outcome of a prolog or epilog: success, and what it printed (trimmed) or why it failed.</summary>
public sealed record HookResult(bool Ok, int? ExitCode, string Output)
{
    public static HookResult None { get; } = new(true, 0, string.Empty);
}

/// <summary>
/// Runs a prolog or epilog script: no shell in between (the path is executed with no arguments), a documented
/// environment (<c>HEOROT_JOB_ID</c>, <c>HEOROT_USER</c>, <c>HEOROT_NODEFILE</c>, …), a timeout after which its
/// whole process group is killed. Output is kept (first 4 KiB) for the event that records a failure.
/// </summary>
public static class HookRunner
{
    private const int KeptOutput = 4096;

    public static async Task<HookResult> RunAsync(string? path, IReadOnlyDictionary<string, string> environment, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(path))
        {
            return HookResult.None;
        }

        if (!File.Exists(path))
        {
            return new HookResult(false, null, $"{path}: no such file");
        }

        var start = new ProcessStartInfo("/usr/bin/setsid", [path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        void Keep(string? line)
        {
            if (line == null)
            {
                return;
            }

            lock (output)
            {
                if (output.Length < KeptOutput)
                {
                    output.AppendLine(line);
                }
            }
        }

        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new HookResult(false, null, $"{path}: {e.Message}");
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timer.Token);
        }
        catch (OperationCanceledException)
        {
            Signals.KillGroup(process.Id, Signals.Kill);
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            return new HookResult(false, null, $"{path}: timed out after {timeout.TotalSeconds:0} s");
        }

        await process.WaitForExitAsync(CancellationToken.None); // drain the output events
        string text;
        lock (output)
        {
            text = output.ToString().Trim();
        }

        return process.ExitCode == 0
            ? new HookResult(true, 0, text)
            : new HookResult(false, process.ExitCode, $"{path}: exit status {process.ExitCode}{(text.Length > 0 ? ": " + text : string.Empty)}");
    }
}
