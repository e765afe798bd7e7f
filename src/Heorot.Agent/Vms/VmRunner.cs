using System.Collections.Concurrent;
using System.Globalization;
using Heorot.Agent.Images;
using Heorot.Drivers.Hypervisor;
using Heorot.Protocol;

namespace Heorot.Agent.Vms;

/// <summary>
/// The VM side of a job on one node: its prolog fetches the image through the cache (leased for the job's
/// life), builds a copy-on-write overlay and a NoCloud seed per VM, starts the VMs through the hypervisor driver
/// on the job's private network and waits until every guest says it is ready; its epilog powers them down
/// (then quit, then kill), deletes overlays and seeds, and checks that nothing is left.
/// Everything of a job lives in STATE/vms/JOB.ATTEMPT/, so a restarted agent finds it again.
/// </summary>
internal sealed class VmRunner(AgentOptions options, IHypervisor hypervisor, ImageCache cache, Action<string> log)
{
    private readonly ConcurrentDictionary<JobAttempt, List<CachedBlob>> leases = new();

    public IHypervisor Hypervisor => hypervisor;

    public string JobDirectory(JobAttempt key) => Path.Combine(options.StateDirectory, "vms", $"{key.JobId}.{key.Attempt}");

    /// <summary>The run directory of one VM of the job (its sockets: agent.sock, shell.sock, serial.sock, qmp.sock).</summary>
    public string RunDirectory(JobAttempt key, string vm) => Path.Combine(JobDirectory(key), vm);

    /// <summary>Starts this node's VMs of the job; null when all are ready, else why not (with the console's tail).</summary>
    public async Task<string?> StartAsync(JobAttempt key, JobSpec spec, CancellationToken cancellationToken)
    {
        var vm = spec.Vm!;
        var local = vm.Vms.Select((v, index) => (v, index)).Where(p => p.v.Node == options.Name).ToList();
        if (local.Count == 0)
        {
            return null;
        }

        if (local.Count > options.MaxVmsPerNode)
        {
            return $"{local.Count} VMs on {options.Name} exceed its limit of {options.MaxVmsPerNode} per job (ask for more nodes or fewer --vnodes)";
        }

        var validation = hypervisor.Validate();
        if (!validation.IsUsable)
        {
            return $"no hypervisor on {options.Name}: {string.Join("; ", validation.Problems)}";
        }

        string? kernel, initrd, disk;
        try
        {
            (kernel, initrd, disk) = await AcquireAsync(key, vm, cancellationToken);
        }
        catch (ImageCacheException e)
        {
            return $"image {vm.Image}: {e.Message}";
        }

        var directory = JobDirectory(key);
        Directory.CreateDirectory(directory);
        var hosts = vm.Vms.Select(v => new HostsEntry(v.Address, [v.Name])).ToList();
        try
        {
            await Task.WhenAll(local.Select(p => StartOneAsync(key, spec, p.v, p.index, kernel, initrd, disk, hosts, cancellationToken)));
            return null;
        }
        catch (GuestNotReadyException e)
        {
            return $"{e.Message}\n--- console ---\n{e.ConsoleTail}";
        }
        catch (HypervisorException e)
        {
            var hint = e.Message.Contains("multicast group", StringComparison.Ordinal)
                ? $" (the job's network is a multicast group: {options.Name} needs a multicast route, e.g. ip route add 224.0.0.0/4 dev IFACE)"
                : string.Empty;
            return $"cannot start the VMs of job {spec.JobId}: {e.Message}{hint}";
        }
    }

