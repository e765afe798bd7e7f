using System.CommandLine;
using Heorot.Cli.Commands;
using Heorot.Cli.Output;

namespace Heorot.Cli;

internal static class Program
{
    public static int Main(string[] args)
    {
        // `heorot sub … -- COMMAND ARGS`: the words after -- are the command, never options.
        if (args.Length > 0 && args[0] == "sub" && Array.IndexOf(args, "--") is var dash and > 0)
        {
            UserCommands.TrailingCommand = args[(dash + 1)..];
            args = args[..dash];
        }

        var root = new RootCommand("Heorot: an elastic, compute-on-demand cluster on a multi-user batch scheduler.")
        {
            SimCommand.Create(),
            RequestCommand.Create(),
            DaemonCommands.Server(),
            DaemonCommands.Agent(),
            DaemonCommands.VmExec(),
            UpCommand.Create(),
        };
        foreach (var command in UserCommands.Create())
        {
            root.Subcommands.Add(command);
        }

        UserCommands.AddGlobalOptions(root);
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            // Files the user named that cannot be read or written: say which and why, without a stack trace.
            return Terminal.Fail(e.Message);
        }
    }
}
