using Heorot.Model.Requests;
using Heorot.Model.Power;

namespace Heorot.Tests.Model.Power;

public class PowerModelTests
{
    [Fact]
    public void Parse_IssueExample_AllFieldsShutdownDefaultsToZero()
    {
        var model = PowerModel.Parse("boot=120s,idle=100W,busy=250W,off=5W");

        Assert.Equal(new PowerModel(120, 0, 100, 250, 5), model);
        Assert.Equal(120, model.MaxReadyDelay);
    }

    [Fact]
    public void Parse_UnitsSpacesAndShutdown_Converted()
    {
        var model = PowerModel.Parse(" boot = 2m , shutdown=30 ,idle=0.1kW,busy=250,off=5w");

        Assert.Equal(new PowerModel(120, 30, 100, 250, 5), model);
        Assert.Equal(150, model.MaxReadyDelay);
        Assert.Equal(model, PowerModel.Parse(model.ToString()));
    }

    [Theory]
    [InlineData("boot=120s,idle=100W,busy=250W", 30, "missing 'off='")]
    [InlineData("boot=120x,idle=100W,busy=250W,off=5W", 9, "boot: unknown time unit 'x'")]
    [InlineData("boot=120s,idle=100W,busy=250W,off=5W,fan=3W", 38, "unknown key 'fan'")]
    [InlineData("boot=120s,idle=,busy=250W,off=5W", 16, "expected a value for 'idle'")]
    [InlineData("boot=120s,idle=abc,busy=250W,off=5W", 16, "idle: expected a number, got 'abc'")]
    [InlineData("boot=120s,idle=100W,busy=250W,off=5W,boot=1s", 38, "'boot' given twice")]
    [InlineData("boot=120s,idle=100W,busy=250W,off=500W", 35, "off: a node powered off cannot draw more than an idle one")]
    [InlineData("boot=-5s,idle=100W,busy=250W,off=5W", 6, "boot: expected a duration of at least 0 s")]
    [InlineData("boot=1.5s,idle=100W,busy=250W,off=5W", 6, "boot: expected a whole number of seconds")]
    [InlineData("boot=120s,idle=100W,busy=250kJ,off=5W", 29, "busy: unknown power unit 'kJ'")]
    [InlineData("boot 120s,idle=100W,busy=250W,off=5W", 1, "unknown key 'boot 120s'")]
    [InlineData("", 1, "expected key=value")]
    public void Parse_BadText_ErrorNamesKeyAndColumn(string text, int column, string reason)
    {
        var e = Assert.Throws<RequestParseException>(() => PowerModel.Parse(text));

        Assert.StartsWith("--power: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.Equal(column, e.Column);
        Assert.Equal(column - 1, e.Caret.Split('\n')[1].IndexOf('^', StringComparison.Ordinal));
    }
}
