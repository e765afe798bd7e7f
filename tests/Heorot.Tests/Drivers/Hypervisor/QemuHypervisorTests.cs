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
        Assert.Contains("socket,id=shell0,path=/run/h,,eorot/vm1/shell.sock,server=on,wait=off", args);
        Assert.Contains("virtconsole,chardev=shell0,name=org.heorot.shell", args);
        Assert.Single(args, a => a == "virtio-serial-pci,id=vser0");
        Assert.Contains("-daemonize", args);
    }

    [Fact]
    public void BuildArguments_ShellConsoleOnly_KeepsTheVirtioSerialBus()
    {
        var args = QemuHypervisor.BuildArguments(Spec with { AgentChannel = false }, "tcg", new QemuOptions()).ToList();

        Assert.Contains("virtio-serial-pci,id=vser0", args);
        Assert.Contains("virtconsole,chardev=shell0,name=org.heorot.shell", args);
        Assert.DoesNotContain(args, a => a.Contains("agent", StringComparison.Ordinal));
    }

    [Fact]
    public void BuildArguments_NoChannelNorConsole_HasNoVirtioSerialBus()
    {
        var args = QemuHypervisor.BuildArguments(Spec with { AgentChannel = false, ShellConsole = false }, "tcg", new QemuOptions()).ToList();

        Assert.DoesNotContain(args, a => a.Contains("virtio-serial", StringComparison.Ordinal) || a.Contains("shell", StringComparison.Ordinal));
    }

    [Fact]
    public void BuildArguments_NetworkBoot_FirmwareRunsTheNicRomFirstAndQemuServesTheBootFile()
    {
        var spec = Spec with
        {
            NetworkBoot = true,
            BootDisk = new VmDisk("/g/disk.qcow2"),
            Network = VmNetwork.User() with { TftpRoot = "/srv/tftp", BootFile = "boot.ipxe" },
        };

        var args = QemuHypervisor.BuildArguments(spec, "tcg", new QemuOptions()).ToList();

        Assert.DoesNotContain("-kernel", args);
        Assert.DoesNotContain("-bios", args);
        Assert.Contains("user,id=n0,tftp=/srv/tftp,bootfile=boot.ipxe", args);
        Assert.Contains("virtio-net-pci,netdev=n0,bootindex=1", args);
        Assert.Contains("file=/g/disk.qcow2,if=virtio,format=qcow2", args);
    }

    [Fact]
    public void BuildArguments_KernelWithBootDisk_AttachesTheDiskFirstBeforeOtherDisksAndTheSeed()
    {
        var spec = Spec with
        {
            BootDisk = new VmDisk("/j/vm0.qcow2"),
            Disks = [new VmDisk("/j/scratch.raw", "raw")],
            SeedPath = "/j/seed.img",
        };

        var args = QemuHypervisor.BuildArguments(spec, "tcg", new QemuOptions()).ToList();

        var drives = args.Select((a, i) => (a, i)).Where(p => p.i > 0 && args[p.i - 1] == "-drive").Select(p => p.a).ToList();
        Assert.Equal(["file=/j/vm0.qcow2,if=virtio,format=qcow2", "file=/j/scratch.raw,if=virtio,format=raw", "file=/j/seed.img,if=virtio,format=raw,readonly=on"], drives);
        Assert.Equal("/g/vmlinux", args[args.IndexOf("-kernel") + 1]);
    }

    [Fact]
    public void BuildArguments_KernelBoot_NicHasNoOptionRom()
    {
        var args = QemuHypervisor.BuildArguments(Spec, "tcg", new QemuOptions()).ToList();

        Assert.Contains("virtio-net-pci,netdev=n0,romfile=", args);
    }

    [Fact]
    public async Task StartAsync_NetworkBootWithoutNetwork_ThrowsInvalidSpec()
    {
        var spec = new VmSpec { Name = "pxe0", RunDirectory = "/tmp/hv-pxe0", NetworkBoot = true, Network = VmNetwork.None() };

        var e = await Assert.ThrowsAsync<HypervisorException>(() => new QemuHypervisor().StartAsync(spec, TestContext.Current.CancellationToken));

        Assert.Equal(HypervisorErrorCode.InvalidSpec, e.Code);
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

    [Fact(Timeout = 120_000)]
    public async Task QmpClient_RunningVm_ReportsErrorClassesAndEvents()
    {
        var guest = await GuestImage.EnsureAsync();
        var root = Directory.CreateTempSubdirectory("hvq-").FullName;
        var hypervisor = new QemuHypervisor();
        try
        {
            var vm = await hypervisor.StartAsync(new VmSpec { Name = "qmp1", RunDirectory = Path.Combine(root, "run"), Kernel = guest.Kernel, Initrd = guest.Initrd }, Ct);
            await using var qmp = await QmpClient.ConnectAsync(vm.QmpSocketPath, Ct);

            Assert.True(qmp.Version.GetProperty("qemu").GetProperty("major").GetInt32() >= 7);
            var missing = await Assert.ThrowsAsync<QmpException>(() => qmp.ExecuteAsync("no-such-command", null, Ct));
            Assert.Equal("CommandNotFound", missing.ErrorClass);
            var bad = await Assert.ThrowsAsync<QmpException>(() => qmp.ExecuteAsync("query-status", new() { ["bogus"] = 1 }, Ct));
            Assert.Equal("GenericError", bad.ErrorClass);

            await qmp.ExecuteAsync("system_powerdown", null, Ct);
            Assert.Equal("POWERDOWN", (await qmp.WaitForEventAsync("POWERDOWN", Ct)).Name);
            await qmp.ExecuteAsync("quit", null, Ct);
            var shutdown = await qmp.WaitForEventAsync("SHUTDOWN", Ct);
            Assert.Equal("host-qmp-quit", shutdown.Data.GetProperty("reason").GetString());
            await qmp.Completion;
        }
        finally
        {
            await hypervisor.CleanupAsync(Path.Combine(root, "run"), CancellationToken.None);
            Directory.Delete(root, recursive: true);
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
}
