using System.Diagnostics;
using Heorot.Drivers.Hypervisor;
using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// The IPMI driver's own behaviour: what its command line holds (never the password), how ipmitool's diagnostics map
/// to error codes, its deadline and retries (against a scripted stand-in for ipmitool), and, against a real ipmi_sim,
/// that an independent client (freeipmi's ipmipower) sees the state the driver set and the other way round.
/// </summary>
public sealed class IpmiPowerDriverTests : IDisposable
{
    private const string Password = "s3cret-Pw";
    private readonly string directory = Directory.CreateTempSubdirectory("heorot-ipmitool-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void ToString_Options_HidesThePassword()
    {
        var options = new IpmiOptions { Host = "bmc1", Username = "admin", Password = Password };

        Assert.DoesNotContain(Password, options.ToString(), StringComparison.Ordinal);
        Assert.Contains("bmc1", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetState_AnyCall_PasswordInTheEnvironmentNeverOnTheCommandLine()
    {
        var driver = FakeIpmitool(new Reply(0, "Chassis Power is on\n", string.Empty));

        Assert.Equal(PowerState.On, await driver.GetStateAsync(Ct));

        var cmdline = await File.ReadAllTextAsync(Path.Combine(directory, "cmdline.1"), Ct);
        Assert.DoesNotContain(Password, cmdline, StringComparison.Ordinal);
        Assert.Contains(" -I lanplus -C 3 -H 127.0.0.1 -p 16623 -U admin -E ", cmdline, StringComparison.Ordinal);
        Assert.EndsWith(" chassis power status ", cmdline, StringComparison.Ordinal);
        Assert.Equal(Password, await File.ReadAllTextAsync(Path.Combine(directory, "password.1"), Ct));
    }

    [Fact]
    public async Task GetState_UnexpectedOutput_IsUnknown()
    {
        var driver = FakeIpmitool(new Reply(0, "Chassis Power is perhaps\n", string.Empty));

        Assert.Equal(PowerState.Unknown, await driver.GetStateAsync(Ct));
    }

    [Theory]
    [InlineData("> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session", PowerErrorCode.AuthFailed, false)]
    [InlineData("RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session", PowerErrorCode.AuthFailed, false)]
    [InlineData("Activate Session command failed\nError: Unable to establish LAN session", PowerErrorCode.AuthFailed, false)]
    [InlineData("Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\nError: Unable to establish IPMI v2 / RMCP+ session", PowerErrorCode.Unreachable, true)]
    [InlineData("Address lookup for bmc9.invalid failed\nCould not open socket!\nError: Unable to establish IPMI v2 / RMCP+ session", PowerErrorCode.Unreachable, true)]
    [InlineData("Error in open session response message : invalid authentication algorithm\nError: Unable to establish IPMI v2 / RMCP+ session", PowerErrorCode.InvalidConfig, false)]
    [InlineData("Set Chassis Power Control to Up/On failed: Node busy", PowerErrorCode.Conflict, true)]
    [InlineData("Unable to set Chassis Power Control to Up/On\nIPMI Request Match NOT FOUND", PowerErrorCode.Unreachable, true)]
    [InlineData("Error setting Chassis Boot Parameter 5", PowerErrorCode.Unreachable, true)]
    [InlineData("Set Chassis Power Control to Up/On failed: Unspecified error", PowerErrorCode.BmcError, false)]
    public void Classify_IpmitoolDiagnostics_MapToTypedErrors(string stderr, PowerErrorCode code, bool transient)
    {
        var driver = new IpmiPowerDriver(new IpmiOptions { Host = "127.0.0.1", Username = "admin", Password = Password });

        var e = driver.Classify("power on", string.Empty, "Loading IANA PEN Registry...\n" + stderr);

        Assert.Equal(code, e.Code);
        Assert.Equal(transient, e.IsTransient);
    }

    [Fact]
    public void Classify_BootOverrideRefused_IsUnsupported()
    {
        var driver = new IpmiPowerDriver(new IpmiOptions { Host = "127.0.0.1", Username = "admin", Password = Password });

        var e = driver.Classify("bootdev pxe", string.Empty, "Set Chassis Boot Parameter 5 failed: Invalid data field in request");

        Assert.Equal(PowerErrorCode.Unsupported, e.Code);
    }

    [Fact]
    public async Task SetAsync_ToolEchoesThePassword_MessageRedacted()
    {
        var driver = FakeIpmitool(new Reply(0, "Chassis Power is off\n", string.Empty), new Reply(1, string.Empty, $"strange failure with {Password} inside"));

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));

        Assert.Equal(PowerErrorCode.BmcError, e.Code);
        Assert.DoesNotContain(Password, e.ToString(), StringComparison.Ordinal);
        Assert.Contains("strange failure", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetState_Unreachable_RetriedTheConfiguredNumberOfTimes()
    {
        var driver = FakeIpmitool(new Reply(1, string.Empty, "Get Auth Capabilities error\nError: Unable to establish IPMI v2 / RMCP+ session"));

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.Unreachable, e.Code);
        Assert.Equal(3, Calls());
    }

    [Fact]
    public async Task GetState_AuthFailed_NotRetried()
    {
        var driver = FakeIpmitool(new Reply(1, string.Empty, "> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session"));

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.AuthFailed, e.Code);
        Assert.Equal(1, Calls());
    }

    [Fact]
    public async Task GetState_IpmitoolHangs_KilledAtTheDeadlineAsUnreachable()
    {
        var hanging = FakeIpmitool(new Reply(0, string.Empty, string.Empty, Hang: true));
        var driver = new IpmiPowerDriver(hanging.Options with { Timeout = TimeSpan.FromSeconds(1), Retries = 0 });
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));

