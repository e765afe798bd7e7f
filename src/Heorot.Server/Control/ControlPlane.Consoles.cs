using System.Collections.Concurrent;
using Heorot.Drivers.Console;
using Heorot.Model.Lifecycle;
using Heorot.Server.Api;
using Heorot.Server.Consoles;
using Heorot.Server.Identity;
using Heorot.Storage;

namespace Heorot.Server.Control;

/// <summary>
/// Node consoles (issue 5, item 3): the server holds each power-managed node's serial console, logs every boot's
/// output, and lets operators — and the owner of a running job that holds the whole node — attach.
/// </summary>
public sealed partial class ControlPlane
{
    private readonly ConcurrentDictionary<string, ConsoleHub> consoles = new(StringComparer.Ordinal);

    /// <summary>Opens the consoles the power file names (<c>console: unix:PATH | tcp:HOST:PORT | sol</c>).</summary>
    private void OpenConsoles(Power.PowerConfig config)
    {
        foreach (var (name, settings) in config.Nodes)
        {
            if (settings.String("console") is not { } target)
            {
                continue;
            }

            IConsoleDriver driver = target == "sol"
                ? new SolConsoleDriver(settings.Required("host"), settings.Int("port", 1, 65535) ?? 623, settings.String("username") ?? string.Empty, settings.String("password") ?? string.Empty)
                : new SocketConsoleDriver(target);
            var hub = new ConsoleHub(name, driver, Path.Combine(options.DataDirectory, "consoles", name), time);
            if (consoles.TryAdd(name, hub))
            {
                hub.Start();
            }
        }
    }

    /// <summary>The node's console, when the caller may attach to it.</summary>
    public ConsoleHub ConsoleFor(Caller caller, string node)
    {
        if (!nodes.TryGetValue(node, out var entry))
        {
            throw ApiException.NotFound($"node {node}");
        }

        if (!consoles.TryGetValue(node, out var hub))
        {
            throw new ApiException(409, "no_console", $"node {node} has no console configured (console: in the power file)");
        }

        if (caller.IsOperator)
        {
            return hub;
        }

        int cores;
        lock (entry.Gate)
        {
            cores = entry.Description.Cores;
        }

        // Besides operators, only the owner of a running job holding every core of the node: a console is the
        // whole machine, and another user's work on it must stay out of reach.
        var whole = holding.Values.Any(j => j.State == JobState.Running && j.User == caller.User
            && j.Runtime!.Nodes.Select((n, i) => (n, i)).Any(p => p.n == node && p.i < j.Runtime.Cores.Length && j.Runtime.Cores[p.i] >= cores));
        return whole ? hub : throw ApiException.Forbidden($"only operators, and the owner of a running job holding the whole of {node}, may use its console");
    }

    /// <summary>Journals a console session (who, which node, how long).</summary>
    public async Task ConsoleEventAsync(Caller caller, string node, string what)
    {
        await store.AppendEventAsync(new NewEvent(Now, caller.User, "node.console", $"node/{node}", what, "{}"));
        NotifyEvents();
    }

    /// <summary>Closes every console connection and its log (the server's shutdown).</summary>
    public async Task CloseConsolesAsync()
    {
        foreach (var hub in consoles.Values)
        {
            await hub.DisposeAsync();
        }

        consoles.Clear();
    }

    private void ConsoleNewBoot(string node)
    {
        if (consoles.TryGetValue(node, out var hub))
        {
            hub.NewBoot();
        }
    }
}
