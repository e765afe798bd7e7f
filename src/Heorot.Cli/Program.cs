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

        var root = new RootCommand("Heorot: an elastic, compute-on-demand cluster on a multi-user batch scheduler.");
        var verbs = Verbs();
        // Building every verb's options costs a short command like `heorot sub` a good part of its start-up:
        // when the first word names a verb, only that one is built. Help, completion and a mistyped verb see them all.
        var named = args.Length > 0 ? Array.FindAll(verbs, v => v.Name == args[0]) : [];
        foreach (var (_, create) in named.Length > 0 ? named : verbs)
        {
            root.Subcommands.Add(create());
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

    /// <summary>Every verb, in help order, by the name its factory gives it.</summary>
    internal static (string Name, Func<Command> Create)[] Verbs() =>
    [
        ("sim", SimCommand.Create), ("request", RequestCommand.Create), ("server", DaemonCommands.Server), ("agent", DaemonCommands.Agent),
        ("vm-exec", DaemonCommands.VmExec), ("up", UpCommand.Create), .. UserCommands.Verbs(),
    ];
}
