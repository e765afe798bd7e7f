using System.Net;
using System.Net.Sockets;
using Heorot.Drivers.Hypervisor;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// The IPMI tools the power tests run for real (ipmi_sim, ipmitool, freeipmi's ipmipower, socat), installed from
/// Debian's packages once per test run when one is missing. A failed install fails the tests: they never skip.
/// </summary>
internal static class IpmiTools
{
    private static readonly Lazy<Task> Installed = new(InstallAsync);

    private static readonly (string Program, string Package)[] Needed =
    [
        ("ipmi_sim", "openipmi"),
        ("ipmitool", "ipmitool"),
        ("ipmipower", "freeipmi-tools"),
        ("socat", "socat"),
    ];

    public static Task EnsureAsync() => Installed.Value;

    /// <summary>A UDP port nothing listens on right now (ipmi_sim and the unreachable BMC use one each).</summary>
    public static int FreeUdpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static async Task InstallAsync()
    {
        var missing = Needed.Where(n => ProcessRunner.Which(n.Program) == null).Select(n => n.Package).Distinct().ToList();
        if (missing.Count == 0)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        string[] install = ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", .. missing];
        var result = await ProcessRunner.RunAsync("apt-get", install, timeout.Token);
        if (result.ExitCode != 0)
        {
            await ProcessRunner.RunAsync("apt-get", ["update"], timeout.Token);
            result = await ProcessRunner.RunAsync("apt-get", install, timeout.Token);
        }

        var still = Needed.Where(n => ProcessRunner.Which(n.Program) == null).Select(n => n.Program).ToList();
        if (result.ExitCode != 0 || still.Count > 0)
        {
            throw new InvalidOperationException(
                $"the IPMI tests need {string.Join(", ", missing)} (Debian packages; apt-get install -y {string.Join(' ', missing)}); install failed "
                + $"(exit {result.ExitCode}, still missing: {string.Join(", ", still)}):\n{result.Stderr}");
        }
    }
}
