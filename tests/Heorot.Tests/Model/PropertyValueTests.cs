using Heorot.Model;

namespace Heorot.Tests.Model;

public class PropertyValueTests
{
    [Fact]
    public void ToString_Number_UsesInvariantRoundTrip()
    {
        Assert.Equal("64.5", PropertyValue.Of(64.5).ToString());
        Assert.Equal("true", PropertyValue.Of(true).ToString());
        Assert.Equal(PropertyKind.String, PropertyValue.Of("a").Kind);
    }
}
