using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Heorot.Protocol;
using Heorot.Protocol.Hooks;
using Heorot.Protocol.Unix;

namespace Heorot.Agent;

/// <summary>
/// Starts and stops batch scripts. A job runs as its user (setpriv, never as root), in its own session and
/// process group (setsid) and, when the agent is root and cgroup v2 is mounted, in its own cgroup, so that
/// everything it forks can be found and killed. A small root wrapper shell waits for the job and writes its
/// exit status to a file: the job outlives an agent restart and its status is not lost. No text from the
/// user is ever part of a shell program: paths and ids travel as positional arguments.
/// </summary>
public sealed class JobLauncher
{
    // $1 cgroup dir (or empty), $2 exit file, $3 stdout, $4 stderr, $5 working directory, then the command.
    private const string Wrapper = """
        cg="$1"; exitfile="$2"; out="$3"; err="$4"; dir="$5"; shift 5
        if ! cd "$dir" 2>/dev/null; then echo 126 > "$exitfile"; exit 0; fi
        /bin/sh -c 'if [ -n "$1" ]; then echo $$ > "$1/cgroup.procs" || exit 125; fi; shift; exec "$@"' inner "$cg" "$@" < /dev/null > "$out" 2> "$err"
        echo $? > "$exitfile"
        """;

    private readonly bool isRoot;
    private readonly string? agentCgroup;

    /// <param name="agentName">The node's name.</param>
    /// <param name="stateDirectory">The agent's state directory: with the name, what tells this agent from any other on the machine.</param>
    public JobLauncher(string agentName, string stateDirectory)
    {
        isRoot = UnixAccounts.CurrentUid() == 0;
        agentCgroup = isRoot ? AgentCgroupOf(agentName, stateDirectory) : null;
    }

    public bool UsesCgroups => agentCgroup != null;

