using System.CommandLine;
using Heorot.Cli.Commands;
using Heorot.Cli.Output;

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
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            // Files the user named that cannot be read or written: say which and why, without a stack trace.
            return Terminal.Fail(e.Message);
        }
    }
}
