using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Heorot.Agent.Images;
using Heorot.Agent.Sessions;
using Heorot.Agent.Vms;
using Heorot.Drivers.Hypervisor;
using Heorot.Protocol;
using Heorot.Protocol.Hooks;
using Heorot.Protocol.Sessions;
using Heorot.Protocol.Unix;

namespace Heorot.Agent;

/// <summary>
/// The node agent. It opens the connection (so it works through NAT): every sync carries its resources and the
/// phase of every attempt it holds, and brings back the node's whole desired state, which it reconciles —
/// start what is assigned and new, run what is prepared and now wanted, clean up what is no longer wanted.
/// Records are written before each step, so a restarted agent resumes without launching anything twice.
/// </summary>
public sealed class NodeAgent : IDisposable
{
    private readonly AgentOptions options;
    private readonly HttpClient http;
    private readonly JobLauncher launcher;
    private readonly ConcurrentDictionary<JobAttempt, LocalJobRecord> jobs = new();
    private readonly ConcurrentDictionary<JobAttempt, Task> steps = new();
    private readonly Dictionary<JobAttempt, LogOffsets> offsets = [];
    private readonly HashSet<long> signalsDone = [];
    private readonly HashSet<string> sessionsStarted = [];
    private readonly Lazy<VmRunner> vms;
    private CancellationToken stopping;
    private readonly DateTimeOffset started = DateTimeOffset.UtcNow;
    private readonly Action<string> log;
    private readonly Lock recordGate = new();
    private readonly Lock applyGate = new();
    private long appliedGeneration;
    private long serial;
    private readonly Lazy<int> detectedGpus = new(AgentOptions.DetectGpus);
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int heartbeatMs = 10_000;
    private HealthReport? health;
    private int graceSeconds = 10;

    public NodeAgent(AgentOptions options, Action<string>? log = null)
    {
        this.options = options;
        this.log = log ?? (_ => { });
        http = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = options.Server,
            Timeout = TimeSpan.FromSeconds(90),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Agent", options.Secret);
        launcher = new JobLauncher(options.Name, options.StateDirectory);
        vms = new Lazy<VmRunner>(() => new VmRunner(
            options,
            new QemuHypervisor(),
            new ImageCache(options.ImageCacheDirectory ?? Path.Combine(options.StateDirectory, "images"), options.ImageCacheBytes, http, TimeProvider.System),
            this.log));
        Directory.CreateDirectory(Path.Combine(options.StateDirectory, "jobs"));
        Directory.CreateDirectory(Path.Combine(options.StateDirectory, "work"));
    }

    /// <summary>Syncs made so far.</summary>
    public long Syncs { get; private set; }

    public void Dispose() => http.Dispose();

