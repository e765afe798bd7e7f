using Heorot.Protocol;
using Heorot.Protocol.Images;
using Heorot.Server.Identity;
using Heorot.Server.Images;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Heorot.Server.Api;

/// <summary>
/// The image registry's API: blobs uploaded by digest (streamed to disk, bounded by <c>MaxImageBytes</c>, not
/// by the JSON body limit), images registered from digests, and blobs served with HTTP ranges to users who may
/// see an image using them and to agents.
/// </summary>
public static class ImageEndpoints
{
    private static readonly string[] GetAndHead = [HttpMethods.Get, HttpMethods.Head];

    public static void Map(WebApplication app, ImageRegistry registry, Authenticator authenticator, ServerOptions options)
    {
        var v1 = app.MapGroup("/v1");

        v1.MapPut("/blobs/{digest}", async (HttpContext context, string digest) =>
        {
            await Endpoints.CallerAsync(context, authenticator);
            Digest(digest);
            if (context.Request.ContentLength is { } length && length > options.MaxImageBytes)
            {
                throw new ApiException(413, "blob_too_large", $"the blob ({length} bytes) is larger than the server accepts ({options.MaxImageBytes} bytes, MaxImageBytes)");
            }

            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = options.MaxImageBytes;
            }

            try
            {
                var (size, existed) = await registry.Blobs.PutAsync(digest, context.Request.Body, options.MaxImageBytes, context.RequestAborted);
                return Results.Json(new BlobUploadResponse(digest, size, existed), WireJson.Options, statusCode: existed ? 200 : 201);
            }
            catch (IOException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away mid-stream: the partial file is already gone, and nobody reads an answer.
                return Results.Empty;
            }
        }).Produces<BlobUploadResponse>(201).Produces<BlobUploadResponse>(200).ProducesProblem(400).ProducesProblem(413)
          .WithSummary("Upload a blob (a disk, kernel or initrd; body: the raw bytes, application/octet-stream) by its digest, sha256:HEX: the server hashes the stream and keeps it only if it matches; 200 when it already had it.");

        v1.MapMethods("/blobs/{digest}", GetAndHead, async (HttpContext context, string digest) =>
        {
            var caller = await Endpoints.CallerAsync(context, authenticator);
            Digest(digest);
            if (!await registry.MayReadBlobAsync(caller, digest, context.RequestAborted) || registry.Blobs.SizeOf(digest) == null)
            {
                throw ApiException.NotFound($"blob {digest}");
            }

            return BlobFile(registry, digest);
        }).Produces(200, contentType: "application/octet-stream").Produces(206).ProducesProblem(404).ProducesProblem(416)
          .WithSummary("Download a blob of an image you may see; Range and If-Range (ETag: the digest) resume a transfer.");

        v1.MapPost("/images", async (HttpContext context) =>
        {
            var caller = await Endpoints.CallerAsync(context, authenticator);
            var request = await Endpoints.ReadAsync<ImageRequest>(context);
            var view = await registry.AddAsync(caller, request, context.RequestAborted);
            return Results.Json(view, WireJson.Options, statusCode: 201);
        }).Accepts<ImageRequest>("application/json").Produces<ImageView>(201).ProducesProblem(400).ProducesProblem(403).ProducesProblem(409)
          .WithSummary("Register an image version from uploaded blobs (owned by you; private unless public).");

        v1.MapGet("/images", async (HttpContext context) =>
        {
            var caller = await Endpoints.CallerAsync(context, authenticator);
            var name = context.Request.Query["name"].ToString();
            return Results.Json(await registry.ListAsync(caller, name.Length == 0 ? null : name, context.RequestAborted), WireJson.Options);
        }).Produces<IReadOnlyList<ImageView>>().WithSummary("The images you may see (yours, public ones; operators: all), ?name= for one name's versions.");

        v1.MapGet("/images/{name}/{version}", async (HttpContext context, string name, string version) =>
        {
            var caller = await Endpoints.CallerAsync(context, authenticator);
            return Results.Json(await registry.GetAsync(caller, name, version, context.RequestAborted), WireJson.Options);
        }).Produces<ImageView>().ProducesProblem(404).WithSummary("One image version; 'latest' is the newest version you may see.");

        v1.MapDelete("/images/{name}/{version}", async (HttpContext context, string name, string version) =>
        {
            var caller = await Endpoints.CallerAsync(context, authenticator);
            return Results.Json(await registry.DeleteAsync(caller, name, version, context.RequestAborted), WireJson.Options);
        }).Produces<ImageView>().ProducesProblem(403).ProducesProblem(404)
          .WithSummary("Remove an image version (owner or operator); blobs no image uses any more are deleted.");

        app.MapMethods("/agent/v1/blobs/{digest}", GetAndHead, (HttpContext context, string digest) =>
        {
            if (!authenticator.IsAgent(context))
            {
                throw new ApiException(401, "unauthenticated", "agents present the cluster secret: Authorization: Agent <secret>");
            }

            Digest(digest);
            return registry.Blobs.SizeOf(digest) == null ? throw ApiException.NotFound($"blob {digest}") : BlobFile(registry, digest);
        }).ExcludeFromDescription();
    }

    private static void Digest(string digest)
    {
        if (!ImageNames.TryParseDigest(digest, out _))
        {
            throw ApiException.BadInput("digest", $"'{digest}' is not a digest: expected sha256: and 64 lowercase hex digits");
        }
    }

    /// <summary>The blob with ASP.NET Core's range processing: 206 with Content-Range, If-Range on the ETag, 416 outside.</summary>
    private static IResult BlobFile(ImageRegistry registry, string digest) =>
        Results.File(
            registry.Blobs.PathOf(digest),
            "application/octet-stream",
            entityTag: new EntityTagHeaderValue($"\"{digest}\""),
            enableRangeProcessing: true);
}
