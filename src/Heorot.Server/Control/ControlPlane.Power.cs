using System.Collections.Concurrent;
using System.Diagnostics;
using Heorot.Drivers.Power;
using Heorot.Model.Lifecycle;
using Heorot.Model.Resources;
using Heorot.Protocol;
using Heorot.Scheduling.Live;
using Heorot.Server.Api;
using Heorot.Server.Identity;
using Heorot.Server.Power;
using Heorot.Storage;
using Microsoft.Extensions.Logging;
using DriverPowerState = Heorot.Drivers.Power.PowerState;

namespace Heorot.Server.Control;

/// <summary>
/// Power and elasticity (issue 5): the nodes Heorot powers through their BMCs, operator power commands over node
/// sets, and the elastic manager, which powers nodes on early enough for the work the plan puts on them and off
/// when they idle and are not needed soon. Every power change is a transition of <see cref="PowerLifecycle"/>
/// journalled with its event; a BMC that fails or hangs makes its node Suspected, so planned work goes elsewhere.
/// </summary>
public sealed partial class ControlPlane
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> powerGates = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<long> powerActions = new();
    private IReadOnlyDictionary<string, IPowerDriver> powerDrivers = new Dictionary<string, IPowerDriver>(StringComparer.Ordinal);

    /// <summary>The power file's settings (null: no node is power-managed).</summary>
    public PowerConfig? PowerConfig { get; private set; }

    /// <summary>Elastic ticks run so far (for tests).</summary>
    public long ElasticTicks { get; private set; }

    /// <summary>
    /// Takes the power-managed nodes and their drivers; nodes never registered get an entry (their resources
    /// are learned at their first boot), and every node's power is read from its BMC.
    /// </summary>
    public async Task UsePowerAsync(PowerConfig config, IReadOnlyDictionary<string, IPowerDriver> drivers, CancellationToken cancellationToken)
    {
        PowerConfig = config;
        powerDrivers = drivers;
        OpenConsoles(config);
        foreach (var (name, driver) in drivers)
        {
            // A node never registered gets the heartbeat timeout from now, like any node after a server start.
            var node = nodes.GetOrAdd(name, n => new NodeEntry(n) { LastSeen = Now, StateSince = Now });
            NodeDescription description;
            NodeState state;
            lock (node.Gate)
            {
                description = node.Description;
                state = node.State;
            }

            NodePowerState power;
            try
            {
                power = await CallAsync(driver, ct => driver.GetStateAsync(ct), cancellationToken) switch
                {
                    DriverPowerState.On => description.Power is NodePowerState.PoweringOn ? NodePowerState.PoweringOn : NodePowerState.On,
                    DriverPowerState.Off => NodePowerState.Off,
                    _ => description.Power ?? NodePowerState.Off,
                };
            }
            catch (PowerException e)
            {
                LogPowerFailed(logger, name, "status", e.Message);
                power = description.Power ?? NodePowerState.Off;
            }

            // A node never registered whose entry declares its resources is planned on before its first boot.
            var declared = (description.Cores == 0 || description.Declared) && config.Nodes.TryGetValue(name, out var settings) ? PowerConfig.DeclaredResources(settings) : null;
            if (declared is (var declaredCores, var declaredMemory) && description.Declared && (description.Cores, description.MemoryMb) == (declaredCores, declaredMemory))
            {
                declared = null; // as stored
            }

            if (description.Power != power || declared != null)
            {
                var reason = description.Power == null ? $"power-managed by its {driver.Kind} BMC: {power}" : $"the BMC reports {power} at start";
                if (declared is (var cores, var memory))
                {
                    reason += $"; declared {cores} cores, {memory} MiB until its agent registers";
                    description = description with { Cores = cores, MemoryMb = memory, Declared = true };
                }

                await SaveNodeAsync(node, state, description with { Power = power, PowerSince = Now }, new NewEvent(Now, "server", "node.power", $"node/{name}", reason, "{}"), resourcesChanged: declared != null, cancellationToken);
            }
        }

        Interlocked.Increment(ref nodeVersion);
        WantSchedule();
    }

    // ---------------------------------------------------------------- operator commands

    /// <summary>
    /// Runs an operator's power command on a node set, at most <see cref="PowerRequest.Window"/> BMCs at once,
    /// reporting each node's result as it completes.
    /// </summary>
    public async Task PowerCommandAsync(Caller caller, PowerRequest request, Func<PowerResult, Task> report, CancellationToken cancellationToken)
    {
        if (!caller.IsOperator)
        {
            throw ApiException.Forbidden("only operators may control node power");
        }

        var action = request.Action switch
        {
            "on" => (PowerAction?)PowerAction.On,
            "off" => PowerAction.Off,
            "soft" => PowerAction.SoftOff,
            "cycle" => PowerAction.Cycle,
            "reset" => PowerAction.Reset,
            "status" => null,
            _ => throw ApiException.BadInput("action", $"unknown power action '{request.Action}': expected on, off, soft, cycle, reset or status"),
        };
        List<string> names;
        try
        {
            names = NodeSet.Expand(request.Nodes).Distinct(StringComparer.Ordinal).ToList();
        }
        catch (NodeSetException e)
        {
            throw ApiException.BadInput("nodes", e.Message);
        }

        if (names.Count == 0)
        {
            throw ApiException.BadInput("nodes", "name at least one node");
        }

        var window = Math.Clamp(request.Window ?? PowerConfig?.Window ?? 8, 1, 1024);
        using var slots = new SemaphoreSlim(window, window);
        var reason = request.Reason ?? $"{request.Action} by {caller.User}";
        await Task.WhenAll(names.Select(async name =>
        {
            await slots.WaitAsync(cancellationToken);
            try
            {
                await report(await PowerOneAsync(name, action, request.Force, caller.User, reason, cancellationToken));
            }
            finally
            {
                slots.Release();
            }
        }));
    }

    private async Task<PowerResult> PowerOneAsync(string name, PowerAction? action, bool force, string actor, string reason, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        if (!powerDrivers.TryGetValue(name, out var driver) || !nodes.TryGetValue(name, out var node))
        {
            return new PowerResult { Node = name, Code = "no_driver", Error = nodes.ContainsKey(name) ? "Heorot does not control this node's power (no entry in the power file)" : "no such node" };
        }

        try
        {
            if (action is not { } act)
            {
                var state = await CallAsync(driver, ct => driver.GetStateAsync(ct), cancellationToken);
                await ReconcileAsync(node, state);
                return new PowerResult { Node = name, Ok = true, State = state.ToString(), Seconds = clock.Elapsed.TotalSeconds };
            }

            if (act != PowerAction.On && !force && holding.Values.Any(j => j.Runtime!.Nodes.Contains(name)))
            {
                return new PowerResult { Node = name, Code = "busy", Error = "the node holds jobs: drain it first, or use --force", Seconds = clock.Elapsed.TotalSeconds };
            }

            var after = await ApplyPowerAsync(node, driver, act, actor, reason, cancellationToken);
            return new PowerResult { Node = name, Ok = true, State = after?.ToString(), Seconds = clock.Elapsed.TotalSeconds };
        }
        catch (PowerException e)
        {
            return new PowerResult { Node = name, Code = Snake(e.Code), Error = e.Message, Seconds = clock.Elapsed.TotalSeconds };
        }
    }

    /// <summary>
    /// One power action on one node, serialized per node: the BMC call, then the power transition and its event.
    /// Returns the node's power state after it.
    /// </summary>
    private async Task<NodePowerState?> ApplyPowerAsync(NodeEntry node, IPowerDriver driver, PowerAction action, string actor, string reason, CancellationToken cancellationToken)
    {
        var gate = powerGates.GetOrAdd(node.Name, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            var effective = action == PowerAction.SoftOff && !driver.Capabilities.HasFlag(PowerCapabilities.SoftOff) ? PowerAction.Off : action;
            await CallAsync(driver, async ct =>
            {
                await driver.SetAsync(effective, ct);
                return true;
            }, cancellationToken);
            powerActions.Enqueue(time.GetTimestamp());

            var trigger = effective switch
            {
                PowerAction.On => PowerTrigger.PowerOn,
                PowerAction.Cycle or PowerAction.Reset => PowerTrigger.Cycle,
                _ => PowerTrigger.PowerOff,
            };
            await FirePowerAsync(node, trigger, actor, reason, cancellationToken);
            if (effective == PowerAction.Off)
            {
                // A hard off is done when the BMC says so; read it back rather than wait for the next tick.
                await ReconcileAsync(node, await CallAsync(driver, ct => driver.GetStateAsync(ct), cancellationToken));
            }

            lock (node.Gate)
            {
                return node.Description.Power;
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Fires a power trigger if the table allows it from the node's power state (else nothing changes: idempotent).</summary>
    private async Task FirePowerAsync(NodeEntry node, PowerTrigger trigger, string actor, string reason, CancellationToken cancellationToken, Func<NodeDescription, NodeDescription>? change = null)
    {
        NodeDescription description;
        NodeState state;
        lock (node.Gate)
        {
            description = node.Description;
            state = node.State;
        }

        var from = description.Power ?? NodePowerState.On;
        if (!PowerLifecycle.Table.TryFire(from, trigger, out var to))
        {
            return;
        }

        var updated = description with
        {
            Power = to,
            PowerSince = to != from || trigger == PowerTrigger.Cycle ? Now : description.PowerSince,
        };
        updated = change?.Invoke(updated) ?? updated;
        await SaveNodeAsync(node, state, updated, new NewEvent(Now, actor, "node.power", $"node/{node.Name}", $"{from} -> {to}: {reason}", "{}"), resourcesChanged: false, cancellationToken);
        if (to == NodePowerState.PoweringOn)
        {
            ConsoleNewBoot(node.Name);
        }

        LogPower(logger, node.Name, from, to, reason);
        if (to is NodePowerState.On or NodePowerState.Off || from == NodePowerState.On)
        {
            WantSchedule();
        }
    }

    /// <summary>What the BMC says against what we believe: an off node is Off.</summary>
    private async Task ReconcileAsync(NodeEntry node, DriverPowerState reported)
    {
        NodePowerState? power;
        lock (node.Gate)
        {
            power = node.Description.Power;
        }

        if (reported == DriverPowerState.Off && power is NodePowerState.On or NodePowerState.PoweringOff)
        {
            await FirePowerAsync(node, PowerTrigger.Halted, "server", power == NodePowerState.On ? "the BMC reports it off" : "powered off", CancellationToken.None);
        }
    }

    /// <summary>A BMC call bounded by the power file's call timeout: a BMC that hangs is Unreachable, not a hung server.</summary>
    private async Task<T> CallAsync<T>(IPowerDriver driver, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var limit = PowerConfig?.CallTimeout ?? TimeSpan.FromSeconds(30);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            return await call(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PowerException(PowerErrorCode.Unreachable, $"the {driver.Kind} BMC did not answer within {limit.TotalSeconds:0} s", isTransient: true);
        }
    }

    // ---------------------------------------------------------------- what the agents' syncs mean for power

    /// <summary>An agent started after its node's power-on: the node is On and its boot time is learned.</summary>
    private async Task PowerBootedAsync(NodeEntry node, DateTimeOffset agentStart, CancellationToken cancellationToken)
    {
        NodeDescription description;
        NodeState state;
        lock (node.Gate)
        {
            description = node.Description;
            state = node.State;
        }

        if (description.Power is not (NodePowerState.Off or NodePowerState.PoweringOn) || (description.PowerSince is { } since && agentStart < since))
        {
            return;
        }

        double? measured = description.Power == NodePowerState.PoweringOn && description.PowerSince is { } on ? (Now - on).TotalSeconds : null;
        var learned = measured is { } m ? (description.BootSeconds is { } old ? (old + m) / 2 : m) : description.BootSeconds;
        var reason = measured is { } took ? $"its agent registered {took:0.#} s after power-on (boot time now {learned:0.#} s)" : "its agent registered";
        // A node that boots healthy starts afresh; one cycled because it was Suspected keeps its count until it heals.
        await FirePowerAsync(node, PowerTrigger.Booted, $"agent/{node.Name}", reason, cancellationToken, d => d with { BootSeconds = learned, PowerCycles = state == NodeState.Alive ? 0 : d.PowerCycles });
        if (state == NodeState.Suspected && description.SuspectedByPower)
        {
            await FireNodeAsync(node, NodeTrigger.CheckPassed, $"agent/{node.Name}", "it booted after all", cancellationToken);
        }

        lock (node.Gate)
        {
            node.IdleSince = Now;
        }
    }

    /// <summary>
    /// Per node index of the model, when the node will be ready for work; null when it is now (or has no power
    /// driver). The scheduler plans against this powered-off capacity.
    /// </summary>
    private long?[]? ReadyTimes(ClusterModel clusterModel, long now)
    {
        if (powerDrivers.Count == 0)
        {
            return null;
        }

        var elastic = PowerConfig?.Elastic ?? new ElasticOptions();
        var ready = new long?[clusterModel.Nodes.Count];
        for (var i = 0; i < ready.Length; i++)
        {
            if (!nodes.TryGetValue(clusterModel.Nodes[i].Name, out var node))
            {
                continue;
            }

            NodeDescription d;
            lock (node.Gate)
            {
                d = node.Description;
            }

            var boot = (long)Math.Ceiling(d.BootSeconds ?? elastic.DefaultBootSeconds);
            var since = d.PowerSince?.ToUnixTimeSeconds() ?? now;
            ready[i] = d.Power switch
            {
                NodePowerState.Off => now + boot,
                // A booting node is ready at its expected time, or any moment now when late: never later than an
                // off node, so the plan does not move work to another node (and wake it too) while one boots.
                NodePowerState.PoweringOn => Math.Max(since + boot, now + 1),
                NodePowerState.PoweringOff => now + elastic.ShutdownSeconds + boot,
                _ => null,
            };
        }

        return ready;
    }

    // ---------------------------------------------------------------- the elastic manager

    /// <summary>The elastic manager's loop: a tick every second or so, or sooner when the schedule changes.</summary>
    public async Task RunElasticAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), time, stopping);
                await ElasticTickAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // the manager must survive a failed tick; the next one retries
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogPassFailed(logger, e);
            }
        }
    }

    /// <summary>
    /// One decision round: plan against powered-off capacity (every queue conservatively, so every waiting job has
    /// a slot), let the pure planner decide, apply its decisions; and finish graceful power-offs.
    /// </summary>
    public async Task ElasticTickAsync(CancellationToken cancellationToken)
    {
        var config = PowerConfig;
        if (config == null || powerDrivers.Count == 0)
        {
            return;
        }

        ElasticTicks++;
        var now = Now;
        var nowSeconds = now.ToUnixTimeSeconds();
        await FinishPowerOffsAsync(config, now, cancellationToken);
        await CycleSuspectedAsync(config, now, cancellationToken);
        if (!config.ElasticEnabled)
        {
            return;
        }

        IReadOnlyList<PlannedUse> uses = [];
        var current = CurrentModel();
        await passGate.WaitAsync(cancellationToken);
        try
        {
            if (current is var (version, clusterModel, compiler))
            {
                var snapshot = Snapshot(version, clusterModel, compiler, active.Values.ToList(), now);
                if (snapshot.Pending.Count > 0)
                {
                    // The snapshot already plans off and booting nodes as ready later; only the policies change.
                    var whatIf = snapshot with { Queues = snapshot.Queues.Select(q => q with { Policy = Scheduling.Policies.PolicyKind.Conservative }).ToList() };
                    uses = ElasticPlanner.Uses(ClusterScheduler.Plan(whatIf));
                }
            }
        }
        finally
        {
            passGate.Release();
        }

        var indexOf = current?.Model is { } m ? m.Nodes.Select((n, i) => (n.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal) : [];
        var busy = holding.Values.SelectMany(j => j.Runtime!.Nodes).ToHashSet(StringComparer.Ordinal);
        var managed = new List<ElasticNode>();
        var undiscovered = 0;
        foreach (var (name, driver) in powerDrivers)
        {
            if (!nodes.TryGetValue(name, out var node))
            {
                continue;
            }

            lock (node.Gate)
            {
                var d = node.Description;
                var isBusy = busy.Contains(name);
                if (isBusy || node.IdleSince == default)
                {
                    node.IdleSince = now;
                }

                managed.Add(new ElasticNode(indexOf.TryGetValue(name, out var index) ? index : -1000 - undiscovered++, name, d.Power ?? NodePowerState.On)
                {
                    Healthy = node.State == NodeState.Alive,
                    Busy = isBusy,
                    IdleSince = node.IdleSince.ToUnixTimeSeconds(),
                    BootSeconds = (long)Math.Ceiling(d.BootSeconds ?? 0),
                    TransitionSince = d.PowerSince?.ToUnixTimeSeconds() ?? nowSeconds,
                    Partition = config.PartitionProperty is { } p && d.EffectiveProperties().TryGetValue(p, out var partition) ? partition : "default",
                    Cycles = d.PowerCycles,
                    CanPowerOff = driver.Capabilities.HasFlag(PowerCapabilities.PowerOff) || driver.Capabilities.HasFlag(PowerCapabilities.SoftOff),
                    Undiscovered = d.Cores == 0,
                });
            }
        }

        var minuteAgo = time.GetTimestamp() - time.TimestampFrequency * 60;
        while (powerActions.TryPeek(out var t) && t < minuteAgo)
        {
            powerActions.TryDequeue(out _);
        }

        var decisions = ElasticPlanner.Decide(nowSeconds, managed, uses, config.Elastic, powerActions.Count);
        using var slots = new SemaphoreSlim(config.Window, config.Window);
        await Task.WhenAll(decisions.Select(async decision =>
        {
            await slots.WaitAsync(cancellationToken);
            try
            {
                await ApplyDecisionAsync(decision, cancellationToken);
            }
            finally
            {
                slots.Release();
            }
        }));
    }

    private async Task ApplyDecisionAsync(ElasticDecision decision, CancellationToken cancellationToken)
    {
        if (!nodes.TryGetValue(decision.Node, out var node) || !powerDrivers.TryGetValue(decision.Node, out var driver))
        {
            return;
        }

        try
        {
            switch (decision.Action)
            {
                case ElasticAction.PowerOn:
                    await ApplyPowerAsync(node, driver, PowerAction.On, "elastic", decision.Reason, cancellationToken);
                    break;
                case ElasticAction.PowerOff:
                    await ApplyPowerAsync(node, driver, PowerAction.SoftOff, "elastic", decision.Reason, cancellationToken);
                    break;
                case ElasticAction.Cycle:
                    await ApplyPowerAsync(node, driver, PowerAction.Cycle, "elastic", decision.Reason, cancellationToken);
                    await UpdateDescriptionAsync(node, d => d with { PowerCycles = d.PowerCycles + 1 });
                    break;
                case ElasticAction.GiveUp:
                    await SuspectForPowerAsync(node, decision.Reason, cancellationToken);
                    await FirePowerAsync(node, PowerTrigger.GiveUp, "elastic", decision.Reason, cancellationToken);
                    if (driver.Capabilities.HasFlag(PowerCapabilities.PowerOff))
                    {
                        await CallAsync(driver, async ct =>
                        {
                            await driver.SetAsync(PowerAction.Off, ct);
                            return true;
                        }, cancellationToken);
                    }

                    break;
                default:
                    break;
            }
        }
        catch (PowerException e)
        {
            LogPowerFailed(logger, node.Name, decision.Action.ToString(), e.Message);
            await SuspectForPowerAsync(node, $"its BMC failed ({decision.Action}): {e.Message}", cancellationToken);
        }
    }

    /// <summary>The node's BMC failed, or the node would not boot: Suspected, so the plan moves its work elsewhere.</summary>
    private async Task SuspectForPowerAsync(NodeEntry node, string reason, CancellationToken cancellationToken)
    {
        NodeState state;
        lock (node.Gate)
        {
            state = node.State;
        }

        if (state == NodeState.Alive)
        {
            await FireNodeAsync(node, NodeTrigger.PowerFailed, "elastic", reason, cancellationToken);
        }
    }

    private async Task UpdateDescriptionAsync(NodeEntry node, Func<NodeDescription, NodeDescription> change)
    {
        NodeDescription description;
        NodeState state;
        lock (node.Gate)
        {
            description = change(node.Description);
            state = node.State;
        }

        await SaveNodeAsync(node, state, description, null, resourcesChanged: false, CancellationToken.None);
    }

    /// <summary>
    /// Health management: a powered node Suspected for a while (silent, or its health check failing) is power-cycled,
    /// up to MaxCycles times; still Suspected after its last cycle had time to work, it is given up: Down (its jobs
    /// requeued or failed), then Dead, which only an operator revives.
    /// </summary>
    private async Task CycleSuspectedAsync(PowerConfig config, DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var (name, driver) in powerDrivers)
        {
            if (!nodes.TryGetValue(name, out var node))
            {
                continue;
            }

            NodeState state;
            NodeDescription d;
            DateTimeOffset since;
            lock (node.Gate)
            {
                state = node.State;
                d = node.Description;
                since = node.StateSince;
            }

            var powerSince = d.PowerSince ?? since;
            if (state != NodeState.Suspected || d.SuspectedByPower || d.Power != NodePowerState.On
                || now - since < config.CycleSuspectedAfter || now - powerSince < config.CycleSuspectedAfter)
            {
                continue;
            }

            if (d.PowerCycles < config.Elastic.MaxCycles && driver.Capabilities.HasFlag(PowerCapabilities.Cycle))
            {
                var reason = $"Suspected for {(now - since).TotalSeconds:0} s ({d.Reason}): power-cycled ({d.PowerCycles + 1} of {config.Elastic.MaxCycles})";
                try
                {
                    await UpdateDescriptionAsync(node, x => x with { PowerCycles = x.PowerCycles + 1 });
                    await ApplyPowerAsync(node, driver, PowerAction.Cycle, "health", reason, cancellationToken);
                }
                catch (PowerException e)
                {
                    LogPowerFailed(logger, name, "cycle", e.Message);
                }
            }
            else
            {
                var reason = $"still Suspected after {d.PowerCycles} power-cycle(s) ({d.Reason}): given up";
                await FireNodeAsync(node, NodeTrigger.Timeout, "health", reason, cancellationToken);
                await LoseJobsAsync(node);
                await FireNodeAsync(node, NodeTrigger.Timeout, "health", reason + "; an operator must revive it", cancellationToken);
            }
        }
    }

    /// <summary>Nodes shutting down: off once the BMC says so; a hard off when the shutdown takes too long.</summary>
    private async Task FinishPowerOffsAsync(PowerConfig config, DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var (name, driver) in powerDrivers)
        {
            if (!nodes.TryGetValue(name, out var node))
            {
                continue;
            }

            NodeDescription d;
            lock (node.Gate)
            {
                d = node.Description;
            }

            if (d.Power != NodePowerState.PoweringOff)
            {
                continue;
            }

            try
            {
                var state = driver.Capabilities.HasFlag(PowerCapabilities.ReadState) ? await CallAsync(driver, ct => driver.GetStateAsync(ct), cancellationToken) : DriverPowerState.Unknown;
                if (state == DriverPowerState.Off)
                {
                    await ReconcileAsync(node, state);
                }
                else if (d.PowerSince is { } since && (now - since).TotalSeconds > (2 * config.Elastic.ShutdownSeconds) + 30)
                {
                    var reason = $"still not off {(now - since).TotalSeconds:0} s after a graceful power-off: powered off hard";
                    if (driver.Capabilities.HasFlag(PowerCapabilities.PowerOff))
                    {
                        await CallAsync(driver, async ct =>
                        {
                            await driver.SetAsync(PowerAction.Off, ct);
                            return true;
                        }, cancellationToken);
                    }

                    await FirePowerAsync(node, PowerTrigger.Halted, "elastic", reason, cancellationToken);
                }
            }
            catch (PowerException e)
            {
                LogPowerFailed(logger, name, "status", e.Message);
            }
        }
    }

    private static string Snake(PowerErrorCode code) => code switch
    {
        PowerErrorCode.InvalidConfig => "invalid_config",
        PowerErrorCode.NotAvailable => "not_available",
        PowerErrorCode.Unreachable => "unreachable",
        PowerErrorCode.AuthFailed => "auth_failed",
        PowerErrorCode.Unsupported => "unsupported",
        PowerErrorCode.Conflict => "conflict",
        _ => "bmc_error",
    };

    [LoggerMessage(LogLevel.Information, "node {Node}: power {From} -> {To} ({Reason})")]
    private static partial void LogPower(ILogger logger, string node, NodePowerState from, NodePowerState to, string reason);

    [LoggerMessage(LogLevel.Warning, "node {Node}: power {Action} failed: {Message}")]
    private static partial void LogPowerFailed(ILogger logger, string node, string action, string message);
}
