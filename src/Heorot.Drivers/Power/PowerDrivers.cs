namespace Heorot.Drivers.Power;

/// <summary>
/// Builds a node's power driver from its settings (the <c>driver:</c> key picks the kind). A small named
/// extension point: each kind registers a constructor that validates its own settings.
/// </summary>
public static class PowerDrivers
{
    private static readonly Dictionary<string, Func<PowerSettings, IPowerDriver>> Kinds = new(StringComparer.Ordinal)
    {
        ["redfish"] = RedfishPowerDriver.FromSettings,
    };

    public static IReadOnlyCollection<string> Known => Kinds.Keys;

    /// <exception cref="PowerException">InvalidConfig: unknown driver or bad settings (the message names the key and its position).</exception>
    public static IPowerDriver Create(PowerSettings settings)
    {
        var kind = settings.Driver;
        if (kind.Length == 0)
        {
            throw new PowerException(PowerErrorCode.InvalidConfig, $"{settings.Where}: nodes.{settings.Node}: 'driver' is required (one of {string.Join(", ", Known.Order(StringComparer.Ordinal))})");
        }

        return Kinds.TryGetValue(kind, out var create)
            ? create(settings)
            : throw settings.Invalid("driver", $"unknown driver '{kind}' (known: {string.Join(", ", Known.Order(StringComparer.Ordinal))})");
    }
}
