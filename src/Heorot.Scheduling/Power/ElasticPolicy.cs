using Heorot.Model.Requests;
using Heorot.Model.Power;

namespace Heorot.Scheduling.Power;

/// <summary>
/// A parsed <c>--elastic</c> choice: <c>none</c>, <c>idle-timeout[:T]</c> or
/// <c>plan[:warm=N|auto,window=T,maxwarm=N|P%,short=T,breakeven=T,lead=T,linger=T]</c>. Policies keep state (the arrivals they saw),
/// so each replay creates its own with <see cref="Create"/>.
/// </summary>
public sealed class ElasticPolicy
{
    private static readonly string[] PlanKeys = ["warm", "window", "maxwarm", "short", "breakeven", "lead", "linger"];
    private static readonly string[] TimeoutKeys = ["timeout"];

    private readonly Func<PowerModel, IPowerPolicy> _create;

    private ElasticPolicy(string kind, Func<PowerModel, IPowerPolicy> create)
    {
        Kind = kind;
        _create = create;
    }

    /// <summary><c>none</c>, <c>idle-timeout</c> or <c>plan</c>.</summary>
    public string Kind { get; }

    public static ElasticPolicy None { get; } = new("none", _ => new AlwaysOnPolicy());

    public IPowerPolicy Create(PowerModel model) => _create(model);

    /// <summary>Parses an <c>--elastic</c> value; errors point at the bad name, key or value.</summary>
    public static ElasticPolicy Parse(string text, string source = "--elastic")
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var name = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        return name switch
        {
            "none" or "always-on" when colon < 0 => None,
            "none" or "always-on" => throw new RequestParseException(source, text, colon + 1, $"'{name}' takes no parameters"),
            "idle-timeout" => ParseIdleTimeout(source, text, colon),
            "plan" => ParsePlan(source, text, colon),
            _ => throw new RequestParseException(source, text, 1 + (text.Length - text.TrimStart().Length),
                $"unknown policy '{name}'; expected none, idle-timeout[:T] or plan[:warm=N|auto,...]"),
        };
    }

    private static ElasticPolicy ParseIdleTimeout(string source, string text, int colon)
    {
        var timeout = IdleTimeoutPolicy.DefaultTimeout;
        if (colon >= 0)
        {
            var spec = text.IndexOf('=', colon) < 0
                ? SpecItems.Bare(source, text, colon + 1, "timeout")
                : SpecItems.Parse(source, text, colon + 1, TimeoutKeys);
            timeout = spec.Seconds(spec.Require("timeout", "how long a node stays idle before it is powered off"));
        }

        return new ElasticPolicy("idle-timeout", _ => new IdleTimeoutPolicy(timeout));
    }

    private static ElasticPolicy ParsePlan(string source, string text, int colon)
    {
        var options = new PlanPolicyOptions();
        if (colon >= 0)
        {
            var spec = SpecItems.Parse(source, text, colon + 1, PlanKeys);
            if (spec.TryGet("warm", out var warm))
            {
                options = options with { Warm = warm.Value.Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : spec.Count(warm, 0, 1_000_000) };
            }

            if (spec.TryGet("window", out var window))
            {
                options = options with { Window = Math.Max(1, spec.Seconds(window)) };
            }

            if (spec.TryGet("maxwarm", out var maxWarm))
            {
                options = maxWarm.Value.EndsWith('%')
                    ? options with { MaxWarm = null, MaxWarmShare = spec.Number(maxWarm with { Value = maxWarm.Value[..^1] }, 0, 100) / 100 }
                    : options with { MaxWarm = spec.Count(maxWarm, 0, 1_000_000) };
            }

            if (spec.TryGet("breakeven", out var breakEven))
            {
                options = options with { BreakEven = spec.Seconds(breakEven) };
            }

            if (spec.TryGet("lead", out var lead))
            {
                options = options with { Lead = spec.Seconds(lead) };
            }

            if (spec.TryGet("short", out var shortJobs))
            {
                options = options with { Short = spec.Seconds(shortJobs) };
            }

            if (spec.TryGet("linger", out var linger))
            {
                options = options with { Linger = spec.Seconds(linger) };
            }
        }

        return new ElasticPolicy("plan", model => new PlanAwarePolicy(model, options));
    }
}