    /// <summary>
    /// The cgroup under which an agent puts its jobs' cgroups (<c>heorot/NAME-HASH</c>, HASH from the state
    /// directory), or null without cgroup v2. Node names and job ids are not unique on a machine — every test
    /// cluster has a node n1 and a job 1, and a machine may serve two clusters — and a job's cleanup signals
    /// every process in its cgroup: a cgroup named by them alone would let one agent kill another's job. The
    /// state directory is the agent's identity (a restarted agent finds its jobs there), so the name is stable
    /// across restarts.
    /// </summary>
    public static string? AgentCgroupOf(string agentName, string stateDirectory)
    {
        var root = DetectCgroupV2();
        if (root == null)
        {
            return null;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(stateDirectory))))[..8];
        return Path.Combine(root, "heorot", $"{agentName}-{hash}");
    }

    /// <summary>The cgroup v2 mount: the unified root, or the hybrid layout's <c>unified</c> mount.</summary>
    private static string? DetectCgroupV2()
    {
        foreach (var root in new[] { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" })
        {
            if (File.Exists(Path.Combine(root, "cgroup.procs")) && File.Exists(Path.Combine(root, "cgroup.controllers")))
            {
                return root;
            }
        }

        return null;
    }

    public string? CgroupOf(LocalJobPaths paths) => agentCgroup == null ? null : Path.Combine(agentCgroup, paths.Key);

    /// <summary>Why the job cannot run here (unknown user, …), or null.</summary>
    public string? Check(JobSpec spec, out UnixAccount? account)
    {
        account = UnixAccounts.ByName(spec.User);
        if (account == null)
        {
            return $"user {spec.User} does not exist on this node";
        }

        if (account.Uid == 0)
        {
            return "jobs never run as root";
        }

        if (!isRoot && account.Uid != UnixAccounts.CurrentUid())
        {
            return $"the agent does not run as root and cannot run jobs as {spec.User}";
        }

        var directory = spec.WorkingDirectory ?? account.Home;
        return Directory.Exists(directory) ? null : $"working directory {directory} does not exist on this node";
    }

    /// <summary>Starts the job; returns the wrapper's pid. <paramref name="exited"/> runs when the wrapper ends.</summary>
    public int Start(JobSpec spec, UnixAccount account, LocalJobPaths paths, string node, Action exited)
    {
        Directory.CreateDirectory(paths.WorkDirectory);
        File.WriteAllText(paths.Script, spec.Script.Length == 0 ? "#!/bin/sh\n" : spec.Script);
        File.SetUnixFileMode(paths.Script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllLines(paths.NodeFile, spec.Nodes);
        if (isRoot)
        {
            FileOwnership.Change(paths.WorkDirectory, account.Uid, account.Gid);
            FileOwnership.Change(paths.Script, account.Uid, account.Gid);
            File.SetUnixFileMode(paths.WorkDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var cgroup = CreateCgroup(paths);

        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var argument in new[] { "-c", Wrapper, "heorot-job-" + paths.Key, cgroup ?? string.Empty, paths.ExitFile, paths.Stdout, paths.Stderr, spec.WorkingDirectory ?? account.Home, "/usr/bin/setsid" })
        {
            start.ArgumentList.Add(argument);
        }

        if (isRoot)
        {
            foreach (var argument in new[] { "/usr/bin/setpriv", $"--reuid={account.Uid}", $"--regid={account.Gid}", "--init-groups", "--" })
            {
                start.ArgumentList.Add(argument);
            }
        }

        start.ArgumentList.Add(paths.Script);
        SetEnvironment(start, spec, account, paths, node);
        return StartWatched(start, exited);
    }

    /// <summary>
    /// Starts a trusted helper of the agent's own (a VM job's <c>vm-exec</c>) as the job's process: in the job's
    /// cgroup, with the same wrapper (exit file, output files), as the agent's user. The user's code runs in the VM.
    /// </summary>
    public int StartHost(JobSpec spec, LocalJobPaths paths, IReadOnlyList<string> command, Action exited)
    {
        Directory.CreateDirectory(paths.WorkDirectory);
        File.WriteAllText(paths.Script, spec.Script.Length == 0 ? "#!/bin/sh\n" : spec.Script);
        File.WriteAllLines(paths.NodeFile, spec.Nodes);
        var cgroup = CreateCgroup(paths);

        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var argument in new[] { "-c", Wrapper, "heorot-job-" + paths.Key, cgroup ?? string.Empty, paths.ExitFile, paths.Stdout, paths.Stderr, paths.WorkDirectory, "/usr/bin/setsid" }.Concat(command))
        {
            start.ArgumentList.Add(argument);
        }

        return StartWatched(start, exited);
    }

    /// <summary>The job's cgroup, created; null without cgroups (the process group is the fallback).</summary>
    private string? CreateCgroup(LocalJobPaths paths)
    {
        var cgroup = CgroupOf(paths);
        if (cgroup != null)
        {
            try
            {
                Directory.CreateDirectory(cgroup);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                cgroup = null;
            }
        }

        return cgroup;
    }

    private static int StartWatched(ProcessStartInfo start, Action exited)
    {
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.Exited += (_, _) =>
        {
            process.Dispose();
            exited();
        };
        process.Start();
        return process.Id;
    }

    // $1 cgroup dir (or empty), $2 terminal, $3 working directory, then the command: the shell joins the job's
    // cgroup (so it dies with the job), starts a session whose controlling terminal is the pty, as the user.
    private const string SessionWrapper = """
        cg="$1"; tty="$2"; dir="$3"; shift 3
        if [ -n "$cg" ]; then echo $$ > "$cg/cgroup.procs" || exit 125; fi
        cd "$dir" 2>/dev/null || cd /
        exec "$@" < "$tty" > "$tty" 2>&1
        """;

    /// <summary>
    /// Starts an interactive shell (or <paramref name="command"/> through the user's shell) for a running job:
    /// as the job's user, in the job's cgroup and working directory, with the job's environment, on the pty.
    /// </summary>
    public Process StartSession(JobSpec spec, UnixAccount account, LocalJobPaths paths, string node, Pty pty, string? term, string? command)
    {
        if (isRoot)
        {
            pty.GiveTo(account.Uid, account.Gid);
        }

        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = "/" };
        var cgroup = CgroupOf(paths);
        foreach (var argument in new[] { "-c", SessionWrapper, "heorot-session-" + paths.Key, cgroup != null && Directory.Exists(cgroup) ? cgroup : string.Empty, pty.SlavePath, spec.WorkingDirectory ?? account.Home, "/usr/bin/setsid", "--ctty" })
        {
            start.ArgumentList.Add(argument);
        }

        if (isRoot)
        {
            foreach (var argument in new[] { "/usr/bin/setpriv", $"--reuid={account.Uid}", $"--regid={account.Gid}", "--init-groups", "--" })
            {
                start.ArgumentList.Add(argument);
            }
        }

        var shell = File.Exists(account.Shell) && !account.Shell.EndsWith("nologin", StringComparison.Ordinal) && !account.Shell.EndsWith("false", StringComparison.Ordinal) ? account.Shell : "/bin/sh";
        start.ArgumentList.Add(shell);
        if (command != null)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(command);
        }

        SetEnvironment(start, spec, account, paths, node);
        start.Environment["TERM"] = term is { Length: > 0 and < 64 } t && t.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') ? t : "xterm";
        return Process.Start(start) ?? throw new IOException("the session's shell did not start");
    }

    private static void SetEnvironment(ProcessStartInfo start, JobSpec spec, UnixAccount account, LocalJobPaths paths, string node)
    {
        start.Environment.Clear();
        var environment = new Dictionary<string, string>(spec.Environment)
        {
            ["HOME"] = account.Home,
            ["USER"] = account.Name,
            ["LOGNAME"] = account.Name,
            ["SHELL"] = account.Shell,
            ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
            ["HEOROT_JOB_ID"] = spec.JobId.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_ATTEMPT"] = spec.Attempt.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_JOB_NAME"] = spec.Name ?? string.Empty,
            ["HEOROT_NODEFILE"] = paths.NodeFile,
            ["HEOROT_NODES"] = string.Join(",", spec.Nodes),
            ["HEOROT_NODE"] = node,
            ["HEOROT_CORES"] = spec.Cores.ToString(CultureInfo.InvariantCulture),
            ["HEOROT_WALLTIME"] = spec.WalltimeSeconds.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
    }

    /// <summary>
    /// The exit status the wrapper recorded, or null while the job runs. The wrapper's <c>echo</c> writes the
    /// status and its newline in one small write (no rename, one process fewer per job): a status is complete
    /// once its newline is there.
    /// </summary>
    public static int? ExitStatus(LocalJobPaths paths)
    {
        try
        {
            var text = File.Exists(paths.ExitFile) ? File.ReadAllText(paths.ExitFile) : string.Empty;
            return text.EndsWith('\n') && int.TryParse(text.AsSpan().Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var code)
                ? code
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Sends a signal to every process of the job (its cgroup, else its session's process group).</summary>
    public void Signal(LocalJobRecord record, LocalJobPaths paths, int signal)
    {
        var cgroup = CgroupOf(paths);
        if (cgroup != null && Directory.Exists(cgroup))
        {
            if (signal == Signals.Kill && File.Exists(Path.Combine(cgroup, "cgroup.kill")))
            {
                TryWrite(Path.Combine(cgroup, "cgroup.kill"), "1");
                return;
            }

            foreach (var pid in Processes(cgroup))
            {
                Signals.Send(pid, signal);
            }

            return;
        }

        if (record.WrapperPid is { } wrapper)
        {
            foreach (var child in Children(wrapper))
            {
                Signals.KillGroup(child, signal); // the job's session leader: its pid is its group
            }
        }
    }

    /// <summary>Whether any process of the job is left.</summary>
    public bool AnyLeft(LocalJobRecord record, LocalJobPaths paths)
    {
        var cgroup = CgroupOf(paths);
        if (cgroup != null && Directory.Exists(cgroup))
        {
            return Processes(cgroup).Any();
        }

        return record.WrapperPid is { } wrapper && Children(wrapper).Count > 0;
    }

    /// <summary>Removes the job's cgroup once it is empty.</summary>
    public void Release(LocalJobPaths paths)
    {
        var cgroup = CgroupOf(paths);
        if (cgroup != null && Directory.Exists(cgroup))
        {
            try
            {
                Directory.Delete(cgroup);
            }
            catch (IOException)
            {
            }
        }
    }

    private static IEnumerable<int> Processes(string cgroup)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(Path.Combine(cgroup, "cgroup.procs"));
        }
        catch (IOException)
        {
            yield break;
        }

        foreach (var line in lines)
        {
            if (int.TryParse(line, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }

    private static List<int> Children(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
            return text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static void TryWrite(string path, string text)
    {
        try
        {
            File.WriteAllText(path, text);
        }
        catch (IOException)
        {
        }
    }
}
