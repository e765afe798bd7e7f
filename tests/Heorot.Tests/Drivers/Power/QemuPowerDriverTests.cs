using System.Diagnostics;
using Heorot.Drivers.Hypervisor;
using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

public sealed class QemuPowerDriverTests
{
    private static readonly VmSpec Spec = new()
    {
        Name = "n1",
        RunDirectory = "/run/heorot/n1",
        Kernel = "/g/vmlinux",
        Initrd = "/g/initrd",
        BootDisk = new VmDisk("/g/disk.qcow2"),
    };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void SpecFor_EachBootDevice_PicksKernelDiskOrNetworkBoot()
    {
        using var driver = new QemuPowerDriver(new QemuPowerOptions { Spec = Spec });

        Assert.Equal(Spec with { NoReboot = false }, driver.SpecFor(BootDevice.Default));
        Assert.True(driver.SpecFor(BootDevice.Pxe).NetworkBoot);
        var disk = driver.SpecFor(BootDevice.Disk);
        Assert.Equal((null, false, "/g/disk.qcow2"), (disk.Kernel, disk.NetworkBoot, disk.BootDisk?.Path));
    }

    [Theory]
    [InlineData(BootDevice.Cdrom)]
    [InlineData(BootDevice.Bios)]
    public async Task SetNextBootAsync_DeviceAQemuNodeHasNot_FailsAsUnsupported(BootDevice device)
    {
        using var driver = new QemuPowerDriver(new QemuPowerOptions { Spec = Spec });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetNextBootAsync(device, cancellationToken: Ct));

        Assert.Equal(PowerErrorCode.Unsupported, e.Code);
    }

    [Fact]
    public async Task SetNextBootAsync_PxeWithoutNetworkOrDiskWithoutBootDisk_FailsAsUnsupported()
    {
        using var driver = new QemuPowerDriver(new QemuPowerOptions { Spec = Spec with { Network = VmNetwork.None(), BootDisk = null } });

        Assert.Equal(PowerErrorCode.Unsupported, (await Assert.ThrowsAsync<PowerException>(() => driver.SetNextBootAsync(BootDevice.Pxe, cancellationToken: Ct))).Code);
        Assert.Equal(PowerErrorCode.Unsupported, (await Assert.ThrowsAsync<PowerException>(() => driver.SetNextBootAsync(BootDevice.Disk, cancellationToken: Ct))).Code);
    }

    [Fact]
    public void Validate_MissingKernelAndQemu_ReportsBoth()
    {
        using var driver = new QemuPowerDriver(new QemuPowerOptions { Spec = Spec, Qemu = new QemuOptions { QemuBinary = "/nonexistent/qemu" } });

        var problems = driver.Validate().Problems;

        Assert.Contains(problems, p => p.Contains("/nonexistent/qemu", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("/g/vmlinux", StringComparison.Ordinal));
    }

    [Fact(Timeout = 240_000)]
    public async Task GetStateAsync_NewDriverForARunningNode_FindsItAndCanStopIt()
    {
        await using var node = await QemuNode.CreateAsync("again");
        await node.Driver.SetAsync(PowerAction.On, Ct);
        await UntilAsync(node.IsOn);

        // As after an agent or server restart: a new driver instance for the same node.
        using var again = new QemuPowerDriver(new QemuPowerOptions { Spec = node.Spec });
        Assert.Equal(PowerState.On, await again.GetStateAsync(Ct));
        await again.SetAsync(PowerAction.On, Ct);
        await again.SetAsync(PowerAction.Off, Ct);

        Assert.Equal(PowerState.Off, await node.Driver.GetStateAsync(Ct));
        Assert.False(node.IsOn());
        Assert.Equal(1, node.Boots());
    }

    [Fact(Timeout = 300_000)]
    public async Task SetAsync_ResetAfterABootOverride_BootsTheNewDeviceOnceThenTheDefault()
    {
        await using var node = await QemuNode.CreateAsync("reboot");
        await node.Driver.SetAsync(PowerAction.On, Ct);
        await UntilAsync(node.IsOn);

        await node.Driver.SetNextBootAsync(BootDevice.Pxe, cancellationToken: Ct);
        await node.Driver.SetAsync(PowerAction.Reset, Ct);
        await UntilAsync(() => node.Boots() == 2 && node.IsOn());
        var afterOverride = node.LastBootDevice();
        await node.Driver.SetAsync(PowerAction.Reset, Ct);
        await UntilAsync(() => node.Boots() == 3 && node.IsOn());

        Assert.Equal(BootDevice.Pxe, afterOverride);
        Assert.Equal(BootDevice.Default, node.LastBootDevice());
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(150), "timed out waiting for the guest");
            await Task.Delay(100, Ct);
        }
    }
}
