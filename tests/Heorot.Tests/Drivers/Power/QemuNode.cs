using System.Globalization;
using System.Text.Json.Nodes;
using Heorot.Drivers.Hypervisor;
using Heorot.Drivers.Power;
using Heorot.Tests.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// A QEMU guest standing in for a physical node, and a direct look at it that does not go through any driver:
/// the QEMU process (pid file, /proc) and the guest's readiness lines on its serial console. Its network boot
/// is real: QEMU's own DHCP and TFTP server hand iPXE a script that loads the Debian kernel and the guest's initramfs.
/// </summary>
internal sealed class QemuNode : IAsyncDisposable
{
    private const string ReadyMarker = "HEOROT-READY ";
    private readonly string root;
    private readonly Dictionary<int, int> readyByPid = [];
    private readonly Lock gate = new();
    private BootDevice lastBootDevice = BootDevice.Default;

    private QemuNode(string root, VmSpec spec)
    {
        this.root = root;
        Spec = spec;
        Driver = new QemuPowerDriver(new QemuPowerOptions { Spec = spec, Retry = new PowerRetry(3, TimeSpan.FromMilliseconds(200)) });
    }

    public VmSpec Spec { get; }

    public QemuPowerDriver Driver { get; }

    public string RunDirectory => Spec.RunDirectory;

    public string ConsoleLog => Path.Combine(RunDirectory, QemuHypervisor.ConsoleLogName);

    public static async Task<QemuNode> CreateAsync(string name)
    {
        var guest = await GuestImage.EnsureAsync();
        var pxe = await PxeRoot.Value;

        // Short: the run directory holds Unix sockets (107 bytes at most).
        var root = Directory.CreateTempSubdirectory("hpw-").FullName;
        var spec = new VmSpec
        {
            Name = name,
            RunDirectory = Path.Combine(root, "run"),
            Kernel = guest.Kernel,
            Initrd = guest.Initrd,
            MemoryMiB = 256,
            Network = VmNetwork.User() with { TftpRoot = pxe, BootFile = "boot.ipxe" },
        };
        return new QemuNode(root, spec);
    }

    /// <summary>A driver for another node whose QEMU never opens its monitor: an unreachable "BMC".</summary>
    public QemuPowerDriver Unreachable()
    {
        var stub = Path.Combine(root, "qemu-stub");
        File.WriteAllText(stub, """
            #!/bin/bash
            # Daemonizes like QEMU (pid file, the monitor's path in its command line) but never opens the monitor.
            while [ $# -gt 0 ]; do case "$1" in -pidfile) pidfile=$2; shift;; -qmp) qmp=$2; shift;; esac; shift; done
            (exec -a "qemu-stub $qmp" sleep 600) </dev/null >/dev/null 2>&1 &
            # Like QEMU, the pid file names a process already showing its command line: in the middle of the exec,
            # /proc/PID/cmdline can read empty and the driver would take the stub for a QEMU that exited at once.
            for i in $(seq 500); do grep -q '^qemu-stub' /proc/$!/cmdline 2>/dev/null && break; sleep 0.01; done
            echo $! > "$pidfile"
            """);
        File.SetUnixFileMode(stub, (UnixFileMode)0b111_101_101);
        return new QemuPowerDriver(new QemuPowerOptions
        {
            Spec = Spec with { Name = "nowhere", RunDirectory = Path.Combine(root, "nowhere") },
            Qemu = new QemuOptions { QemuBinary = stub, MonitorTimeout = TimeSpan.FromSeconds(2) },
            Retry = new PowerRetry(3, TimeSpan.FromMilliseconds(100)),
        });
    }

    /// <summary>The guest runs: its QEMU lives and the guest printed its readiness line (ACPI and all are up).</summary>
    public bool IsOn()
    {
        lock (gate)
        {
            return Observe() is { } pid && readyByPid[pid] > 0;
        }
    }

    /// <summary>Readiness lines seen over every QEMU process of this node: boots, resets included.</summary>
    public int Boots()
    {
        lock (gate)
        {
            Observe();
            return readyByPid.Values.Sum();
        }
    }

