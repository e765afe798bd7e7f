using System.Diagnostics;
using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

public sealed class WakeOnLanPowerDriverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void MagicPacket_Mac_SixFfThenTheMacSixteenTimes()
    {
        byte[] mac = [0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF];

        var packet = WakeOnLanPowerDriver.MagicPacket(mac);

        Assert.Equal(102, packet.Length);
        Assert.All(packet[..6], b => Assert.Equal(0xFF, b));
        Assert.All(Enumerable.Range(0, 16), i => Assert.Equal(mac, packet[(6 + (i * 6))..(12 + (i * 6))]));
    }

    [Theory]
    [InlineData("52:54:00:ab:cd:ef")]
    [InlineData("52-54-00-AB-CD-EF")]
    [InlineData("525400abcdef")]
    public void ParseMac_CommonSpellings_Accepted(string text)
    {
        Assert.Equal([0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF], WakeOnLanPowerDriver.ParseMac(text));
    }

    [Theory]
    [InlineData("52:54:00:ab:cd")]
    [InlineData("52:54:00:ab:cd:eg")]
    [InlineData("52:54-00:ab:cd:ef")]
    [InlineData("")]
    public void Validate_BadMac_Refused(string mac)
    {
        Assert.False(new WakeOnLanPowerDriver(new WakeOnLanOptions { MacAddress = mac }).Validate().IsValid);
    }

    [Fact(Timeout = 30_000)]
    public async Task On_OtherMachinesMac_DoesNotWakeThisOne()
    {
        await using var nic = new WakeOnLanNic([0x52, 0x54, 0x00, 0x00, 0x00, 0x01]);
        var driver = new WakeOnLanPowerDriver(new WakeOnLanOptions { MacAddress = "52:54:00:00:00:02", Address = "127.255.255.255", Port = nic.Port });

        await driver.SetAsync(PowerAction.On, Ct);

        var clock = Stopwatch.StartNew();
        while (nic.Packets < 3)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the NIC received no packet");
            await Task.Delay(20, Ct);
        }

        Assert.False(nic.IsOn);
        Assert.True(WakeOnLanNic.IsMagicFor(nic.LastPacket, [0x52, 0x54, 0x00, 0x00, 0x00, 0x02]));
    }

    [Fact]
    public async Task SetNextBoot_Any_Unsupported()
    {
        var driver = new WakeOnLanPowerDriver(new WakeOnLanOptions { MacAddress = "52:54:00:00:00:02" });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetNextBootAsync(BootDevice.Pxe, cancellationToken: Ct));

        Assert.Equal(PowerErrorCode.Unsupported, e.Code);
        Assert.Equal(PowerCapabilities.PowerOn, driver.Capabilities);
    }

    [Fact]
    public async Task On_NoSuchInterface_InvalidConfigNotRetried()
    {
        var driver = new WakeOnLanPowerDriver(new WakeOnLanOptions { MacAddress = "52:54:00:00:00:02", Address = "127.255.255.255", Interface = "heorot-none0" });

        var e = await Assert.ThrowsAsync<PowerException>(() => driver.SetAsync(PowerAction.On, Ct));

        Assert.Equal(PowerErrorCode.InvalidConfig, e.Code);
        Assert.False(e.IsTransient);
    }
}
