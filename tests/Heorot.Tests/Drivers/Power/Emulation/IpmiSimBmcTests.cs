using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Heorot.Drivers.Hypervisor;
using Heorot.Drivers.Power;
using Heorot.Drivers.Power.Emulation;
using Heorot.Tests.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Power.Emulation;

/// <summary>
/// The emulated BMC: what it accepts, that no configured text can become shell code in its hook, that it leaves no
/// process behind, that it cleans up after a crashed predecessor, timings of the real calls, and a real QEMU guest
/// as the machine.
/// </summary>
public sealed class IpmiSimBmcTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("heorot-bmc-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Theory]
    [InlineData("n 1", "/tmp/x", "pw")]
    [InlineData("n1$(id)", "/tmp/x", "pw")]
    [InlineData("n1'", "/tmp/x", "pw")]
    [InlineData("n1", "/tmp/with space", "pw")]
    [InlineData("n1", "/tmp/with,comma", "pw")]
    [InlineData("n1", "/tmp/x", "pass word")]
    [InlineData("n1", "/tmp/x", "pass\"word")]
    [InlineData("n1", "/tmp/x", "a-password-of-21-char")]
    [InlineData("n1", "/tmp/x", "")]
    public void Validate_TextThatCannotGoIntoTheGeneratedFiles_Refused(string name, string path, string password)
    {
        var validation = IpmiSimBmc.Validate(Options(name, path, password, new ProcessMachine(["/bin/true"])));

        Assert.False(validation.IsValid);
        Assert.All(validation.Problems, p => Assert.DoesNotContain(password.Length > 0 ? password : "\0", p, StringComparison.Ordinal));
    }

    [Fact]
    public void ToString_Options_HidesThePassword()
    {
        var text = Options("n1", "/tmp/x", "pw-hidden-1", new ProcessMachine(["/bin/true"])).ToString();

        Assert.DoesNotContain("pw-hidden-1", text, StringComparison.Ordinal);
    }

    [Fact]
    public void DirectKernelBoot_CommaInPath_DoubledInQemuOptionsAndBootPlaceholderInTheCommandLine()
    {
        var args = QemuMachine.DirectKernelBoot("n1", "/g/vmlinux", "/g/initrd", "/run/a,b/console.log").Arguments.ToList();

        Assert.Equal("socket,id=s0,path=/run/a,,b/console.log.sock,server=on,wait=off,logfile=/run/a,,b/console.log", args[args.IndexOf("-chardev") + 1]);
        Assert.Equal("console=ttyS0 quiet panic=-1 no_timer_check guestname=n1 heorot.boot={boot}", args[args.IndexOf("-append") + 1]);
    }

    [Fact(Timeout = 120_000)]
    public async Task On_HostileMachineArguments_ReachTheMachineVerbatim()
    {
        await IpmiTools.EnsureAsync();
        var pwned = Path.Combine(directory, "pwned");
        string[] hostile = [$"$(touch {pwned})", $"`touch {pwned}`", "it's", "a \"b\" $HOME", "x\ny", "{boot}", "--{boot}--", "*", "; touch " + pwned];
        var args = Path.Combine(directory, "args");
        string[] command = ["/bin/sh", "-c", "printf '%s\\0' \"$@\" > \"$0\"; exec sleep infinity", args, .. hostile];
        await using var bmc = await IpmiSimBmc.StartAsync(Options("hostile", Path.Combine(directory, "bmc"), IpmiSimRig.NewPassword(), new ProcessMachine(command)), Ct);
        var driver = new IpmiPowerDriver(bmc.DriverOptions);

        await driver.SetNextBootAsync(BootDevice.Pxe, cancellationToken: Ct);
        await driver.SetAsync(PowerAction.On, Ct);

        await UntilAsync(() => File.Exists(args) && File.ReadAllText(args).Split('\0').Length > hostile.Length, "the machine to write its arguments");
        var received = File.ReadAllText(args).Split('\0')[..^1];
        Assert.Equal(hostile.Select(a => a.Replace("{boot}", "pxe", StringComparison.Ordinal)), received);
        Assert.False(File.Exists(pwned));
        Assert.Equal(["start pxe"], bmc.BootLog());
    }

    [Fact(Timeout = 120_000)]
    public async Task DisposeAsync_MachineOn_LeavesNoProcessAndNoFile()
    {
        var (bmc, machine, root) = await IpmiSimRig.StartAsync("cleanup", Ct);
        try
        {
            var driver = new IpmiPowerDriver(bmc.DriverOptions);
            await driver.SetAsync(PowerAction.On, Ct);
            await UntilAsync(machine.IsOn, "the machine to run");
            var pids = new[] { bmc.ProcessId, machine.LastPid()!.Value };
            var bmcDirectory = bmc.Directory;

            await bmc.DisposeAsync();

            Assert.All(pids, pid => Assert.False(Alive(pid), $"process {pid} survived"));
            Assert.Empty(ProcessesNaming(bmcDirectory));
            Assert.False(Directory.Exists(bmcDirectory));
        }
        finally
        {
            await bmc.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task StartAsync_MachineLeftByACrashedBmc_PoweredOffFirst()
    {
        await IpmiTools.EnsureAsync();
        var machine = new LightMachine(directory);
        var options = Options("crash", Path.Combine(directory, "bmc"), IpmiSimRig.NewPassword(), new ProcessMachine(machine.Command)) with { KeepFiles = true };
        var first = await IpmiSimBmc.StartAsync(options, Ct);
        await new IpmiPowerDriver(first.DriverOptions).SetAsync(PowerAction.On, Ct);
        await UntilAsync(machine.IsOn, "the machine to run");
        var orphan = machine.LastPid()!.Value;

        // The BMC dies without cleaning up: its machine keeps running.
        Process.GetProcessById(first.ProcessId).Kill();
        await UntilAsync(() => !Alive(first.ProcessId), "ipmi_sim to die");
        Assert.True(Alive(orphan));

        await using var second = await IpmiSimBmc.StartAsync(options with { Port = IpmiTools.FreeUdpPort(), KeepFiles = false }, Ct);

        Assert.False(Alive(orphan));
        Assert.Equal(PowerState.Off, await new IpmiPowerDriver(second.DriverOptions).GetStateAsync(Ct));
    }

    [Fact(Timeout = 180_000)]
    public async Task PowerCalls_AgainstIpmiSim_ReturnFastAndTheMachineFollows()
    {
        var (bmc, machine, root) = await IpmiSimRig.StartAsync("timing", Ct);
        try
        {
            var driver = new IpmiPowerDriver(bmc.DriverOptions);
            var times = new Dictionary<string, List<double>>(StringComparer.Ordinal) { ["status"] = [], ["on"] = [], ["off"] = [], ["ipmitool"] = [] };
            for (var round = 0; round < 5; round++)
            {
                times["status"].Add(await TimeAsync(() => driver.GetStateAsync(Ct)));
                times["on"].Add(await TimeAsync(() => driver.SetAsync(PowerAction.On, Ct)));
                await UntilAsync(machine.IsOn, "the machine to run");
                times["off"].Add(await TimeAsync(() => driver.SetAsync(PowerAction.Off, Ct)));
                Assert.False(machine.IsOn());
                times["ipmitool"].Add(await TimeAsync(() => IpmitoolStatusAsync(bmc)));
            }

            Assert.Equal(5, machine.Boots());
            var report = string.Join(", ", times.Select(t => $"{t.Key} {Median(t.Value):0.000} s"));
            TestContext.Current.TestOutputHelper?.WriteLine($"median of 5 against ipmi_sim: {report} (on/off include the driver's status read)");
            Assert.All(times, t => Assert.True(Median(t.Value) < 5, $"{t.Key} took a median {Median(t.Value):0.00} s"));
        }
        finally
        {
            await bmc.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task On_QemuGuest_BootsToItsReadinessLineAndSoftOffShutsItDown()
    {
        await IpmiTools.EnsureAsync();
        var guest = await GuestImage.EnsureAsync();
        var run = Path.Combine(directory, "bmc");
        var console = Path.Combine(directory, "console.log");
        var machine = QemuMachine.DirectKernelBoot("ipmi-q1", guest.Kernel, guest.Initrd, console);
        await using var bmc = await IpmiSimBmc.StartAsync(Options("ipmi-q1", run, IpmiSimRig.NewPassword(), machine), Ct);
        var driver = new IpmiPowerDriver(bmc.DriverOptions);
        var clock = Stopwatch.StartNew();

        await driver.SetAsync(PowerAction.On, Ct);
        var accepted = clock.Elapsed;
        await UntilAsync(() => File.Exists(console) && File.ReadAllText(console).Contains("HEOROT-READY ipmi-q1", StringComparison.Ordinal), "the guest's readiness line", TimeSpan.FromSeconds(120));
        var ready = clock.Elapsed;
        Assert.Equal(PowerState.On, await driver.GetStateAsync(Ct));
        var qemu = bmc.MachineProcessId()!.Value;
        Assert.Contains("heorot.boot=default", await File.ReadAllTextAsync($"/proc/{qemu}/cmdline", Ct), StringComparison.Ordinal);

        clock.Restart();
        await driver.SetAsync(PowerAction.SoftOff, Ct);
        await UntilAsync(() => !Alive(qemu), "QEMU to exit after the guest's shutdown", TimeSpan.FromSeconds(120));
        var halted = clock.Elapsed;

        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));
        Assert.Equal(["start default"], bmc.BootLog());
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"QEMU guest behind ipmi_sim: power on accepted in {accepted.TotalSeconds:0.00} s, ready at {ready.TotalSeconds:0.00} s; power soft to QEMU gone {halted.TotalSeconds:0.00} s");
    }

    [Fact(Timeout = 300_000)]
    public async Task ResetThenOff_QemuGuest_RebootsInPlaceThenQemuQuits()
    {
        await IpmiTools.EnsureAsync();
        var guest = await GuestImage.EnsureAsync();
        var console = Path.Combine(directory, "console.log");
        var machine = QemuMachine.DirectKernelBoot("ipmi-q2", guest.Kernel, guest.Initrd, console);
        await using var bmc = await IpmiSimBmc.StartAsync(Options("ipmi-q2", Path.Combine(directory, "bmc"), IpmiSimRig.NewPassword(), machine), Ct);
        var driver = new IpmiPowerDriver(bmc.DriverOptions);
        int Readiness() => File.Exists(console) ? File.ReadAllText(console).Split("HEOROT-READY ipmi-q2").Length - 1 : 0;

        await driver.SetAsync(PowerAction.On, Ct);
        await UntilAsync(() => Readiness() == 1, "the guest's readiness line", TimeSpan.FromSeconds(120));
        var qemu = bmc.MachineProcessId()!.Value;

        await driver.SetAsync(PowerAction.Reset, Ct);
        await UntilAsync(() => Readiness() == 2, "the guest's second readiness line", TimeSpan.FromSeconds(120));
        Assert.Equal(qemu, bmc.MachineProcessId());

        var clock = Stopwatch.StartNew();
        await driver.SetAsync(PowerAction.Off, Ct);
        var off = clock.Elapsed;

        Assert.False(Alive(qemu));
        Assert.Equal(PowerState.Off, await driver.GetStateAsync(Ct));
        Assert.Equal(["start default", "reset"], bmc.BootLog());
        TestContext.Current.TestOutputHelper?.WriteLine($"QEMU guest behind ipmi_sim: power off (QMP quit) returned with QEMU gone in {off.TotalSeconds:0.00} s");
    }

    [Fact(Timeout = 120_000)]
    public async Task StartAsync_NetworkNamespace_AnswersOnPort623OfItsOwnAddress()
    {
        await IpmiTools.EnsureAsync();
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var (ns, veth, subnet) = ($"hbmc-{suffix}", $"hb{suffix}", RandomNumberGenerator.GetInt32(0, 256));
        var (hostAddress, bmcAddress) = ($"10.253.{subnet}.1", $"10.253.{subnet}.2");
        try
        {
            foreach (var step in new[]
            {
                $"netns add {ns}", $"link add {veth} type veth peer name eth0 netns {ns}", $"addr add {hostAddress}/30 dev {veth}",
                $"link set {veth} up", $"-n {ns} addr add {bmcAddress}/30 dev eth0", $"-n {ns} link set eth0 up", $"-n {ns} link set lo up",
            })
            {
                await RunAsync("ip", step.Split(' '));
            }

            var machine = new LightMachine(directory);
            var options = Options("ns-node", Path.Combine(directory, "bmc"), IpmiSimRig.NewPassword(), new ProcessMachine(machine.Command));
            await using var bmc = await IpmiSimBmc.StartAsync(options with { Address = bmcAddress, Port = 623, NetworkNamespace = ns }, Ct);
            var driver = new IpmiPowerDriver(bmc.DriverOptions);

            await driver.SetAsync(PowerAction.On, Ct);

            await UntilAsync(machine.IsOn, "the machine to run");
            Assert.Equal(PowerState.On, await driver.GetStateAsync(Ct));
            Assert.Equal(ns, (await RunAsync("ip", ["netns", "identify", machine.LastPid()!.Value.ToString(CultureInfo.InvariantCulture)])).Trim());
        }
        finally
        {
            await ProcessRunner.RunAsync("ip", ["netns", "del", ns], CancellationToken.None);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task SolActivate_SolTarget_BridgesTheClientToTheMachinesSerialPort()
    {
        await IpmiTools.EnsureAsync();
        using var serial = new TcpListener(IPAddress.Loopback, 0);
        serial.Start();
        var machine = new LightMachine(directory);
        var options = Options("sol-node", Path.Combine(directory, "bmc"), IpmiSimRig.NewPassword(), new ProcessMachine(machine.Command));
        await using var bmc = await IpmiSimBmc.StartAsync(options with { SolTarget = (IPEndPoint)serial.LocalEndpoint }, Ct);
        var accepting = serial.AcceptTcpClientAsync(Ct).AsTask();
        var info = new ProcessStartInfo("ipmitool") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-I", "lanplus", "-C", "3", "-H", bmc.Options.Address, "-p", bmc.Options.Port.ToString(CultureInfo.InvariantCulture), "-U", bmc.Options.Username, "-E", "sol", "activate" })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["IPMI_PASSWORD"] = bmc.Options.Password;
        using var client = Process.Start(info)!;
        try
        {
            using var port = await accepting;
            var output = new StringBuilder();
            _ = Task.Run(async () =>
            {
                var buffer = new char[256];
                int n;
                while ((n = await client.StandardOutput.ReadAsync(buffer, Ct)) > 0)
                {
                    lock (output)
                    {
                        output.Append(buffer, 0, n);
                    }
                }
            }, Ct);

            // Client to serial port: keep typing until the session is up and the bytes arrive.
            var received = new StringBuilder();
            var stream = port.GetStream();
            var inbound = new byte[256];
            var clock = Stopwatch.StartNew();
            while (!received.ToString().Contains("typed-by-the-client", StringComparison.Ordinal))
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"nothing typed reached the serial port: '{received}'");
                await client.StandardInput.WriteAsync("typed-by-the-client\r");
                await client.StandardInput.FlushAsync(Ct);
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                wait.CancelAfter(TimeSpan.FromSeconds(1));
                try
                {
                    var n = await stream.ReadAsync(inbound, wait.Token);
                    received.Append(Encoding.ASCII.GetString(inbound, 0, n));
                }
                catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
                {
                }
            }

            // Serial port to client.
            await stream.WriteAsync(Encoding.ASCII.GetBytes("written-by-the-machine\r\n"), Ct);
            bool Arrived()
            {
                lock (output)
                {
                    return output.ToString().Contains("written-by-the-machine", StringComparison.Ordinal);
                }
            }

            await UntilAsync(Arrived, "the machine's bytes at the client");
        }
        finally
        {
            client.Kill();
            await client.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static IpmiSimOptions Options(string name, string path, string password, EmulatedMachine machine) => new()
    {
        Name = name,
        Directory = path,
        Port = IpmiTools.FreeUdpPort(),
        Password = password,
        Machine = machine,
    };

    private static async Task<string> IpmitoolStatusAsync(IpmiSimBmc bmc)
    {
        var info = new ProcessStartInfo("ipmitool") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-I", "lanplus", "-C", "3", "-H", bmc.Options.Address, "-p", bmc.Options.Port.ToString(CultureInfo.InvariantCulture), "-U", bmc.Options.Username, "-E", "chassis", "power", "status" })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["IPMI_PASSWORD"] = bmc.Options.Password;
        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.Equal(0, process.ExitCode);
        return output;
    }

    private static async Task<string> RunAsync(string program, string[] arguments)
    {
        var result = await ProcessRunner.RunAsync(program, arguments, Ct);
        Assert.True(result.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: exit {result.ExitCode}: {result.Stderr}");
        return result.Stdout;
    }

    private static async Task<double> TimeAsync(Func<Task> call)
    {
        var clock = Stopwatch.StartNew();
        await call();
        return clock.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0] is not ("Z" or "X");
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static List<int> ProcessesNaming(string path)
    {
        var needle = Encoding.UTF8.GetBytes(path);
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out var pid) && pid != Environment.ProcessId)
            {
                try
                {
                    if (File.ReadAllBytes(Path.Combine(entry, "cmdline")).AsSpan().IndexOf(needle) >= 0
                        || File.ReadAllBytes(Path.Combine(entry, "environ")).AsSpan().IndexOf(needle) >= 0)
                    {
                        found.Add(pid);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }

        return found;
    }

    private static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? limit = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < (limit ?? TimeSpan.FromSeconds(30)), $"timed out waiting for {what}");
            await Task.Delay(50, Ct);
        }
    }
}
