using Heorot.Scheduling.Live;

namespace Heorot.Server;

/// <summary>Everything a server is configured with; the CLI fills it from options, tests directly.</summary>
public sealed record ServerOptions
{
    /// <summary>Holds the SQLite database, job output, the agent secret and the local socket.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>A PostgreSQL connection string; null: SQLite in the data directory.</summary>
    public string? PostgresConnectionString { get; init; }

    /// <summary>TCP addresses to listen on, e.g. <c>http://0.0.0.0:6817</c>; empty: only the Unix socket.</summary>
    public IReadOnlyList<string> Urls { get; init; } = ["http://127.0.0.1:6817"];

    /// <summary>The local socket authenticated by peer credentials; null: <c>DATA/heorot.sock</c>.</summary>
    public string? SocketPath { get; init; }

    /// <summary>The shared secret agents present; null: read or create <c>DATA/agent.secret</c>.</summary>
    public string? AgentSecret { get; init; }

    /// <summary>Users with every right (root always has them).</summary>
    public IReadOnlySet<string> Operators { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    public IReadOnlyList<QueueSpec> Queues { get; init; } = [new QueueSpec("default")];

    public TimeSpan DefaultWalltime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Shortest time between two scheduling passes (they run on events, not on a clock).</summary>
    public TimeSpan SchedulingInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How often an idle agent checks in.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Silence after which a node becomes Suspected.</summary>
    public TimeSpan SuspectAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Further silence after which a Suspected node is Down and its jobs are requeued or fail.</summary>
    public TimeSpan DownAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Further silence after which a Down node is Dead: only an operator brings it back (heorot node resume).</summary>
    public TimeSpan DeadAfter { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Seconds between SIGTERM and SIGKILL when a job is cancelled or over its walltime.</summary>
    public int GraceSeconds { get; init; } = 10;

    /// <summary>Server-side prolog, run before a job's nodes are told to start it; null: none.</summary>
    public string? Prolog { get; init; }

    /// <summary>Server-side epilog, run after every node has cleaned up; null: none.</summary>
    public string? Epilog { get; init; }

    public TimeSpan HookTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Planning depth: at most this many waiting jobs are planned per pass (Slurm's bf_max_job_test); the others
    /// wait for a later pass and say so.
    /// </summary>
    public int PlanningDepth { get; init; } = 64;

    /// <summary>Largest request body accepted by the API.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;

    /// <summary>
    /// Largest image blob (disk, kernel, initrd) an upload may carry; blob uploads stream to disk and are bounded
    /// by this, not by <see cref="MaxRequestBodyBytes"/>.
    /// </summary>
    public long MaxImageBytes { get; init; } = 64L << 30;

    /// <summary>A blob no image references is deleted at start once it is older than this (an upload never registered).</summary>
    public TimeSpan OrphanBlobGrace { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Largest array a submission may ask for.</summary>
    public int MaxArraySize { get; init; } = 10_000;

    /// <summary>The most VMs one job may ask for (<c>--vnodes</c>).</summary>
    public int MaxVmsPerJob { get; init; } = 256;

    /// <summary>Memory of each VM when the job asked for none (MiB).</summary>
    public long VmMemoryMb { get; init; } = 192;

    /// <summary>The power file (mode 0600): power-managed nodes, their BMCs, the elastic manager. See docs/power.md.</summary>
    public string? PowerFile { get; init; }

    /// <summary>Power settings given directly (tests, <c>heorot up</c>) instead of <see cref="PowerFile"/>.</summary>
    public Power.PowerConfig? Power { get; init; }

    /// <summary>Drivers given directly (tests: fake BMCs) instead of building them from <see cref="Power"/>'s node settings.</summary>
    public IReadOnlyDictionary<string, Drivers.Power.IPowerDriver>? PowerDrivers { get; init; }
}
