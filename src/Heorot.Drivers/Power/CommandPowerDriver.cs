using System.Collections.Frozen;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Heorot.Drivers.Power;

/// <summary>How a site command's exit status reads as a power error.</summary>
public sealed record CommandExit(PowerErrorCode Code, bool IsTransient);

/// <summary>
/// Site commands an operator configures for a node's power (a PDU's CLI, a vendor tool, a script): one argv template
/// per action, run without a shell. An argument that is exactly <c>{name}</c> is replaced by that variable (whole
/// arguments only: <c>--outlet={outlet}</c> stays literal, and is refused by validation as a likely mistake). Built-in
/// variables: <c>{action}</c> (on, off, soft-off, cycle, reset, status, boot), and for <see cref="Boot"/>
/// <c>{device}</c> (default, disk, pxe, cdrom, bios) and <c>{persistent}</c> (persistent or once).
/// Secrets go through <see cref="SecretEnvironment"/> only, never into an argument. <see cref="ToString"/> hides their values.
/// </summary>
public sealed record CommandPowerOptions
{
    public IReadOnlyList<string>? On { get; init; }

    public IReadOnlyList<string>? Off { get; init; }

    public IReadOnlyList<string>? SoftOff { get; init; }

    public IReadOnlyList<string>? Cycle { get; init; }

    public IReadOnlyList<string>? Reset { get; init; }

    /// <summary>Prints the state: stdout matching <see cref="OnPattern"/> is on, <see cref="OffPattern"/> off (neither or both: unknown).</summary>
    public IReadOnlyList<string>? Status { get; init; }

    /// <summary>Sets the next boot device (<c>{device}</c>, <c>{persistent}</c>).</summary>
    public IReadOnlyList<string>? Boot { get; init; }

    /// <summary>Values of the placeholders, e.g. node → n12, outlet → 7.</summary>
    public IReadOnlyDictionary<string, string> Variables { get; init; } = FrozenDictionary<string, string>.Empty;

    /// <summary>Environment variables holding secrets (a PDU password): given to every command, redacted from every message.</summary>
    public IReadOnlyDictionary<string, string> SecretEnvironment { get; init; } = FrozenDictionary<string, string>.Empty;

    public string OnPattern { get; init; } = @"\bon\b";

    public string OffPattern { get; init; } = @"\boff\b";

    /// <summary>Deadline of one command; past it the command's process tree is killed and the call counts as unreachable.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a transient failure is retried after the first attempt.</summary>
    public int Retries { get; init; } = 2;

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Exit statuses with a meaning (sysexits.h by default: 69 EX_UNAVAILABLE and 75 EX_TEMPFAIL unreachable and
    /// transient, 77 EX_NOPERM refused credentials, 64 EX_USAGE and 78 EX_CONFIG bad configuration); any other
    /// non-zero status is a BMC error, not transient.
    /// </summary>
    public IReadOnlyDictionary<int, CommandExit> ExitCodes { get; init; } = DefaultExitCodes;

    public static IReadOnlyDictionary<int, CommandExit> DefaultExitCodes { get; } = new Dictionary<int, CommandExit>
    {
        [64] = new(PowerErrorCode.InvalidConfig, false),
        [69] = new(PowerErrorCode.Unreachable, true),
        [75] = new(PowerErrorCode.Unreachable, true),
        [77] = new(PowerErrorCode.AuthFailed, false),
        [78] = new(PowerErrorCode.InvalidConfig, false),
    }.ToFrozenDictionary();

    private bool PrintMembers(StringBuilder builder)
    {
        static string Show(IReadOnlyList<string>? argv) => argv == null ? "-" : "[" + string.Join(", ", argv) + "]";
        builder.Append(CultureInfo.InvariantCulture, $"On = {Show(On)}, Off = {Show(Off)}, SoftOff = {Show(SoftOff)}, Cycle = {Show(Cycle)}, ");
        builder.Append(CultureInfo.InvariantCulture, $"Reset = {Show(Reset)}, Status = {Show(Status)}, Boot = {Show(Boot)}, ");
        builder.Append(CultureInfo.InvariantCulture, $"Variables = {{{string.Join(", ", Variables.Select(v => $"{v.Key}={v.Value}"))}}}, ");
        builder.Append(CultureInfo.InvariantCulture, $"SecretEnvironment = {{{string.Join(", ", SecretEnvironment.Keys.Select(k => k + "=***"))}}}, Timeout = {Timeout}");
        return true;
    }
}

/// <summary>
/// Power through operator-configured site commands (<see cref="CommandPowerOptions"/>). Capabilities follow the
/// configured commands. With a status command the state is read before each action, as for IPMI: an action whose
/// target state holds runs nothing, and Cycle or Reset of a node that is off runs the On command. Without one, each
/// action runs its command and the site command is responsible for idempotence.
/// </summary>
public sealed partial class CommandPowerDriver : IPowerDriver
{
    private static readonly FrozenSet<string> BuiltIns = new[] { "action", "device", "persistent" }.ToFrozenSet(StringComparer.Ordinal);

