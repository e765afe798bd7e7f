using Heorot.Drivers.Hypervisor;
using Heorot.Drivers.Power;
using Heorot.Server.Power;

namespace Heorot.Tests.Server.Power;

public class PowerConfigTests
{
    [Fact]
    public void Parse_NodeSetEntry_GivesEachNodeItsOwnSettingsWithItsName()
    {
        var config = PowerConfig.Parse(
            """
            elastic:
              enabled: true
              idle: 10m
              keepWarm: 2
              partition: cluster
              window: 4
            nodes:
              "c[1-3]":
                driver: command
                on: [/usr/local/sbin/pdu, on, "{node}"]
                status: /usr/local/sbin/pdu status {node}
              b1: { driver: ipmi, host: 10.0.0.11, password: s3cret }
            """,
            "power.yaml");

        Assert.True(config.ElasticEnabled);
        Assert.Equal(600, config.Elastic.IdleSeconds);
        Assert.Equal(2, config.Elastic.KeepWarm);
        Assert.Equal("cluster", config.PartitionProperty);
        Assert.Equal(4, config.Window);
        Assert.Equal(["b1", "c1", "c2", "c3"], config.Nodes.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["/usr/local/sbin/pdu", "on", "c2"], config.Nodes["c2"].List("on"));
        Assert.Equal(["/usr/local/sbin/pdu", "status", "c3"], config.Nodes["c3"].List("status"));
        Assert.Equal("ipmi", config.Nodes["b1"].Driver);
        Assert.Equal("power.yaml:12:3", config.Nodes["b1"].Where);
    }

