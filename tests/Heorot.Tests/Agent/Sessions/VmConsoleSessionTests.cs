using System.Text;
using Heorot.Agent.Sessions;

namespace Heorot.Tests.Agent.Sessions;

public sealed class VmConsoleSessionTests
{
    [Fact]
    public void Scan_MarkerSplitAcrossReads_HeldThenRecognisedWithItsStatus()
    {
        var first = Encoding.ASCII.GetBytes("bye\r\n\u001b]7770;heor");
        var (send, held, code) = VmConsoleSession.Scan(first);

        Assert.Equal("bye\r\n", Encoding.ASCII.GetString(send));
        Assert.Null(code);

        var (send2, held2, code2) = VmConsoleSession.Scan([.. held, .. Encoding.ASCII.GetBytes("ot-exit;42\u0007login: ")]);

        Assert.Empty(send2);
        Assert.Empty(held2);
        Assert.Equal(42, code2);
    }

    [Fact]
    public void Scan_OrdinaryEscapes_PassThroughUntouched()
    {
        var data = Encoding.ASCII.GetBytes("~ $ \u001b[6n\u001b]0;title\u0007ok");

        var (send, held, code) = VmConsoleSession.Scan(data);

        Assert.Equal(data, send);
        Assert.Empty(held);
        Assert.Null(code);
    }
}
