using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>The command driver through a scripted site PDU (<see cref="TestPdu"/>) that powers a light machine.</summary>
public sealed class CommandPowerDriverConformanceTests : CredentialedPowerDriverConformanceTests
{
    protected override Task<PowerRig> CreateRigAsync(CancellationToken cancellationToken)
    {
        var pdu = TestPdu.Create();
        var options = pdu.Options();
        return Task.FromResult(new PowerRig
        {
            Driver = new CommandPowerDriver(options),
            WrongCredentials = new CommandPowerDriver(options with
            {
                SecretEnvironment = new Dictionary<string, string> { ["PDU_PASSWORD"] = "not-the-password" },
            }),
            Unreachable = new CommandPowerDriver(pdu.Options(host: "nowhere")),
            Secret = pdu.Password,
            IsOnAsync = _ => Task.FromResult(pdu.Machine.IsOn()),
            BootsAsync = _ => Task.FromResult(pdu.Machine.Boots()),
            LastBootDeviceAsync = _ => Task.FromResult(pdu.Machine.LastBootDevice()),
            Settle = TimeSpan.FromSeconds(20),
            OnDispose = pdu.DisposeAsync,
        });
    }
}
