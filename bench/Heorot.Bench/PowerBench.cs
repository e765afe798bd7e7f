using System.Diagnostics;
using System.Globalization;
using Heorot.Drivers.Hypervisor;
using Heorot.Drivers.Power;
using Heorot.Server.Power;

namespace Heorot.Bench;

/// <summary>
/// Power through Redfish (issue 5): the time of each RedfishPowerDriver call against the emulated BMC on loopback
/// (a fake machine behind it, so only Redfish is measured), with a session, with HTTP Basic and over HTTPS; a cold
/// call (discovery and login); then a real QEMU guest behind the emulator: On accepted, guest ready, Off accepted,
/// QEMU gone. Medians, with the minimum and maximum.
/// </summary>
internal static class PowerBench
{
    private const string Password = "bench-password";
    private const int Calls = 200;

    public static async Task<int> RunAsync(int runs)
    {
        Console.WriteLine("| BMC | call | requests | median ms | min ms | max ms | n |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        await CallsAsync("http, session", null, RedfishAuthMode.Session);
        await CallsAsync("http, Basic", null, RedfishAuthMode.Basic);
        using (var certificate = RedfishBmcEmulator.CreateSelfSignedCertificate())
        {
            await CallsAsync("https (pinned), session", certificate, RedfishAuthMode.Session);
        }

        return await QemuAsync(runs);
    }

    private static async Task CallsAsync(string label, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate, RedfishAuthMode auth)
    {
        var machine = new FakeMachine();
        await using var bmc = await RedfishBmcEmulator.StartAsync(
            new RedfishBmcOptions { Password = Password, Certificate = certificate },
            [new EmulatedSystem("node1", new FakePowerDriver(machine))]);
        RedfishPowerOptions Options() => new()
        {
            BaseUrl = bmc.BaseAddress,
            UserName = "admin",
            Password = Password,
            Auth = auth,
            PinnedCertificateSha256 = bmc.CertificateSha256,
        };

        // Cold: a new driver (new connections) discovers the system and logs in.
        var cold = new List<double>();
        var coldRequests = 0;
        for (var i = 0; i < 30; i++)
        {
            await using var fresh = new RedfishPowerDriver(Options());
            var watch = Stopwatch.StartNew();
            await fresh.GetStateAsync();
            cold.Add(watch.Elapsed.TotalMilliseconds);
            coldRequests = fresh.RequestCount;
        }

        Row(label, "first GetState (discovery, login)", coldRequests, cold);

        await using var driver = new RedfishPowerDriver(Options());
        await driver.GetStateAsync();
        await MeasureAsync(label, "GetState", driver, _ => driver.GetStateAsync());
        await MeasureAsync(label, "Set On / Off (accepted)", driver, async i =>
        {
            await driver.SetAsync(i % 2 == 0 ? PowerAction.On : PowerAction.Off);
            await bmc.WhenIdleAsync(CancellationToken.None);
        });
        await MeasureAsync(label, "Set Cycle (state read, PowerCycle)", driver, async _ =>
        {
            await driver.SetAsync(PowerAction.Cycle);
            await bmc.WhenIdleAsync(CancellationToken.None);
        });
        await MeasureAsync(label, "SetNextBoot Pxe (read ETag, PATCH)", driver, _ => driver.SetNextBootAsync(BootDevice.Pxe));
    }

    private static async Task MeasureAsync(string label, string call, RedfishPowerDriver driver, Func<int, Task> action)
    {
        for (var i = 0; i < 20; i++)
        {
            await action(i);
        }

        var times = new List<double>();
        var before = driver.RequestCount;
        for (var i = 0; i < Calls; i++)
        {
            var watch = Stopwatch.StartNew();
            await action(i);
            times.Add(watch.Elapsed.TotalMilliseconds);
        }

        Row(label, call, (driver.RequestCount - before) / Calls, times);
    }

    private static async Task<int> QemuAsync(int runs)
    {
        var guestDir = Environment.GetEnvironmentVariable("HEOROT_GUEST_DIR") is { Length: > 0 } g ? g : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "heorot", "guest");
        var kernel = Path.Combine(guestDir, "vmlinux");
        var initrd = Path.Combine(guestDir, "initramfs.cpio.gz");
        if (!File.Exists(kernel) || !File.Exists(initrd))
        {
            Console.Error.WriteLine($"no guest in {guestDir}: run scripts/guest/build.sh first");
            return 1;
        }

        var root = Directory.CreateTempSubdirectory("hpb-").FullName;
        var spec = new VmSpec { Name = "bench-node", RunDirectory = Path.Combine(root, "run"), Kernel = kernel, Initrd = initrd };
        using var qemu = new QemuPowerDriver(new QemuPowerOptions { Spec = spec });
        try
        {
            await using var bmc = await RedfishBmcEmulator.StartAsync(new RedfishBmcOptions { Password = Password }, [new EmulatedSystem("node1", qemu)]);
            await using var driver = new RedfishPowerDriver(new RedfishPowerOptions { BaseUrl = bmc.BaseAddress, UserName = "admin", Password = Password });
            await driver.GetStateAsync();
            var log = Path.Combine(spec.RunDirectory, QemuHypervisor.ConsoleLogName);
            var (onAccepted, ready, offAccepted, gone) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
            for (var r = 0; r < runs; r++)
            {
                var watch = Stopwatch.StartNew();
                await driver.SetAsync(PowerAction.On);
                onAccepted.Add(watch.Elapsed.TotalMilliseconds);
                while (!(File.Exists(log) && (await ReadSharedAsync(log)).Contains("HEOROT-READY ", StringComparison.Ordinal)))
                {
                    await Task.Delay(20);
                }

                ready.Add(watch.Elapsed.TotalMilliseconds);
                await bmc.WhenIdleAsync(CancellationToken.None);
                watch.Restart();
                await driver.SetAsync(PowerAction.Off);
                offAccepted.Add(watch.Elapsed.TotalMilliseconds);
                await bmc.WhenIdleAsync(CancellationToken.None);
                while (await qemu.GetStateAsync() != PowerState.Off)
                {
                    await Task.Delay(20);
                }

                gone.Add(watch.Elapsed.TotalMilliseconds);

                // The next start replaces the log, but only once the emulator's backend call runs: until then this
                // boot's readiness line would still be there.
                File.Delete(log);
            }

            Row("http, session, QEMU guest", "On accepted", 1, onAccepted);
            Row("http, session, QEMU guest", "On → HEOROT-READY on the console", 1, ready);
            Row("http, session, QEMU guest", "Off (ForceOff) accepted", 1, offAccepted);
            Row("http, session, QEMU guest", "Off → QEMU gone", 1, gone);
            return 0;
        }
        finally
        {
            await new QemuHypervisor().CleanupAsync(spec.RunDirectory, CancellationToken.None);
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<string> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    private static void Row(string bmc, string call, int requests, List<double> times)
    {
        times.Sort();
        var median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[(times.Count / 2) - 1] + times[times.Count / 2]) / 2;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {bmc} | {call} | {requests} | {median:F2} | {times[0]:F2} | {times[^1]:F2} | {times.Count} |"));
    }
}
