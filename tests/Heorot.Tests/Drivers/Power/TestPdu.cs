using System.Security.Cryptography;
using Heorot.Drivers.Hypervisor;
using Heorot.Drivers.Power;

namespace Heorot.Tests.Drivers.Power;

/// <summary>
/// A site "PDU" for the command driver's tests: a bash script <c>pdu HOST DIR ACTION [DEVICE PERSISTENCE]</c> that
/// powers a <see cref="LightMachine"/>. It answers only for host pdu1 (else exit 69, EX_UNAVAILABLE) and only with
/// the password in PDU_PASSWORD (else exit 77, EX_NOPERM), like a real PDU's command-line tool.
/// </summary>
internal sealed class TestPdu : IAsyncDisposable
{
    private const string Script = """
        #!/bin/bash
        set -u -f
        host=$1 d=$2 action=$3
        [ "$host" = pdu1 ] || { echo "pdu: no route to host $host" >&2; exit 69; }
        [ "${PDU_PASSWORD-}" = "$(cat "$d/password")" ] || { echo "pdu: access denied" >&2; exit 77; }
        exec 9>"$d/lock"
        flock 9
        alive() {
          local p s
          [ -f "$d/pid" ] || return 1
          read -r p < "$d/pid"
          s=$(cat "/proc/$p/stat" 2>/dev/null) || return 1
          s=${s##*) }
          [ "${s%% *}" != Z ]
        }
        start() {
          local dev=default
          [ -f "$d/next" ] && read -r dev < "$d/next"
          [ "$(cat "$d/persist" 2>/dev/null)" = persistent ] || rm -f "$d/next"
          HEOROT_BOOT_DEVICE=$dev setsid /bin/sh -c 'echo "$$ ${HEOROT_BOOT_DEVICE:-default}" >> "$1"; exec sleep infinity' machine "$d/machine-boots" \
            </dev/null >/dev/null 2>&1 9>&- &
          echo $! > "$d/pid"
        }
        stop() {
          local p
          alive || return 0
          read -r p < "$d/pid"
          kill -KILL -- "-$p" 2>/dev/null
          while alive; do sleep 0.05; done
        }
        case $action in
          status) if alive; then echo "outlet power: on"; else echo "outlet power: off"; fi;;
          on) alive || start;;
          off) stop;;
          soft-off) if alive; then read -r p < "$d/pid"; kill -TERM -- "-$p"; fi;;
          cycle|reset) stop; start;;
          boot) echo "$4" > "$d/next"; echo "$5" > "$d/persist";;
          *) echo "pdu: unknown action $action" >&2; exit 64;;
        esac

        """;

    private TestPdu(string directory)
    {
        Directory = directory;
        Machine = new LightMachine(directory);
        Password = "pdu-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        File.WriteAllText(Path.Combine(directory, "password"), Password);
        File.WriteAllText(ScriptPath, Script);
        File.SetUnixFileMode(ScriptPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string Directory { get; }

    public string Password { get; }

    public LightMachine Machine { get; }

    public string ScriptPath => Path.Combine(Directory, "pdu");

    public static TestPdu Create() => new(System.IO.Directory.CreateTempSubdirectory("heorot-pdu-").FullName);

    /// <summary>Every action configured, through one script, with the password in the environment.</summary>
    public CommandPowerOptions Options(string host = "pdu1")
    {
        string[] command = [ScriptPath, "{host}", "{dir}", "{action}"];
        return new CommandPowerOptions
        {
            On = command,
            Off = command,
            SoftOff = command,
            Cycle = command,
            Reset = command,
            Status = command,
            Boot = [.. command, "{device}", "{persistent}"],
            Variables = new Dictionary<string, string> { ["host"] = host, ["dir"] = Directory },
            SecretEnvironment = new Dictionary<string, string> { ["PDU_PASSWORD"] = Password },
            RetryDelay = TimeSpan.FromMilliseconds(50),
        };
    }

    public async ValueTask DisposeAsync()
    {
        // The machine outlives the script that started it: stop it, then remove everything.
        var off = await ProcessRunner.RunAsync("/usr/bin/env", [$"PDU_PASSWORD={Password}", ScriptPath, "pdu1", Directory, "off"], CancellationToken.None);
        if (off.ExitCode != 0)
        {
            throw new InvalidOperationException($"test PDU off failed: {off.Stderr}");
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
