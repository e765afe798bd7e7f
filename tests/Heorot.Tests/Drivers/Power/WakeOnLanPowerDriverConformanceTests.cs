using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// Wake-on-LAN against a listening "NIC" on loopback, reached by the loopback broadcast address (127.255.255.255).
/// Nowhere: an IPv6 documentation address sent through lo only, which the kernel refuses (network unreachable).
/// </summary>
public sealed class WakeOnLanPowerDriverConformanceTests : PowerDriverConformanceTests
{
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    protected override Task<PowerRig> CreateRigAsync(CancellationToken cancellationToken)
    {
        var nic = new WakeOnLanNic(Mac);
        var options = new WakeOnLanOptions { MacAddress = "52:54:00:12:34:56", Address = "127.255.255.255", Port = nic.Port, RetryDelay = TimeSpan.FromMilliseconds(100) };
        return Task.FromResult(new PowerRig
        {
            Driver = new WakeOnLanPowerDriver(options),
            Unreachable = new WakeOnLanPowerDriver(options with { Address = "2001:db8::9", Interface = "lo" }),
            IsOnAsync = _ => Task.FromResult(nic.IsOn),
            BootsAsync = _ => Task.FromResult(nic.Boots),
            Settle = TimeSpan.FromSeconds(10),
            OnDispose = nic.DisposeAsync,
        });
    }
}