    /// <summary>
    /// Two loops share the connection pool: a long poll that brings the server's changes as they happen, and a
    /// reporter that sends local changes at once (without waiting). Answers carry the server's generation: an
    /// older answer than one already applied is dropped, so the two loops never undo each other.
    /// </summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        this.stopping = stopping;
        Load();
        await Task.WhenAll(LoopAsync(poll: true, stopping), LoopAsync(poll: false, stopping));
    }

    private async Task LoopAsync(bool poll, CancellationToken stopping)
    {
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (!poll)
                {
                    // Wait for a local change; a fresh signal first, so a change made while reporting is not lost.
                    await Volatile.Read(ref changed).Task.WaitAsync(stopping);
                    Interlocked.Exchange(ref changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                }

                Check();
                var request = BuildSync(poll);
                var response = await SendAsync(request, stopping);
                failures = 0;
                Apply(response);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // the agent must outlive any failed sync or step: it logs and retries
            catch (Exception e)
#pragma warning restore CA1031
            {
                failures++;
                log($"{(poll ? "sync" : "report")} failed ({failures}): {e.Message}");
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 200 * failures)), stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                Changed(); // report again once the server is back
            }
        }
    }

    private async Task<SyncResponse> SendAsync(SyncRequest request, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("agent/v1/sync", request, WireJson.Options, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new AgentRefusedException($"the server refused the sync: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        return await response.Content.ReadFromJsonAsync<SyncResponse>(WireJson.Options, cancellationToken)
            ?? throw new JsonException("empty sync response");
    }

    private void Load()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(options.StateDirectory, "jobs"), "*.json"))
        {
            try
            {
                var record = JsonSerializer.Deserialize<LocalJobRecord>(File.ReadAllText(file), WireJson.Options);
                if (record != null)
                {
                    jobs[new JobAttempt(record.Spec.JobId, record.Spec.Attempt)] = record;
                }
            }
            catch (JsonException)
            {
                log($"{file}: unreadable record, ignored");
            }
        }

        // Steps interrupted by the restart resume: a prolog is run again, a cleanup is finished.
        foreach (var (key, record) in jobs)
        {
            if (record.Phase == AgentPhase.Preparing)
            {
                Step(key, () => PrepareAsync(key, run: false));
            }
            else if (record.Phase == AgentPhase.Cleaning)
            {
                Step(key, () => CleanupAsync(key));
            }
            else if (record.Spec.Vm is { } vm && record.Phase is AgentPhase.Prepared or AgentPhase.Running or AgentPhase.Exited)
            {
                // The VMs outlived the agent: their image is leased again so the cache never evicts it under them.
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await vms.Value.AcquireAsync(key, vm, CancellationToken.None);
                    }
                    catch (ImageCacheException e)
                    {
                        log($"job {key.JobId}: cannot lease its image again: {e.Message}");
                    }
                });
            }
        }
    }

    private SyncRequest BuildSync(bool poll)
    {
        var statuses = new List<AgentJobStatus>();
        var anyActive = false;
        foreach (var (key, record) in jobs)
        {
            var paths = Paths(key);
            offsets.TryGetValue(key, out var known);
            statuses.Add(new AgentJobStatus
            {
                JobId = key.JobId,
                Attempt = key.Attempt,
                Phase = record.Phase,
                ExitCode = record.ExitCode,
                Reason = record.Reason,
                StartTime = record.StartTime,
                EndTime = record.EndTime,
                EpilogFailed = record.EpilogFailed,
                Busy = steps.ContainsKey(key),
                Stdout = known == null ? null : Chunk(paths.Stdout, known.Stdout),
                Stderr = known == null ? null : Chunk(paths.Stderr, known.Stderr),
            });
            anyActive |= record.Phase is AgentPhase.Running or AgentPhase.Preparing or AgentPhase.Cleaning or AgentPhase.Exited;
        }

        return new SyncRequest
        {
            Node = options.Name,
            Cores = options.Cores ?? AgentOptions.DetectCores(),
            MemoryMb = options.MemoryMb ?? AgentOptions.DetectMemoryMb(),
            Gpus = options.Gpus ?? detectedGpus.Value,
            Properties = options.Properties,
            AgentStart = started,
            Jobs = statuses,
            Serial = Interlocked.Increment(ref serial),
            Health = Volatile.Read(ref health),

            // The poll comes back every second while jobs run (their output), else waits for orders; a report never waits.
            WaitMilliseconds = !poll ? 0 : anyActive ? 1000 : heartbeatMs,
        };
    }

    private LogChunk? Chunk(string path, long offset)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (file.Length <= offset)
            {
                return null;
            }

            file.Seek(offset, SeekOrigin.Begin);
            var buffer = new byte[(int)Math.Min(options.MaxLogChunk, file.Length - offset)];
            file.ReadExactly(buffer);
            return new LogChunk(offset, buffer);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Opens an interactive session in a running job; failures reach the user through the session.</summary>
    private void OpenSession(SessionOrder order)
    {
        var key = new JobAttempt(order.JobId, order.Attempt);
        Process Start(Pty pty)
        {
            if (!jobs.TryGetValue(key, out var record) || record.Phase != AgentPhase.Running)
            {
                throw new InvalidOperationException($"job {order.JobId} is not running on {options.Name}");
            }

            var account = UnixAccounts.ByName(record.Spec.User) ?? throw new InvalidOperationException($"user {record.Spec.User} does not exist on {options.Name}");
            return launcher.StartSession(record.Spec, account, Paths(key), options.Name, pty, order.Term, null);
        }

        _ = Task.Run(async () =>
        {
            try
            {
                if (order.Vm is { } vm)
                {
                    var run = vms.Value.RunDirectory(key, vm);
                    await VmConsoleSession.RunAsync(options, order, Path.Combine(run, QemuHypervisor.ShellSocketName), Path.Combine(run, QemuHypervisor.AgentSocketName), log, stopping);
                    return;
                }

                await ShellSession.RunAsync(options, order, Start, stopping);
            }
#pragma warning disable CA1031 // a failed session must not take the agent down
            catch (Exception e)
#pragma warning restore CA1031
            {
                log($"session {order.SessionId} for job {order.JobId} failed: {e.Message}");
            }
        });
    }

    private void Apply(SyncResponse response)
    {
        lock (applyGate)
        {
            if (response.Generation < appliedGeneration)
            {
                return; // an older picture than one already applied
            }

            appliedGeneration = response.Generation;
            ApplyLocked(response);
        }
    }

    private void ApplyLocked(SyncResponse response)
    {
        heartbeatMs = Math.Clamp(response.HeartbeatMilliseconds, 100, 60_000);
        graceSeconds = Math.Max(0, response.GraceSeconds);
        offsets.Clear();
        foreach (var entry in response.Logs)
        {
            offsets[new JobAttempt(entry.JobId, entry.Attempt)] = entry;
        }

        foreach (var key in response.Forget)
        {
            if (jobs.TryGetValue(key, out var record) && record.Phase == AgentPhase.Cleaned && !steps.ContainsKey(key))
            {
                Forget(key);
            }
        }

        var wanted = new HashSet<JobAttempt>();
        foreach (var assignment in response.Assignments)
        {
            var key = new JobAttempt(assignment.Spec.JobId, assignment.Spec.Attempt);
            wanted.Add(key);
            if (!jobs.TryGetValue(key, out var record))
            {
                if (assignment.Action == DesiredAction.Keep)
                {
                    continue; // started elsewhere or lost here: never start an attempt late
                }

                record = new LocalJobRecord { Spec = assignment.Spec };
                Save(key, record);
                var run = assignment.Action == DesiredAction.Run;
                Step(key, () => PrepareAsync(key, run));
                continue;
            }

            if (record.Spec.WalltimeSeconds != assignment.Spec.WalltimeSeconds)
            {
                Save(key, record = record with { Spec = record.Spec with { WalltimeSeconds = assignment.Spec.WalltimeSeconds } });
            }

            if (assignment.Action == DesiredAction.Run && record.Phase == AgentPhase.Prepared && !record.Launched)
            {
                Step(key, () => LaunchAsync(key));
            }
        }

        foreach (var order in response.Signals)
        {
            var key = new JobAttempt(order.JobId, order.Attempt);
            if (signalsDone.Add(order.Serial) && jobs.TryGetValue(key, out var record) && record.Phase == AgentPhase.Running && Signals.TryParse(order.Signal, out var signal))
            {
                launcher.Signal(record, Paths(key), signal);
            }
        }

        foreach (var order in response.Sessions)
        {
            if (sessionsStarted.Add(order.SessionId))
            {
                OpenSession(order);
            }
        }

        foreach (var (key, record) in jobs)
        {
            if (!wanted.Contains(key) && record.Phase is not (AgentPhase.Cleaning or AgentPhase.Cleaned))
            {
                Step(key, () => CleanupAsync(key));
            }
        }
    }

    /// <summary>Runs one step of an attempt at a time; a step already running is not started again.</summary>
    private void Step(JobAttempt key, Func<Task> step)
    {
        var task = new Task<Task>(step);
        if (!steps.TryAdd(key, task.Unwrap()))
        {
            return;
        }

        task.Unwrap().ContinueWith(
            t =>
            {
                if (t.Exception != null)
                {
                    log($"job {key.JobId}.{key.Attempt}: {t.Exception.GetBaseException().Message}");
                }

                steps.TryRemove(key, out _);
                Changed();
            },
            TaskScheduler.Default);
        task.Start(TaskScheduler.Default);
    }

    private async Task PrepareAsync(JobAttempt key, bool run)
    {
        var record = jobs[key];
        var result = options.Prolog == null ? HookResult.None : await HookRunner.RunAsync(options.Prolog, HookEnvironment(record, "prolog"), options.HookTimeout);
        if (!result.Ok)
        {
            Save(key, record with { Phase = AgentPhase.PrologFailed, Reason = result.Output });
            return;
        }

        if (record.Spec.Vm != null)
        {
            // The user's code runs in the VMs: no account or directory of theirs is needed on the host.
            if (await vms.Value.StartAsync(key, record.Spec, stopping) is { } failure)
            {
                Save(key, record with { Phase = AgentPhase.Failed, Reason = failure });
                return;
            }
        }
        else if (launcher.Check(record.Spec, out _) is { } problem)
        {
            Save(key, record with { Phase = AgentPhase.Failed, Reason = problem });
            return;
        }

        if (run)
        {
            // The script starts at once: the Launched record written next is the one that matters.
            Remember(key, record with { Phase = AgentPhase.Prepared });
            await LaunchAsync(key);
            return;
        }

        Save(key, record with { Phase = AgentPhase.Prepared });
    }

    private Task LaunchAsync(JobAttempt key)
    {
        var record = jobs[key];
        if (record.Launched || record.Phase != AgentPhase.Prepared)
        {
            return Task.CompletedTask;
        }

        if (record.Spec.Vm != null)
        {
            return LaunchInVmAsync(key, record);
        }

        if (launcher.Check(record.Spec, out var account) is { } problem)
        {
            Save(key, record with { Phase = AgentPhase.Failed, Reason = problem });
            return Task.CompletedTask;
        }

        // Recorded as launched before the start: after a crash here the attempt is lost, never started twice.
        Save(key, record = record with { Launched = true, Phase = AgentPhase.Running, StartTime = DateTimeOffset.UtcNow });
        var pid = launcher.Start(record.Spec, account!, Paths(key), options.Name, Check); // the wrapper's end is noticed at once
        Save(key, record with { WrapperPid = pid });
        return Task.CompletedTask;
    }

    /// <summary>A VM job's script runs in its first VM, through a vm-exec process in the job's place.</summary>
    private async Task LaunchInVmAsync(JobAttempt key, LocalJobRecord record)
    {
        var vm = record.Spec.Vm!;
        if (options.SelfCommand == null || vm.Vms.Count == 0)
        {
            Save(key, record with { Phase = AgentPhase.Failed, Reason = "this agent cannot run a VM job's script (it does not know its own command)" });
            return;
        }

        var paths = Paths(key);
        Directory.CreateDirectory(paths.WorkDirectory);
        var request = Path.Combine(paths.WorkDirectory, "vm-exec.json");
        var environment = new Dictionary<string, string>(record.Spec.Environment)
        {
            ["HEOROT_JOB_ID"] = record.Spec.JobId.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_ATTEMPT"] = record.Spec.Attempt.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_JOB_NAME"] = record.Spec.Name ?? string.Empty,
            ["HEOROT_WALLTIME"] = record.Spec.WalltimeSeconds.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_HOSTS"] = string.Join(",", record.Spec.Nodes),
        };
        await File.WriteAllTextAsync(request, JsonSerializer.Serialize(
            new VmExecRequest
            {
                Channel = Path.Combine(vms.Value.RunDirectory(key, vm.Vms[0].Name), QemuHypervisor.AgentSocketName),
                User = record.Spec.User,
                JobId = record.Spec.JobId,
                Script = paths.Script,
                Hold = record.Spec.Script.Length == 0,
                Vms = vm.Vms.Select(v => v.Name).ToList(),
                Environment = environment,
            },
            WireJson.Options));
        Save(key, record = record with { Launched = true, Phase = AgentPhase.Running, StartTime = DateTimeOffset.UtcNow });
        var pid = launcher.StartHost(record.Spec, paths, [.. options.SelfCommand, "vm-exec", request], Check);
        Save(key, record with { WrapperPid = pid });
    }

    private async Task CleanupAsync(JobAttempt key)
    {
        var record = jobs[key];
        var paths = Paths(key);
        // In memory only: after a crash here the attempt is still unwanted and its cleanup simply runs again.
        Remember(key, record = record with { Phase = AgentPhase.Cleaning });
        if (record.Launched)
        {
            if (JobLauncher.ExitStatus(paths) == null || launcher.AnyLeft(record, paths))
            {
                log($"job {key.JobId}.{key.Attempt}: stopping its processes");
                launcher.Signal(record, paths, Signals.Terminate);
                var deadline = DateTimeOffset.UtcNow.AddSeconds(graceSeconds);
                while (DateTimeOffset.UtcNow < deadline && launcher.AnyLeft(record, paths))
                {
                    await Task.Delay(50);
                }

                launcher.Signal(record, paths, Signals.Kill);
                for (var i = 0; i < 100 && launcher.AnyLeft(record, paths); i++)
                {
                    await Task.Delay(20);
                }
            }

            for (var i = 0; i < 100 && JobLauncher.ExitStatus(paths) == null && record.WrapperPid is { } w && Signals.Exists(w); i++)
            {
                await Task.Delay(20);
            }

            launcher.Release(paths);
            record = record with { ExitCode = record.ExitCode ?? JobLauncher.ExitStatus(paths), EndTime = record.EndTime ?? DateTimeOffset.UtcNow };
        }

        string? left = null;
        if (record.Spec.Vm != null)
        {
            left = await vms.Value.StopAsync(key, CancellationToken.None);
        }

        var result = options.Epilog == null ? HookResult.None : await HookRunner.RunAsync(options.Epilog, HookEnvironment(record, "epilog"), options.HookTimeout);
        Save(key, record with
        {
            Phase = AgentPhase.Cleaned,
            EpilogFailed = !result.Ok || left != null,
            Reason = left ?? (result.Ok ? record.Reason : result.Output),
        });
    }

    /// <summary>Notices ended jobs and enforces walltimes; runs before every sync and on a timer.</summary>
    private void Check()
    {
        lock (recordGate)
        {
            CheckLocked();
        }
    }

    private void CheckLocked()
    {
        foreach (var (key, record) in jobs)
        {
            if (record.Phase != AgentPhase.Running || steps.ContainsKey(key))
            {
                continue;
            }

            var paths = Paths(key);
            if (JobLauncher.ExitStatus(paths) is { } code)
            {
                log($"job {key.JobId}.{key.Attempt}: its process ended, exit status {code}");
                Save(key, record with { Phase = AgentPhase.Exited, ExitCode = code, EndTime = DateTimeOffset.UtcNow });

                continue;
            }

            if (record.WrapperPid is { } wrapper && !Signals.Exists(wrapper) && JobLauncher.ExitStatus(paths) == null)
            {
                Save(key, record with { Phase = AgentPhase.Exited, Reason = "the job's wrapper vanished (node rebooted?)", EndTime = DateTimeOffset.UtcNow });
                continue;
            }

            var now = DateTimeOffset.UtcNow;
            if (record.StartTime is { } start && now > start.AddSeconds(record.Spec.WalltimeSeconds))
            {
                if (record.TerminateSent == null)
                {
                    launcher.Signal(record, paths, Signals.Terminate);
                    Save(key, record with { TerminateSent = now, Reason = $"walltime of {record.Spec.WalltimeSeconds} s exceeded" });
                }
                else if (now > record.TerminateSent.Value.AddSeconds(graceSeconds))
                {
                    launcher.Signal(record, paths, Signals.Kill);
                }
            }
        }
    }

    /// <summary>
    /// Runs the operator's health check now and every interval; a changed verdict is reported at once (the server
    /// makes a failing node Suspected and heals it when the check passes again).
    /// </summary>
    public async Task RunHealthAsync(CancellationToken stopping)
    {
        if (options.HealthCheck is not { } check)
        {
            return;
        }

        while (!stopping.IsCancellationRequested)
        {
            HookResult result;
            try
            {
                result = await HookRunner.RunAsync(check, new Dictionary<string, string>
                {
                    ["HEOROT_NODE"] = options.Name,
                    ["HEOROT_HOOK"] = "health-check",
                    ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                }, options.HookTimeout, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var previous = Volatile.Read(ref health);
            var output = result.Output.Length > 2000 ? result.Output[^2000..] : result.Output;
            Volatile.Write(ref health, new HealthReport(result.Ok, output.Trim(), DateTimeOffset.UtcNow));
            if (previous == null || previous.Ok != result.Ok)
            {
                log($"health check {(result.Ok ? "passed" : "failed: " + output.Trim())}");
                Changed();
            }

            try
            {
                await Task.Delay(options.HealthInterval, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Checks running jobs every 200 ms and wakes the sync loop when one ends.</summary>
    public async Task RunWatcherAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(200));
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                Check();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private Dictionary<string, string> HookEnvironment(LocalJobRecord record, string phase)
    {
        var key = new JobAttempt(record.Spec.JobId, record.Spec.Attempt);
        var paths = Paths(key);
        File.WriteAllLines(paths.NodeFile, record.Spec.Nodes);
        return new Dictionary<string, string>
        {
            ["HEOROT_JOB_ID"] = record.Spec.JobId.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_ATTEMPT"] = record.Spec.Attempt.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_USER"] = record.Spec.User,
            ["HEOROT_JOB_NAME"] = record.Spec.Name ?? string.Empty,
            ["HEOROT_NODES"] = string.Join(",", record.Spec.Nodes),
            ["HEOROT_NODEFILE"] = paths.NodeFile,
            ["HEOROT_NODE"] = options.Name,
            ["HEOROT_CORES"] = record.Spec.Cores.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_WALLTIME"] = record.Spec.WalltimeSeconds.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_EXIT_CODE"] = record.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? string.Empty,
            ["HEOROT_HOOK"] = "node-" + phase,
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        };
    }

    private LocalJobPaths Paths(JobAttempt key) => new(options.StateDirectory, key.JobId, key.Attempt);

    private void Save(JobAttempt key, LocalJobRecord record)
    {
        lock (recordGate)
        {
            LocalJobPaths.Save(Paths(key).Record, record);
            jobs[key] = record;
        }

        Changed();
    }

    /// <summary>Changes the record in memory only, for states that need not survive a restart.</summary>
    private void Remember(JobAttempt key, LocalJobRecord record)
    {
        lock (recordGate)
        {
            jobs[key] = record;
        }
    }

    private void Forget(JobAttempt key)
    {
        var paths = Paths(key);
        jobs.TryRemove(key, out _);
        File.Delete(paths.Record);
        File.Delete(paths.ExitFile);
        File.Delete(paths.ExitFile + ".tmp");
        File.Delete(paths.NodeFile);
        if (Directory.Exists(paths.WorkDirectory))
        {
            Directory.Delete(paths.WorkDirectory, recursive: true);
        }
    }

    private void Changed() => Volatile.Read(ref changed).TrySetResult();
}

/// <summary>The server answered a sync with an error status.</summary>
public sealed class AgentRefusedException : Exception
{
    public AgentRefusedException()
    {
    }

    public AgentRefusedException(string message)
        : base(message)
    {
    }

    public AgentRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
