using Spectre.Console;

namespace Heorot.Cli.Output;

/// <summary>Where human output and progress go, and whether they may use colour and redraw.</summary>
internal static class Terminal
{
    /// <summary>Progress is drawn on standard error, and only when it is a terminal.</summary>
    public static bool ShowsProgress => !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("CI") == null;

    public static IAnsiConsole Error { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    public static int Fail(string message, int code = 2)
    {
        Console.Error.WriteLine("heorot: " + message);
        return code;
    }
}
