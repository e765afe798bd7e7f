using Heorot.Model.Resources;

namespace Heorot.Tests.Model.Resources;

public class MemorySizeTests
{
    [Theory]
    [InlineData("192G", 196608)]
    [InlineData("512M", 512)]
    [InlineData("1T", 1048576)]
    [InlineData("1.5T", 1572864)]
    [InlineData("64GiB", 65536)]
    [InlineData("64gb", 65536)]
    [InlineData("2048", 2048)]
    [InlineData("2048K", 2)]
    public void TryParseMb_ValidSize_ReturnsMebibytes(string text, long expected)
    {
        Assert.True(MemorySize.TryParseMb(text, out long mb));
        Assert.Equal(expected, mb);
    }

    [Theory]
    [InlineData("64Q")]
    [InlineData("")]
    [InlineData("G")]
    [InlineData("0")]
    [InlineData("-5G")]
    [InlineData("1K")]
    [InlineData("1.5")]
    public void TryParseMb_InvalidSize_ReturnsFalse(string text)
    {
        Assert.False(MemorySize.TryParseMb(text, out _));
    }

    [Theory]
    [InlineData(196608, "192G")]
    [InlineData(1048576, "1T")]
    [InlineData(1000, "1000M")]
    public void Format_Mebibytes_UsesLargestWholeUnit(long mb, string expected)
    {
        Assert.Equal(expected, MemorySize.Format(mb));
    }
}
