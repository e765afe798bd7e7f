using Spectre.Console;

namespace Heorot.Cli.Output;

/// <summary>Where human output and progress go, and whether they may use colour and redraw.</summary>
internal static class Terminal
{
    private static readonly AsyncLocal<(TextWriter Out, TextWriter Error)?> Captured = new();

    /// <summary>Standard output, or what a test captured for the current call (never the process-wide console).</summary>
    public static TextWriter Out => Captured.Value?.Out ?? Console.Out;

    /// <summary>Standard error, likewise.</summary>
    public static TextWriter Err => Captured.Value?.Error ?? Console.Error;

    /// <summary>Progress is drawn on standard error, and only when it is a terminal.</summary>
    public static bool ShowsProgress => Captured.Value == null && !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("CI") == null;

    /// <summary>Rich output on standard error (progress bars). Created on first use: most verbs never draw one.</summary>
    public static IAnsiConsole Error => LazyError.Value;

    private static readonly Lazy<IAnsiConsole> LazyError = new(() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }));

    /// <summary>Rich output (tables) on standard output, or plain text into the captured writer.</summary>
    public static IAnsiConsole Rich => Captured.Value is { } c ? CapturedConsole(c.Out) : Wide.Value;

    /// <summary>Captured output is read like redirected output: plain, and never wrapped at an assumed 80 columns.</summary>
    private static IAnsiConsole CapturedConsole(TextWriter output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 512;
        return console;
    }

    // Redirected output is read by programs and pagers: never wrap a table at an assumed 80 columns.
    private static readonly Lazy<IAnsiConsole> Wide = new(() =>
    {
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            console.Profile.Width = 512;
        }

        return console;
    });

    /// <summary>Runs <paramref name="action"/> with its output captured in the given writers (for tests).</summary>
    public static T Capture<T>(TextWriter output, TextWriter error, Func<T> action)
    {
        var previous = Captured.Value;
        Captured.Value = (output, error);
        try
        {
            return action();
        }
        finally
        {
            Captured.Value = previous;
        }
    }

    public static int Fail(string message, int code = 2)
    {
        Err.WriteLine("heorot: " + message);
        return code;
    }
}
