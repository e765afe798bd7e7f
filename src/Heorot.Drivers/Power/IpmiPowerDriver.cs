using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Heorot.Drivers.Power;

/// <summary>
/// How to reach one node's BMC over IPMI. <see cref="ToString"/> never shows the password, so the options may be
/// logged or put into a message.
/// </summary>
public sealed record IpmiOptions
{
    /// <summary>The BMC's address or host name.</summary>
    public required string Host { get; init; }

    public int Port { get; init; } = 623;

    public required string Username { get; init; }

    /// <summary>Passed to ipmitool through its environment (<c>-E</c>, IPMI_PASSWORD), never on its command line.</summary>
    public string Password { get; init; } = string.Empty;

    /// <summary>RMCP+ cipher suite (<c>-C</c>); 3 (HMAC-SHA1, AES-CBC-128) works with almost every BMC and spares ipmitool its slow suite discovery.</summary>
    public int CipherSuite { get; init; } = 3;

    /// <summary><c>lanplus</c> (IPMI 2.0, RMCP+) or <c>lan</c> (IPMI 1.5).</summary>
    public string Interface { get; init; } = "lanplus";

    /// <summary>Deadline of one ipmitool run; past it the run is killed and counts as unreachable.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How many times a transient failure (no answer, BMC busy) is retried after the first attempt.</summary>
    public int Retries { get; init; } = 2;

    /// <summary>Delay before the first retry; doubled for each further one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>ipmitool's own wait for each answer (<c>-N</c>, whole seconds).</summary>
    public TimeSpan MessageTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>ipmitool's own resends of an unanswered message (<c>-R</c>).</summary>
    public int MessageRetries { get; init; } = 1;

    public string IpmitoolPath { get; init; } = "ipmitool";

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture, $"Host = {Host}, Port = {Port}, Username = {Username}, Password = ***, ");
        builder.Append(CultureInfo.InvariantCulture, $"CipherSuite = {CipherSuite}, Interface = {Interface}, Timeout = {Timeout}, Retries = {Retries}");
        return true;
    }
}

/// <summary>
/// Power through a BMC's IPMI LAN interface, by running ipmitool (<c>-I lanplus -C 3 -H host -p port -U user -E</c>):
/// <c>chassis power status|on|off|soft|cycle|reset</c> and <c>chassis bootdev</c>. The state is read before every
/// action, so an action whose target state already holds sends nothing, and Cycle or Reset of a node that is off
/// powers it on. ipmitool runs with <c>-v</c>: its diagnostics are what tells a refused password (RAKP 2 HMAC invalid)
/// from a BMC that does not answer, which both end in the same "Unable to establish" line.
/// </summary>
public sealed partial class IpmiPowerDriver : IPowerDriver
{
    private static readonly string[] NoiseLines =
    [
        "Loading IANA PEN Registry",
        "Running Get VSO Capabilities",
        "Invalid completion code received: Invalid command",
        "Discovered IPMB address",
    ];

    private readonly IpmiOptions options;
    private readonly PowerRetry retry;
    private readonly TimeProvider time;

    public IpmiPowerDriver(IpmiOptions options, TimeProvider? timeProvider = null)
    {
        this.options = options;
        time = timeProvider ?? TimeProvider.System;
        retry = new PowerRetry(Math.Max(1, options.Retries + 1), options.RetryDelay, time);
    }

    public string Kind => "ipmi";

    public PowerCapabilities Capabilities => PowerCapabilities.All;

    public IpmiOptions Options => options;

