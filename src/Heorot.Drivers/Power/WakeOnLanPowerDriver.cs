using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Heorot.Drivers.Power;

/// <summary>Where a node's Wake-on-LAN magic packet goes.</summary>
public sealed record WakeOnLanOptions
{
    /// <summary>The NIC's MAC address: six hex bytes separated by ':' or '-', or twelve hex digits.</summary>
    public required string MacAddress { get; init; }

    /// <summary>The broadcast address of the node's network (directed broadcast, e.g. 10.77.0.255), or a host.</summary>
    public string Address { get; init; } = "255.255.255.255";

    /// <summary>UDP port: 9 (discard) by convention; 7 also common.</summary>
    public int Port { get; init; } = 9;

    /// <summary>Send through this interface only (SO_BINDTODEVICE; needs CAP_NET_RAW); null: the routing table decides.</summary>
    public string? Interface { get; init; }

    /// <summary>Copies sent per call, back to back: UDP may drop one and the NIC ignores extra ones.</summary>
    public int Packets { get; init; } = 3;

    public int Retries { get; init; } = 2;

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>
/// Wake-on-LAN: powers a node on with a magic packet (6 × 0xFF, then the MAC 16 times) sent over UDP broadcast. It
/// can do nothing else: it cannot read the state (<see cref="PowerState.Unknown"/>) and every other action is
/// <see cref="PowerErrorCode.Unsupported"/>. A NIC that is already on ignores the packet, so On is idempotent; that the
/// node woke is for the caller to see (its agent registering). Only a local send failure (no route, interface down,
/// unresolvable address) is an error: nothing acknowledges a magic packet.
/// </summary>
public sealed class WakeOnLanPowerDriver : IPowerDriver
{
    private const int SolSocket = 1;
    private const int SoBindToDevice = 25;

    private readonly WakeOnLanOptions options;
    private readonly PowerRetry retry;

    public WakeOnLanPowerDriver(WakeOnLanOptions options, TimeProvider? timeProvider = null)
    {
        this.options = options;
        retry = new PowerRetry(Math.Max(1, options.Retries + 1), options.RetryDelay, timeProvider ?? TimeProvider.System);
    }

    public string Kind => "wol";

    public PowerCapabilities Capabilities => PowerCapabilities.PowerOn;

    public WakeOnLanOptions Options => options;

    public PowerValidation Validate()
    {
        var problems = new List<string>();
        if (ParseMac(options.MacAddress) == null)
        {
            problems.Add($"wol: '{options.MacAddress}' is not a MAC address (six hex bytes, e.g. 52:54:00:12:34:56)");
        }

        if (string.IsNullOrWhiteSpace(options.Address) || Uri.CheckHostName(options.Address) == UriHostNameType.Unknown)
        {
            problems.Add($"wol: '{options.Address}' is not an address or a host name");
        }

        if (options.Port is < 1 or > 65535)
        {
            problems.Add($"wol: port {options.Port} is out of range");
        }

        if (options.Interface is { } name && (name.Length is 0 or > 15 || name.Any(c => c is '/' or '\0' || char.IsWhiteSpace(c))))
        {
            problems.Add($"wol: '{name}' is not an interface name");
        }

        if (options.Packets < 1 || options.Retries < 0)
        {
            problems.Add("wol: at least one packet per call, and retries not negative");
        }

        return new PowerValidation(problems);
    }

    public Task<PowerState> GetStateAsync(CancellationToken cancellationToken = default) => Task.FromResult(PowerState.Unknown);

    public Task SetAsync(PowerAction action, CancellationToken cancellationToken = default) =>
        action == PowerAction.On
            ? retry.RunAsync(WakeAsync, cancellationToken)
            : throw new PowerException(PowerErrorCode.Unsupported, $"wol: Wake-on-LAN can only power a node on, not {action}");

    public Task SetNextBootAsync(BootDevice device, bool persistent = false, CancellationToken cancellationToken = default) =>
        throw new PowerException(PowerErrorCode.Unsupported, "wol: Wake-on-LAN cannot choose a boot device");

    /// <summary>The magic packet for a MAC address: 6 bytes of 0xFF, then the 6-byte MAC 16 times (102 bytes).</summary>
    public static byte[] MagicPacket(ReadOnlySpan<byte> mac)
    {
        if (mac.Length != 6)
        {
            throw new ArgumentException("a MAC address is 6 bytes", nameof(mac));
        }

        var packet = new byte[6 + (16 * 6)];
        packet.AsSpan(0, 6).Fill(0xFF);
        for (var i = 0; i < 16; i++)
        {
            mac.CopyTo(packet.AsSpan(6 + (i * 6)));
        }

        return packet;
    }

    /// <summary>"52:54:00:12:34:56", "52-54-00-12-34-56" or "525400123456"; null when malformed.</summary>
    public static byte[]? ParseMac(string text)
    {
        var hex = text.Length == 17 && (text.Split(':').Length == 6 || text.Split('-').Length == 6)
            ? text.Replace(":", string.Empty, StringComparison.Ordinal).Replace("-", string.Empty, StringComparison.Ordinal)
            : text;
        if (hex.Length != 12 || !hex.All(char.IsAsciiHexDigit))
        {
            return null;
        }

        return Convert.FromHexString(hex);
    }

    private async Task WakeAsync(CancellationToken cancellationToken)
    {
        var validation = Validate();
        if (!validation.IsValid)
        {
            throw new PowerException(PowerErrorCode.InvalidConfig, string.Join("; ", validation.Problems));
        }

        var packet = MagicPacket(ParseMac(options.MacAddress)!);
        if (!IPAddress.TryParse(options.Address, out var address))
        {
            try
            {
                var addresses = await Dns.GetHostAddressesAsync(options.Address, cancellationToken).ConfigureAwait(false);
                address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
            }
            catch (SocketException e)
            {
                throw new PowerException(PowerErrorCode.Unreachable, $"wol: cannot resolve {options.Address}: {e.Message}", isTransient: true, e);
            }
        }

        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            if (address.AddressFamily == AddressFamily.InterNetwork)
            {
                socket.EnableBroadcast = true;
            }

            if (options.Interface != null)
            {
                try
                {
                    socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(options.Interface + "\0"));
                }
                catch (SocketException e)
                {
                    // No such interface (ENODEV), or no CAP_NET_RAW: no retry changes that.
                    throw new PowerException(PowerErrorCode.InvalidConfig, $"wol: cannot send through interface {options.Interface}: {e.Message}", false, e);
                }
            }

            var target = new IPEndPoint(address, options.Port);
            for (var i = 0; i < options.Packets; i++)
            {
                await socket.SendToAsync(packet, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressFamilyNotSupported)
        {
            throw new PowerException(PowerErrorCode.InvalidConfig, $"wol: cannot send to {Where(address)}: {e.Message}", false, e);
        }
        catch (SocketException e)
        {
            throw new PowerException(PowerErrorCode.Unreachable, $"wol: cannot send to {Where(address)}: {e.Message}", isTransient: true, e);
        }
    }

    private string Where(IPAddress address) =>
        string.Create(CultureInfo.InvariantCulture, $"{address}:{options.Port}{(options.Interface != null ? " via " + options.Interface : string.Empty)}");
}
