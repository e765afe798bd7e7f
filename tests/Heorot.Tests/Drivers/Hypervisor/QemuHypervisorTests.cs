using Heorot.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Hypervisor;

public sealed class QemuHypervisorTests
{
    private static readonly VmSpec Spec = new()
    {
        Name = "vm1",
        RunDirectory = "/run/h,eorot/vm1",
        Kernel = "/g/vmlinux",
        Initrd = "/g/initrd",
        KernelCommandLine = "console=ttyS0 guestname=vm1",
        Network = VmNetwork.User(new PortForward(18080, 80)),
    };

    [Fact]
    public void BuildArguments_Tcg_UsesSmallTranslationCacheQbootAndNoTimerCheck()
    {
        var args = QemuHypervisor.BuildArguments(Spec, "tcg", new QemuOptions()).ToList();

        Assert.Equal("tcg,tb-size=32", args[args.IndexOf("-accel") + 1]);
        Assert.Equal("/usr/share/qemu/qboot.rom", args[args.IndexOf("-bios") + 1]);
        Assert.Equal("console=ttyS0 guestname=vm1 no_timer_check", args[args.IndexOf("-append") + 1]);
        Assert.Contains("user,id=n0,hostfwd=tcp:127.0.0.1:18080-:80", args);
        Assert.Contains("virtserialport,chardev=agent0,name=org.heorot.agent", args);
        Assert.Contains("-daemonize", args);
    }

    [Fact]
    public void BuildArguments_Kvm_UsesHostCpu()
    {
        var args = QemuHypervisor.BuildArguments(Spec, "kvm", new QemuOptions()).ToList();

        Assert.Equal(["-accel", "kvm", "-cpu", "host"], args.Skip(2).Take(4));
    }

    [Fact]
    public void BuildArguments_CommaInPath_IsDoubledInOptionValues()
    {
        var args = QemuHypervisor.BuildArguments(Spec, "tcg", new QemuOptions()).ToList();

        Assert.Contains("unix:/run/h,,eorot/vm1/qmp.sock,server=on,wait=off", args);
    }

    [Fact]
    public async Task StartAsync_RunDirectoryTooLongForSockets_ThrowsInvalidSpec()
    {
        var guest = await GuestImage.EnsureAsync();
        var spec = new VmSpec { Name = "vm1", RunDirectory = "/tmp/" + new string('d', 120), Kernel = guest.Kernel };

        var e = await Assert.ThrowsAsync<HypervisorException>(() => new QemuHypervisor().StartAsync(spec, TestContext.Current.CancellationToken));

        Assert.Equal(HypervisorErrorCode.InvalidSpec, e.Code);
    }
}
