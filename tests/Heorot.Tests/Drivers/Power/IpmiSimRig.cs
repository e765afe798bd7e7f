using System.Security.Cryptography;
using Heorot.Drivers.Power;
using Heorot.Drivers.Power.Emulation;

namespace Heorot.Tests.Drivers.Power;

/// <summary>Starts a real ipmi_sim BMC (a fresh port and directory) in front of a <see cref="LightMachine"/>.</summary>
internal static class IpmiSimRig
{
    /// <summary>A random password of the characters ipmi_sim's configuration allows (so no test depends on a fixed one).</summary>
    public static string NewPassword() => "pw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    public static async Task<(IpmiSimBmc Bmc, LightMachine Machine, string Directory)> StartAsync(string name, CancellationToken cancellationToken)
    {
        await IpmiTools.EnsureAsync();
        var directory = Directory.CreateTempSubdirectory("heorot-ipmi-").FullName;
        var machine = new LightMachine(directory);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var bmc = await IpmiSimBmc.StartAsync(
                    new IpmiSimOptions
                    {
                        Name = name,
                        Directory = Path.Combine(directory, "bmc"),
                        Port = IpmiTools.FreeUdpPort(),
                        Password = NewPassword(),
                        Machine = new ProcessMachine(machine.Command),
                    },
                    cancellationToken);
                return (bmc, machine, directory);
            }
            catch (PowerException) when (attempt < 3)
            {
                // Another test took the free port between the probe and ipmi_sim's bind: try another.
            }
            catch
            {
                Directory.Delete(directory, recursive: true);
                throw;
            }
        }
    }
}
