namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// The QEMU power driver with real guests: a boot is a readiness line on the guest's console, the boot device
/// is read off the QEMU command line, a PXE boot goes through iPXE and QEMU's DHCP and TFTP server, and the
/// unreachable "BMC" is a QEMU whose monitor never answers.
/// </summary>
public sealed class QemuPowerDriverConformanceTests : PowerDriverConformanceTests
{
    protected override async Task<PowerRig> CreateRigAsync(CancellationToken cancellationToken)
    {
        var node = await QemuNode.CreateAsync("pnode");
        var nowhere = node.Unreachable();
        return new PowerRig
        {
            Driver = node.Driver,
            Unreachable = nowhere,
            IsOnAsync = _ => Task.FromResult(node.IsOn()),
            BootsAsync = _ => Task.FromResult(node.Boots()),
            LastBootDeviceAsync = _ => Task.FromResult(node.LastBootDevice()),

            // TCG guests on two shared cores: a boot takes 3 s idle, about 20 s for a network boot under load.
            Settle = TimeSpan.FromSeconds(150),
            OnDispose = async () =>
            {
                nowhere.Dispose();
                await node.DisposeAsync();
            },
        };
    }
}