    public PowerValidation Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Host) || Uri.CheckHostName(options.Host) == UriHostNameType.Unknown)
        {
            problems.Add($"ipmi: host '{options.Host}' is not a host name or an IP address");
        }

        if (options.Port is < 1 or > 65535)
        {
            problems.Add($"ipmi: port {options.Port} is out of range");
        }

        if (string.IsNullOrEmpty(options.Username) || Encoding.UTF8.GetByteCount(options.Username) > 16 || options.Username.Any(char.IsControl))
        {
            problems.Add("ipmi: the user name must be 1 to 16 bytes without control characters");
        }

        if (Encoding.UTF8.GetByteCount(options.Password) > 20 || options.Password.Any(char.IsControl))
        {
            // IPMI 2.0 passwords are at most 20 bytes; the password itself is never quoted.
            problems.Add("ipmi: the password must be at most 20 bytes without control characters");
        }

        if (options.Interface is not ("lanplus" or "lan"))
        {
            problems.Add($"ipmi: interface '{options.Interface}' is not lanplus or lan");
        }

        if (options.CipherSuite is < 0 or > 17)
        {
            problems.Add($"ipmi: cipher suite {options.CipherSuite} is out of range (0-17)");
        }

        if (options.Timeout <= TimeSpan.Zero || options.MessageTimeout < TimeSpan.FromSeconds(1) || options.Retries < 0 || options.MessageRetries < 0)
        {
            problems.Add("ipmi: timeouts must be positive (message timeout at least 1 s) and retries not negative");
        }

        if (PowerProcess.Which(options.IpmitoolPath) == null)
        {
            problems.Add($"ipmi: {options.IpmitoolPath} not found (Debian: apt-get install ipmitool)");
        }

        return new PowerValidation(problems);
    }

    public Task<PowerState> GetStateAsync(CancellationToken cancellationToken = default) =>
        retry.RunAsync(ReadStateAsync, cancellationToken);

    /// <summary>
    /// Reads the state, then sends what the action still needs. A retry starts again from the read, so an On or Off
    /// whose answer was lost but which took effect is not sent again. A restart is sent at most once per call: once a
    /// Cycle or Reset may have reached the BMC (its answer was lost, not its session refused), or once this call
    /// powered an off node on instead, a retry only makes sure the node is on.
    /// </summary>
    public Task SetAsync(PowerAction action, CancellationToken cancellationToken = default)
    {
        var progress = new SetProgress();
        return retry.RunAsync(ct => SetOnceAsync(action, progress, ct), cancellationToken);
    }

    public Task SetNextBootAsync(BootDevice device, bool persistent = false, CancellationToken cancellationToken = default)
    {
        var name = device switch
        {
            BootDevice.Default => "none",
            BootDevice.Disk => "disk",
            BootDevice.Pxe => "pxe",
            BootDevice.Cdrom => "cdrom",
            BootDevice.Bios => "bios",
            _ => throw new PowerException(PowerErrorCode.Unsupported, $"ipmi: unknown boot device {device}"),
        };
        List<string> arguments = ["chassis", "bootdev", name];
        if (persistent)
        {
            arguments.Add("options=persistent");
        }

        return retry.RunAsync(ct => RunAsync(arguments, $"bootdev {name}", ct), cancellationToken);
    }

    private async Task SetOnceAsync(PowerAction action, SetProgress progress, CancellationToken cancellationToken)
    {
        var state = await ReadStateAsync(cancellationToken).ConfigureAwait(false);
        var restart = action is PowerAction.Cycle or PowerAction.Reset;
        var command = (action, state) switch
        {
            _ when restart && progress.Restarted => state == PowerState.On ? null : "on",
            (PowerAction.On, PowerState.On) => null,
            (PowerAction.Off or PowerAction.SoftOff, PowerState.Off) => null,
            (PowerAction.On, _) => "on",
            (PowerAction.Off, _) => "off",
            (PowerAction.SoftOff, _) => "soft",

            // A BMC may refuse to cycle or reset a chassis that is off; the contract is to power it on.
            (PowerAction.Cycle or PowerAction.Reset, PowerState.Off) => "on",
            (PowerAction.Cycle, _) => "cycle",
            (PowerAction.Reset, _) => "reset",
            _ => throw new PowerException(PowerErrorCode.Unsupported, $"ipmi: unknown power action {action}"),
        };
        if (command == null)
        {
            return;
        }

        if (restart && command == "on")
        {
            progress.Restarted = true;
        }

        try
        {
            await RunAsync(["chassis", "power", command], $"power {command}", cancellationToken, () => progress.Restarted |= restart)
                .ConfigureAwait(false);
        }
        catch (PowerException e) when (e.Code == PowerErrorCode.BmcError && action is PowerAction.On or PowerAction.Off or PowerAction.SoftOff)
        {
            // Some BMCs answer "not supported in present state" to a request for the state they are in.
            var now = await ReadStateAsync(cancellationToken).ConfigureAwait(false);
            if (now != (action == PowerAction.On ? PowerState.On : PowerState.Off))
            {
                throw;
            }
        }
    }

    private async Task<PowerState> ReadStateAsync(CancellationToken cancellationToken)
    {
        var stdout = await RunAsync(["chassis", "power", "status"], "power status", cancellationToken).ConfigureAwait(false);
        var match = PowerStatusLine().Match(stdout);
        return !match.Success ? PowerState.Unknown
            : match.Groups[1].Value.Equals("on", StringComparison.OrdinalIgnoreCase) ? PowerState.On
            : PowerState.Off;
    }

    /// <summary>The command line after the program name: connection, then the request. Never the password.</summary>
    internal IReadOnlyList<string> Arguments(IEnumerable<string> request)
    {
        var arguments = new List<string> { "-I", options.Interface };
        if (options.Interface == "lanplus")
        {
            arguments.AddRange(["-C", options.CipherSuite.ToString(CultureInfo.InvariantCulture)]);
        }

        arguments.AddRange(["-H", options.Host, "-p", options.Port.ToString(CultureInfo.InvariantCulture), "-U", options.Username]);
        if (options.Password.Length > 0)
        {
            arguments.Add("-E");
        }

        arguments.AddRange([
            "-N", Math.Max(1, (int)Math.Ceiling(options.MessageTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture),
            "-R", options.MessageRetries.ToString(CultureInfo.InvariantCulture),
            "-v",
        ]);
        arguments.AddRange(request);
        return arguments;
    }

    /// <summary>Runs one ipmitool request; <paramref name="mayHaveRun"/> is called when it failed after the BMC may have acted on it.</summary>
    private async Task<string> RunAsync(IEnumerable<string> request, string what, CancellationToken cancellationToken, Action? mayHaveRun = null)
    {
        var validation = Validate();
        if (!validation.IsValid)
        {
            var missing = PowerProcess.Which(options.IpmitoolPath) == null;
            throw new PowerException(missing ? PowerErrorCode.NotAvailable : PowerErrorCode.InvalidConfig, string.Join("; ", validation.Problems));
        }

        var environment = new Dictionary<string, string>(StringComparer.Ordinal) { ["IPMI_PASSWORD"] = options.Password };
        var result = await PowerProcess.RunAsync(options.IpmitoolPath, Arguments(request), environment, options.Timeout, time, cancellationToken)
            .ConfigureAwait(false);
        if (result.TimedOut || (result.ExitCode != 0 && AnswerLost(result.Stderr + "\n" + result.Stdout)))
        {
            mayHaveRun?.Invoke();
        }

        if (result.TimedOut)
        {
            throw new PowerException(
                PowerErrorCode.Unreachable,
                $"ipmi: {what} on {Where}: no answer within {options.Timeout.TotalSeconds:0.#} s",
                isTransient: true);
        }

        if (result.ExitCode != 0)
        {
            throw Classify(what, result.Stdout, result.Stderr);
        }

        return result.Stdout;
    }

    private string Where => $"{options.Host}:{options.Port}";

    /// <summary>The session was up and the request sent, but no (matching) answer came: the BMC may have acted.</summary>
    private static bool AnswerLost(string text) =>
        Has(text, "Unable to set Chassis Power Control") || Has(text, "Request Match NOT FOUND") || Has(text, "Error setting Chassis Boot Parameter");

    /// <summary>What one <see cref="SetAsync"/> call has done so far, across its retries.</summary>
    private sealed class SetProgress
    {
        /// <summary>A restart (or the power-on standing for one) may have happened: do not restart again.</summary>
        public bool Restarted { get; set; }
    }

    /// <summary>Maps a failed ipmitool run to a typed error from its diagnostics (with <c>-v</c>).</summary>
    internal PowerException Classify(string what, string stdout, string stderr)
    {
        var text = stderr + "\n" + stdout;
        var detail = Detail(text);
        var prefix = $"ipmi: {what} on {Where}";
        if (Has(text, "RAKP 2 HMAC is invalid") || Has(text, "unauthorized name") || Has(text, "invalid integrity check")
            || (Has(text, "Authentication type") && Has(text, "not supported")) || Has(text, "Activate Session command failed") || Has(text, "Activate Session error"))
        {
            return new PowerException(PowerErrorCode.AuthFailed, $"{prefix}: the BMC refused the credentials (user name or password)");
        }

        if (Has(text, "privilege"))
        {
            return new PowerException(PowerErrorCode.AuthFailed, $"{prefix}: the user lacks the privilege for this request ({detail})");
        }

        if (Has(text, "invalid authentication algorithm") || (Has(text, "cipher suite") && !Has(text, "Unable to Get Channel Cipher Suites")))
        {
            return new PowerException(PowerErrorCode.InvalidConfig, $"{prefix}: the BMC does not accept cipher suite {options.CipherSuite} ({detail})");
        }

        if (Has(text, "Node busy") || Has(text, "Node Busy"))
        {
            return new PowerException(PowerErrorCode.Conflict, $"{prefix}: the BMC is busy ({detail})", isTransient: true);
        }

        // ipmitool prints "Unable to …" / "Error setting …" when no (matching) answer came, and "… failed: REASON" for a
        // completion code. A resend whose first answer arrives late ends in "Request Match NOT FOUND".
        if (Has(text, "Unable to establish") || Has(text, "Get Auth Capabilities error") || Has(text, "No response")
            || Has(text, "Address lookup for") || Has(text, "Could not open socket") || Has(text, "Unable to get Chassis Power Status")
            || Has(text, "Unable to set Chassis Power Control") || Has(text, "Request Match NOT FOUND")
            || Has(text, "Error setting Chassis Boot Parameter") || Has(text, "Error Getting Chassis Boot Parameter") || Has(text, "timeout"))
        {
            return new PowerException(PowerErrorCode.Unreachable, $"{prefix}: the BMC did not answer ({detail})", isTransient: true);
        }

        if (what.StartsWith("bootdev", StringComparison.Ordinal)
            && (Has(detail, "Invalid data field") || Has(detail, "Invalid command") || Has(detail, "not supported")))
        {
            return new PowerException(PowerErrorCode.Unsupported, $"{prefix}: the BMC does not support this boot device override ({detail})");
        }

        return new PowerException(PowerErrorCode.BmcError, $"{prefix} failed: {detail}");
    }

    /// <summary>ipmitool's meaningful output lines (its -v chatter removed), redacted and bounded.</summary>
    private string Detail(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !NoiseLines.Any(n => l.StartsWith(n, StringComparison.Ordinal)))
            .Select(l => l.TrimStart('>', ' '));
        var detail = PowerProcess.Redact(string.Join("; ", lines), [options.Password]);
        if (detail.Length == 0)
        {
            return "no output";
        }

        return detail.Length > 300 ? detail[..300] + "…" : detail;
    }

    private static bool Has(string text, string what) => text.Contains(what, StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex(@"Chassis Power is (on|off)", RegexOptions.IgnoreCase)]
    private static partial Regex PowerStatusLine();
}
