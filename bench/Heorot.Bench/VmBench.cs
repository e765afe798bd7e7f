using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Heorot.Drivers.Hypervisor;
using Heorot.Protocol;
using Heorot.Protocol.Images;
using Heorot.Server;
using Heorot.Storage;

namespace Heorot.Bench;

/// <summary>
/// Jobs in virtual machines (issue 4), measured on this machine: the bare boot of the test guest with the driver's
/// exact QEMU command line (no Heorot), the same guest as a job through the real server and a real `heorot agent`
/// process (warm and cold image cache, per phase), a cold fetch over a rate-limited veth link beside a plain HTTP
/// download of the same blob, the teardown after a cancel, and 1-8 VMs of one job on one node.
/// Phases are observed from outside (job state through the API, the agent's cache and VM directories, the guests'
/// console logs, /proc); nothing is added to the agent or the server.
/// </summary>
internal static class VmBench
{
    private const string Namespace = "heorotvb";
    private const string HostLink = "hvb0";
    private const string NamespaceLink = "hvb1";
    private const string HostAddress = "10.231.77.1";
    private const string NamespaceAddress = "10.231.77.2";
    private const string Rate = "200mbit";
    private const string Ready = "HEOROT-READY ";

    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    private static double Now => Clock.Elapsed.TotalSeconds;

    public static async Task<int> RunAsync(int runs)
    {
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };

