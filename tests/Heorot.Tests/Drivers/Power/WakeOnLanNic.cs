using System.Net;
using System.Net.Sockets;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// Stands for a sleeping machine's NIC: a UDP listener (all addresses, so it hears loopback broadcasts) that "boots"
/// the machine when a valid magic packet for its MAC arrives while the machine is off, as a real NIC's wake logic does.
/// </summary>
internal sealed class WakeOnLanNic : IAsyncDisposable
{
    private readonly UdpClient socket = new(new IPEndPoint(IPAddress.Any, 0));
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;
    private readonly Lock gate = new();
    private bool on;
    private int boots;
    private int packets;

    public WakeOnLanNic(byte[] mac)
    {
        Mac = mac;
        loop = ListenAsync();
    }

    public byte[] Mac { get; }

    public int Port => ((IPEndPoint)socket.Client.LocalEndPoint!).Port;

    public bool IsOn
    {
        get
        {
            lock (gate)
            {
                return on;
            }
        }
    }

    public int Boots
    {
        get
        {
            lock (gate)
            {
                return boots;
            }
        }
    }

    /// <summary>Datagrams received, magic or not.</summary>
    public int Packets
    {
        get
        {
            lock (gate)
            {
                return packets;
            }
        }
    }

    public byte[]? LastPacket { get; private set; }

    public static bool IsMagicFor(ReadOnlySpan<byte> packet, ReadOnlySpan<byte> mac)
    {
        // 6 x 0xFF, then the MAC 16 times; a SecureOn password (4 or 6 bytes) may follow.
        if (packet.Length < 102 || packet[..6].ContainsAnyExcept((byte)0xFF))
        {
            return false;
        }

        for (var i = 0; i < 16; i++)
        {
            if (!packet.Slice(6 + (i * 6), 6).SequenceEqual(mac))
            {
                return false;
            }
        }

        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        socket.Dispose();
        try
        {
            await loop;
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }

        stop.Dispose();
    }

    private async Task ListenAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            var received = await socket.ReceiveAsync(stop.Token);
            lock (gate)
            {
                packets++;
                LastPacket = received.Buffer;
                if (!on && IsMagicFor(received.Buffer, Mac))
                {
                    on = true;
                    boots++;
                }
            }
        }
    }
}
