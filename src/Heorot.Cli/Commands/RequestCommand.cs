using System.CommandLine;

namespace Heorot.Cli.Commands;

/// <summary>Placeholder group for request tooling; filled by the request language.</summary>
internal static class RequestCommand
{
    public static Command Create() => new("request", "Parse and print a resource request (OAR, Slurm or script directives).");
}
