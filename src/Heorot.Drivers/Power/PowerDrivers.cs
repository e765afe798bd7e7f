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
        ["ipmi"] = Ipmi,
        ["command"] = Command,
        ["wol"] = WakeOnLan,
        ["qemu"] = QemuPowerDriver.FromSettings,
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

    /// <summary><c>driver: ipmi</c>: host, port (623), username, password, cipher (3), interface (lanplus), timeout (s), retries.</summary>
    private static IpmiPowerDriver Ipmi(PowerSettings settings)
    {
        settings.RejectUnknown(["host", "port", "username", "password", "cipher", "interface", "timeout", "retries", "ipmitool"]);
        return new IpmiPowerDriver(new IpmiOptions
        {
            Host = settings.Required("host"),
            Port = settings.Int("port", 1, 65535) ?? 623,
            Username = settings.String("username") ?? string.Empty,
            Password = settings.String("password") ?? string.Empty,
            CipherSuite = settings.Int("cipher", 0, 17) ?? 3,
            Interface = settings.String("interface") ?? "lanplus",
            Timeout = TimeSpan.FromSeconds(settings.Int("timeout", 1, 600) ?? 15),
            Retries = settings.Int("retries", 0, 10) ?? 2,
            IpmitoolPath = settings.String("ipmitool") ?? "ipmitool",
        });
    }

    /// <summary>
    /// <c>driver: command</c>: the site's command line per action (on, off, soft, cycle, reset, status, boot), run
    /// without a shell; <c>{node}</c> is the node's name; <c>password</c> reaches the commands as HEOROT_BMC_PASSWORD.
    /// </summary>
    private static CommandPowerDriver Command(PowerSettings settings)
    {
        settings.RejectUnknown(["on", "off", "soft", "cycle", "reset", "status", "boot", "password", "onPattern", "offPattern", "timeout", "retries"]);
        return new CommandPowerDriver(new CommandPowerOptions
        {
            On = settings.List("on"),
            Off = settings.List("off"),
            SoftOff = settings.List("soft"),
            Cycle = settings.List("cycle"),
            Reset = settings.List("reset"),
            Status = settings.List("status"),
            Boot = settings.List("boot"),
            Variables = new Dictionary<string, string>(StringComparer.Ordinal) { ["node"] = settings.Node },
            SecretEnvironment = settings.String("password") is { } password
                ? new Dictionary<string, string>(StringComparer.Ordinal) { ["HEOROT_BMC_PASSWORD"] = password }
                : new Dictionary<string, string>(StringComparer.Ordinal),
            OnPattern = settings.String("onPattern") ?? @"\bon\b",
            OffPattern = settings.String("offPattern") ?? @"\boff\b",
            Timeout = TimeSpan.FromSeconds(settings.Int("timeout", 1, 3600) ?? 30),
            Retries = settings.Int("retries", 0, 10) ?? 2,
        });
    }

    /// <summary><c>driver: wol</c>: mac, address (255.255.255.255), port (9), interface.</summary>
    private static WakeOnLanPowerDriver WakeOnLan(PowerSettings settings)
    {
        settings.RejectUnknown(["mac", "address", "port", "interface"]);
        return new WakeOnLanPowerDriver(new WakeOnLanOptions
        {
            MacAddress = settings.Required("mac"),
            Address = settings.String("address") ?? "255.255.255.255",
            Port = settings.Int("port", 1, 65535) ?? 9,
            Interface = settings.String("interface"),
        });
    }
}
