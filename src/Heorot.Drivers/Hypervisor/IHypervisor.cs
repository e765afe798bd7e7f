namespace Heorot.Drivers.Hypervisor;

/// <summary>
/// Runs virtual machines on this host. Every operation is idempotent: starting a VM that already runs under
/// the same name returns it, stopping a stopped VM succeeds, and <see cref="CleanupAsync"/> may be called any
/// number of times. A VM is identified by its run directory, which holds everything needed to find it again
/// after the caller restarts (<see cref="AttachAsync"/>).
/// </summary>
public interface IHypervisor
{
    /// <summary>Cheap checks (binaries present, accelerator) without starting anything.</summary>
    HypervisorValidation Validate();

    /// <summary>Starts the VM, or returns it when a VM of that name already runs from that run directory.</summary>
    Task<VmHandle> StartAsync(VmSpec spec, CancellationToken cancellationToken = default);

    Task<VmStatus> StatusAsync(VmHandle vm, CancellationToken cancellationToken = default);

    /// <summary>
    /// Presses the ACPI power button and waits up to <paramref name="timeout"/> for the VM to stop.
    /// Returns true when it stopped (or was already stopped), false when it still runs after the timeout.
    /// </summary>
    Task<bool> PowerdownAsync(VmHandle vm, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Stops the VM at once through the monitor (no guest shutdown); falls back to a kill.</summary>
    Task QuitAsync(VmHandle vm, CancellationToken cancellationToken = default);

    /// <summary>Kills the VM's process (SIGKILL) and waits until it is gone.</summary>
    Task KillAsync(VmHandle vm, CancellationToken cancellationToken = default);

    /// <summary>Finds a running VM from its run directory (after a restart of the caller); null when none runs.</summary>
    Task<VmHandle?> AttachAsync(string runDirectory, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ensures nothing of the VM remains: no process, no run directory, no console log it wrote elsewhere.
    /// Disk images and seeds given in the spec belong to the caller and are left alone.
    /// </summary>
    Task CleanupAsync(string runDirectory, CancellationToken cancellationToken = default);
}

/// <summary>Outcome of <see cref="IHypervisor.Validate"/>: usable or not, and why.</summary>
public sealed record HypervisorValidation(bool IsUsable, string Accelerator, IReadOnlyList<string> Problems);

public enum VmState
{
    /// <summary>No process: never started, stopped, killed or cleaned up.</summary>
    Stopped,

    /// <summary>The process runs and the monitor reports the CPUs running.</summary>
    Running,

    /// <summary>The process runs but the CPUs are paused (or the monitor reports another non-running state).</summary>
    Paused,

    /// <summary>The process runs but its monitor does not answer (starting or wedged).</summary>
    Unresponsive,
}

public sealed record VmStatus(VmState State, string? Detail = null);

/// <summary>A started VM: enough to reach it again. Sockets live in the run directory.</summary>
public sealed record VmHandle(string Name, string RunDirectory, int Pid, string ConsoleLogPath)
{
    public string QmpSocketPath => Path.Combine(RunDirectory, QemuHypervisor.QmpSocketName);

    public string SerialSocketPath => Path.Combine(RunDirectory, QemuHypervisor.SerialSocketName);

    /// <summary>The host end of the guest command channel (see <see cref="GuestChannel"/>).</summary>
    public string AgentSocketPath => Path.Combine(RunDirectory, QemuHypervisor.AgentSocketName);

    /// <summary>
    /// The host end of the guest's login console (virtconsole port org.heorot.shell, /dev/hvc0 in the guest):
    /// a terminal byte stream, one client at a time, for <c>heorot ssh</c>. See docs/guest.md.
    /// </summary>
    public string ShellSocketPath => Path.Combine(RunDirectory, QemuHypervisor.ShellSocketName);
}

/// <summary>
/// What to run. Either <see cref="Kernel"/> (direct/PVH boot), <see cref="BootDisk"/> or <see cref="NetworkBoot"/>
/// must be set.
/// </summary>
public sealed record VmSpec
{
    /// <summary>Letters, digits, '.', '_' and '-' (at most 63); the VM's identity together with the run directory.</summary>
    public required string Name { get; init; }

    /// <summary>Holds the pid file, monitor and channel sockets; keep it short (Unix socket paths are limited to 107 bytes).</summary>
    public required string RunDirectory { get; init; }

    public string? Kernel { get; init; }

    public string? Initrd { get; init; }

    public string? KernelCommandLine { get; init; }

    /// <summary>
    /// The boot disk: without a <see cref="Kernel"/> the firmware boots from it; with one, it is the first virtio
    /// disk (/dev/vda, before <see cref="Disks"/> and the seed), for a command line such as <c>root=/dev/vda</c>.
    /// </summary>
    public VmDisk? BootDisk { get; init; }

    /// <summary>
    /// Boot from the network like a physical node's PXE boot: SeaBIOS and the NIC's iPXE ROM, first in the boot
    /// order; <see cref="Kernel"/> is ignored and <see cref="BootDisk"/> is attached as a plain disk. With user
    /// networking, <see cref="VmNetwork.TftpRoot"/> and <see cref="VmNetwork.BootFile"/> make QEMU's own DHCP and
    /// TFTP server the boot server.
    /// </summary>
    public bool NetworkBoot { get; init; }

    public int Cores { get; init; } = 1;

    public int MemoryMiB { get; init; } = 128;

    /// <summary>Extra disks, typically per-job qcow2 overlays (see <see cref="QemuImg"/>).</summary>
    public IReadOnlyList<VmDisk> Disks { get; init; } = [];

    /// <summary>A NoCloud seed volume (see <see cref="CloudInitSeed"/>), attached read-only.</summary>
    public string? SeedPath { get; init; }

    public VmNetwork Network { get; init; } = VmNetwork.User();

    /// <summary>Serial console log; defaults to console.log in the run directory.</summary>
    public string? ConsoleLogPath { get; init; }

    /// <summary>Adds the virtio-serial port org.heorot.agent for <see cref="GuestChannel"/>.</summary>
    public bool AgentChannel { get; init; } = true;

    /// <summary>Adds the virtconsole port org.heorot.shell: a login for the job's user on <see cref="VmHandle.ShellSocketPath"/>.</summary>
    public bool ShellConsole { get; init; } = true;

    /// <summary>Host directories shared with the guest over virtio-9p (mounted by tag in the guest).</summary>
    public IReadOnlyList<VmShare> Shares { get; init; } = [];

    /// <summary>
    /// A guest reboot stops QEMU (the default, for job VMs). False for a VM that stands for a physical node: a
    /// reboot or a reset restarts it, as a machine would.
    /// </summary>
    public bool NoReboot { get; init; } = true;

    /// <summary>
    /// Serve the serial console on this loopback TCP port as well as logging it (a BMC's serial-over-LAN
    /// connects there); null: a Unix socket in the run directory.
    /// </summary>
    public int? SerialTcpPort { get; init; }
}

public sealed record VmDisk(string Path, string Format = "qcow2", bool ReadOnly = false);

/// <summary>A host directory the guest mounts with <c>mount -t 9p -o trans=virtio TAG DIR</c>.</summary>
public sealed record VmShare(string Tag, string HostPath, bool ReadOnly = true);

public enum VmNetworkMode
{
    None,

    /// <summary>User-mode (SLIRP) networking with optional host port forwards; guests cannot reach each other.</summary>
    User,

    /// <summary>A multicast socket shared by the guests of one virtual LAN.</summary>
    Multicast,

    /// <summary>An existing tap device (for a bridge, possibly inside a network namespace).</summary>
    Tap,
}

public sealed record PortForward(int HostPort, int GuestPort, string Protocol = "tcp", string HostAddress = "127.0.0.1");

public sealed record VmNetwork(VmNetworkMode Mode, IReadOnlyList<PortForward> Forwards, string? Target = null, string? MacAddress = null)
{
    /// <summary>User networking only: a directory QEMU's built-in TFTP server serves (read-only) at 10.0.2.2.</summary>
    public string? TftpRoot { get; init; }

    /// <summary>User networking only: the boot file name QEMU's built-in DHCP server announces (for network boot).</summary>
    public string? BootFile { get; init; }

    public static VmNetwork None() => new(VmNetworkMode.None, []);

    public static VmNetwork User(params PortForward[] forwards) => new(VmNetworkMode.User, forwards);

    /// <summary><paramref name="group"/> is "address:port", for example 239.192.0.1:12345.</summary>
    public static VmNetwork Multicast(string group, string? macAddress = null) => new(VmNetworkMode.Multicast, [], group, macAddress);

    public static VmNetwork Tap(string device, string? macAddress = null) => new(VmNetworkMode.Tap, [], device, macAddress);
}
