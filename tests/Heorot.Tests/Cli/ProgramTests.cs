using Heorot.Cli;

namespace Heorot.Tests.Cli;

/// <summary>The verb table <c>Program.Main</c> builds from: only the verb named on the command line is built.</summary>
public class ProgramTests
{
    [Fact]
    public void Verbs_EachFactory_BuildsTheCommandOfItsName()
    {
        var verbs = Program.Verbs();

        Assert.Equal(verbs.Length, verbs.Select(v => v.Name).Distinct().Count());
        Assert.All(verbs, v => Assert.Equal(v.Name, v.Create().Name));
    }
}
