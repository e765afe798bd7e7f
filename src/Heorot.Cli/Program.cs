using System.CommandLine;
using Heorot.Cli.Commands;

namespace Heorot.Cli;

internal static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("Heorot: an elastic, compute-on-demand cluster on a multi-user batch scheduler.")
        {
            SimCommand.Create(),
            RequestCommand.Create(),
        };
        return root.Parse(args).Invoke();
    }
}
