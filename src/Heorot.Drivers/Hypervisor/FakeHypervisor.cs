using System.Text.Json;

namespace Heorot.Drivers.Hypervisor;

/// <summary>
/// In-process stand-in for <see cref="IHypervisor"/> with the same observable contract: its "process" is a
/// state file in the run directory (so a new instance re-attaches like an agent after a restart), and a
/// started VM writes the readiness line to its console log at once.
/// </summary>
public sealed class FakeHypervisor(TimeProvider? timeProvider = null) : IHypervisor
{
    public const string StateFileName = "fake-vm.json";
    private static int nextPid = 4_000_000;
    private readonly Lock sync = new();
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    /// <summary>Simulates a guest that ignores the ACPI power button (powerdown then times out).</summary>
    public bool GuestIgnoresPowerdown { get; set; }

    /// <summary>Every operation called, in order (for tests of callers).</summary>
    public List<string> Calls { get; } = [];

    public HypervisorValidation Validate() => new(true, "fake", []);

    public Task<VmHandle> StartAsync(VmSpec spec, CancellationToken cancellationToken = default)
    {
        var run = Path.GetFullPath(spec.RunDirectory);
        lock (sync)
        {
            Calls.Add("start " + spec.Name);
            if (Read(run) is { Running: true } existing)
            {
                return existing.Name == spec.Name
                    ? Task.FromResult(Handle(run, existing))
                    : throw new HypervisorException(HypervisorErrorCode.Conflict, $"run directory {run} holds running VM {existing.Name}, not {spec.Name}");
            }

            if (spec.Kernel == null && spec.BootDisk == null)
            {
                throw new HypervisorException(HypervisorErrorCode.InvalidSpec, "a VM needs a kernel or a boot disk");
            }

            Directory.CreateDirectory(run);
            var console = Path.GetFullPath(spec.ConsoleLogPath ?? Path.Combine(run, QemuHypervisor.ConsoleLogName));
            File.WriteAllText(console, $"{GuestChannel.ReadyMarker} {spec.Name} uptime=0.00s fake\n");
            var state = new FakeState(spec.Name, Interlocked.Increment(ref nextPid), console, true, time.GetUtcNow());
            Write(run, state);
            return Task.FromResult(Handle(run, state));
        }
    }

    public Task<VmStatus> StatusAsync(VmHandle vm, CancellationToken cancellationToken = default) =>
        Task.FromResult(IsAlive(vm) ? new VmStatus(VmState.Running, "running") : new VmStatus(VmState.Stopped));

    public async Task<bool> PowerdownAsync(VmHandle vm, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        Record("powerdown " + vm.Name);
        if (!IsAlive(vm))
        {
            return true;
        }

        if (GuestIgnoresPowerdown)
        {
            await Task.Delay(timeout, time, cancellationToken).ConfigureAwait(false);
            return false;
        }

        Stop(vm);
        return true;
    }

    public Task QuitAsync(VmHandle vm, CancellationToken cancellationToken = default)
    {
        Record("quit " + vm.Name);
        Stop(vm);
        return Task.CompletedTask;
    }

    public Task KillAsync(VmHandle vm, CancellationToken cancellationToken = default)
    {
        Record("kill " + vm.Name);
        Stop(vm);
        return Task.CompletedTask;
    }

    public Task<VmHandle?> AttachAsync(string runDirectory, CancellationToken cancellationToken = default)
    {
        var run = Path.GetFullPath(runDirectory);
        return Task.FromResult(Read(run) is { Running: true } state ? Handle(run, state) : null);
    }

    public Task CleanupAsync(string runDirectory, CancellationToken cancellationToken = default)
    {
        var run = Path.GetFullPath(runDirectory);
        lock (sync)
        {
            Calls.Add("cleanup " + run);
            if (Read(run) is { } state)
            {
                File.Delete(state.ConsoleLog);
            }

            if (Directory.Exists(run))
            {
                Directory.Delete(run, recursive: true);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Whether the fake "process" of <paramref name="vm"/> still runs.</summary>
    public static bool IsAlive(VmHandle vm) => Read(vm.RunDirectory) is { Running: true } s && s.Pid == vm.Pid;

    private void Record(string call)
    {
        lock (sync)
        {
            Calls.Add(call);
        }
    }

    private void Stop(VmHandle vm)
    {
        lock (sync)
        {
            if (Read(vm.RunDirectory) is { Running: true } s && s.Pid == vm.Pid)
            {
                Write(vm.RunDirectory, s with { Running = false });
            }
        }
    }

    private static VmHandle Handle(string run, FakeState state) => new(state.Name, run, state.Pid, state.ConsoleLog);

    private static FakeState? Read(string run)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(run, StateFileName)), FakeJson.Default.FakeState);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    private static void Write(string run, FakeState state) =>
        File.WriteAllText(Path.Combine(run, StateFileName), JsonSerializer.Serialize(state, FakeJson.Default.FakeState));

    internal sealed record FakeState(string Name, int Pid, string ConsoleLog, bool Running, DateTimeOffset Started);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(FakeHypervisor.FakeState))]
internal sealed partial class FakeJson : System.Text.Json.Serialization.JsonSerializerContext;