        var guestDir = Environment.GetEnvironmentVariable("HEOROT_GUEST_DIR") is { Length: > 0 } g ? g : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "heorot", "guest");
        var kernel = Path.Combine(guestDir, "vmlinux");
        var initrd = Path.Combine(guestDir, "initramfs.cpio.gz");
        if (!File.Exists(kernel) || !File.Exists(initrd))
        {
            Console.Error.WriteLine($"no guest in {guestDir}: run scripts/guest/build.sh first");
            return 1;
        }

        var dll = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "src", "Heorot.Cli", "bin", "Release", "net10.0", "heorot.dll"));
        if (!File.Exists(dll))
        {
            Console.Error.WriteLine($"{dll} is missing: dotnet build src/Heorot.Cli -c Release");
            return 1;
        }

        var user = Environment.UserName == "root" ? "nobody" : Environment.UserName;
        var directory = Path.Combine("/tmp", "hvb-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        var agents = new List<Agent>();
        HeorotServer? server = null;
        var link = false;
        var loads = new List<double>();
        var report = new Report();
        try
        {
            link = SetUpLink();
            Console.WriteLine($"vm bench: guest {guestDir}, {runs} runs, work in {directory}, accelerator {new QemuHypervisor().Accelerator()}, link namespace {(link ? "ready" : "unavailable (needs root and iproute2): link phase skipped")}");
            loads.Add(LoadAverage());

            server = await HeorotServer.StartAsync(new ServerOptions
            {
                DataDirectory = Path.Combine(directory, "data"),
                Urls = link ? ["http://127.0.0.1:0", $"http://{HostAddress}:0"] : ["http://127.0.0.1:0"],
                Heartbeat = TimeSpan.FromSeconds(5),
                SchedulingInterval = TimeSpan.FromMilliseconds(10),
                Operators = new HashSet<string>(["bench"]),
            });
            await server.Store.AddUserAsync(new UserRecord("bench", DateTimeOffset.UtcNow));
            var token = "bench-" + Guid.NewGuid().ToString("N");
            await server.Store.AddTokenAsync(new ApiTokenRecord(ApiTokens.Hash(token), "bench", "bench", DateTimeOffset.UtcNow));
            var local = server.Addresses.First(a => a.Contains("127.0.0.1", StringComparison.Ordinal));
            using var client = new HttpClient { BaseAddress = new Uri(local + "/"), Timeout = TimeSpan.FromMinutes(2) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var secretFile = Path.Combine(directory, "data", "agent.secret");

            // The guest as an image, as an operator registers it.
            var kernelDigest = await UploadAsync(client, kernel);
            var initrdDigest = await UploadAsync(client, initrd);
            using (var registered = await client.PostAsJsonAsync("v1/images", new ImageRequest { Name = "guest", Kernel = kernelDigest, Initrd = initrdDigest, Cmdline = QemuHypervisor.DefaultKernelCommandLine, Public = true }, WireJson.Options))
            {
                registered.EnsureSuccessStatusCode();
            }

            var imageBytes = new FileInfo(kernel).Length + new FileInfo(initrd).Length;
            Console.WriteLine($"image: vmlinux {new FileInfo(kernel).Length / 1e6:0.0} MB + initramfs {new FileInfo(initrd).Length / 1e6:0.0} MB");
            var secret = File.ReadAllText(secretFile).Trim();
            for (var i = 0; i < 3; i++)
            {
                var curl = await CurlAsync(null, local, kernelDigest, secret, stop.Token);
                Console.WriteLine($"loopback {i + 1}: curl {curl.Bytes / 1e6:0.0} MB in {curl.Seconds:0.00} s = {curl.Mbits:0} Mbit/s");
                report.CurlLoopback.Add(curl);
            }

            var context = new Context(server, client, dll, secretFile, user, directory, agents, stop.Token);

            // 3a. Cold fetch on loopback: a fresh agent (empty cache) per run; the first also warms the JIT of the VM path.
            for (var i = 0; i < 3; i++)
            {
                var agent = await context.StartAgentAsync($"cold{i}", null, local);
                var run = await context.RunJobAsync(agent, 1, watchCache: true);
                Console.WriteLine($"cold (loopback) {i + 1}: {run}");
                report.ColdLoopback.Add(run);
                report.Teardown.Add(await context.CancelAsync(run.Id, agent));
                await context.StopAgentAsync(agent);
            }

            // 1 and 2, alternated: the bare boot, then the same guest as a job on a warm agent.
            var warm = await context.StartAgentAsync("warm", null, local);
            for (var i = 0; i < runs; i++)
            {
                loads.Add(LoadAverage());
                var bare = await BareBootAsync(directory, i, kernel, initrd, user, stop.Token);
                Console.WriteLine($"bare {i + 1}: launch → READY {bare.Ready:0.00} s (pid file after {bare.Pid:0.00} s); ACPI power-down → QEMU gone {bare.Powerdown:0.00} s");
                report.Bare.Add(bare);
                var run = await context.RunJobAsync(warm, 1, watchCache: false);
                Console.WriteLine($"warm {i + 1}: {run}");
                report.Warm.Add(run);
                var teardown = await context.CancelAsync(run.Id, warm);
                Console.WriteLine($"  teardown: {teardown}");
                report.Teardown.Add(teardown);
            }

            // 5. VMs per node.
            foreach (var n in new[] { 1, 2, 4, 8 })
            {
                loads.Add(LoadAverage());
                await Task.Delay(2000, stop.Token); // let memory settle before the MemAvailable reading
                var run = await context.RunJobAsync(warm, n, watchCache: false);
                Console.WriteLine($"vnodes {n}: {run}");
                report.PerNode.Add(run);
                var teardown = await context.CancelAsync(run.Id, warm);
                Console.WriteLine($"  teardown: {teardown}");
                report.PerNodeTeardown.Add(teardown);
            }

            await context.StopAgentAsync(warm);

            // 3b. The link: a plain HTTP download of the kernel blob, then a fresh agent's cold fetch, both from the namespace.
            if (link)
            {
                var remote = server.Addresses.First(a => a.Contains(HostAddress, StringComparison.Ordinal));
                for (var i = 0; i < 3; i++)
                {
                    loads.Add(LoadAverage());
                    var curl = await CurlAsync(Namespace, remote, kernelDigest, secret, stop.Token);
                    Console.WriteLine($"link {i + 1}: curl {curl.Bytes / 1e6:0.0} MB in {curl.Seconds:0.00} s = {curl.Bytes * 8 / curl.Seconds / 1e6:0.0} Mbit/s");
                    report.Curl.Add(curl);
                    var agent = await context.StartAgentAsync($"link{i}", Namespace, remote);
                    var run = await context.RunJobAsync(agent, 1, watchCache: true);
                    Console.WriteLine($"link {i + 1}: {run}");
                    report.ColdLink.Add(run);
                    report.Teardown.Add(await context.CancelAsync(run.Id, agent));
                    await context.StopAgentAsync(agent);
                }
            }

            loads.Add(LoadAverage());
            report.Print(imageBytes, loads);
            return 0;
        }
        finally
        {
            foreach (var agent in agents)
            {
                agent.Kill();
            }

            foreach (var pid in QemuPids(directory))
            {
                Kill(pid);
            }

            if (server != null)
            {
                await server.DisposeAsync();
            }

            if (link)
            {
                TearDownLink();
            }

            for (var i = 0; i < 50 && QemuPids(directory).Count > 0; i++)
            {
                Thread.Sleep(100);
            }

            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task<string> UploadAsync(HttpClient client, string file)
    {
        string digest;
        await using (var hashing = File.OpenRead(file))
        {
            digest = "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(hashing));
        }

        await using var body = File.OpenRead(file);
        using var response = await client.PutAsync($"v1/blobs/{digest}", new StreamContent(body));
        response.EnsureSuccessStatusCode();
        return digest;
    }

    /// <summary>The guest started by hand with the command line the driver builds for an agent's VM (1 vCPU, 192 MiB, seed, multicast).</summary>
    private static async Task<Bare> BareBootAsync(string directory, int i, string kernel, string initrd, string user, CancellationToken cancellationToken)
    {
        var run = Path.Combine(directory, "bare", i.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(run);
        var seed = await CloudInitSeed.BuildAsync(
            Path.Combine(directory, "bare", "seed" + i.ToString(CultureInfo.InvariantCulture)),
            new CloudInitMetaData($"bench-bare-{i}", "vm0"),
            new CloudInitUserData("vm0", [new CloudInitUser(user, [])], [new HostsEntry("10.123.0.11", ["vm0"])]),
            cancellationToken);
        var spec = new VmSpec
        {
            Name = $"bench-bare-{i}",
            RunDirectory = run,
            Kernel = kernel,
            Initrd = initrd,
            KernelCommandLine = $"{QemuHypervisor.DefaultKernelCommandLine} guestname=vm0 guestip=10.123.0.11/16",
            Cores = 1,
            MemoryMiB = 192,
            SeedPath = seed,
            Network = VmNetwork.Multicast($"230.99.0.{i + 1}:{29000 + i}", "52:54:00:99:00:00"),
            ConsoleLogPath = Path.Combine(run, QemuHypervisor.ConsoleLogName),
        };
        var options = new QemuOptions();
        var arguments = QemuHypervisor.BuildArguments(spec, new QemuHypervisor(options).Accelerator(), options);
        var start = new ProcessStartInfo(options.QemuBinary) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        var pidFile = Path.Combine(run, QemuHypervisor.PidFileName);
        var t0 = Now;
        using var launcher = Process.Start(start)!;
        _ = launcher.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = launcher.StandardError.ReadToEndAsync(cancellationToken);
        double? pidAt = null;
        try
        {
            while (true)
            {
                if (pidAt == null && File.Exists(pidFile))
                {
                    pidAt = Now - t0;
                }

                if (ReadText(spec.ConsoleLogPath).Contains(Ready, StringComparison.Ordinal))
                {
                    var ready = Now - t0;

                    // The floor of a teardown: ACPI power-down of the ready guest until its QEMU is gone (the agent's first step).
                    var hypervisor = new QemuHypervisor(options);
                    var handle = await hypervisor.AttachAsync(run, cancellationToken) ?? throw new InvalidOperationException($"bare boot {i}: QEMU gone after READY");
                    var t1 = Now;
                    var off = await hypervisor.PowerdownAsync(handle, TimeSpan.FromSeconds(30), cancellationToken);
                    return new Bare(ready, pidAt ?? ready, off ? Now - t1 : double.NaN);
                }

                if (launcher.HasExited && launcher.ExitCode != 0)
                {
                    throw new InvalidOperationException($"qemu failed: {await errors}");
                }

                if (Now - t0 > 180)
                {
                    throw new TimeoutException($"bare boot {i}: no {Ready.Trim()} after 180 s:\n{ReadText(spec.ConsoleLogPath)}");
                }

                await Task.Delay(10, cancellationToken);
            }
        }
        finally
        {
            foreach (var pid in QemuPids(run))
            {
                Kill(pid);
            }
        }
    }

    private static async Task<Curl> CurlAsync(string? netns, string server, string digest, string secret, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(netns == null ? "curl" : "ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (netns == null ? Array.Empty<string>() : ["netns", "exec", netns, "curl"]).Concat(new[] { "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", "-H", "Authorization: Agent " + secret, $"{server}/agent/v1/blobs/{digest}" }))
        {
            start.ArgumentList.Add(a);
        }

        using var curl = Process.Start(start)!;
        var output = await curl.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = await curl.StandardError.ReadToEndAsync(cancellationToken);
        await curl.WaitForExitAsync(cancellationToken);
        if (curl.ExitCode != 0)
        {
            throw new InvalidOperationException($"curl failed ({curl.ExitCode}): {error}");
        }

        var parts = output.Trim().Split(' ');
        return new Curl(long.Parse(parts[0], CultureInfo.InvariantCulture), double.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    /// <summary>A network namespace behind a veth pair shaped to <see cref="Rate"/> both ways; false when it cannot be made.</summary>
    private static bool SetUpLink()
    {
        if (Environment.UserName != "root")
        {
            return false;
        }

        TearDownLink(); // left over from an interrupted run
        string[][] steps =
        [
            ["netns", "add", Namespace],
            ["link", "add", HostLink, "type", "veth", "peer", "name", NamespaceLink],
            ["link", "set", NamespaceLink, "netns", Namespace],
            ["addr", "add", HostAddress + "/24", "dev", HostLink],
            ["link", "set", HostLink, "up"],
            ["netns", "exec", Namespace, "ip", "addr", "add", NamespaceAddress + "/24", "dev", NamespaceLink],
            ["netns", "exec", Namespace, "ip", "link", "set", NamespaceLink, "up"],
            ["netns", "exec", Namespace, "ip", "link", "set", "lo", "up"],
            ["netns", "exec", Namespace, "ip", "route", "add", "default", "via", HostAddress], // the VMs' multicast goes out there
        ];
        try
        {
            foreach (var step in steps)
            {
                Run("ip", step);
            }

            Run("tc", "qdisc", "add", "dev", HostLink, "root", "tbf", "rate", Rate, "burst", "256kb", "latency", "50ms");
            Run("ip", "netns", "exec", Namespace, "tc", "qdisc", "add", "dev", NamespaceLink, "root", "tbf", "rate", Rate, "burst", "256kb", "latency", "50ms");
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine($"link set-up failed: {e.Message}");
            TearDownLink();
            return false;
        }
    }

    private static void TearDownLink()
    {
        // Deleting the namespace deletes its end of the pair, which takes the other end and both qdiscs with it.
        Run("tc", ["qdisc", "del", "dev", HostLink, "root"], check: false);
        Run("ip", ["link", "del", HostLink], check: false);
        Run("ip", ["netns", "del", Namespace], check: false);
    }

    private static void Run(string file, params string[] args) => Run(file, args, check: true);

    private static void Run(string file, string[] args, bool check)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start)!;
        var error = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (check && p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {error.Trim()}");
        }
    }

    private static string ReadText(string? path)
    {
        try
        {
            using var stream = new FileStream(path!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentNullException)
        {
            return string.Empty;
        }
    }

    /// <summary>Live (not zombie) QEMU processes whose command line names <paramref name="fragment"/>.</summary>
    private static List<int> QemuPids(string fragment)
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
                if (File.ReadAllText(Path.Combine(entry, "comm")).StartsWith("qemu", StringComparison.Ordinal)
                    && File.ReadAllText(Path.Combine(entry, "cmdline")).Contains(fragment, StringComparison.Ordinal)
                    && !File.ReadAllText(Path.Combine(entry, "stat")).Contains(") Z ", StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return found;
    }

    private static void Kill(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            p.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    private static long RssKb(int pid) => ProcKb(pid, "status", "VmRSS:");

    private static long PssKb(int pid) => ProcKb(pid, "smaps_rollup", "Pss:");

    private static long ProcKb(int pid, string file, string key)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/{file}").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
            return line == null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static long MemAvailableKb() =>
        long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    private static double LoadAverage() => double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    private static (double Median, double Min, double Max) Stats(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        if (sorted.Count == 0)
        {
            return (double.NaN, double.NaN, double.NaN);
        }

        var median = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
        return (median, sorted[0], sorted[^1]);
    }

    private sealed record Bare(double Ready, double Pid, double Powerdown);

    private sealed record Curl(long Bytes, double Seconds)
    {
        public double Mbits => Bytes * 8 / Seconds / 1e6;
    }

    /// <summary>One job, timed from just before its submission (seconds); null where not observed.</summary>
    private sealed record JobRun(long Id, int VNodes, double? FetchStart, double? FetchEnd, long FetchBytes, double? QemuStarted, double? AllConsoleReady, double Running, double? AgentReadyLog, double MemAvailableDeltaMiB, double RssMiB, double PssMiB)
    {
        public double? FetchSeconds => FetchEnd - FetchStart;

        public double? FetchMbits => FetchSeconds is > 0 ? FetchBytes * 8 / FetchSeconds / 1e6 : null;

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"job {Id} ({VNodes} VM): submit → Running {Running:0.00} s; QEMU pid file {QemuStarted:0.00} s, READY on console {AllConsoleReady:0.00} s, agent saw ready {AgentReadyLog:0.00} s")
            + (FetchEnd != null ? string.Create(CultureInfo.InvariantCulture, $"; fetch {FetchStart:0.00} → {FetchEnd:0.00} s = {FetchSeconds:0.00} s, {FetchMbits:0} Mbit/s") : string.Empty)
            + string.Create(CultureInfo.InvariantCulture, $"; QEMU RSS {RssMiB:0} MiB, PSS {PssMiB:0} MiB, MemAvailable −{MemAvailableDeltaMiB:0} MiB");
    }

    private sealed record Teardown(double Gone, double? Ended, int Vms)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"cancel → no QEMU {Gone:0.00} s, job ended (API) {Ended:0.00} s");
    }

    private sealed class Agent
    {
        public required Process Process { get; init; }

        public required string State { get; init; }

        public ConcurrentQueue<(double At, string Line)> Lines { get; } = new();

        public void Kill()
        {
            try
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    private sealed class Context(HeorotServer server, HttpClient client, string dll, string secretFile, string user, string directory, List<Agent> agents, CancellationToken cancellationToken)
    {
        /// <summary>Starts `heorot agent` (node b0, fresh state directory), in the namespace if given; returns once it synced.</summary>
        public async Task<Agent> StartAgentAsync(string label, string? netns, string serverUrl)
        {
            var state = Path.Combine(directory, "agent-" + label);
            var start = new ProcessStartInfo(netns == null ? "dotnet" : "ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            var args = new List<string>();
            if (netns != null)
            {
                args.AddRange(["netns", "exec", netns, "dotnet"]);
            }

            args.AddRange([dll, "agent", "--server", serverUrl, "--name", "b0", "--secret-file", secretFile, "--state", state, "--cores", "8", "--memory", "8192"]);
            foreach (var a in args)
            {
                start.ArgumentList.Add(a);
            }

            var syncs = server.Control.Syncs;
            var process = Process.Start(start)!;
            var agent = new Agent { Process = process, State = state };
            agents.Add(agent);
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data != null)
                {
                    agent.Lines.Enqueue((Now, e.Data));
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var t0 = Now;
            while (server.Control.Syncs <= syncs || server.Control.GetNode("b0")?.State != "Alive")
            {
                if (process.HasExited || Now - t0 > 60)
                {
                    throw new InvalidOperationException($"agent {label} did not sync: {string.Join('\n', agent.Lines.Select(l => l.Line))}");
                }

                await Task.Delay(20, cancellationToken);
            }

            await Task.Delay(500, cancellationToken); // its second loop (the long poll) settles
            return agent;
        }

        public async Task StopAgentAsync(Agent agent)
        {
            agent.Kill();
            agents.Remove(agent);
            await Task.Delay(200, cancellationToken);
        }

        /// <summary>Submits a VM job without a script and times it until Running, watching the agent's directories and the consoles.</summary>
        public async Task<JobRun> RunJobAsync(Agent agent, int vnodes, bool watchCache)
        {
            var memBefore = MemAvailableKb();
            var t0 = Now;
            long id;
            using (var r = await client.PostAsJsonAsync("v1/jobs", new SubmitRequest { Args = ["-l", $"/nodes=1/core={vnodes},walltime=0:10:00"], Image = "guest", VNodes = vnodes, User = user, WorkingDirectory = "/tmp" }, WireJson.Options, cancellationToken))
            {
                var body = await r.Content.ReadAsStringAsync(cancellationToken);
                if (!r.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"submit: {(int)r.StatusCode} {body}");
                }

                id = System.Text.Json.JsonSerializer.Deserialize<SubmitResponse>(body, WireJson.Options)!.Ids[0];
            }

            var jobDirectory = Path.Combine(agent.State, "vms", $"{id}.0");
            var cache = Path.Combine(agent.State, "images", "sha256");
            double? fetchStart = null, fetchEnd = null, qemu = null;
            long fetchBytes = 0;
            var ready = new double?[vnodes];
            var lastPoll = double.NegativeInfinity;
            while (true)
            {
                if (watchCache && fetchEnd == null && Directory.Exists(cache))
                {
                    var files = Directory.GetFiles(cache);
                    if (fetchStart == null && files.Length > 0)
                    {
                        fetchStart = Now - t0;
                    }

                    var done = files.Where(f => !Path.GetFileName(f).Contains('.', StringComparison.Ordinal)).ToList();
                    if (done.Count >= 2)
                    {
                        fetchEnd = Now - t0;
                        fetchBytes = done.Sum(f => new FileInfo(f).Length);
                    }
                }

                if (qemu == null && File.Exists(Path.Combine(jobDirectory, "vm0", QemuHypervisor.PidFileName)))
                {
                    qemu = Now - t0;
                }

                for (var k = 0; k < vnodes; k++)
                {
                    if (ready[k] == null && ReadText(Path.Combine(jobDirectory, $"vm{k}", QemuHypervisor.ConsoleLogName)).Contains(Ready, StringComparison.Ordinal))
                    {
                        ready[k] = Now - t0;
                    }
                }

                // The API only every 200 ms until every console is ready, then every 10 ms: the bench's own polling
                // should load a VM job's boot no more than the bare boot's (which reads its console every 10 ms).
                if (ready.All(r => r != null) || Now - lastPoll >= 0.2)
                {
                    lastPoll = Now;
                    var job = await client.GetFromJsonAsync<JobView>($"v1/jobs/{id}", WireJson.Options, cancellationToken);
                    if (job!.State == "Running")
                    {
                        break;
                    }

                    if (job.State is "Error" or "Terminated" or "Cancelled")
                    {
                        throw new InvalidOperationException($"job {id}: {job.State}: {job.Reason}");
                    }

                    if (Now - t0 > 300)
                    {
                        throw new TimeoutException($"job {id} not Running after 300 s ({job.State})");
                    }
                }

                await Task.Delay(10, cancellationToken);
            }

            var running = Now - t0;
            var memAfter = MemAvailableKb();
            var pids = QemuPids(jobDirectory + "/");
            var rss = pids.Sum(RssKb);
            var pss = pids.Sum(PssKb);
            var prefix = $"job {id}: ";
            var agentReady = agent.Lines.Where(l => l.Line.Contains(prefix, StringComparison.Ordinal) && l.Line.Contains(" ready after ", StringComparison.Ordinal)).Select(l => l.At - t0).DefaultIfEmpty(double.NaN).Max();
            return new JobRun(id, vnodes, fetchStart, fetchEnd, fetchBytes, qemu, ready.All(r => r != null) ? ready.Max() : null, running, double.IsNaN(agentReady) ? null : agentReady, (memBefore - memAfter) / 1024.0, rss / 1024.0, pss / 1024.0);
        }

        /// <summary>Cancels the job; times until none of its QEMUs is left and until the API shows it ended.</summary>
        public async Task<Teardown> CancelAsync(long id, Agent agent)
        {
            var jobDirectory = Path.Combine(agent.State, "vms", $"{id}.0") + "/";
            var vms = QemuPids(jobDirectory).Count;
            var t0 = Now;
            (await client.DeleteAsync($"v1/jobs/{id}", cancellationToken)).EnsureSuccessStatusCode();
            double? gone = null, ended = null;
            while (gone == null || ended == null)
            {
                if (gone == null && QemuPids(jobDirectory).Count == 0)
                {
                    gone = Now - t0;
                }

                if (ended == null && (await client.GetFromJsonAsync<JobView>($"v1/jobs/{id}", WireJson.Options, cancellationToken))!.State is "Terminated" or "Error" or "Cancelled")
                {
                    ended = Now - t0;
                }

                if (Now - t0 > 90)
                {
                    Console.WriteLine($"  job {id}: teardown incomplete after 90 s (QEMU gone: {gone != null}, ended: {ended != null})");
                    break;
                }

                await Task.Delay(20, cancellationToken);
            }

            return new Teardown(gone ?? double.NaN, ended, vms);
        }
    }

    private sealed class Report
    {
        public List<Bare> Bare { get; } = [];

        public List<JobRun> Warm { get; } = [];

        public List<JobRun> ColdLoopback { get; } = [];

        public List<JobRun> ColdLink { get; } = [];

        public List<Curl> Curl { get; } = [];

        public List<Curl> CurlLoopback { get; } = [];

        public List<Teardown> Teardown { get; } = [];

        public List<JobRun> PerNode { get; } = [];

        public List<Teardown> PerNodeTeardown { get; } = [];

        public void Print(long imageBytes, List<double> loads)
        {
            static string F(double v, string format = "0.00") => double.IsNaN(v) ? "—" : v.ToString(format, CultureInfo.InvariantCulture);
            static string Row(string what, IEnumerable<double> values, string unit = "s", string format = "0.00")
            {
                var list = values.ToList();
                var (median, min, max) = Stats(list);
                return $"| {what} | {list.Count} | {F(median, format)} {unit} | {F(min, format)} | {F(max, format)} |";
            }

            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"load average (1 min) during the runs: {loads.Min():0.0}–{loads.Max():0.0}, median {Stats(loads).Median:0.0}; image {imageBytes / 1e6:0.0} MB"));
            Console.WriteLine();
            Console.WriteLine("| measure | runs | median | min | max |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
            Console.WriteLine(Row("bare boot: launch → HEOROT-READY", Bare.Select(b => b.Ready)));
            Console.WriteLine(Row("bare boot: QEMU pid file → HEOROT-READY", Bare.Select(b => b.Ready - b.Pid)));
            Console.WriteLine(Row("warm cache: submit → Running", Warm.Select(r => r.Running)));
            Console.WriteLine(Row("  submit → QEMU pid file (schedule, dispatch, cache lease, seed)", Warm.Select(r => r.QemuStarted ?? double.NaN)));
            Console.WriteLine(Row("  QEMU pid file → HEOROT-READY (boot)", Warm.Select(r => (r.AllConsoleReady - r.QemuStarted) ?? double.NaN)));
            Console.WriteLine(Row("  HEOROT-READY → agent logs ready", Warm.Select(r => (r.AgentReadyLog - r.AllConsoleReady) ?? double.NaN)));
            Console.WriteLine(Row("  agent logs ready → Running in the API", Warm.Select(r => (r.Running - r.AgentReadyLog) ?? double.NaN)));
            Console.WriteLine(Row("  Heorot's part: (submit → QEMU pid file) + (HEOROT-READY → Running)", Warm.Select(r => (r.QemuStarted + r.Running - r.AllConsoleReady) ?? double.NaN)));
            var bare = Stats(Bare.Select(b => b.Ready)).Median;
            var warm = Stats(Warm.Select(r => r.Running)).Median;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| overhead (warm median − bare median) | — | {warm - bare:0.00} s ({(warm - bare) / bare * 100:0.0} %) | | |"));
            var pairs = Bare.Zip(Warm, (b, w) => w.Running - b.Ready).ToList();
            Console.WriteLine(Row("overhead per alternated pair (warm − bare)", pairs));
            Console.WriteLine(Row("cold cache, loopback: submit → Running", ColdLoopback.Select(r => r.Running)));
            Console.WriteLine(Row("  fetch (first partial → both blobs verified)", ColdLoopback.Select(r => r.FetchSeconds ?? double.NaN)));
            Console.WriteLine(Row("  fetch throughput", ColdLoopback.Select(r => r.FetchMbits ?? double.NaN), "Mbit/s", "0"));
            Console.WriteLine(Row("  loopback: curl of vmlinux (same endpoint)", CurlLoopback.Select(c => c.Mbits), "Mbit/s", "0"));
            if (Curl.Count > 0)
            {
                Console.WriteLine(Row($"link ({Rate} tbf veth): curl of vmlinux", Curl.Select(c => c.Mbits), "Mbit/s", "0"));
                Console.WriteLine(Row("link: agent cold fetch throughput", ColdLink.Select(r => r.FetchMbits ?? double.NaN), "Mbit/s", "0"));
                Console.WriteLine(Row("link: agent cold fetch time", ColdLink.Select(r => r.FetchSeconds ?? double.NaN)));
                Console.WriteLine(Row("link: cold submit → Running", ColdLink.Select(r => r.Running)));
                var share = Stats(ColdLink.Select(r => r.FetchMbits ?? double.NaN)).Median / Stats(Curl.Select(c => c.Mbits)).Median;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| link: agent fetch / curl (medians) | — | {share * 100:0.0} % | | |"));
            }

            Console.WriteLine(Row("bare: ACPI power-down of a ready guest → QEMU gone", Bare.Select(b => b.Powerdown)));
            Console.WriteLine(Row("teardown: cancel → no QEMU left (1 VM)", Teardown.Select(t => t.Gone)));
            Console.WriteLine(Row("teardown: cancel → job ended in the API (1 VM)", Teardown.Select(t => t.Ended ?? double.NaN)));
            Console.WriteLine();
            Console.WriteLine("| VMs on the node | submit → Running s | QEMU pid file → last READY s | QEMU RSS per VM MiB | QEMU PSS per VM MiB | MemAvailable drop per VM MiB | cancel → no QEMU s |");
            Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var (run, teardown) in PerNode.Zip(PerNodeTeardown))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {run.VNodes} | {run.Running:0.00} | {(run.AllConsoleReady - run.QemuStarted):0.00} | {run.RssMiB / run.VNodes:0} | {run.PssMiB / run.VNodes:0} | {run.MemAvailableDeltaMiB / run.VNodes:0} | {teardown.Gone:0.00} |"));
            }
        }
    }
}