    /// <summary>How the running (else the last seen) QEMU was told to boot, from its command line.</summary>
    public BootDevice LastBootDevice()
    {
        lock (gate)
        {
            Observe();
            return lastBootDevice;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Driver.Dispose();
        var hypervisor = new QemuHypervisor();
        await hypervisor.CleanupAsync(RunDirectory, CancellationToken.None);
        await hypervisor.CleanupAsync(Path.Combine(root, "nowhere"), CancellationToken.None);
        Directory.Delete(root, recursive: true);
    }

    /// <summary>The live QEMU's pid after recording what it shows; null when none runs.</summary>
    private int? Observe()
    {
        var pid = ReadPid();
        if (pid == null || !QemuHypervisor.IsAlive(pid.Value, RunDirectory))
        {
            return null;
        }

        string log, cmdline;
        try
        {
            using var stream = new FileStream(ConsoleLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            log = new StreamReader(stream).ReadToEnd();
            cmdline = File.ReadAllText($"/proc/{pid.Value.ToString(CultureInfo.InvariantCulture)}/cmdline");
        }
        catch (IOException)
        {
            return null;
        }

        // Another start may have replaced the log meanwhile: only count it for the pid that still owns it.
        if (ReadPid() != pid)
        {
            return null;
        }

        var ready = 0;
        for (var at = log.IndexOf(ReadyMarker, StringComparison.Ordinal); at >= 0; at = log.IndexOf(ReadyMarker, at + 1, StringComparison.Ordinal))
        {
            ready++;
        }

        readyByPid[pid.Value] = Math.Max(ready, readyByPid.GetValueOrDefault(pid.Value));
        var args = cmdline.Split('\0');
        lastBootDevice = args.Any(a => a.Contains("bootindex=1", StringComparison.Ordinal)) ? BootDevice.Pxe
            : args.Contains("-kernel") ? BootDevice.Default
            : BootDevice.Disk;
        return pid;
    }

    private int? ReadPid()
    {
        try
        {
            return int.TryParse(File.ReadAllText(Path.Combine(RunDirectory, QemuHypervisor.PidFileName)).Trim(), CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The network boot's TFTP root, made once per run: the kernel's bzImage (from the package the guest build kept), the initramfs, an iPXE script.</summary>
    private static readonly Lazy<Task<string>> PxeRoot = new(MakePxeRootAsync);

    private static async Task<string> MakePxeRootAsync()
    {
        var guest = await GuestImage.EnsureAsync();
        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(GuestImage.Directory, "manifest.json")))!;
        var version = (string)manifest["kernelVersion"]!;
        var dir = Path.Combine(GuestImage.Directory, "pxe-" + version);
        var kernel = Path.Combine(dir, "vmlinuz");
        if (!File.Exists(kernel))
        {
            var package = Directory.GetFiles(Path.Combine(GuestImage.Directory, "kernel-" + version), "*.deb").Single();
            Directory.CreateDirectory(dir);
            var partial = kernel + ".partial";
            var result = await ProcessRunner.RunAsync(
                "/bin/bash",
                ["-c", "set -o pipefail; dpkg-deb --fsys-tarfile \"$1\" | tar -xO \"./boot/vmlinuz-$2\" > \"$3\"", "extract", package, version, partial],
                CancellationToken.None);
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"cannot extract vmlinuz-{version} from {package}: {result.Stderr}");
            }

            File.Move(partial, kernel, overwrite: true);
        }

        var initrd = Path.Combine(dir, "initramfs.cpio.gz");
        File.Copy(guest.Initrd, initrd + ".partial", overwrite: true);
        File.Move(initrd + ".partial", initrd, overwrite: true);
        await File.WriteAllTextAsync(Path.Combine(dir, "boot.ipxe"), $"""
            #!ipxe
            kernel tftp://10.0.2.2/vmlinuz {QemuHypervisor.DefaultKernelCommandLine} guestname=pxe-node
            initrd tftp://10.0.2.2/initramfs.cpio.gz
            boot

            """);
        return dir;
    }
}