    private async Task StartOneAsync(JobAttempt key, JobSpec spec, VmPlacement placement, int index, string? kernel, string? initrd, string? disk, IReadOnlyList<HostsEntry> hosts, CancellationToken cancellationToken)
    {
        var vm = spec.Vm!;
        var directory = JobDirectory(key);
        var seed = await CloudInitSeed.BuildAsync(
            Path.Combine(directory, "seed-" + placement.Name),
            new CloudInitMetaData($"heorot-{spec.JobId}-{spec.Attempt}-{placement.Name}", placement.Name),
            new CloudInitUserData(placement.Name, [new CloudInitUser(spec.User, vm.SshKeys)], hosts),
            cancellationToken);
        string? overlay = null;
        if (disk != null)
        {
            overlay = Path.Combine(directory, placement.Name + ".qcow2");
            if (!File.Exists(overlay))
            {
                await QemuImg.CreateOverlayAsync(disk, overlay, vm.Format ?? "qcow2", cancellationToken);
            }
        }

        var handle = await hypervisor.StartAsync(
            new VmSpec
            {
                Name = $"heorot-{spec.JobId}-{placement.Name}",
                RunDirectory = RunDirectory(key, placement.Name),
                Kernel = kernel,
                Initrd = initrd,
                KernelCommandLine = kernel == null ? null : $"{vm.Cmdline ?? QemuHypervisor.DefaultKernelCommandLine} guestname={placement.Name} guestip={placement.Address}/16",
                BootDisk = overlay != null ? new VmDisk(overlay) : null,
                Cores = placement.Cores,
                MemoryMiB = (int)Math.Clamp(placement.MemoryMb, 96, int.MaxValue),
                SeedPath = seed,
                Network = VmNetwork.Multicast(vm.Network, string.Create(CultureInfo.InvariantCulture, $"52:54:00:{spec.JobId >> 8 & 0xff:x2}:{spec.JobId & 0xff:x2}:{index & 0xff:x2}")),
            },
            cancellationToken);
        var ready = await GuestChannel.WaitReadyAsync(handle.ConsoleLogPath, options.VmReadyTimeout, () => Protocol.Hooks.Signals.Exists(handle.Pid), cancellationToken: cancellationToken);

        // Ready means usable: the guest's command channel answers (its init starts it after the readiness line).
        await using (await GuestChannel.ConnectWhenServedAsync(handle.AgentSocketPath, TimeSpan.FromSeconds(60), cancellationToken))
        {
        }
        log($"job {spec.JobId}: {placement.Name} ready after {ready.Waited.TotalSeconds:0.0} s");
    }

    /// <summary>Leases the image's blobs for the job (again after an agent restart: then they are at hand).</summary>
    public async Task<(string? Kernel, string? Initrd, string? Disk)> AcquireAsync(JobAttempt key, VmJobSpec vm, CancellationToken cancellationToken)
    {
        var held = leases.GetOrAdd(key, _ => []);
        async Task<string?> One(Protocol.Images.BlobView? blob)
        {
            if (blob == null)
            {
                return null;
            }

            var lease = await cache.AcquireAsync(blob.Digest, blob.Size, ImageCache.BlobUri(options.Server, blob.Digest), null, cancellationToken);
            lock (held)
            {
                held.Add(lease);
            }

            return lease.Path;
        }

        var kernel = One(vm.Kernel);
        var initrd = One(vm.Initrd);
        var disk = One(vm.Disk);
        return (await kernel, await initrd, await disk);
    }

    /// <summary>
    /// Stops the job's VMs on this node: ACPI power-down for up to the configured time, then quit, then kill;
    /// deletes run directories, overlays and seeds; releases the image. Returns what was left behind, if anything.
    /// </summary>
    public async Task<string?> StopAsync(JobAttempt key, CancellationToken cancellationToken)
    {
        var directory = JobDirectory(key);
        if (Directory.Exists(directory))
        {
            var runs = Directory.GetDirectories(directory).Where(d => !Path.GetFileName(d).StartsWith("seed-", StringComparison.Ordinal)).ToList();
            await Task.WhenAll(runs.Select(async run =>
            {
                if (await hypervisor.AttachAsync(run, cancellationToken) is { } handle && !await hypervisor.PowerdownAsync(handle, options.VmPowerdownTimeout, cancellationToken))
                {
                    await hypervisor.QuitAsync(handle, cancellationToken);
                }

                await hypervisor.CleanupAsync(run, cancellationToken);
            }));
            Directory.Delete(directory, recursive: true);
        }

        if (leases.TryRemove(key, out var held))
        {
            foreach (var lease in held)
            {
                lease.Dispose();
            }
        }

        var left = ProcessesUsing(directory);
        return left.Count == 0 ? null : $"processes left after the VMs' cleanup: {string.Join(", ", left)}";
    }

    /// <summary>Pids whose command line names the directory (a VM's QEMU names its run directory's sockets).</summary>
    public static List<int> ProcessesUsing(string directory)
    {
        var found = new List<int>();
        foreach (var entry in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(entry, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(directory + "/", StringComparison.Ordinal) && !File.ReadAllText(Path.Combine(entry, "stat")).Contains(") Z ", StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return found;
    }
}
