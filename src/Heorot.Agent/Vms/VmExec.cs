using System.Globalization;
using System.Text.Json;
using Heorot.Drivers.Hypervisor;
using Heorot.Protocol;

namespace Heorot.Agent.Vms;

/// <summary>What the host side of a VM job's batch script needs (written by the agent, read by <c>heorot vm-exec</c>).</summary>
public sealed record VmExecRequest
{
    /// <summary>The first VM's command channel (its run directory's agent.sock).</summary>
    public string Channel { get; init; } = string.Empty;

    public string User { get; init; } = string.Empty;

    public long JobId { get; init; }

    /// <summary>The batch script on the host; it is copied into the VM and run there as the user.</summary>
    public string Script { get; init; } = string.Empty;

    /// <summary>No script: the VMs are the job, up until its walltime or its cancel (the channel stays free).</summary>
    public bool Hold { get; init; }

    public IReadOnlyList<string> Vms { get; init; } = [];

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// <c>heorot vm-exec REQUEST</c>: the process the agent's job wrapper runs for a VM job, in place of the script.
/// It copies the script into the first VM, writes the VM list there (<c>HEOROT_NODEFILE</c>), runs the script as
/// the user through the guest's command channel, and relays its output and exit code — so the job's output and
/// status come back like any other job's. A separate process, so the job survives an agent restart.
/// </summary>
public static class VmExec
{
    /// <summary>The exit status when stopped by SIGTERM (walltime, cancel), as a shell reports a job killed by it.</summary>
    public const int Terminated = 128 + 15;

    /// <summary>
    /// Runs the request. SIGTERM (the agent's walltime or cleanup) cancels <paramref name="cancellationToken"/>:
    /// that is how a job without a script always ends, so it exits <see cref="Terminated"/>, not with a crash.
    /// </summary>
    public static async Task<int> RunAsync(string requestFile, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        try
        {
            return await RunRequestAsync(requestFile, stdout, stderr, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Terminated;
        }
    }

    private static async Task<int> RunRequestAsync(string requestFile, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var request = JsonSerializer.Deserialize<VmExecRequest>(await File.ReadAllTextAsync(requestFile, cancellationToken), WireJson.Options)
            ?? throw new JsonException($"{requestFile}: empty");
        if (request.Hold)
        {
            await stdout.WriteLineAsync($"heorot: job {request.JobId}'s VMs are up ({string.Join(", ", request.Vms)}); they stay until the walltime or heorot del (log in with heorot ssh {request.JobId})");
            await stdout.FlushAsync(cancellationToken);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        var script = await File.ReadAllTextAsync(request.Script, cancellationToken);
        var id = request.JobId.ToString(CultureInfo.InvariantCulture);
        var nodefile = $"/tmp/heorot-{id}.nodes";
        var target = $"/tmp/heorot-{id}.script";

        await using var channel = await GuestChannel.ConnectWhenServedAsync(request.Channel, TimeSpan.FromSeconds(60), cancellationToken);
        var setup = await channel.RunAsync(
            ["/bin/sh", "-c", "printf '%s' \"$1\" > \"$2\" && chmod 700 \"$2\" && shift 2 && printf '%s\\n' \"$@\" > \"$0\"", nodefile, script, target, .. request.Vms],
            user: request.User,
            cancellationToken: cancellationToken);
        if (setup.ExitCode != 0)
        {
            await stderr.WriteLineAsync($"heorot: cannot copy the script into the VM: {setup.StderrText.Trim()}");
            return 125;
        }

        var environment = new Dictionary<string, string>(request.Environment)
        {
            ["HEOROT_NODEFILE"] = nodefile,
            ["HEOROT_NODES"] = string.Join(",", request.Vms),
            ["HEOROT_NODE"] = request.Vms.Count > 0 ? request.Vms[0] : string.Empty,
        };
        var result = await channel.RunAsync([target], environment, request.User, cancellationToken: cancellationToken);
        await stdout.WriteAsync(result.StdoutText);
        await stderr.WriteAsync(result.StderrText);
        await stdout.FlushAsync(cancellationToken);
        await stderr.FlushAsync(cancellationToken);
        return result.ExitCode;
    }
}
