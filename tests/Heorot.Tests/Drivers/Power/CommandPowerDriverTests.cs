using System.Diagnostics;
using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>The command driver's own rules: whole-argument placeholders, secrets only in the environment, exit codes, deadline.</summary>
public sealed class CommandPowerDriverTests
{
    private const string Secret = "pdu-secret-42";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Expand_WholeArgumentPlaceholders_ReplacedOthersLiteral()
    {
        var driver = new CommandPowerDriver(new CommandPowerOptions
        {
            On = ["/bin/true"],
            Variables = new Dictionary<string, string> { ["outlet"] = "7; reboot", ["node"] = "n1" },
        });

        var argv = driver.Expand("on", ["/usr/local/sbin/pdu", "--outlet", "{outlet}", "{action}", "{{outlet}}", "x{node}", "{node}"], null);

        Assert.Equal(["/usr/local/sbin/pdu", "--outlet", "7; reboot", "on", "{{outlet}}", "x{node}", "n1"], argv);
    }

    [Theory]
    [InlineData("--outlet={outlet}", "whole arguments only")]
    [InlineData("{unknown}", "unknown placeholder")]
    [InlineData("{PDU_PASSWORD}", "names a secret")]
    [InlineData("{device}", "only defined for the boot command")]
    public void Validate_BadPlaceholder_Refused(string argument, string problem)
    {
        var driver = new CommandPowerDriver(new CommandPowerOptions
        {
            On = ["/bin/true", argument],
            Variables = new Dictionary<string, string> { ["outlet"] = "7" },
            SecretEnvironment = new Dictionary<string, string> { ["PDU_PASSWORD"] = Secret },
        });

        var validation = driver.Validate();

        Assert.Contains(validation.Problems, p => p.Contains(problem, StringComparison.Ordinal));
        Assert.All(validation.Problems, p => Assert.DoesNotContain(Secret, p, StringComparison.Ordinal));
    }

    [Fact]
    public void Capabilities_FollowTheConfiguredCommands()
    {
        var driver = new CommandPowerDriver(new CommandPowerOptions { On = ["/bin/true"], Status = ["/bin/echo", "on"] });

        Assert.Equal(PowerCapabilities.PowerOn | PowerCapabilities.ReadState, driver.Capabilities);
    }

    [Fact]
    public async Task SetAsync_ActionWithoutCommand_Unsupported()
    {
        var driver = new CommandPowerDriver(new CommandPowerOptions { On = ["/bin/true"] });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.Off, Ct));

        Assert.Equal(PowerErrorCode.Unsupported, e.Code);
    }

    [Theory]
    [InlineData(69, PowerErrorCode.Unreachable, true)]
    [InlineData(75, PowerErrorCode.Unreachable, true)]
    [InlineData(77, PowerErrorCode.AuthFailed, false)]
    [InlineData(78, PowerErrorCode.InvalidConfig, false)]
    [InlineData(3, PowerErrorCode.BmcError, false)]
    public async Task SetAsync_ExitStatus_MappedAndSecretRedacted(int exit, PowerErrorCode code, bool transient)
    {
        var driver = new CommandPowerDriver(new CommandPowerOptions
        {
            On = ["/bin/sh", "-c", $"echo \"outlet refused for $PDU_PASSWORD\" >&2; exit {exit}"],
            SecretEnvironment = new Dictionary<string, string> { ["PDU_PASSWORD"] = Secret },
            RetryDelay = TimeSpan.FromMilliseconds(10),
        });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));

        Assert.Equal(code, e.Code);
        Assert.Equal(transient, e.IsTransient);
        Assert.Contains("outlet refused for ***", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetAsync_TransientFailure_RetriedTheConfiguredNumberOfTimes()
    {
        var calls = Path.GetTempFileName();
        try
        {
            var driver = new CommandPowerDriver(new CommandPowerOptions
            {
                On = ["/bin/sh", "-c", "echo x >> \"$0\"; exit 75", calls],
                Retries = 3,
                RetryDelay = TimeSpan.FromMilliseconds(10),
            });

            await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));

            Assert.Equal(4, File.ReadAllLines(calls).Length);
        }
        finally
        {
            File.Delete(calls);
        }
    }

    [Fact]
    public async Task SetAsync_CommandHangs_KilledAtTheDeadlineAsUnreachable()
    {
        var driver = new CommandPowerDriver(new CommandPowerOptions { On = ["/bin/sleep", "60"], Timeout = TimeSpan.FromSeconds(1), Retries = 0 });
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));

        Assert.Equal(PowerErrorCode.Unreachable, e.Code);
        Assert.True(e.IsTransient);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task SetAsync_ProgramMissing_NotAvailable()
    {
        var driver = new CommandPowerDriver(new CommandPowerOptions { On = ["/nonexistent/pdu", "on"] });

        Assert.Contains(driver.Validate().Problems, p => p.EndsWith("not found", StringComparison.Ordinal));
        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));
        Assert.Equal(PowerErrorCode.NotAvailable, e.Code);
    }

    [Theory]
    [InlineData("Outlet 7: ON\n", PowerState.On)]
    [InlineData("off\n", PowerState.Off)]
    [InlineData("rebooting\n", PowerState.Unknown)]
    [InlineData("on (was off)\n", PowerState.Unknown)]
    public async Task GetState_StatusOutput_ReadByThePatterns(string output, PowerState state)
    {
        var driver = new CommandPowerDriver(new CommandPowerOptions { Status = ["/bin/printf", "%s", output] });

        Assert.Equal(state, await driver.GetStateAsync(Ct));
    }

    [Fact]
    public void ToString_Options_HidesSecretValues()
    {
        var options = new CommandPowerOptions
        {
            On = ["/bin/true"],
            SecretEnvironment = new Dictionary<string, string> { ["PDU_PASSWORD"] = Secret },
        };

        Assert.DoesNotContain(Secret, options.ToString(), StringComparison.Ordinal);
        Assert.Contains("PDU_PASSWORD=***", options.ToString(), StringComparison.Ordinal);
    }
}