    [Theory]
    [InlineData("elastic: { idle: soon }", "power.yaml:1:18: elastic.idle: 'soon' is not valid here")]
    [InlineData("elastic: { colour: 1 }", "power.yaml:1:12: elastic: unknown key 'colour'")]
    [InlineData("nodes:\n  \"c[1-\": { driver: ipmi }", "power.yaml:2:3: nodes: 'c[1-' is not a node set")]
    [InlineData("nodes:\n  c1: { driver: ipmi }\n  \"c[1-2]\": { driver: ipmi }", "power.yaml:3:3: nodes: c1 is configured twice")]
    [InlineData("nodes:\n  c1: ipmi", "power.yaml:2:7: nodes.c1: expected a mapping")]
    [InlineData("power: {}", "power.yaml:1:1: unknown key 'power'")]
    [InlineData("nodes: [a, b", "power.yaml:2:1: YAML syntax error")]
    public void Parse_BadInput_SaysWhatAndWhere(string text, string expected)
    {
        var e = Assert.Throws<PowerConfigException>(() => PowerConfig.Parse(text, "power.yaml"));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateDrivers_UnknownDriver_NamesItAndItsPlace_WithoutTheSecrets()
    {
        var config = PowerConfig.Parse("nodes:\n  b1: { driver: telepathy, password: hunter2 }\n", "power.yaml");

        var e = Assert.Throws<PowerConfigException>(() => config.CreateDrivers());

        Assert.Contains("power.yaml:2:17: nodes.b1.driver: unknown driver 'telepathy'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_FileOthersCanRead_IsRefused()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("power-").FullName, "power.yaml");
        File.WriteAllText(path, "nodes: {}\n");
        try
        {
            File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
            var e = Assert.Throws<PowerConfigException>(() => PowerConfig.Load(path));
            Assert.Contains("chmod 600", e.Message, StringComparison.Ordinal);

            File.SetUnixFileMode(path, (UnixFileMode)0b110_000_000);
            Assert.Empty(PowerConfig.Load(path).Nodes);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void CreateDrivers_EveryKind_FromItsSettings()
    {
        var config = PowerConfig.Parse(
            """
            nodes:
              i1: { driver: ipmi, host: 127.0.0.1, port: 16231, username: admin, password: secret, ipmitool: /bin/true }
              c1: { driver: command, on: [/bin/true, "{node}"], off: [/bin/true], status: [/bin/echo, on] }
              r1: { driver: redfish, url: "http://127.0.0.1:8000", username: root, password: calvin, plainHttp: true }
              w1: { driver: wol, mac: "52:54:00:12:34:56" }
            """,
            "power.yaml");

        var drivers = config.CreateDrivers();

        Assert.Equal(["command", "ipmi", "redfish", "wol"], drivers.Values.Select(d => d.Kind).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void CreateDrivers_UnknownSetting_IsNamedWithItsPosition()
    {
        var config = PowerConfig.Parse("nodes:\n  i1: { driver: ipmi, host: h, passwrod: secret }\n", "power.yaml");

        var e = Assert.Throws<PowerConfigException>(() => config.CreateDrivers());

        Assert.Contains("power.yaml:2:42: nodes.i1.passwrod: unknown setting for driver 'ipmi'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DeclaredResources_ReadForEachNodeOfTheSet()
    {
        var config = PowerConfig.Parse("nodes:\n  \"e[1-2]\": { driver: ipmi, host: h, cores: 2, memory: 1G }\n  b1: { driver: ipmi, host: h }\n", "power.yaml");

        Assert.Equal((2, 1024L), PowerConfig.DeclaredResources(config.Nodes["e2"]));
        Assert.Null(PowerConfig.DeclaredResources(config.Nodes["b1"]));
    }

    [Theory]
    [InlineData("cores: many", "power.yaml:2:30: nodes.e1.cores: expected a whole number")]
    [InlineData("cores: 0", "power.yaml:2:30: nodes.e1.cores: expected a whole number")]
    [InlineData("cores: 2, memory: lots", "power.yaml:2:41: nodes.e1.memory: expected a size")]
    [InlineData("memory: 4G", "power.yaml:2:31: nodes.e1.memory: declare the node's cores as well")]
    public void Parse_BadDeclaredResources_SaysWhatAndWhere(string declared, string expected)
    {
        var e = Assert.Throws<PowerConfigException>(() => PowerConfig.Parse($"nodes:\n  e1: {{ driver: ipmi, {declared} }}\n", "power.yaml"));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmulatedNodesPowerFileEntry_ReadsBackAsWritten()
    {
        // The line heorot up --emulate writes for a node: every value double-quoted, quotes and backslashes escaped.
        var entry = Heorot.Drivers.Power.Emulation.EmulatedNode.PowerFileEntry("e1", new Dictionary<string, string>
        {
            ["driver"] = "ipmi",
            ["host"] = "127.0.0.1",
            ["port"] = "40001",
            ["username"] = "admin",
            ["password"] = "p\\W\"9: {x}",
            ["console"] = "unix:/var/lib/heorot/emulated/e1/serial.sock",
            ["cores"] = "2",
            ["memory"] = "512",
        });
        var config = PowerConfig.Parse($"nodes:\n  {entry}\n", "power.yaml");

        Assert.Single(config.CreateDrivers());
        Assert.Equal("p\\W\"9: {x}", config.Nodes["e1"].String("password"));
        Assert.Equal("unix:/var/lib/heorot/emulated/e1/serial.sock", config.Nodes["e1"].String("console"));
        Assert.Equal((2, 512L), PowerConfig.DeclaredResources(config.Nodes["e1"]));
    }

    [Fact]
    public void Create_QemuNodeSet_EachNodeGetsItsVmSpec()
    {
        var config = PowerConfig.Parse(
            """
            nodes:
              "q[1-2]":
                driver: qemu
                run: /run/heorot/qemu/{node}
                kernel: /srv/guest/vmlinux
                initrd: /srv/guest/node-initramfs.cpio.gz
                cmdline: console=ttyS0 nodename={node}
                cpus: 2
                ram: 768
                network: "tap:tap-{node}"
                mac: "52:54:00:00:00:02"
                shares: [hostroot=/, "nodestate=/srv/{node}/state:rw"]
                serial: 4002
                qemu: /opt/qemu/bin/qemu-system-x86_64
                console: "unix:/run/heorot/qemu/{node}/serial.sock"
                cores: 2
                memory: 512
              d1: { driver: qemu, run: /run/heorot/qemu/d1, disk: /srv/d1.img, diskFormat: raw }
            """,
            "power.yaml");

        var driver = Assert.IsType<QemuPowerDriver>(PowerDrivers.Create(config.Nodes["q2"]));
        var spec = driver.Options.Spec;

        Assert.Equal("qemu", driver.Kind);
        Assert.Equal(("q2", "/run/heorot/qemu/q2", "/run/heorot/qemu/q2/console.log"), (spec.Name, spec.RunDirectory, spec.ConsoleLogPath));
        Assert.Equal(("/srv/guest/vmlinux", "/srv/guest/node-initramfs.cpio.gz", "console=ttyS0 nodename=q2"), (spec.Kernel, spec.Initrd, spec.KernelCommandLine));
        Assert.Equal((2, 768, (int?)4002), (spec.Cores, spec.MemoryMiB, spec.SerialTcpPort));
        Assert.Equal((VmNetworkMode.Tap, "tap-q2", "52:54:00:00:00:02"), (spec.Network.Mode, spec.Network.Target, spec.Network.MacAddress));
        Assert.Equal([new VmShare("hostroot", "/"), new VmShare("nodestate", "/srv/q2/state", ReadOnly: false)], spec.Shares);
        Assert.Null(spec.BootDisk);

        // A node VM: its guest's reboot resets it, and it has none of a job VM's channels.
        Assert.Equal((false, false, false), (spec.NoReboot, spec.AgentChannel, spec.ShellConsole));
        Assert.Equal("/opt/qemu/bin/qemu-system-x86_64", driver.Options.Qemu.QemuBinary);

        // cores and memory remain what the node offers to the plan, beside the VM's own size.
        Assert.Equal((2, 512L), PowerConfig.DeclaredResources(config.Nodes["q2"]));

        var disk = Assert.IsType<QemuPowerDriver>(PowerDrivers.Create(config.Nodes["d1"])).Options.Spec;
        Assert.Equal((new VmDisk("/srv/d1.img", "raw"), (string?)null, 1, 512, VmNetworkMode.User), (disk.BootDisk, disk.Kernel, disk.Cores, disk.MemoryMiB, disk.Network.Mode));
    }

    [Theory]
    [InlineData("ramm: 256", "power.yaml:2:58: nodes.q1.ramm: unknown setting for driver 'qemu' (known: ")]
    [InlineData("ram: lots", "power.yaml:2:57: nodes.q1.ram: expected a whole number from 96 to 1048576, not 'lots'")]
    [InlineData("ram: 64", "power.yaml:2:57: nodes.q1.ram: expected a whole number from 96 to 1048576, not '64'")]
    [InlineData("cpus: 0", "power.yaml:2:58: nodes.q1.cpus: expected a whole number from 1 to 64")]
    [InlineData("initrd: initrd.img", "power.yaml:2:60: nodes.q1.initrd: expected an absolute path")]
    [InlineData("network: bridge", "power.yaml:2:61: nodes.q1.network: expected user, none, tap:DEVICE or multicast:ADDRESS:PORT")]
    [InlineData("shares: [root]", "power.yaml:2:60: nodes.q1.shares: expected TAG=/ABSOLUTE/PATH")]
    [InlineData("network: none, tftp: /srv/tftp", "power.yaml:2:73: nodes.q1.tftp: QEMU's TFTP server and boot file are options of user networking")]
    [InlineData("memory: 512", "power.yaml:2:60: nodes.q1.memory: declare the node's cores as well (memory and cores are what the node offers to jobs; the VM's own size is 'ram' and 'cpus')")]
    public void CreateDrivers_BadQemuSetting_NamesTheKeyAndItsPosition(string setting, string expected)
    {
        var e = Assert.Throws<PowerConfigException>(() =>
            PowerConfig.Parse($"nodes:\n  q1: {{ driver: qemu, run: /tmp/hq/q1, kernel: /k, {setting} }}\n", "power.yaml").CreateDrivers());

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateDrivers_QemuNodeWithoutRun_SaysRunIsRequired()
    {
        var config = PowerConfig.Parse("nodes:\n  q1: { driver: qemu, kernel: /k }\n", "power.yaml");

        var e = Assert.Throws<PowerConfigException>(() => config.CreateDrivers());

        Assert.Contains("power.yaml:2:3: nodes.q1: 'run' is required for driver 'qemu'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateDrivers_QemuNodesThatCannotStart_EveryProblemReportedAtLoad()
    {
        // Found by the driver's offline validation, before any power-on: a missing kernel, and what QEMU's start would refuse.
        var dir = Directory.CreateTempSubdirectory("hq-").FullName;
        var kernel = Path.Combine(dir, "vmlinux");
        File.WriteAllText(kernel, string.Empty);
        try
        {
            var config = PowerConfig.Parse(
                $$"""
                nodes:
                  q1: { driver: qemu, run: {{dir}}/q1, kernel: {{dir}}/missing }
                  q2: { driver: qemu, run: {{dir}}/q2, kernel: {{kernel}}, mac: "52:54:00" }
                  q3: { driver: qemu, run: {{dir}}/q3 }
                """,
                "power.yaml");

            var e = Assert.Throws<PowerConfigException>(() => config.CreateDrivers());

            Assert.Contains($"power.yaml:2:3: nodes.q1: {dir}/missing does not exist", e.Message, StringComparison.Ordinal);
            Assert.Contains("power.yaml:3:3: nodes.q2: MAC address '52:54:00' is malformed", e.Message, StringComparison.Ordinal);
            Assert.Contains("power.yaml:4:3: nodes.q3: the node's VM needs a kernel, a boot disk or a network boot", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