    private readonly CommandPowerOptions options;
    private readonly PowerRetry retry;
    private readonly TimeProvider time;

    public CommandPowerDriver(CommandPowerOptions options, TimeProvider? timeProvider = null)
    {
        this.options = options;
        time = timeProvider ?? TimeProvider.System;
        retry = new PowerRetry(Math.Max(1, options.Retries + 1), options.RetryDelay, time);
    }

    public string Kind => "command";

    public CommandPowerOptions Options => options;

    public PowerCapabilities Capabilities =>
        (options.Status != null ? PowerCapabilities.ReadState : PowerCapabilities.None)
        | (options.On != null ? PowerCapabilities.PowerOn : PowerCapabilities.None)
        | (options.Off != null ? PowerCapabilities.PowerOff : PowerCapabilities.None)
        | (options.SoftOff != null ? PowerCapabilities.SoftOff : PowerCapabilities.None)
        | (options.Cycle != null ? PowerCapabilities.Cycle : PowerCapabilities.None)
        | (options.Reset != null ? PowerCapabilities.Reset : PowerCapabilities.None)
        | (options.Boot != null ? PowerCapabilities.BootDevice : PowerCapabilities.None);

    public PowerValidation Validate()
    {
        var problems = new List<string>();
        var commands = Commands().ToList();
        if (commands.Count == 0)
        {
            problems.Add("command: no command is configured");
        }

        foreach (var (name, argv) in commands)
        {
            if (argv.Count == 0 || string.IsNullOrEmpty(argv[0]))
            {
                problems.Add($"command: {name}: the command is empty");
                continue;
            }

            if (PowerProcess.Which(argv[0]) == null)
            {
                problems.Add($"command: {name}: {argv[0]} not found");
            }

            foreach (var argument in argv)
            {
                var whole = WholePlaceholder().Match(argument);
                if (whole.Success)
                {
                    var variable = whole.Groups[1].Value;
                    if (options.SecretEnvironment.ContainsKey(variable))
                    {
                        problems.Add($"command: {name}: {{{variable}}} names a secret; secrets reach the command through its environment only");
                    }
                    else if (!BuiltIns.Contains(variable) && !options.Variables.ContainsKey(variable))
                    {
                        problems.Add($"command: {name}: unknown placeholder {{{variable}}}");
                    }
                    else if ((variable is "device" or "persistent") && name != "boot")
                    {
                        problems.Add($"command: {name}: {{{variable}}} is only defined for the boot command");
                    }
                }
                else if (AnyPlaceholder().IsMatch(argument))
                {
                    problems.Add($"command: {name}: '{argument}' holds a placeholder inside a longer argument; placeholders are replaced as whole arguments only");
                }

                if (argument.Contains('\0', StringComparison.Ordinal))
                {
                    problems.Add($"command: {name}: an argument holds a NUL character");
                }
            }
        }

        foreach (var pattern in new[] { options.OnPattern, options.OffPattern })
        {
            try
            {
                _ = new Regex(pattern, RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                problems.Add($"command: status pattern '{pattern}' is not a regular expression: {e.Message}");
            }
        }

        if (options.Timeout <= TimeSpan.Zero || options.Retries < 0)
        {
            problems.Add("command: the timeout must be positive and the retries not negative");
        }

        return new PowerValidation(problems.Select(Redact).ToList());
    }

    public async Task<PowerState> GetStateAsync(CancellationToken cancellationToken = default)
    {
        if (options.Status == null)
        {
            return PowerState.Unknown;
        }

        return await retry.RunAsync(ReadStateAsync, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the state (when a status command exists), then runs what the action still needs; a retry starts again from
    /// the read. A restart runs at most once per call: after a Cycle or Reset command timed out (it may have acted), or
    /// after this call powered an off node on instead, a retry only makes sure the node is on.
    /// </summary>
    public Task SetAsync(PowerAction action, CancellationToken cancellationToken = default)
    {
        var (name, argv) = action switch
        {
            PowerAction.On => ("on", options.On),
            PowerAction.Off => ("off", options.Off),
            PowerAction.SoftOff => ("soft-off", options.SoftOff),
            PowerAction.Cycle => ("cycle", options.Cycle),
            PowerAction.Reset => ("reset", options.Reset),
            _ => (action.ToString(), null),
        };
        return argv == null
            ? throw new PowerException(PowerErrorCode.Unsupported, $"command: no {name} command is configured")
            : RetryAsync(action, name, argv, cancellationToken);
    }

    private Task RetryAsync(PowerAction action, string name, IReadOnlyList<string> argv, CancellationToken cancellationToken)
    {
        var restarted = new StrongBox<bool>();
        return retry.RunAsync(ct => SetOnceAsync(action, name, argv, restarted, ct), cancellationToken);
    }

    public Task SetNextBootAsync(BootDevice device, bool persistent = false, CancellationToken cancellationToken = default)
    {
        if (options.Boot == null)
        {
            throw new PowerException(PowerErrorCode.Unsupported, "command: no boot command is configured");
        }

        var extra = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["device"] = device.ToString().ToLowerInvariant(),
            ["persistent"] = persistent ? "persistent" : "once",
        };
        return retry.RunAsync(ct => RunAsync("boot", options.Boot, extra, ct), cancellationToken);
    }

    private async Task SetOnceAsync(PowerAction action, string name, IReadOnlyList<string> argv, StrongBox<bool> restarted, CancellationToken cancellationToken)
    {
        var restart = action is PowerAction.Cycle or PowerAction.Reset;
        if (options.Status != null)
        {
            var state = await ReadStateAsync(cancellationToken).ConfigureAwait(false);
            switch (action, state)
            {
                case (PowerAction.On, PowerState.On):
                case (PowerAction.Off or PowerAction.SoftOff, PowerState.Off):
                case (PowerAction.Cycle or PowerAction.Reset, PowerState.On) when restarted.Value:
                    return;
                case (PowerAction.Cycle or PowerAction.Reset, _) when restarted.Value || state == PowerState.Off:
                    (name, argv) = options.On != null ? ("on", options.On) : (name, argv);
                    restarted.Value = true;
                    break;
            }
        }

        await RunAsync(name, argv, null, cancellationToken, () => restarted.Value |= restart).ConfigureAwait(false);
    }

    private async Task<PowerState> ReadStateAsync(CancellationToken cancellationToken)
    {
        var stdout = await RunAsync("status", options.Status!, null, cancellationToken).ConfigureAwait(false);
        var on = Regex.IsMatch(stdout, options.OnPattern, RegexOptions.IgnoreCase, TimeSpan.FromSeconds(1));
        var off = Regex.IsMatch(stdout, options.OffPattern, RegexOptions.IgnoreCase, TimeSpan.FromSeconds(1));
        return on == off ? PowerState.Unknown : on ? PowerState.On : PowerState.Off;
    }

    /// <summary>The argv after substitution: an argument that is exactly {name} becomes the variable's value.</summary>
    internal IReadOnlyList<string> Expand(string action, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string>? extra)
    {
        return argv.Select(argument =>
        {
            var whole = WholePlaceholder().Match(argument);
            if (!whole.Success)
            {
                return argument;
            }

            var variable = whole.Groups[1].Value;
            return variable == "action" ? action
                : extra != null && extra.TryGetValue(variable, out var builtIn) ? builtIn
                : options.Variables.TryGetValue(variable, out var value) ? value
                : throw new PowerException(PowerErrorCode.InvalidConfig, $"command: {action}: unknown placeholder {{{variable}}}");
        }).ToList();
    }

    /// <summary>Runs one command; <paramref name="mayHaveRun"/> is called when it was killed at its deadline (it may have acted).</summary>
    private async Task<string> RunAsync(
        string action, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string>? extra, CancellationToken cancellationToken, Action? mayHaveRun = null)
    {
        var validation = Validate();
        if (!validation.IsValid)
        {
            var missing = validation.Problems.All(p => p.EndsWith("not found", StringComparison.Ordinal));
            throw new PowerException(missing ? PowerErrorCode.NotAvailable : PowerErrorCode.InvalidConfig, string.Join("; ", validation.Problems));
        }

        var expanded = Expand(action, argv, extra);
        var result = await PowerProcess.RunAsync(expanded[0], expanded.Skip(1), options.SecretEnvironment, options.Timeout, time, cancellationToken)
            .ConfigureAwait(false);
        var program = Path.GetFileName(expanded[0]);
        if (result.TimedOut)
        {
            mayHaveRun?.Invoke();
            throw new PowerException(
                PowerErrorCode.Unreachable,
                $"command: {action}: {program} did not finish within {options.Timeout.TotalSeconds:0.#} s",
                isTransient: true);
        }

        if (result.ExitCode == 0)
        {
            return result.Stdout;
        }

        var detail = Redact(string.Join("; ", (result.Stderr + "\n" + result.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
        detail = detail.Length > 300 ? detail[..300] + "…" : detail;
        var meaning = options.ExitCodes.TryGetValue(result.ExitCode, out var known) ? known : new CommandExit(PowerErrorCode.BmcError, false);
        throw new PowerException(meaning.Code, $"command: {action}: {program} exited {result.ExitCode}: {(detail.Length > 0 ? detail : "no output")}", meaning.IsTransient);
    }

    private string Redact(string text) => PowerProcess.Redact(text, options.SecretEnvironment.Values);

    private IEnumerable<(string Name, IReadOnlyList<string> Argv)> Commands()
    {
        var all = new (string, IReadOnlyList<string>?)[]
        {
            ("on", options.On), ("off", options.Off), ("soft-off", options.SoftOff), ("cycle", options.Cycle),
            ("reset", options.Reset), ("status", options.Status), ("boot", options.Boot),
        };
        return all.Where(c => c.Item2 != null).Select(c => (c.Item1, c.Item2!));
    }

    [GeneratedRegex(@"^\{([A-Za-z_][A-Za-z0-9_-]*)\}$")]
    private static partial Regex WholePlaceholder();

    [GeneratedRegex(@"\{[A-Za-z_][A-Za-z0-9_-]*\}")]
    private static partial Regex AnyPlaceholder();
}
