// MSBuild task (compiled by RoslynCodeTaskFactory) that lets TorchSharp's native glue library load on
// systems whose libstdc++ predates GCC 13 (e.g. Debian 12).
//
// libLibTorchSharp.so asks for the symbol version GLIBCXX_3.4.32 for exactly one symbol,
// std::ios_base_library_init(), which GCC 13's <iostream> references as an anchor and never calls.
// Marking that single version requirement VER_FLG_WEAK in .gnu.version_r makes the dynamic loader
// accept an older libstdc++. The task runs only where the system libstdc++ lacks the version, edits
// only the copy in the build output (never the NuGet cache), and replaces the file atomically.
// RoslynCodeTaskFactory compiles this against netstandard2.0, hence the plain loops.
using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenGlibcxxRequirement : Task
{
    [Required] public string LibraryPath { get; set; } = "";
    public string VersionName { get; set; } = "GLIBCXX_3.4.32";

    static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
    };

    public override bool Execute()
    {
        if (!File.Exists(LibraryPath)) return true;
        var systemLib = LibStdCxxCandidates.FirstOrDefault(File.Exists);
        if (systemLib == null)
        {
            Log.LogMessage(MessageImportance.Low, "No system libstdc++ found; TorchSharp native library left as shipped.");
            return true;
        }
        if (ContainsAscii(File.ReadAllBytes(systemLib), VersionName))
        {
            Log.LogMessage(MessageImportance.Low, $"{systemLib} provides {VersionName}; nothing to patch.");
            return true;
        }
        try
        {
            byte[] elf = File.ReadAllBytes(LibraryPath);
            switch (MarkVersionWeak(elf, VersionName))
            {
                case PatchResult.AlreadyWeak:
                case PatchResult.NotRequired:
                    return true;
                case PatchResult.Patched:
                    string tmp = LibraryPath + ".tmp-" + Guid.NewGuid().ToString("N");
                    File.WriteAllBytes(tmp, elf);
                    File.Replace(tmp, LibraryPath, null); // atomic rename over the output copy
                    Log.LogMessage(MessageImportance.High,
                        $"Marked {VersionName} weak in {LibraryPath} ({systemLib} lacks it).");
                    return true;
            }
        }
        catch (Exception e)
        {
            Log.LogError($"Could not patch {LibraryPath}: {e.Message}");
        }
        return !Log.HasLoggedErrors;
    }

    enum PatchResult { Patched, AlreadyWeak, NotRequired }

    static bool ContainsAscii(byte[] haystack, string needle)
    {
        byte[] n = Encoding.ASCII.GetBytes(needle + "\0");
        for (int i = 0; i + n.Length <= haystack.Length; i++)
        {
            if (haystack[i] != n[0]) continue;
            int j = 1;
            while (j < n.Length && haystack[i + j] == n[j]) j++;
            if (j == n.Length) return true;
        }
        return false;
    }

    static PatchResult MarkVersionWeak(byte[] elf, string versionName)
    {
        const uint ShtGnuVerneed = 0x6ffffffe;
        const ushort VerFlgWeak = 0x2;
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("only 64-bit little-endian ELF is supported");

        ulong shoff = BitConverter.ToUInt64(elf, 0x28);
        ushort shentsize = BitConverter.ToUInt16(elf, 0x3A);
        ushort shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            int sh = checked((int)shoff + s * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            int secOffset = checked((int)BitConverter.ToUInt64(elf, sh + 0x18));
            uint link = BitConverter.ToUInt32(elf, sh + 0x28);
            int strtab = checked((int)BitConverter.ToUInt64(elf, checked((int)shoff + (int)link * shentsize) + 0x18));

            int need = secOffset;
            while (true)
            {
                ushort count = BitConverter.ToUInt16(elf, need + 2);
                int aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (int a = 0; a < count; a++)
                {
                    int nameOffset = strtab + (int)BitConverter.ToUInt32(elf, aux + 8);
                    int end = Array.IndexOf(elf, (byte)0, nameOffset);
                    string name = Encoding.ASCII.GetString(elf, nameOffset, end - nameOffset);
                    if (name == versionName)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, aux + 4);
                        if ((flags & VerFlgWeak) != 0) return PatchResult.AlreadyWeak;
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, aux + 4);
                        return PatchResult.Patched;
                    }
                    uint nextAux = BitConverter.ToUInt32(elf, aux + 12);
                    if (nextAux == 0) break;
                    aux += (int)nextAux;
                }
                uint next = BitConverter.ToUInt32(elf, need + 12);
                if (next == 0) break;
                need += (int)next;
            }
        }
        return PatchResult.NotRequired;
    }
}
