using System.Globalization;

namespace Heorot.Model.Power;

/// <summary>
/// How a node draws power and how long it takes to change state: <c>boot=120s,idle=100W,busy=250W,off=5W[,shutdown=30s]</c>.
/// A node booting or shutting down draws <see cref="IdleWatts"/>, as does a node that is on without running a job.
/// </summary>
/// <param name="BootSeconds">From power-on until the node can run a job.</param>
/// <param name="ShutdownSeconds">From power-off until the node is off (and can be booted again); 0 when not given.</param>
/// <param name="IdleWatts">On without a running job, booting, or shutting down.</param>
/// <param name="BusyWatts">Running a job.</param>
/// <param name="OffWatts">Off (the BMC's standby draw).</param>
public sealed record PowerModel(long BootSeconds, long ShutdownSeconds, double IdleWatts, double BusyWatts, double OffWatts)
{
    public static readonly IReadOnlyCollection<string> Keys = ["boot", "shutdown", "idle", "busy", "off"];

    /// <summary>The longest a node can take to be ready for a job: a shutdown just begun, then a boot.</summary>
    public long MaxReadyDelay => BootSeconds + ShutdownSeconds;

    /// <summary>Parses the <c>--power</c> text; every error points at the bad key or value.</summary>
    public static PowerModel Parse(string text, string source = "--power")
    {
        var spec = SpecItems.Parse(source, text, 0, Keys);
        var boot = spec.Require("boot", "the boot time, e.g. boot=120s");
        var idle = spec.Require("idle", "the draw of an idle node, e.g. idle=100W");
        var busy = spec.Require("busy", "the draw of a busy node, e.g. busy=250W");
        var off = spec.Require("off", "the draw of a node powered off, e.g. off=5W");
        var model = new PowerModel(
            spec.Seconds(boot),
            spec.TryGet("shutdown", out var shutdown) ? spec.Seconds(shutdown) : 0,
            spec.Watts(idle),
            spec.Watts(busy),
            spec.Watts(off));
        if (model.OffWatts > model.IdleWatts)
        {
            throw spec.Fail(off.ValueAt, $"off: a node powered off cannot draw more than an idle one ({Format(model.OffWatts)} W > idle {Format(model.IdleWatts)} W)");
        }

        if (model.IdleWatts > model.BusyWatts)
        {
            throw spec.Fail(idle.ValueAt, $"idle: an idle node cannot draw more than a busy one ({Format(model.IdleWatts)} W > busy {Format(model.BusyWatts)} W)");
        }

        return model;
    }

    public override string ToString() =>
        $"boot={BootSeconds}s,shutdown={ShutdownSeconds}s,idle={Format(IdleWatts)}W,busy={Format(BusyWatts)}W,off={Format(OffWatts)}W";

    private static string Format(double watts) => watts.ToString("0.###", CultureInfo.InvariantCulture);
}