        Assert.Equal(PowerErrorCode.Unreachable, e.Code);
        Assert.True(e.IsTransient);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task SetAsync_BmcRefusesOnWhenAlreadyOn_Succeeds()
    {
        var driver = FakeIpmitool(
            new Reply(0, "Chassis Power is off\n", string.Empty),
            new Reply(1, string.Empty, "Set Chassis Power Control to Up/On failed: Command not supported in present state"),
            new Reply(0, "Chassis Power is on\n", string.Empty));

        await driver.SetAsync(PowerAction.On, Ct);

        Assert.Equal(3, Calls());
    }

    [Fact]
    public async Task SetAsync_AnswerLostButActionTookEffect_RetryReadsTheStateAndSendsNothingMore()
    {
        var driver = FakeIpmitool(
            new Reply(0, "Chassis Power is off\n", string.Empty),
            new Reply(1, string.Empty, "Unable to set Chassis Power Control to Up/On\nIPMI Request Match NOT FOUND"),
            new Reply(0, "Chassis Power is on\n", string.Empty));

        await driver.SetAsync(PowerAction.On, Ct);

        Assert.Equal(3, Calls());
        Assert.EndsWith(" chassis power status ", await File.ReadAllTextAsync(Path.Combine(directory, "cmdline.3"), Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetAsync_CycleWhoseAnswerWasLost_NotSentAgain()
    {
        var driver = FakeIpmitool(
            new Reply(0, "Chassis Power is on\n", string.Empty),
            new Reply(1, string.Empty, "Unable to set Chassis Power Control to Cycle\nIPMI Request Match NOT FOUND"),
            new Reply(0, "Chassis Power is on\n", string.Empty));

        await driver.SetAsync(PowerAction.Cycle, Ct);

        Assert.Equal(3, Calls());
    }

    [Fact]
    public async Task SetAsync_CycleWhoseSessionWasRefused_SentAgain()
    {
        var driver = FakeIpmitool(
            new Reply(0, "Chassis Power is on\n", string.Empty),
            new Reply(1, string.Empty, "Get Auth Capabilities error\nError: Unable to establish IPMI v2 / RMCP+ session"),
            new Reply(0, "Chassis Power is on\n", string.Empty),
            new Reply(0, "Chassis Power Control: Cycle\n", string.Empty));

        await driver.SetAsync(PowerAction.Cycle, Ct);

        Assert.Equal(4, Calls());
        Assert.EndsWith(" chassis power cycle ", await File.ReadAllTextAsync(Path.Combine(directory, "cmdline.4"), Ct), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(PowerAction.Cycle)]
    [InlineData(PowerAction.Reset)]
    public async Task SetAsync_RestartOfANodeThatIsOff_SendsPowerOn(PowerAction action)
    {
        var driver = FakeIpmitool(new Reply(0, "Chassis Power is off\n", string.Empty), new Reply(0, "Chassis Power Control: Up/On\n", string.Empty));

        await driver.SetAsync(action, Ct);

        Assert.EndsWith(" chassis power on ", await File.ReadAllTextAsync(Path.Combine(directory, "cmdline.2"), Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetNextBoot_Persistent_AsksForAPersistentOverride()
    {
        var driver = FakeIpmitool(new Reply(0, "Set Boot Device to pxe\n", string.Empty));

        await driver.SetNextBootAsync(BootDevice.Pxe, persistent: true, Ct);

        Assert.EndsWith(" chassis bootdev pxe options=persistent ", await File.ReadAllTextAsync(Path.Combine(directory, "cmdline.1"), Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_IpmitoolMissing_ReportedAndCallsFailNotAvailable()
    {
        var driver = new IpmiPowerDriver(new IpmiOptions
        {
            Host = "127.0.0.1",
            Username = "admin",
            Password = Password,
            IpmitoolPath = Path.Combine(directory, "no-ipmitool"),
        });

        Assert.Contains(driver.Validate().Problems, p => p.Contains("not found", StringComparison.Ordinal));
        var e = await Assert.ThrowsAsync<PowerException>(() => driver.GetStateAsync(Ct));
        Assert.Equal(PowerErrorCode.NotAvailable, e.Code);
        Assert.False(e.IsTransient);
    }

    [Theory]
    [InlineData("", 623, "admin", "")]
    [InlineData("bmc 1", 623, "admin", "")]
    [InlineData("bmc1", 0, "admin", "")]
    [InlineData("bmc1", 623, "", "")]
    [InlineData("bmc1", 623, "admin", "a-password-longer-than-twenty-bytes")]
    public void Validate_BadConfiguration_Refused(string host, int port, string user, string password)
    {
        var driver = new IpmiPowerDriver(new IpmiOptions { Host = host, Port = port, Username = user, Password = password });

        var validation = driver.Validate();

        Assert.False(validation.IsValid);
        Assert.All(validation.Problems, p => Assert.DoesNotContain("a-password-longer", p, StringComparison.Ordinal));
    }

    [Fact(Timeout = 120_000)]
    public async Task SetAsync_On_FreeipmiSeesOnAndItsOffIsSeenByTheDriver()
    {
        var (bmc, machine, root) = await IpmiSimRig.StartAsync("freeipmi", Ct);
        try
        {
            var driver = new IpmiPowerDriver(bmc.DriverOptions);

            await driver.SetAsync(PowerAction.On, Ct);
            Assert.Equal("on", await IpmipowerAsync(bmc, "--stat"));

            Assert.Equal("ok", await IpmipowerAsync(bmc, "--off"));
            Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));
            Assert.False(machine.IsOn());
            Assert.Equal("off", await IpmipowerAsync(bmc, "--stat"));
        }
        finally
        {
            await bmc.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>freeipmi's ipmipower (an independent IPMI implementation); credentials in a 0600 configuration file.</summary>
    private async Task<string> IpmipowerAsync(Heorot.Drivers.Power.Emulation.IpmiSimBmc bmc, string request)
    {
        var config = Path.Combine(directory, "freeipmi.conf");
        if (!File.Exists(config))
        {
            await using var stream = new FileStream(
                config,
                new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
            await using var writer = new StreamWriter(stream);
            await writer.WriteAsync(
                $"username {bmc.Options.Username}\npassword {bmc.Options.Password}\ndriver-type LAN_2_0\nprivilege-level ADMIN\nworkaround-flags opensesspriv\n");
        }

        // ipmipower resends after 400 ms by default; the emulator's hook can take longer on a loaded machine.
        var result = await ProcessRunner.RunAsync(
            "ipmipower",
            [$"--config-file={config}", "--session-timeout=30000", "--retransmission-timeout=2000", "-h", $"{bmc.Options.Address}:{bmc.Options.Port}", request],
            Ct);
        Assert.True(result.ExitCode == 0, $"ipmipower {request}: exit {result.ExitCode}: {result.Stdout} {result.Stderr}");

        // "127.0.0.1: on"
        return result.Stdout.Trim().Split(": ", 2)[^1];
    }

    private sealed record Reply(int ExitCode, string Stdout, string Stderr, bool Hang = false);

    /// <summary>
    /// A stand-in for ipmitool: call N records its own command line (from /proc, as ps sees it) and the password it got
    /// in its environment, then plays reply N (the last reply again for later calls).
    /// </summary>
    private IpmiPowerDriver FakeIpmitool(params Reply[] replies)
    {
        for (var i = 0; i < replies.Length; i++)
        {
            File.WriteAllText(Path.Combine(directory, $"out.{i + 1}"), replies[i].Stdout);
            File.WriteAllText(Path.Combine(directory, $"err.{i + 1}"), replies[i].Stderr);
            File.WriteAllText(Path.Combine(directory, $"code.{i + 1}"), replies[i].Hang ? "hang" : replies[i].ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var script = Path.Combine(directory, "ipmitool");
        File.WriteAllText(script, $$"""
            #!/bin/sh
            d='{{directory}}'
            echo x >> "$d/calls"
            n=$(wc -l < "$d/calls")
            tr '\0' ' ' < /proc/$$/cmdline > "$d/cmdline.$n"
            printf '%s' "$IPMI_PASSWORD" > "$d/password.$n"
            r=$n
            [ -f "$d/code.$r" ] || r={{replies.Length}}
            cat "$d/out.$r"
            cat "$d/err.$r" >&2
            code=$(cat "$d/code.$r")
            [ "$code" = hang ] && exec sleep 600
            exit "$code"

            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return new IpmiPowerDriver(new IpmiOptions
        {
            Host = "127.0.0.1",
            Port = 16623,
            Username = "admin",
            Password = Password,
            IpmitoolPath = script,
            RetryDelay = TimeSpan.FromMilliseconds(10),
        });
    }

    private int Calls()
    {
        var calls = Path.Combine(directory, "calls");
        return File.Exists(calls) ? File.ReadAllLines(calls).Length : 0;
    }
}
