using Heorot.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Hypervisor;

public sealed class CloudInitSeedTests
{
    private static readonly CloudInitUserData User = new(
        "node7",
        [new CloudInitUser("bob", ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbob bob@x"])],
        [new HostsEntry("10.1.0.8", ["node8"])]);

    [Fact]
    public void RenderUserData_UserAndHosts_WritesCloudConfigWithWriteFilesForEtcHosts()
    {
        var text = CloudInitSeed.RenderUserData(User);

        Assert.StartsWith("#cloud-config\nhostname: node7\n", text, StringComparison.Ordinal);
        Assert.Contains("  - name: bob\n", text, StringComparison.Ordinal);
        Assert.Contains("      - 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbob bob@x'\n", text, StringComparison.Ordinal);
        Assert.Contains("  - path: /etc/hosts\n", text, StringComparison.Ordinal);
        Assert.Contains("      10.1.0.8 node8\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void HostsLines_OwnNameNotListed_AddsItOnLoopback()
    {
        Assert.Equal(["127.0.0.1 localhost", "10.1.0.8 node8", "127.0.1.1 node7"], CloudInitSeed.HostsLines(User));
    }

    [Theory]
    [InlineData("bad'name")]
    [InlineData("two\nlines")]
    public void RenderUserData_UnsafeHostname_Throws(string hostname)
    {
        Assert.Throws<ArgumentException>(() => CloudInitSeed.RenderUserData(User with { Hostname = hostname }));
    }

    [Fact]
    public void RenderUserData_KeyWithQuote_Throws()
    {
        var user = User with { Users = [new CloudInitUser("bob", ["ssh-ed25519 AAAA' injected"])] };

        Assert.Throws<ArgumentException>(() => CloudInitSeed.RenderUserData(user));
    }

    [Fact(Timeout = 600_000)]
    public async Task BuildAsync_Seed_IsVfatLabelledCidataWithBothFiles()
    {
        await GuestImage.EnsureAsync();
        var dir = Directory.CreateTempSubdirectory("hvs-").FullName;
        try
        {
            var meta = new CloudInitMetaData("iid-7", "node7");
            var path = await CloudInitSeed.BuildAsync(dir, meta, User, TestContext.Current.CancellationToken);
            var again = await CloudInitSeed.BuildAsync(dir, meta, User, TestContext.Current.CancellationToken);

            Assert.Equal(path, again);
            var label = await ProcessRunner.RunAsync("mlabel", ["-i", path, "-s", "::"], TestContext.Current.CancellationToken);
            Assert.Contains("CIDATA", label.Stdout, StringComparison.Ordinal);
            var userData = await ProcessRunner.RunAsync("mtype", ["-i", path, "::user-data"], TestContext.Current.CancellationToken);
            Assert.Equal(CloudInitSeed.RenderUserData(User), userData.Stdout);
            var metaData = await ProcessRunner.RunAsync("mtype", ["-i", path, "::meta-data"], TestContext.Current.CancellationToken);
            Assert.Equal("instance-id: iid-7\nlocal-hostname: node7\n", metaData.Stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
