using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Heorot.Protocol.Images;
using Heorot.Protocol.Sessions;

namespace Heorot.Protocol;

/// <summary>The JSON conventions of every Heorot message: camelCase, enums as strings, unknown fields refused.</summary>
public static class WireJson
{
    public static JsonSerializerOptions Options { get; } = Create(indented: false);

    public static JsonSerializerOptions Indented { get; } = Create(indented: true);

    private static JsonSerializerOptions Create(bool indented)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            WriteIndented = indented,

            // The wire records' metadata is generated at compile time: a short-lived `heorot` command would
            // otherwise spend a large part of its start-up building it by reflection (and Reflection.Emit).
            // Any other type (anonymous objects, the server's own views) falls back to reflection.
            TypeInfoResolver = JsonTypeInfoResolver.Combine(WireJsonContext.Default, new DefaultJsonTypeInfoResolver()),
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>
/// Compile-time JSON metadata of the wire records. Only metadata is generated: naming, null handling, enum
/// conversion and unknown-field refusal still come from <see cref="WireJson.Options"/> at run time.
/// </summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(SubmitRequest))]
[JsonSerializable(typeof(SubmitResponse))]
[JsonSerializable(typeof(JobView))]
[JsonSerializable(typeof(List<JobView>))]
[JsonSerializable(typeof(JobListResponse))]
[JsonSerializable(typeof(NodeView))]
[JsonSerializable(typeof(List<NodeView>))]
[JsonSerializable(typeof(ConsoleLogView))]
[JsonSerializable(typeof(List<ConsoleLogView>))]
[JsonSerializable(typeof(PowerRequest))]
[JsonSerializable(typeof(PowerResult))]
[JsonSerializable(typeof(NodeActionRequest))]
[JsonSerializable(typeof(JobActionRequest))]
[JsonSerializable(typeof(QueueView))]
[JsonSerializable(typeof(List<QueueView>))]
[JsonSerializable(typeof(EventView))]
[JsonSerializable(typeof(List<EventView>))]
[JsonSerializable(typeof(UserRequest))]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(WhoAmIResponse))]
[JsonSerializable(typeof(ImageRequest))]
[JsonSerializable(typeof(ImageView))]
[JsonSerializable(typeof(List<ImageView>))]
[JsonSerializable(typeof(BlobUploadResponse))]
[JsonSerializable(typeof(SessionControl))]
[JsonSerializable(typeof(SyncRequest))]
[JsonSerializable(typeof(SyncResponse))]
public sealed partial class WireJsonContext : JsonSerializerContext;
