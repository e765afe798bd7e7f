using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// The IPMI driver against a real ipmi_sim per test (its own UDP port and directory), whose hook powers a light
/// machine: the suite's whole contract over the real protocol, in about a second per test.
/// </summary>
public sealed class IpmiPowerDriverConformanceTests : CredentialedPowerDriverConformanceTests
{
    protected override async Task<PowerRig> CreateRigAsync(CancellationToken cancellationToken)
    {
        var (bmc, machine, directory) = await IpmiSimRig.StartAsync("conf", cancellationToken);
        var options = bmc.DriverOptions with { RetryDelay = TimeSpan.FromMilliseconds(200) };
        return new PowerRig
        {
            // The emulator's hook forks bash on two shared cores: under load an answer can take more than ipmitool's
            // default 2 s, and ipmitool's resend would run a reset twice. Real BMCs answer in milliseconds.
            Driver = new IpmiPowerDriver(options with { MessageTimeout = TimeSpan.FromSeconds(5) }),
            WrongCredentials = new IpmiPowerDriver(options with { Password = IpmiSimRig.NewPassword() }),
            Unreachable = new IpmiPowerDriver(options with { Port = IpmiTools.FreeUdpPort() }),
            Secret = options.Password,
            IsOnAsync = _ => Task.FromResult(machine.IsOn()),
            BootsAsync = _ => Task.FromResult(machine.Boots()),
            LastBootDeviceAsync = _ => Task.FromResult(machine.LastBootDevice()),
            Settle = TimeSpan.FromSeconds(30),
            OnDispose = async () =>
            {
                await bmc.DisposeAsync();
                Directory.Delete(directory, recursive: true);
            },
        };
    }
}
